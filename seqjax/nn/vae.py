r"""The sentence VAE of Bowman et al. (2016), "Generating Sentences from a Continuous Space",
and the sentence-level RNN LM it is compared with (the same module with ``latent_size=0``).

``SentenceVAE``: embedding → encoder (``DeepRNN`` of the ``encoder`` spec: any cell, stacked,
uni- or bidirectional) over ``w_1 … w_n <eos>`` → the top layer's final output (both directions'
for a bidirectional encoder) → ``q(z|x) = N(μ, diag σ²)`` by one linear layer giving
``[μ; log σ²]`` → ``z = μ + σ ε`` → decoder (``DeepRNN`` of the ``decoder`` spec) whose initial
state is ``tanh(W z + b)`` (one ``W`` per layer and per state part, e.g. an LSTM's ``h`` and
``c``) and, with ``z_every_step``, whose every input is ``[e_t; z]`` → softmax over the
vocabulary, predicting ``w_1 … w_n <eos>`` from ``<bos> w_1 … w_n``. The prior is ``N(0, I)``.

With ``latent_size=0`` there is no encoder and no ``z``: the decoder starts from zeros and the
module is a sentence-level RNN LM (each sentence scored on its own, no carry across sentences).

**Word dropout** (Bowman et al. §3.2): each decoder input word is replaced, with probability
``1 - word_keep``, by one learned vector (``dropped_word``; not PTB's ``<unk>``, which is a real
word of the corpus), while training. ``word_keep=0`` is the *inputless decoder*: it never sees a
word, in training or evaluation, so everything it knows about the sentence must come through
``z`` (or, for the RNN LM, nothing does). Dropout (``dropout_rate``) is on the embeddings and
on the softmax input.

The loss parts are plain functions: ``gaussian_kl`` (per dimension), ``log_normal``,
``sentence_nll``, ``kl_weight`` (the annealing schedules) and ``kl_term`` (with free bits,
Kingma et al. 2016).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax import cells as cells_lib, masks
from seqjax.nn.rnn import DeepRNN, RNNSpec
from seqjax.nn.seq2seq import top_output
from seqjax.recurrence import Bidirectional
from seqjax.train.losses import token_nll

ANNEALING = ("none", "linear", "sigmoid")


# ---- the loss parts (pure functions) ---------------------------------------------------------
def gaussian_kl(mu: jax.Array, logvar: jax.Array) -> jax.Array:
  """``KL(N(μ, diag e^{logvar}) || N(0, I))`` per dimension: ``½(μ² + σ² − 1 − log σ²)``.

  >>> float(gaussian_kl(jnp.array(1.0), jnp.array(0.0)))
  0.5
  """
  return 0.5 * (jnp.square(mu) + jnp.exp(logvar) - 1.0 - logvar)


def log_normal(z: jax.Array, mu: jax.Array, logvar: jax.Array) -> jax.Array:
  """``log N(z; μ, diag e^{logvar})``, summed over the last axis."""
  return -0.5 * jnp.sum(math.log(2 * math.pi) + logvar + jnp.square(z - mu) * jnp.exp(-logvar),
                        axis=-1)


def sentence_nll(logits: jax.Array, targets: jax.Array, lengths: jax.Array) -> jax.Array:
  """``[B, T, V], [B, T], [B] -> [B]``: each sentence's summed token NLL over its first
  ``lengths`` steps (in nats)."""
  mask = masks.length_mask(lengths, targets.shape[1]).astype(jnp.float32)
  return jnp.sum(token_nll(logits, targets) * mask, axis=1)


def kl_weight(step: jax.Array, schedule: str, steps: int) -> jax.Array:
  """The KL term's weight at training step ``step`` (Bowman et al. §3.1, KL cost annealing).

  - ``"none"``: 1.
  - ``"linear"``: ``min(1, step / steps)``.
  - ``"sigmoid"``: ``1 / (1 + exp(-10 (step - steps / 2) / steps))``: 0.0067 at step 0, ½ at
    ``steps / 2``, 0.9933 at ``steps`` (the logistic schedule of the paper's Figure 2).

  >>> [round(float(kl_weight(s, "sigmoid", 1000)), 4) for s in (0, 500, 1000)]
  [0.0067, 0.5, 0.9933]
  """
  step = jnp.asarray(step, jnp.float32)
  if schedule == "none" or steps <= 0:
    return jnp.ones_like(step)
  if schedule == "linear":
    return jnp.minimum(1.0, step / steps)
  if schedule == "sigmoid":
    return jax.nn.sigmoid(10.0 * (step - steps / 2) / steps)
  raise ValueError(f"kl_weight: schedule must be one of {list(ANNEALING)}; got {schedule!r}")


def kl_term(kl: jax.Array, weights: jax.Array, free_bits: float = 0.0) -> jax.Array:
  """The KL part of the objective per sentence, from per-dimension KLs ``kl [B, D]`` of the rows
  with ``weights [B]`` (0: filler).

  Without free bits, the mean over sentences of ``Σ_d KL_d``. With ``free_bits = λ > 0``
  (Kingma et al. 2016, one group per dimension), ``Σ_d max(λ, mean_b KL_{b,d})``: a dimension
  whose average KL is below ``λ`` nats costs a constant, so the optimiser gains nothing by
  closing it further.
  """
  count = jnp.maximum(jnp.sum(weights), 1.0)
  per_dim = jnp.sum(kl * weights[:, None], axis=0) / count
  if free_bits > 0:
    return jnp.sum(jnp.maximum(per_dim, free_bits))
  return jnp.sum(per_dim)


def row_normal(key: jax.Array, index: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """``[B, *shape]`` standard normal draws, row ``b`` from ``fold_in(key, index[b])``: a row's
  draw depends on its example's index only, not on the batch it is in."""
  return jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), shape))(index)


