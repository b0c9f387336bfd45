r"""Image captioning: a CNN reads the image, a recurrent decoder writes the caption word by word.

The encoder is ``seqjax.nn.vision.ConvEncoder``; its ``h x w`` feature map is a set of ``N``
region ("annotation") vectors ``a_i`` (features and (x, y) position, ``vision.objects``).
The decoder is ``rnn.num_layers`` stacked cells of any seqjax family (``RNNSpec``: cell, size,
``init_scale``/cell options), stepped by hand under ``lax.scan``.

- ``kind="show_tell"`` (Vinyals et al. 2015): the image is one vector ``x_{-1} = W_I
  flatten(a)`` (every region, so positions survive). ``image_as="first_input"`` (the paper)
  feeds it as the decoder's input at step ``-1`` before ``<bos>``; ``"initial_state"`` makes
  every carry leaf ``tanh(W x_{-1} + b)`` instead. The softmax reads ``h_t``.
- ``kind="attend_tell"`` (Xu et al. 2015, soft attention): the initial carry is
  ``tanh(W mean_i(a_i) + b)`` per leaf; at step ``t`` the previous output ``h_{t-1}`` scores
  every region with the additive score, ``alpha_t = softmax``, the context is
  ``z_t = beta_t sum_i alpha_ti a_i`` with the gating scalar ``beta_t = sigmoid(w h_{t-1} + b)``
  (``gate=False``: ``beta = 1``), the cell reads ``[E y_{t-1}; z_t]``, and the softmax reads the
  deep output ``tanh(E y_{t-1} + L_h h_t + L_z z_t)`` (the paper's eq. 7, with the tanh of the
  authors' code). The doubly stochastic regulariser ``lambda sum_i (1 - sum_t alpha_ti)^2`` is
  ``attention_penalty`` (the caller adds it to the loss).
  ``attend_from="current"`` (the "spatial attention" of Lu et al. 2017, Luong et al.'s order
  for translation): the cell reads ``E y_{t-1}`` alone and the attention and gate are computed
  from its new output ``h_t``, so the regions it weights are chosen after the previous word is
  read (``"previous"``, the paper, scores them with ``h_{t-1}``, which has not seen ``y_{t-1}``:
  under teacher forcing it cannot know which of several plausible words the caption wrote).

Dropout (``deterministic=False``, rate ``dropout_rate``) is on the softmax input. Decoding uses
``encode`` once and ``decode_step`` per token (``seqjax.decode`` drives it); the teacher-forced
``__call__`` runs the same ``caption_step`` under ``lax.scan``, so both give the same logits for
the same prefix.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from seqjax import attention as attention_lib
from seqjax import cells as cells_lib
from seqjax.nn.rnn import RNNSpec
from seqjax.nn import vision
from seqjax.nn.vision import ConvEncoder, objects

KINDS = ("show_tell", "attend_tell")
IMAGE_AS = ("first_input", "initial_state")
ATTEND_FROM = ("previous", "current")


class CaptionMemory(NamedTuple):
  """What the decoder reads at every step."""
  regions: jax.Array  # [B, N, D] annotation vectors
  keys: jax.Array  # [B, N, A] their projection for the additive score
  mask: jax.Array  # [B, N] all ones (every region is real)


class StepSpec(NamedTuple):
  """The static shape of a decoder step (hashable)."""
  cell: str
  kind: str
  gate: bool
  attend_from: str = "previous"


def attention_penalty(alphas: jax.Array, mask: jax.Array) -> jax.Array:
  """The doubly stochastic regulariser per caption, ``sum_i (1 - sum_t alpha_ti)^2`` over the
  caption's real steps: ``alphas [B, T, N]``, ``mask [B, T]`` -> ``[B]``."""
  total = jnp.sum(alphas * mask[:, :, None], axis=1)  # [B, N]
  return jnp.sum((1.0 - total) ** 2, axis=-1)


