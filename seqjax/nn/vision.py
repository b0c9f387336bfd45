"""Image encoders shared by the vision tasks (Sort-of-CLEVR VQA, image captioning).

- ``ConvEncoder``: the Relation Networks paper's image encoder (Santoro et al. 2017): 3x3
  convolutions of stride 2 with ReLU; a 75x75 image through four becomes a 5x5 map, a 64x64
  image through three an 8x8 map.
- ``objects``: the cells of a feature map as a set of "objects" / regions, each tagged with its
  (x, y) position in [-1, 1].
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

NORMS = ("none", "layer", "instance")


class ConvEncoder(nn.Module):
  """``images [B, H, W, 3]`` (uint8 0..255 or float 0..1) -> feature map ``[B, h, w, C]``:
  a 3x3 convolution of stride 2 (padding 1) and ReLU per entry of ``channels``, each followed by
  a normalisation: ``"layer"`` (over the channels of each cell), ``"instance"`` (each channel
  over the cells of its image, with a learned scale and shift: the per-image counterpart of the
  paper's batch normalisation, so results do not depend on the batch) or ``"none"``. With
  ``invert`` the pixels are ``1 - x``, so a white background is 0."""
  channels: Sequence[int] = (24, 24, 24, 24)
  norm: str = "none"
  invert: bool = False

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    if self.norm not in NORMS:
      raise ValueError(f"ConvEncoder: norm must be one of {list(NORMS)}; got {self.norm!r}")
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"ConvEncoder: images must be [B, H, W, 3]; got {images.shape}")
    x = (images.astype(jnp.float32) / 255.0 if images.dtype == jnp.uint8
         else images.astype(jnp.float32))
    if self.invert:  # the white background becomes 0: only the objects feed the convolutions
      x = 1.0 - x
    for k, c in enumerate(self.channels):
      x = nn.relu(nn.Conv(c, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)),
                          name=f"conv_{k}")(x))
      if self.norm == "layer":
        x = nn.LayerNorm(name=f"norm_{k}")(x)
      elif self.norm == "instance":
        x = nn.GroupNorm(num_groups=None, group_size=1, name=f"norm_{k}")(x)
    return x


def objects(feature_map: jax.Array) -> jax.Array:
  """``[B, h, w, C]`` -> ``[B, h * w, C + 2]``: each cell's features with its column and row
  position, each in [-1, 1] (row-major order)."""
  b, h, w, c = feature_map.shape
  ys, xs = jnp.meshgrid(jnp.linspace(-1.0, 1.0, h), jnp.linspace(-1.0, 1.0, w), indexing="ij")
  coords = jnp.stack([xs, ys], axis=-1).reshape(1, h * w, 2).astype(feature_map.dtype)
  return jnp.concatenate([feature_map.reshape(b, h * w, c),
                          jnp.broadcast_to(coords, (b, h * w, 2))], axis=-1)
