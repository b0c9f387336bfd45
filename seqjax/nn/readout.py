"""A recurrent network with a linear readout: many-to-one (``last``) or synchronous
many-to-many (``every`` step). The model of the synthetic long-dependency tasks, and of any
per-step tagging or regression that needs nothing more."""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax.nn.rnn import DeepRNN, RNNSpec
from seqjax.nn.layers import last_step

READOUTS = ("last", "every")


class RNNReadout(nn.Module):
  """``inputs [B, T, F]`` (or token ids ``[B, T]`` when ``vocab_size > 0``, one-hot encoded)
  -> [``encoder``] -> ``DeepRNN(rnn)`` -> ``Dense(num_outputs)`` at the last step
  (``[B, num_outputs]``) or at every step (``[B, T, num_outputs]``).

  ``encoder_size > 0`` puts ``gelu(Dense(encoder_size))`` before the recurrence, as the LRU's
  blocks do (Orvieto et al. 2023): a linear recurrence with a linear readout is linear in its
  inputs and cannot form products of them (the adding problem's marker x value) by itself."""
  num_outputs: int
  rnn: RNNSpec = RNNSpec()
  vocab_size: int = 0  # > 0: integer inputs, one-hot encoded
  readout: str = "last"
  encoder_size: int = 0

  @nn.compact
  def __call__(self, inputs: jax.Array, lengths: Optional[jax.Array] = None, *,
               deterministic: bool = True) -> jax.Array:
    if self.readout not in READOUTS:
      raise ValueError(f"RNNReadout: readout must be one of {list(READOUTS)}; got "
                       f"{self.readout!r}")
    xs = jax.nn.one_hot(inputs, self.vocab_size) if self.vocab_size else inputs
    if xs.ndim != 3:
      raise ValueError(f"RNNReadout: inputs must be [batch, time, features] (or token ids "
                       f"[batch, time] with vocab_size); got {inputs.shape}")
    if self.encoder_size:
      xs = jax.nn.gelu(nn.Dense(self.encoder_size, name="encoder")(xs))
    ys, _ = DeepRNN(self.rnn)(xs, lengths=lengths, deterministic=deterministic)
    if self.readout == "last":
      if lengths is None:
        lengths = jnp.full(ys.shape[:1], ys.shape[1], jnp.int32)
      ys = last_step(ys, lengths)
    return nn.Dense(self.num_outputs)(ys)