def caption_step(spec: StepSpec, params: dict, memory: CaptionMemory, carry: tuple,
                 emb: jax.Array) -> tuple[tuple, jax.Array, jax.Array, jax.Array]:
  """One decoder step: ``emb [B, E]`` (the previous word) -> ``(carry, out, alpha [B, N],
  beta [B])``; ``out`` is what the softmax reads (before dropout)."""
  cell = cells_lib.get(spec.cell)
  batch, regions = memory.mask.shape
  alpha = jnp.zeros((batch, regions), jnp.float32)
  beta = jnp.ones((batch,), jnp.float32)
  attend = spec.kind == "attend_tell"

  def look(h):
    context, alpha = attention_lib.attend("additive", params["attention"], h, memory.regions,
                                          memory.regions, memory.mask, projected_keys=memory.keys)
    beta = jnp.ones((batch,), jnp.float32)
    if spec.gate:
      beta = jax.nn.sigmoid(h @ params["beta_kernel"] + params["beta_bias"][None, :])[:, 0]
    return context * beta[:, None], alpha, beta

  x = emb
  if attend and spec.attend_from == "previous":
    context, alpha, beta = look(carry[-1].h)
    x = jnp.concatenate([emb, context.astype(emb.dtype)], axis=-1)
  new = []
  for layer_params, layer_carry in zip(params["layers"], carry):
    layer_carry, x = cell.step(layer_params, layer_carry, cell.project(layer_params, x))
    new.append(layer_carry)
  if attend and spec.attend_from == "current":
    context, alpha, beta = look(x)
  if attend:
    out = jnp.tanh(emb + x @ params["out_h"] + context @ params["out_z"]
                   + params["out_bias"][None, :])
  else:
    out = x
  return tuple(new), out, alpha, beta


