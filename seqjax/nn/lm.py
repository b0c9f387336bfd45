"""Language models over a token stream, read window after window with a carry:

- ``RNNLM``: embedding -> DeepRNN -> softmax (Zaremba et al. 2014); the carry is the recurrent
  state.
- ``FixedWindowLM``: the neural probabilistic LM of Bengio et al. (2003), which sees only the
  previous ``context`` tokens; the carry is those tokens, so it reads the same windows.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax.cells.initializers import scaled_uniform
from seqjax.nn import rnn as rnn_lib
from seqjax.nn.rnn import DeepRNN, RNNSpec
from seqjax.recurrence import dropout as unroll_dropout


class RNNLM(nn.Module):
  """Word- or character-level RNN language model.

  ``tokens: [B, T] int -> logits: [B, T, V]``, carrying the recurrent state in and out, so a
  corpus can be read window after window (truncated BPTT).

  Dropout (when ``deterministic=False``) is on the non-recurrent connections only, as in
  Zaremba et al.: ``dropout_rate`` on the embedding output and before the softmax, the spec's
  ``dropout_rate`` between layers (Zaremba's configs set both). With ``tie_weights`` the softmax
  reuses the embedding matrix (Press & Wolf 2017; Inan et al. 2017), which needs the last
  layer's output size to equal ``embed_size``.

  ``rnn`` is the recurrent part (``RNNSpec``: cell, sizes, back end, compute dtype, and the
  recurrent regularisers state dropout, zoneout, weight drop; its ``dropout_rate`` is between
  layers). Its ``init_scale`` draws every parameter, embedding and softmax included, U(±init_scale)
  (Zaremba: 0.1 / 0.05 / 0.04; unset: each part's defaults), and its
  ``locked_dropout`` makes this model's embedding and output dropout one mask per sequence
  (window) too (Gal & Ghahramani 2016; Merity et al. 2017). ``embed_dropout`` drops whole word
  types (a row of the embedding matrix, the same at every position of the window).

  >>> import jax, jax.numpy as jnp
  >>> lm = RNNLM(vocab_size=10, rnn=RNNSpec(cell="gru", hidden_size=6, num_layers=2))
  >>> tokens = jnp.zeros((2, 7), jnp.int32)
  >>> params = lm.init(jax.random.key(0), tokens)["params"]
  >>> logits, carry = lm.apply({"params": params}, tokens, initial_carry(lm, params, 2))
  >>> logits.shape
  (2, 7, 10)
  """
  vocab_size: int
  rnn: RNNSpec = RNNSpec(hidden_size=200, num_layers=2)
  embed_size: Optional[int] = None
  dropout_rate: float = 0.0
  tie_weights: bool = False
  embed_dropout: float = 0.0

  def setup(self):
    embed_size = self.embed_size or self.rnn.hidden_size
    scale = self.rnn.init_scale
    init = scaled_uniform(scale) if scale else nn.initializers.normal(stddev=1.0)
    self.embed = nn.Embed(self.vocab_size, embed_size, embedding_init=init)
    self.recurrent = DeepRNN(self.rnn, name="rnn")
    self.dropout = nn.Dropout(self.dropout_rate)
    if self.tie_weights:
      self.softmax_bias = self.param("softmax_bias", nn.initializers.zeros, (self.vocab_size,))
    else:
      kernel_init = scaled_uniform(scale) if scale else nn.initializers.lecun_normal()
      bias_init = scaled_uniform(scale) if scale else nn.initializers.zeros
      self.softmax = nn.Dense(self.vocab_size, kernel_init=kernel_init, bias_init=bias_init)

  def __call__(self, tokens: jax.Array, carry: Any = None, *,
               deterministic: bool = True) -> tuple[jax.Array, list[Any]]:
    if tokens.ndim != 2:
      raise ValueError(f"RNNLM: tokens must have shape [batch, time]; got {tokens.shape}")
    x = self.embed(tokens)
    if self.embed_dropout > 0 and not deterministic:
      keep = jax.random.bernoulli(self.make_rng("dropout"), 1.0 - self.embed_dropout,
                                  (self.vocab_size,))
      x = x * (keep[tokens] / (1.0 - self.embed_dropout))[..., None].astype(x.dtype)
    x = self._drop(x, deterministic)
    ys, carry = self.recurrent(x, carry, deterministic=deterministic)
    ys = self._drop(ys, deterministic)
    # The output layer on [B*T, H]: with the 3-D form XLA:CPU transposes the [B, T, V]
    # gradient before the weight-gradient matmul, which made PTB small's training step 1.5x
    # slower (benchmarks/README.md).
    b, t = tokens.shape
    flat = jnp.reshape(ys, (b * t, ys.shape[-1]))
    if self.tie_weights:
      if ys.shape[-1] != self.embed.features:
        raise ValueError(f"RNNLM: tie_weights needs the RNN output size ({ys.shape[-1]}) to "
                         f"equal embed_size ({self.embed.features})")
      logits = self.embed.attend(flat)
      logits = logits + jnp.reshape(self.softmax_bias, (1, -1))
    else:
      logits = self.softmax(flat)
    return jnp.reshape(logits, (b, t, -1)), carry

  def zero_carry(self, params: Any, batch_size: int) -> list[Any]:
    """Zero recurrent state for ``batch_size`` rows."""
    return rnn_lib.initial_carry(self.rnn, params["rnn"], (batch_size,))

  def _drop(self, x: jax.Array, deterministic: bool) -> jax.Array:
    """The non-recurrent dropout: per element, or one mask per sequence (``locked_dropout``)."""
    if deterministic or self.dropout_rate == 0 or not self.rnn.locked_dropout:
      return self.dropout(x, deterministic=deterministic)
    return unroll_dropout(x, self.dropout_rate, key=self.make_rng("dropout"), locked=True)


class FixedWindowLM(nn.Module):
  """Bengio et al. (2003): the next token from the embeddings of the previous ``context``
  tokens only,

      x = [C(w_{t-n+1}); …; C(w_{t-1})],   logits = b + W x + U tanh(d + H x)

  (``W x``, the direct connections, only with ``direct``). With ``tie_weights`` the output
  layer shares the embedding table (Press & Wolf 2017): ``U tanh(...)`` becomes
  ``C^T P tanh(...)``, the hidden layer projected to the embedding size then scored against
  every word's embedding, which also makes the softmax ``hidden / embed`` times cheaper.
  ``tokens: [B, T] -> logits
  [B, T, V]``: the logits at ``t`` read tokens ``t - context + 1 .. t`` and nothing later. The
  carry is the last ``context`` tokens seen (as ids + 1; 0 is "before the stream", its own
  embedding row), so a corpus is read window after window as the RNN LM reads it, and a carry
  reset to zeros starts the stream afresh. Dropout (``deterministic=False``) on ``x`` and on
  the hidden layer.

  >>> import jax, jax.numpy as jnp
  >>> lm = FixedWindowLM(vocab_size=10, context=3, embed_size=4, hidden_size=8)
  >>> tokens = jnp.zeros((2, 7), jnp.int32)
  >>> params = lm.init(jax.random.key(0), tokens)["params"]
  >>> logits, carry = lm.apply({"params": params}, tokens, lm.zero_carry(params, 2))
  >>> logits.shape, carry.shape
  ((2, 7, 10), (2, 3))
  """
  vocab_size: int
  context: int = 4
  embed_size: int = 60
  hidden_size: int = 100
  direct: bool = False
  dropout_rate: float = 0.0
  init_scale: Optional[float] = None
  tie_weights: bool = False

  def zero_carry(self, params: Any, batch_size: int) -> jax.Array:
    del params
    return jnp.zeros((batch_size, self.context), jnp.int32)

  @nn.compact
  def __call__(self, tokens: jax.Array, carry: Any = None, *,
               deterministic: bool = True) -> tuple[jax.Array, jax.Array]:
    if tokens.ndim != 2:
      raise ValueError(f"FixedWindowLM: tokens must have shape [batch, time]; got {tokens.shape}")
    b, t = tokens.shape
    if carry is None:
      carry = self.zero_carry(None, b)
    if carry.shape != (b, self.context):
      raise ValueError(f"FixedWindowLM: carry must be [batch, context] = {(b, self.context)} "
                       f"(the last tokens seen); got {carry.shape}")
    full = jnp.concatenate([carry.astype(jnp.int32), tokens.astype(jnp.int32) + 1], axis=1)
    index = jnp.arange(t)[:, None] + jnp.arange(1, self.context + 1)[None, :]  # [T, context]
    windows = full[:, index]  # [B, T, context]: the tokens up to and including tokens[:, t]
    scale = self.init_scale
    init = scaled_uniform(scale) if scale else nn.initializers.normal(stddev=1.0)
    table = self.param("embedding", init, (self.vocab_size + 1, self.embed_size), jnp.float32)
    x = jnp.reshape(jnp.take(table, windows, axis=0), (b * t, self.context * self.embed_size))
    x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
    kernel = scaled_uniform(scale) if scale else nn.initializers.lecun_normal()
    bias = scaled_uniform(scale) if scale else nn.initializers.zeros
    h = jnp.tanh(nn.Dense(self.hidden_size, kernel_init=kernel, bias_init=bias,
                          name="hidden")(x))
    h = nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)
    if self.tie_weights:
      projected = nn.Dense(self.embed_size, kernel_init=kernel, bias_init=bias,
                           name="project")(h)
      out_bias = self.param("output_bias", nn.initializers.zeros, (self.vocab_size,))
      # Row 0 of the table is "before the stream", not a word: it scores nothing.
      logits = projected @ table[1:].T + out_bias[None, :]
    else:
      logits = nn.Dense(self.vocab_size, kernel_init=kernel, bias_init=bias, name="output")(h)
    if self.direct:
      logits = logits + nn.Dense(self.vocab_size, use_bias=False, kernel_init=kernel,
                                 name="direct")(x)
    return jnp.reshape(logits, (b, t, self.vocab_size)), full[:, t:]


def initial_carry(model: Any, params: Any, batch_size: int) -> Any:
  """The zero carry of an LM of this module for ``batch_size`` rows (the recurrent state of an
  ``RNNLM``; "nothing seen yet" for a ``FixedWindowLM``)."""
  return model.zero_carry(params, batch_size)
