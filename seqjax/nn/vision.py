"""Image encoders shared by the vision tasks (Sort-of-CLEVR VQA, image captioning).

- ``ConvEncoder``: the Relation Networks paper's image encoder (Santoro et al. 2017): 3x3
  convolutions of stride 2 with ReLU; a 75x75 image through four becomes a 5x5 map, a 64x64
  image through three an 8x8 map.
- ``objects``: the cells of a feature map as a set of "objects" / regions, each tagged with its
  (x, y) position in [-1, 1].
"""

from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

NORMS = ("none", "layer", "instance")  # stateless: the encoder's output is a function of the image
BATCH_NORMS = NORMS + ("batch",)  # "batch" keeps running statistics (a model with state)


class ConvEncoder(nn.Module):
  """``images [B, H, W, 3]`` (uint8 0..255 or float 0..1) -> feature map ``[B, h, w, C]``:
  a 3x3 convolution of stride 2 (padding 1) and ReLU per entry of ``channels``, each followed by
  a normalisation: ``"layer"`` (over the channels of each cell), ``"instance"`` (each channel
  over the cells of its image, with a learned scale and shift: a per-image counterpart of
  batch normalisation), ``"batch"`` (the Relation Networks paper's: each channel over the
  batch's images and cells while training, PyTorch's momentum 0.1 and epsilon 1e-5; its running
  statistics, the ``batch_stats`` collection, at evaluation, so answers do not depend on the
  batch) or ``"none"``. With ``invert`` the pixels are ``1 - x``, so a white background is 0.

  ``train`` (``"batch"`` only): normalise with the batch's statistics and update the running
  ones (apply with ``mutable=["batch_stats"]``). ``mask`` ``[B]`` (bool): the images whose
  statistics count while training (filler rows of a padded batch are left out)."""
  channels: Sequence[int] = (24, 24, 24, 24)
  norm: str = "none"
  invert: bool = False

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False,
               mask: Optional[jax.Array] = None) -> jax.Array:
    if self.norm not in BATCH_NORMS:
      raise ValueError(f"ConvEncoder: norm must be one of {list(BATCH_NORMS)}; got "
                       f"{self.norm!r}")
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
      elif self.norm == "batch":
        m = None if mask is None else jnp.broadcast_to(
            jnp.asarray(mask, bool)[:, None, None, None], x.shape)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         use_fast_variance=False,
                         name=f"norm_{k}")(x, mask=m)
    return x


def objects(feature_map: jax.Array) -> jax.Array:
  """``[B, h, w, C]`` -> ``[B, h * w, C + 2]``: each cell's features with its column and row
  position, each in [-1, 1] (row-major order)."""
  b, h, w, c = feature_map.shape
  ys, xs = jnp.meshgrid(jnp.linspace(-1.0, 1.0, h), jnp.linspace(-1.0, 1.0, w), indexing="ij")
  coords = jnp.stack([xs, ys], axis=-1).reshape(1, h * w, 2).astype(feature_map.dtype)
  return jnp.concatenate([feature_map.reshape(b, h * w, c),
                          jnp.broadcast_to(coords, (b, h * w, 2))], axis=-1)
