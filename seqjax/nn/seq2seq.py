r"""Encoder–decoder with attention (Sutskever et al. 2014; Bahdanau et al. 2015; Luong et al. 2015).

``Seq2Seq`` = source embedding → encoder (``DeepRNN`` of the model's ``rnn`` spec: any cell,
stacked, uni- or bidirectional, any back end, compute dtype and recurrent regulariser) → bridge
to the decoder's initial state → decoder (``decoder_layers`` stacked cells of the spec's family,
options and ``init_scale``, stepped by hand with attention under ``lax.scan`` in float32)
with optional attention over the encoder outputs → softmax.

Bridges (``bridge``):

- ``"last"``: the decoder starts from the encoder's final state, layer by layer (Sutskever et
  al.; a bidirectional layer's two final states are concatenated), so the sizes must agree.
- ``"project"``: every decoder layer's state starts as ``tanh(W [h→_S; h←_1] + b)`` from the top
  encoder layer's final state(s) (Bahdanau et al.; for an LSTM, ``h`` and ``c`` each get their
  own ``W``).
- ``"zeros"``: a zero state (with attention, all information flows through the context).

Decoder styles (``style``), with ``e_t`` the embedding of the previous target token, ``s`` the
top decoder layer's output, ``c_t`` the attention context:

- ``"bahdanau"``: attend with the previous state, ``c_t = attend(s_{t-1})``; the cell reads
  ``[e_t; c_t]``; the softmax reads the deep output ``[s_t; c_t; e_t]``.
- ``"luong"``: the cell reads ``e_t`` (and, with ``input_feeding``, the previous attentional
  vector ``h̃_{t-1}``); attend with the new state, ``c_t = attend(s_t)``; the softmax reads
  ``h̃_t = tanh(W_c [c_t; s_t])``.

Without attention (``attention="none"``) the softmax reads ``s_t`` (Sutskever et al.; set
``reverse_source`` to read each source sentence backwards within its length).

Dropout (``deterministic=False``) is on the source and target embeddings, between stacked
encoder layers (the spec's ``dropout_rate``) and on the softmax input. ``teacher_forcing_ratio < 1``
feeds, at each training step after the first, the model's own previous argmax instead of the
reference token with probability ``1 - ratio`` (scheduled sampling, Bengio et al. 2015); it
needs the ``"dropout"`` RNG. With ratio 1 (the default) the output projection of every step is
one matmul after the loop.

Decoding uses ``encode`` once and ``decode_step`` per token (``seqjax.decode`` drives it);
the teacher-forced ``__call__`` runs the same ``decoder_step`` function under ``lax.scan``, so
both give the same logits for the same prefix.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from seqjax import masks
from seqjax import attention as attention_lib
from seqjax import cells as cells_lib
from seqjax.cells import initializers
from seqjax.nn.rnn import DeepRNN, RNNSpec
from seqjax.recurrence import Bidirectional, dropout as dropout_fn

BRIDGES = ("last", "project", "zeros")
STYLES = ("bahdanau", "luong")
ATTENTIONS = ("none",) + tuple(sorted(attention_lib.SCORES))


class Memory(NamedTuple):
  """What the decoder reads at every step."""
  values: jax.Array  # [B, S, M] encoder outputs
  keys: jax.Array  # [B, S, A] their projection for the score (``values`` without attention)
  mask: jax.Array  # [B, S] 1.0 at real source positions


class DecoderCarry(NamedTuple):
  layers: tuple  # one cell carry per decoder layer
  feed: jax.Array  # [B, F] previous attentional vector (input feeding); [B, 0] otherwise


class DecoderSpec(NamedTuple):
  """The static shape of a decoder step (hashable, so jit specialises on it)."""
  cell: str
  attention: str
  style: str
  input_feeding: bool


def reverse_within_lengths(tokens: jax.Array, lengths: jax.Array) -> jax.Array:
  """Reverses each row's first ``length`` tokens, leaving the padding in place."""
  t = jnp.arange(tokens.shape[1])[None, :]
  index = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
  return jnp.take_along_axis(tokens, index, axis=1)


def top_output(carry: Any) -> jax.Array:
  """The output ``h`` of a cell carry (``RNNCarry``, ``GRUCarry`` and ``LSTMCarry`` all have it)."""
  return carry.h


