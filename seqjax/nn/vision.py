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

CONV_IMPLS = ("auto", "xla", "slices")
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

  ``conv``: how the convolutions run, the same function and parameters either way:
  ``"xla"`` (``lax.conv_general_dilated``), ``"slices"`` (``conv_by_slices``: one matrix
  product over the kernel's strided slices, about 1.5x faster with its gradient on XLA:CPU,
  ``benchmarks/vision_speed.py``) or ``"auto"`` (``"slices"`` on CPU, ``"xla"`` elsewhere).

  ``train`` (``"batch"`` only): normalise with the batch's statistics and update the running
  ones (apply with ``mutable=["batch_stats"]``). ``mask`` ``[B]`` (bool): the images whose
  statistics count while training (filler rows of a padded batch are left out)."""
  channels: Sequence[int] = (24, 24, 24, 24)
  norm: str = "none"
  invert: bool = False
  conv: str = "auto"

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False,
               mask: Optional[jax.Array] = None) -> jax.Array:
    if self.norm not in BATCH_NORMS:
      raise ValueError(f"ConvEncoder: norm must be one of {list(BATCH_NORMS)}; got "
                       f"{self.norm!r}")
    if self.conv not in CONV_IMPLS:
      raise ValueError(f"ConvEncoder: conv must be one of {list(CONV_IMPLS)}; got "
                       f"{self.conv!r}")
    impl = self.conv if self.conv != "auto" else (
        "slices" if jax.default_backend() == "cpu" else "xla")
    conv_fn = conv_by_slices if impl == "slices" else jax.lax.conv_general_dilated
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"ConvEncoder: images must be [B, H, W, 3]; got {images.shape}")
    x = (images.astype(jnp.float32) / 255.0 if images.dtype == jnp.uint8
         else images.astype(jnp.float32))
    if self.invert:  # the white background becomes 0: only the objects feed the convolutions
      x = 1.0 - x
    for k, c in enumerate(self.channels):
      x = nn.relu(nn.Conv(c, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)),
                          conv_general_dilated=conv_fn, name=f"conv_{k}")(x))
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


def conv_by_slices(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                   dimension_numbers=None, feature_group_count=1, **kwargs):
  """``lax.conv_general_dilated`` for a 2-D NHWC input and HWIO kernel (flax's ``nn.Conv``),
  as one matrix product: the input is padded, each of the kernel's ``kh * kw`` taps takes a
  strided slice of it, and the slices, joined along the channels ``[B, h, w, kh kw C]``, meet
  the kernel reshaped to ``[kh kw C, F]``. The same function (float rounding aside); its
  gradient is slices, pads and two products, which XLA:CPU runs faster than its convolution's.
  Dilations, feature groups, other layouts and string paddings go to ``lax`` unchanged."""
  def plain(d):
    return d is None or all(v == 1 for v in d)
  if (lhs.ndim != 4 or not plain(lhs_dilation) or not plain(rhs_dilation)
      or feature_group_count != 1 or isinstance(padding, str)
      or dimension_numbers != jax.lax.conv_dimension_numbers(
          lhs.shape, rhs.shape, ("NHWC", "HWIO", "NHWC"))):
    return jax.lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
        feature_group_count, **kwargs)
  kh, kw, c, f = rhs.shape
  sh, sw = window_strides
  (pt, pb), (pl, pr) = padding
  x = jnp.pad(lhs, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
  oh = (x.shape[1] - kh) // sh + 1
  ow = (x.shape[2] - kw) // sw + 1
  taps = [x[:, dy:dy + sh * (oh - 1) + 1:sh, dx:dx + sw * (ow - 1) + 1:sw, :]
          for dy in range(kh) for dx in range(kw)]
  cols = taps[0] if len(taps) == 1 else jnp.concatenate(taps, axis=-1)
  precision = kwargs.get("precision")
  return jnp.matmul(cols, rhs.reshape(kh * kw * c, f), precision=precision,
                    preferred_element_type=kwargs.get("preferred_element_type"))


def objects(feature_map: jax.Array) -> jax.Array:
  """``[B, h, w, C]`` -> ``[B, h * w, C + 2]``: each cell's features with its column and row
  position, each in [-1, 1] (row-major order)."""
  b, h, w, c = feature_map.shape
  ys, xs = jnp.meshgrid(jnp.linspace(-1.0, 1.0, h), jnp.linspace(-1.0, 1.0, w), indexing="ij")
  coords = jnp.stack([xs, ys], axis=-1).reshape(1, h * w, 2).astype(feature_map.dtype)
  return jnp.concatenate([feature_map.reshape(b, h * w, c),
                          jnp.broadcast_to(coords, (b, h * w, 2))], axis=-1)