class Captioner(nn.Module):
  """``__call__(images [B, H, W, 3], tokens_in [B, T]) -> (logits [B, T, V], alpha [B, T, N],
  beta [B, T])`` with ``tokens_in`` the caption shifted right (``<bos>`` first); see the module
  docstring. ``alpha`` is zeros and ``beta`` ones for ``show_tell``."""
  vocab_size: int
  kind: str = "attend_tell"
  image_as: str = "first_input"
  channels: Sequence[int] = (32, 32, 32)
  norm: str = "none"
  invert: bool = True
  embed_size: int = 128
  rnn: RNNSpec = RNNSpec(cell="lstm", hidden_size=256)
  attention_size: int = 0  # 0: the decoder's hidden size
  gate: bool = True
  attend_from: str = "previous"
  dropout_rate: float = 0.5

  def _check(self) -> None:
    for name, value, allowed in (("kind", self.kind, KINDS), ("image_as", self.image_as, IMAGE_AS),
                                 ("attend_from", self.attend_from, ATTEND_FROM),
                                 ("norm", self.norm, vision.NORMS)):
      if value not in allowed:
        raise ValueError(f"Captioner: {name} must be one of {list(allowed)}; got {value!r}")
    if self.rnn.bidirectional:
      raise ValueError("Captioner: the decoder cannot be bidirectional (it writes left to right)")

  @property
  def spec(self) -> StepSpec:
    return StepSpec(self.rnn.cell, self.kind, self.gate, self.attend_from)

  def setup(self):
    self._check()
    cell = cells_lib.get(self.rnn.cell)
    hidden, embed = self.rnn.hidden_size, self.embed_size
    region_size = self.channels[-1] + 2
    self.encoder = ConvEncoder(tuple(self.channels), self.norm, self.invert)
    self.embed = nn.Embed(self.vocab_size, embed, embedding_init=nn.initializers.normal(0.1))
    self.drop = nn.Dropout(self.dropout_rate)
    attend = self.kind == "attend_tell"
    size = embed + (region_size if attend and self.attend_from == "previous" else 0)
    options = self.rnn.init_options()
    layers = []
    for l in range(self.rnn.num_layers):
      layers.append(self.param(f"decoder_{l}",
                               lambda k, n=size: cell.init(k, n, hidden, **options)))
      size = cell.output_size(layers[-1])
    self.decoder_cells = tuple(layers)
    dense = nn.initializers.lecun_normal()
    zeros = nn.initializers.zeros
    if attend:
      self.attention_params = self.param(
          "attention", lambda k: attention_lib.init("additive", k, size, region_size,
                                                    self.attention_size))
      if self.gate:
        self.beta_kernel = self.param("beta_kernel", dense, (size, 1))
        self.beta_bias = self.param("beta_bias", zeros, (1,))
      self.out_h = self.param("out_h", dense, (size, embed))
      self.out_z = self.param("out_z", dense, (region_size, embed))
      self.out_bias_pre = self.param("out_pre_bias", zeros, (embed,))
      out_size = embed
    else:
      self.image_embed = nn.Dense(embed, name="image_embed")
      out_size = size
    self.out_kernel = self.param("out_kernel", dense, (out_size, self.vocab_size))
    self.out_bias = self.param("out_bias", zeros, (self.vocab_size,))
    if attend or self.image_as == "initial_state":
      summary = region_size if attend else embed
      carries = [cell.initial_carry(p, (1,)) for p in layers]
      self.init_kernels = tuple(
          tuple(self.param(f"init_{l}_{j}", dense, (summary, leaf.shape[-1]))
                for j, leaf in enumerate(c)) for l, c in enumerate(carries))
      self.init_biases = tuple(
          tuple(self.param(f"init_{l}_{j}_bias", zeros, (leaf.shape[-1],))
                for j, leaf in enumerate(c)) for l, c in enumerate(carries))

  def _step_params(self) -> dict:
    params: dict[str, Any] = {"layers": self.decoder_cells}
    if self.kind == "attend_tell":
      params.update(attention=self.attention_params, out_h=self.out_h, out_z=self.out_z,
                    out_bias=self.out_bias_pre)
      if self.gate:
        params.update(beta_kernel=self.beta_kernel, beta_bias=self.beta_bias)
    return params

  def _initial(self, summary: jax.Array) -> tuple:
    cell = cells_lib.get(self.rnn.cell)
    out = []
    for p, kernels, biases in zip(self.decoder_cells, self.init_kernels, self.init_biases):
      zero = cell.initial_carry(p, (summary.shape[0],))
      out.append(type(zero)(*[jnp.tanh(summary @ k + b[None, :]).astype(z.dtype)
                              for z, k, b in zip(zero, kernels, biases)]))
    return tuple(out)

  def encode(self, images: jax.Array, *, deterministic: bool = True
             ) -> tuple[CaptionMemory, tuple]:
    """``images [B, H, W, 3]`` -> (the regions the decoder reads, its initial carry)."""
    del deterministic
    regions = objects(self.encoder(images))  # [B, N, D]
    batch, n = regions.shape[:2]
    mask = jnp.ones((batch, n), jnp.float32)
    if self.kind == "attend_tell":
      keys = attention_lib.project_keys("additive", self.attention_params, regions)
      return CaptionMemory(regions, keys, mask), self._initial(jnp.mean(regions, axis=1))
    image = self.image_embed(regions.reshape(batch, -1))  # [B, E]
    memory = CaptionMemory(regions, regions, mask)
    if self.image_as == "initial_state":
      return memory, self._initial(image)
    cell = cells_lib.get(self.rnn.cell)
    carry = tuple(cell.initial_carry(p, (batch,)) for p in self.decoder_cells)
    carry, _, _, _ = caption_step(self.spec, self._step_params(), memory, carry, image)
    return memory, carry

  def logits(self, out: jax.Array) -> jax.Array:
    return out @ self.out_kernel + jnp.reshape(self.out_bias, (1,) * (out.ndim - 1) + (-1,))

  def decode_step(self, memory: CaptionMemory, carry: tuple, tokens: jax.Array
                  ) -> tuple[jax.Array, tuple, jax.Array]:
    """One decoding step (no dropout): ``tokens [B]`` -> ``(logits [B, V], carry,
    alpha [B, N])``."""
    carry, out, alpha, _ = caption_step(self.spec, self._step_params(), memory, carry,
                                        self.embed(tokens))
    return self.logits(out), carry, alpha

  def __call__(self, images: jax.Array, tokens_in: jax.Array, *, deterministic: bool = True
               ) -> tuple[jax.Array, jax.Array, jax.Array]:
    if tokens_in.ndim != 2 or tokens_in.shape[0] != images.shape[0]:
      raise ValueError(f"Captioner: tokens_in must be [batch, time] with the images' batch "
                       f"{images.shape[0]}; got {tokens_in.shape}")
    memory, carry = self.encode(images, deterministic=deterministic)
    params, spec = self._step_params(), self.spec

    def body(carry, emb):
      carry, out, alpha, beta = caption_step(spec, params, memory, carry, emb)
      return carry, (out, alpha, beta)

    emb = jnp.swapaxes(self.embed(tokens_in), 0, 1)
    _, (outs, alphas, betas) = lax.scan(body, carry, emb, unroll=self.rnn.unroll)
    outs = self.drop(jnp.swapaxes(outs, 0, 1), deterministic=deterministic)
    return self.logits(outs), jnp.swapaxes(alphas, 0, 1), jnp.swapaxes(betas, 0, 1)