def decoder_step(spec: DecoderSpec, params: dict, memory: Memory, carry: DecoderCarry,
                 emb: jax.Array) -> tuple[DecoderCarry, jax.Array, jax.Array]:
  """One decoder step: ``emb: [B, E]`` (previous target token) -> ``(carry, out, weights)``.

  ``out: [B, D_out]`` is what the softmax reads, ``weights: [B, S]`` the attention (zeros
  without attention). ``params`` holds ``layers`` (cell params), and ``attention`` / ``combine``
  where used.
  """
  cell = cells_lib.get(spec.cell)
  attend = spec.attention != "none"
  batch, source_len = memory.mask.shape

  def read(query):
    return attention_lib.attend(spec.attention, params["attention"], query, memory.values,
                                memory.values, memory.mask, projected_keys=memory.keys)

  weights = jnp.zeros((batch, source_len), jnp.float32)
  if attend and spec.style == "bahdanau":
    context, weights = read(top_output(carry.layers[-1]))
    x = jnp.concatenate([emb, context.astype(emb.dtype)], axis=-1)
  elif spec.input_feeding:
    x = jnp.concatenate([emb, carry.feed], axis=-1)
  else:
    x = emb
  new_layers = []
  for layer_params, layer_carry in zip(params["layers"], carry.layers):
    layer_carry, x = cell.step(layer_params, layer_carry, cell.project(layer_params, x))
    new_layers.append(layer_carry)
  feed = carry.feed
  if attend and spec.style == "luong":
    context, weights = read(x)
    out = jnp.tanh(jnp.concatenate([context.astype(x.dtype), x], axis=-1) @ params["combine"])
    if spec.input_feeding:
      feed = out
  elif attend:
    out = jnp.concatenate([x, context.astype(x.dtype), emb], axis=-1)
  else:
    out = x
  return DecoderCarry(tuple(new_layers), feed), out, weights