# ---- the model ------------------------------------------------------------------------------
class SentenceVAE(nn.Module):
  """See the module docstring. ``latent_size=0``: the sentence RNN LM.

  >>> import jax, jax.numpy as jnp
  >>> vae = SentenceVAE(vocab_size=12, embed_size=8, latent_size=4,
  ...                   encoder=RNNSpec(hidden_size=6), decoder=RNNSpec(hidden_size=6))
  >>> inputs = jnp.ones((2, 5), jnp.int32); lengths = jnp.array([5, 3])
  >>> params = vae.init(jax.random.key(0), inputs, inputs, lengths)["params"]
  >>> logits, mu, logvar = vae.apply({"params": params}, inputs, inputs, lengths)
  >>> logits.shape, mu.shape
  ((2, 5, 12), (2, 4))
  """
  vocab_size: int
  embed_size: int = 256
  encoder: RNNSpec = RNNSpec(hidden_size=256)
  decoder: RNNSpec = RNNSpec(hidden_size=256)
  latent_size: int = 32
  word_keep: float = 1.0
  z_every_step: bool = False
  dropout_rate: float = 0.0
  tie_weights: bool = False

  def _check(self) -> None:
    if self.decoder.bidirectional:
      raise ValueError("SentenceVAE: the decoder must be unidirectional")
    if not 0.0 <= self.word_keep <= 1.0:
      raise ValueError(f"SentenceVAE: word_keep must be in [0, 1]; got {self.word_keep}")
    if self.latent_size < 0:
      raise ValueError(f"SentenceVAE: latent_size must be >= 0; got {self.latent_size}")
    if self.tie_weights and self.decoder.output_size != self.embed_size:
      raise ValueError(f"SentenceVAE: tie_weights needs the decoder's output size "
                       f"({self.decoder.output_size}) to equal embed_size ({self.embed_size})")

  def setup(self):
    self._check()
    self.embed = nn.Embed(self.vocab_size, self.embed_size,
                          embedding_init=nn.initializers.normal(stddev=0.1))
    self.drop = nn.Dropout(self.dropout_rate)
    self.decoder_rnn = DeepRNN(self.decoder)
    if self.word_keep < 1.0:
      self.dropped_word = self.param("dropped_word", nn.initializers.normal(stddev=0.1),
                                     (self.embed_size,))
    if self.latent_size:
      self.encoder_rnn = DeepRNN(self.encoder)
      self.posterior = nn.Dense(2 * self.latent_size)
      self.bridge = [nn.Dense(shape[-1]) for shape in self._state_shapes()]
    if self.tie_weights:
      self.softmax_bias = self.param("softmax_bias", nn.initializers.zeros, (self.vocab_size,))
    else:
      self.softmax = nn.Dense(self.vocab_size)

  # -- shapes of the decoder state ---------------------------------------------------------------
  def _zero_state(self, batch: int) -> list[Any]:
    """Zero carries of the decoder's layers, built from the cell's abstract parameters (so
    before the decoder has any)."""
    spec = self.decoder
    cell, options = cells_lib.get(spec.cell), spec.init_options()
    size = self.embed_size + (self.latent_size if self.z_every_step else 0)
    out = []
    for _ in range(spec.num_layers):
      abstract = jax.eval_shape(
          lambda n=size: cell.init(jax.random.key(0), n, spec.hidden_size, **options))
      zero = jax.eval_shape(lambda p: cell.initial_carry(p, (batch,)), abstract)
      out.append(jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), zero))
      size = spec.hidden_size
    return out

  def _state_shapes(self) -> list[tuple[int, ...]]:
    leaves = jax.tree.leaves(self._zero_state(1))
    for leaf in leaves:
      if not jnp.issubdtype(leaf.dtype, jnp.floating):
        raise ValueError(f"SentenceVAE: the decoder cell {self.decoder.cell!r} has a "
                         f"{leaf.dtype} state; z can set only a real one")
    return [leaf.shape for leaf in leaves]

  # -- parts ---------------------------------------------------------------------------------------
  def encode(self, tokens: jax.Array, lengths: jax.Array, *,
             deterministic: bool = True) -> tuple[jax.Array, jax.Array]:
    """``tokens [B, T]`` (``w_1 … w_n <eos>``), ``lengths [B]`` -> ``(μ, log σ²)``, each
    ``[B, latent_size]``. Padding does not change them."""
    if not self.latent_size:
      raise ValueError("SentenceVAE: latent_size=0 (the RNN LM) has no encoder")
    x = self.drop(self.embed(tokens), deterministic=deterministic)
    _, finals = self.encoder_rnn(x, lengths=lengths, deterministic=deterministic)
    top = finals[-1]
    if isinstance(top, Bidirectional):
      summary = jnp.concatenate([top_output(top.forward), top_output(top.backward)], -1)
    else:
      summary = top_output(top)
    out = self.posterior(summary.astype(jnp.float32))
    return out[:, :self.latent_size], out[:, self.latent_size:]

  def initial_state(self, z: Optional[jax.Array], batch: int) -> list[Any]:
    """The decoder's initial carries: ``tanh(W z + b)`` per layer and state part, or zeros
    without a latent code."""
    zeros = self._zero_state(batch)
    if not self.latent_size:
      return zeros
    leaves, treedef = jax.tree.flatten(zeros)
    leaves = [jnp.tanh(dense(z)).astype(leaf.dtype) for dense, leaf in zip(self.bridge, leaves)]
    return jax.tree.unflatten(treedef, leaves)

  def _decoder_inputs(self, inputs: jax.Array, z: Optional[jax.Array],
                      deterministic: bool) -> jax.Array:
    x = self.embed(inputs)
    if self.word_keep < 1.0:
      if self.word_keep == 0.0:
        drop = jnp.ones(inputs.shape, bool)
      elif deterministic:
        drop = jnp.zeros(inputs.shape, bool)
      else:
        drop = ~jax.random.bernoulli(self.make_rng("dropout"), self.word_keep, inputs.shape)
      x = jnp.where(drop[..., None], self.dropped_word.astype(x.dtype), x)
    x = self.drop(x, deterministic=deterministic)
    if self.z_every_step and self.latent_size:
      zs = jnp.broadcast_to(z[:, None, :].astype(x.dtype), x.shape[:2] + z.shape[-1:])
      x = jnp.concatenate([x, zs], axis=-1)
    return x

  def _logits(self, ys: jax.Array) -> jax.Array:
    b, t, h = ys.shape
    flat = jnp.reshape(ys, (b * t, h))  # [B*T, H]: the cheaper gradient on XLA:CPU (RNNLM)
    if self.tie_weights:
      logits = self.embed.attend(flat) + jnp.reshape(self.softmax_bias, (1, -1))
    else:
      logits = self.softmax(flat)
    return jnp.reshape(logits, (b, t, -1))

  def decode(self, inputs: jax.Array, z: Optional[jax.Array], *,
             deterministic: bool = True) -> jax.Array:
    """Teacher-forced logits ``[B, T, V]`` for ``inputs [B, T]`` (``<bos> w_1 … w_n``) given
    ``z [B, latent_size]`` (``None`` for the RNN LM). A step's logits depend only on the steps
    before it, so padding after a sentence does not change its scores."""
    x = self._decoder_inputs(inputs, z, deterministic)
    state = self.initial_state(z, inputs.shape[0])
    ys, _ = self.decoder_rnn(x, state, deterministic=deterministic)
    ys = self.drop(ys, deterministic=deterministic)
    return self._logits(ys)

  def start(self, z: Optional[jax.Array], batch: int) -> tuple[list[Any], Any]:
    """The decoding carry ``(decoder state, z)`` that ``step`` threads."""
    return self.initial_state(z, batch), z

  def read(self, inputs: jax.Array, lengths: jax.Array,
           z: Optional[jax.Array]) -> tuple[jax.Array, tuple[list[Any], Any]]:
    """Reads prefixes ``inputs [B, T]`` (``<bos> w_1 … w_m``, ``lengths`` = ``m + 1``) without
    dropout: ``(logits [B, V] predicting the token after each prefix, the decoding carry
    there)``, ready for ``step``."""
    x = self._decoder_inputs(inputs, z, True)
    ys, state = self.decoder_rnn(x, self.initial_state(z, inputs.shape[0]), lengths=lengths)
    last = jnp.take_along_axis(ys, jnp.reshape(lengths - 1, (-1, 1, 1)), axis=1)
    return self._logits(last)[:, 0], (state, z)

  def step(self, carry: tuple[list[Any], Any], tokens: jax.Array) -> tuple[jax.Array, Any]:
    """One decoding step without dropout: ``tokens [B]`` -> ``(logits [B, V], carry)``; the
    ``step_fn`` of ``seqjax.decode``. The same function as ``decode``, one step at a time."""
    state, z = carry
    x = self._decoder_inputs(tokens[:, None], z, True)
    ys, state = self.decoder_rnn(x, list(state))
    return self._logits(ys)[:, 0], (state, z)

  def __call__(self, inputs: jax.Array, targets: jax.Array, lengths: jax.Array,
               eps: Optional[jax.Array] = None, *,
               deterministic: bool = True) -> tuple[jax.Array, Any, Any]:
    """``(logits [B, T, V], μ, log σ²)`` with ``z = μ + σ ε`` (``eps`` ``[B, latent_size]``;
    ``None``: ``z = μ``). The RNN LM returns ``μ = log σ² = None``."""
    if not self.latent_size:
      return self.decode(inputs, None, deterministic=deterministic), None, None
    mu, logvar = self.encode(targets, lengths, deterministic=deterministic)
    z = mu if eps is None else mu + jnp.exp(0.5 * logvar) * eps
    return self.decode(inputs, z, deterministic=deterministic), mu, logvar
