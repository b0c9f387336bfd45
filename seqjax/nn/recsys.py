"""GRU4Rec (Hidasi et al. 2016; Hidasi & Karatzoglou 2018): a GRU over the items of a session
predicting the next item.

    x_t = E[i_t],   h_t = GRU(x_t, h_{t-1}) (h reset to 0 where a session starts),
    score(j | h_t) = h_t · W_j + b_j

The unroll's in-sequence reset (``resets [B, T]``) zeroes the state where a session-parallel
lane starts a new session, so blocks of ``T`` steps train with BPTT inside each session and the
carry flows from block to block. ``__call__`` returns the hidden states; ``scores`` scores them
against all items or against given candidate items.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax.nn.rnn import DeepRNN, RNNSpec


class GRU4Rec(nn.Module):
  """Attributes: ``num_items``; ``embed_size`` of the input items; ``rnn`` the recurrent part
  (``RNNSpec``, one direction: the next item is predicted from the past); ``dropout_rate`` on the
  input embedding and on the hidden states (the spec's ``dropout_rate`` is between layers);
  ``output_init`` stddev of the output item vectors ``W``."""
  num_items: int
  embed_size: int = 100
  rnn: RNNSpec = RNNSpec(cell="gru", hidden_size=100)
  dropout_rate: float = 0.0
  output_init: float = 0.05

  def setup(self):
    self.embed = nn.Embed(self.num_items, self.embed_size,
                          embedding_init=nn.initializers.normal(0.05))
    if self.rnn.bidirectional:
      raise ValueError("GRU4Rec: rnn must be unidirectional (a session is read left to right)")
    self.recurrent = DeepRNN(self.rnn, name="rnn")
    self.dropout = nn.Dropout(self.dropout_rate)
    self.output_items = self.param("output_items", nn.initializers.normal(self.output_init),
                                   (self.num_items, self.rnn.hidden_size))
    self.output_bias = self.param("output_bias", nn.initializers.zeros, (self.num_items,))

  def __call__(self, inputs: jax.Array, resets: jax.Array, carry: Optional[Any] = None, *,
               deterministic: bool = True) -> tuple[jax.Array, Any]:
    """``inputs, resets [B, T]`` -> ``(hidden [B, T, H], final carries)``."""
    if inputs.ndim != 2 or resets.shape != inputs.shape:
      raise ValueError(f"GRU4Rec: inputs and resets must both be [B, T]; got {inputs.shape} "
                       f"and {resets.shape}")
    x = self.dropout(self.embed(inputs), deterministic=deterministic)
    ys, carry = self.recurrent(x, carry, resets=resets, deterministic=deterministic)
    return self.dropout(ys, deterministic=deterministic), carry

  def scores(self, hidden: jax.Array, items: Optional[jax.Array] = None) -> jax.Array:
    """``hidden [..., H]`` against every item (``[..., I]``) or, with ``items [..., C]``
    (broadcast against ``hidden``'s leading axes), against those candidates (``[..., C]``)."""
    if items is None:
      out = hidden @ self.output_items.T
      return out + jnp.reshape(self.output_bias, (1,) * (out.ndim - 1) + (-1,))
    w = self.output_items[items]
    return jnp.einsum("...h,...ch->...c", hidden, w) + self.output_bias[items]
