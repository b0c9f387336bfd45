"""The cell registry: every record declares its capabilities, and a new cell is one record and
one registry line (a toy cell registered here runs through ``unroll``, ``DeepRNN`` and the
back-end choice without any other code knowing about it)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import cells
from seqjax.cells import Backend, Cell, LinearForm, base
from seqjax.nn.rnn import DeepRNN
from seqjax.nn.rnn import RNNSpec
from seqjax.recurrence import UnrollOptions, choose_backend, unroll

B, T, I, H = 3, 6, 4, 5


def test_every_record_is_registered_under_its_name_and_declares_what_it_can_do():
  assert set(cells.CELLS) == {"rnn", "lstm", "gru", "mingru", "minlstm", "lru"}
  for name, cell in cells.CELLS.items():
    assert isinstance(cell, Cell) and cell.name == name
  assert cells.LINEAR_CELLS == ("mingru", "minlstm", "lru")
  assert {n for n, c in cells.CELLS.items() if Backend.FUSED in c.kernels} == {"lstm", "gru"}
  assert cells.CELLS["lstm"].gates == ("i", "f", "g", "o")
  coupled = cells.lstm.init(jax.random.PRNGKey(0), I, H, coupled=True)
  assert list(cells.CELLS["lstm"].recurrent_blocks(coupled)) == ["f", "g", "o"]
  with pytest.raises(ValueError, match="unknown cell 'lsmt'"):
    cells.get("lsmt")


class LeakyCarry(NamedTuple):
  h: jax.Array


@base.params_dataclass
class LeakyParams:
  w_ih: jax.Array
  b: jax.Array
  decay: jax.Array


def _init(key, input_size, hidden_size, *, dtype=jnp.float32):
  k1, k2 = jax.random.split(key)
  return LeakyParams(w_ih=0.3 * jax.random.normal(k1, (input_size, hidden_size), dtype),
                     b=jnp.zeros((hidden_size,), dtype),
                     decay=jax.random.uniform(k2, (hidden_size,), dtype, 0.5, 0.95))


def _coefficients(params, projected):
  a = jnp.broadcast_to(params.decay, projected.shape)
  return a, (1.0 - a) * jnp.tanh(projected)


def _step(params, carry, p_t):
  a, b = _coefficients(params, p_t)
  h = a * carry.h + b
  return LeakyCarry(h), h


# A leaky integrator h_t = d ⊙ h_{t-1} + (1 - d) ⊙ tanh(x_t W + b): a linear recurrence, so it
# declares its LinearForm and the associative back end applies to it.
LEAKY = Cell(
    name="leaky", init=_init,
    initial_carry=lambda p, batch: LeakyCarry(jnp.zeros(tuple(batch) + p.b.shape, jnp.float32)),
    project=lambda p, xs: xs @ p.w_ih + base.expand_as(p.b, xs @ p.w_ih), step=_step,
    input_size=lambda p: p.w_ih.shape[0], hidden_size=lambda p: p.b.shape[0],
    output_size=lambda p: p.b.shape[0],
    linear=LinearForm(coefficients=_coefficients, state=lambda c: c.h,
                      from_state=lambda p, h: LeakyCarry(h), readout=lambda p, hs, proj: hs))


def _numpy_leaky(params, xs):
  w, b, d = (np.asarray(x, np.float64) for x in (params.w_ih, params.b, params.decay))
  h = np.zeros((xs.shape[0], H))
  out = []
  for t in range(xs.shape[1]):
    h = d * h + (1 - d) * np.tanh(xs[:, t] @ w + b)
    out.append(h)
  return np.stack(out, 1)


def test_a_toy_cell_registered_in_one_line_runs_everywhere(monkeypatch):
  monkeypatch.setitem(cells.CELLS, "leaky", LEAKY)  # the one registry line
  params = LEAKY.init(jax.random.PRNGKey(0), I, H)
  xs = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (B, T, I)))
  ys, _ = unroll(LEAKY, params, xs)
  np.testing.assert_allclose(ys, _numpy_leaky(params, xs), rtol=1e-5, atol=1e-6)
  # Its declared linear form: the associative scan gives the same, lengths included.
  lengths = jnp.asarray([6, 3, 1])
  ys_s, final_s = unroll(LEAKY, params, xs, lengths=lengths, backend="scan")
  ys_a, final_a = unroll(LEAKY, params, xs, lengths=lengths, backend="associative")
  np.testing.assert_allclose(ys_a, ys_s, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(final_a.h, final_s.h, rtol=1e-5, atol=1e-6)
  # No fused kernel declared: auto runs the scan, and asking for it says why it cannot.
  assert choose_backend(LEAKY, params, UnrollOptions()) == Backend.SCAN
  with pytest.raises(ValueError, match="backend='fused' but leaky has no fused form"):
    unroll(LEAKY, params, xs, backend="fused")
  with pytest.raises(ValueError, match="cell 'leaky' declares no recurrent matrix"):
    LEAKY.recurrent_blocks(params)
  # The Flax layer finds it by name and trains through it.
  model = DeepRNN(RNNSpec(cell="leaky", hidden_size=H, num_layers=2, backend="associative"))
  variables = model.init(jax.random.PRNGKey(2), xs)
  grads = jax.grad(lambda v: jnp.sum(model.apply(v, xs)[0] ** 2))(variables)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