class Seq2Seq(nn.Module):
  """Encoder–decoder translation model; see the module docstring.

  ``__call__(src [B, S], src_lengths [B], tgt_in [B, T]) -> (logits [B, T, V_tgt],
  weights [B, T, S])`` with ``tgt_in`` the target shifted right (``<bos>`` first). Token id 0
  is padding; ``src_lengths`` counts the real source tokens.
  """
  src_vocab_size: int
  tgt_vocab_size: int
  embed_size: int = 256
  rnn: RNNSpec = RNNSpec(cell="gru", hidden_size=512, bidirectional=True)
  decoder_hidden_size: int = 0  # 0: rnn.hidden_size
  decoder_layers: int = 1
  bridge: str = "project"
  attention: str = "additive"
  attention_size: int = 0  # additive score's A; 0: the decoder's hidden size
  style: str = "bahdanau"
  input_feeding: bool = False
  reverse_source: bool = False
  dropout_rate: float = 0.0
  teacher_forcing_ratio: float = 1.0

  def _check(self) -> None:
    where = "Seq2Seq"
    for name, value, allowed in (("bridge", self.bridge, BRIDGES), ("style", self.style, STYLES),
                                 ("attention", self.attention, ATTENTIONS)):
      if value not in allowed:
        raise ValueError(f"{where}: {name} must be one of {list(allowed)}; got {value!r}")
    if self.input_feeding and (self.style != "luong" or self.attention == "none"):
      raise ValueError(f"{where}: input_feeding needs style='luong' with attention")
    if not 0.0 <= self.teacher_forcing_ratio <= 1.0:
      raise ValueError(f"{where}: teacher_forcing_ratio must be in [0, 1]; got "
                       f"{self.teacher_forcing_ratio}")
    if self.bridge == "last" and self.rnn.num_layers != self.decoder_layers:
      raise ValueError(f"{where}: bridge='last' needs rnn.num_layers == decoder_layers; got "
                       f"{self.rnn.num_layers} and {self.decoder_layers}")

  @property
  def spec(self) -> DecoderSpec:
    return DecoderSpec(self.rnn.cell, self.attention, self.style, self.input_feeding)

  @property
  def memory_size(self) -> int:
    return self.rnn.output_size

  def _dense_init(self):
    scale = self.rnn.init_scale
    if scale is not None:
      return initializers.scaled_uniform(scale), initializers.scaled_uniform(scale)
    return nn.initializers.lecun_normal(), nn.initializers.zeros

  def setup(self):
    self._check()
    cell = cells_lib.get(self.rnn.cell)
    scale = self.rnn.init_scale
    embed_init = (initializers.scaled_uniform(scale) if scale
                  else nn.initializers.normal(stddev=1.0))
    self.src_embed = nn.Embed(self.src_vocab_size, self.embed_size, embedding_init=embed_init)
    self.tgt_embed = nn.Embed(self.tgt_vocab_size, self.embed_size, embedding_init=embed_init)
    self.encoder = DeepRNN(self.rnn)
    self.drop = nn.Dropout(self.dropout_rate)
    hidden = self.decoder_hidden_size or self.rnn.hidden_size
    attend = self.attention != "none"
    context = self.memory_size if attend else 0
    if attend and self.style == "bahdanau":
      size = self.embed_size + context
    elif self.input_feeding:
      size = self.embed_size + hidden
    else:
      size = self.embed_size
    options = self.rnn.init_options()
    layers = []
    for l in range(self.decoder_layers):
      layer = self.param(f"decoder_{l}", lambda k, n=size: cell.init(k, n, hidden, **options))
      layers.append(layer)
      size = cell.output_size(layer)
    self.decoder_cells = tuple(layers)
    kernel_init, bias_init = self._dense_init()
    out_size = size
    if attend:
      self.attention_params = self.param(
          "attention", lambda k: attention_lib.init(self.attention, k, size, self.memory_size,
                                                    self.attention_size))
      if self.style == "luong":
        self.combine = self.param("combine", kernel_init, (self.memory_size + size, size))
      else:
        out_size = size + self.memory_size + self.embed_size
    self.out_kernel = self.param("out_kernel", kernel_init, (out_size, self.tgt_vocab_size))
    self.out_bias = self.param("out_bias", bias_init, (self.tgt_vocab_size,))
    if self.bridge == "project":
      summary = self.memory_size
      carry = cell.initial_carry(layers[0], (1,))
      self.bridge_kernels = tuple(
          tuple(self.param(f"bridge_{l}_{j}", kernel_init, (summary, leaf.shape[-1]))
                for j, leaf in enumerate(carry)) for l in range(self.decoder_layers))
      self.bridge_biases = tuple(
          tuple(self.param(f"bridge_{l}_{j}_bias", bias_init, (leaf.shape[-1],))
                for j, leaf in enumerate(carry)) for l in range(self.decoder_layers))

  def _decoder_params(self) -> dict:
    params = {"layers": self.decoder_cells}
    if self.attention != "none":
      params["attention"] = self.attention_params
      if self.style == "luong":
        params["combine"] = self.combine
    return params

  def _bridge(self, finals: list[Any], batch: int) -> tuple:
    cell = cells_lib.get(self.rnn.cell)
    zeros = [cell.initial_carry(p, (batch,)) for p in self.decoder_cells]
    if self.bridge == "zeros":
      return tuple(zeros)
    if self.bridge == "last":
      out = []
      for l, (final, zero) in enumerate(zip(finals, zeros)):
        if isinstance(final, Bidirectional):
          final = jax.tree.map(lambda f, b: jnp.concatenate([f, b], -1), final.forward,
                               final.backward)
        got = [x.shape for x in jax.tree.leaves(final)]
        want = [x.shape for x in jax.tree.leaves(zero)]
        if got != want:
          raise ValueError(f"Seq2Seq: bridge='last' needs encoder layer {l}'s final state "
                           f"{got} to match decoder layer {l}'s state {want} (set "
                           "decoder_hidden_size to the encoder output size, or bridge='project')")
        out.append(jax.tree.map(lambda f, z: f.astype(z.dtype), final, zero))
      return tuple(out)
    top = finals[-1]
    if isinstance(top, Bidirectional):
      summary = jnp.concatenate([top_output(top.forward), top_output(top.backward)], -1)
    else:
      summary = top_output(top)
    out = []
    for zero, kernels, biases in zip(zeros, self.bridge_kernels, self.bridge_biases):
      leaves = [jnp.tanh(summary @ k + b[None, :]).astype(z.dtype)
                for z, k, b in zip(zero, kernels, biases)]
      out.append(type(zero)(*leaves))
    return tuple(out)

  def encode(self, src: jax.Array, src_lengths: jax.Array, *,
             deterministic: bool = True) -> tuple[Memory, DecoderCarry]:
    """``src: [B, S]``, ``src_lengths: [B]`` -> (memory, the decoder's initial carry)."""
    if src.ndim != 2 or src_lengths.shape != src.shape[:1]:
      raise ValueError(f"Seq2Seq: src must be [batch, time] and src_lengths [batch]; got "
                       f"{src.shape} and {src_lengths.shape}")
    if self.reverse_source:
      src = reverse_within_lengths(src, src_lengths)
    x = self.drop(self.src_embed(src), deterministic=deterministic)
    values, finals = self.encoder(x, lengths=src_lengths, deterministic=deterministic)
    mask = masks.length_mask(src_lengths, src.shape[1]).astype(jnp.float32)
    keys = values
    if self.attention != "none":
      keys = attention_lib.project_keys(self.attention, self.attention_params, values)
    layers = self._bridge(finals, src.shape[0])
    feed_size = (self.decoder_hidden_size or self.rnn.hidden_size) if self.input_feeding else 0
    feed = jnp.zeros((src.shape[0], feed_size), values.dtype)
    return Memory(values, keys, mask), DecoderCarry(layers, feed)

  def logits(self, out: jax.Array) -> jax.Array:
    return out @ self.out_kernel + jnp.reshape(self.out_bias, (1,) * (out.ndim - 1) + (-1,))

  def decode_step(self, memory: Memory, carry: DecoderCarry,
                  tokens: jax.Array) -> tuple[jax.Array, DecoderCarry, jax.Array]:
    """One decoding step (no dropout): ``tokens: [B]`` -> ``(logits [B, V], carry,
    weights [B, S])``."""
    emb = self.tgt_embed(tokens)
    carry, out, weights = decoder_step(self.spec, self._decoder_params(), memory, carry, emb)
    return self.logits(out), carry, weights

  def __call__(self, src: jax.Array, src_lengths: jax.Array, tgt_in: jax.Array, *,
               deterministic: bool = True) -> tuple[jax.Array, jax.Array]:
    if tgt_in.ndim != 2 or tgt_in.shape[0] != src.shape[0]:
      raise ValueError(f"Seq2Seq: tgt_in must be [batch, time] with the batch of src "
                       f"{src.shape[0]}; got {tgt_in.shape}")
    memory, carry = self.encode(src, src_lengths, deterministic=deterministic)
    emb = self.drop(self.tgt_embed(tgt_in), deterministic=deterministic)
    params, spec = self._decoder_params(), self.spec
    ratio = 1.0 if deterministic else self.teacher_forcing_ratio
    if ratio >= 1.0:
      def body(carry, e):
        carry, out, weights = decoder_step(spec, params, memory, carry, e)
        return carry, (out, weights)

      _, (outs, weights) = lax.scan(body, carry, jnp.swapaxes(emb, 0, 1), unroll=self.rnn.unroll)
      outs = self.drop(jnp.swapaxes(outs, 0, 1), deterministic=deterministic)
      return self.logits(outs), jnp.swapaxes(weights, 0, 1)

    # Scheduled sampling: the softmax runs inside the loop, since the next input depends on it.
    key_coin, key_emb, key_out = jax.random.split(self.make_rng("dropout"), 3)
    steps, batch = tgt_in.shape[1], tgt_in.shape[0]
    coins = jax.random.bernoulli(key_coin, ratio, (steps, batch)).at[0].set(True)
    table, kernel, bias = self.tgt_embed.embedding, self.out_kernel, self.out_bias
    rate = self.dropout_rate
    if rate > 0:
      emb_keep = jax.random.bernoulli(key_emb, 1.0 - rate, (steps, batch, self.embed_size))
      emb_scale = emb_keep.astype(emb.dtype) / (1.0 - rate)
    else:
      emb_scale = jnp.ones((steps, batch, 1), emb.dtype)
    out_keys = jax.random.split(key_out, steps)

    def sampled_body(state, inputs):
      carry, previous = state
      e_gold, coin, scale, k = inputs
      e_own = table[jnp.argmax(previous, axis=-1)] * scale
      e = jnp.where(coin[:, None], e_gold, lax.stop_gradient(e_own))
      carry, out, weights = decoder_step(spec, params, memory, carry, e)
      if rate > 0:
        out = dropout_fn(out, rate, key=k)
      logits = out @ kernel + bias[None, :]
      return (carry, logits), (logits, weights)

    first = jnp.zeros((batch, self.tgt_vocab_size), emb.dtype)
    _, (logits, weights) = lax.scan(
        sampled_body, (carry, first),
        (jnp.swapaxes(emb, 0, 1), coins, emb_scale, out_keys), unroll=self.rnn.unroll)
    return jnp.swapaxes(logits, 0, 1), jnp.swapaxes(weights, 0, 1)
