"""The fused LSTM/GRU path (hand-written backward) equals the autodiff scan in values and
gradients for every option it covers; mixed precision within bf16 tolerance; remat's memory."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.cells import Backend
from seqjax.cells import gru, lstm, simple
from seqjax.recurrence import bidirectional, init_bidirectional, unroll

B, T, I, H = 3, 7, 5, 6
CELLS = {
    "lstm": (lstm.CELL, {}),
    "lstm_peephole": (lstm.CELL, {"peephole": True}),
    "lstm_coupled": (lstm.CELL, {"coupled": True}),
    "lstm_coupled_peephole": (lstm.CELL, {"coupled": True, "peephole": True}),
    "gru": (gru.CELL, {}),
    "gru_cho": (gru.CELL, {"reset_after": False}),
}
MODES = {
    "plain": {},
    "lengths": {"lengths": np.asarray([7, 4, 0])},
    "reverse_lengths": {"lengths": np.asarray([2, 7, 5]), "reverse": True},
    "resets": {"resets": np.asarray([[1, 0, 0, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0, 1],
                                     [1, 0, 0, 0, 0, 0, 0]], bool)},
    "reverse_resets_lengths": {"resets": np.asarray([[0, 0, 1, 0, 0, 1, 0]] * 3, bool),
                               "lengths": np.asarray([7, 6, 3]), "reverse": True},
}


def _setup(name, seed=0):
  cell, opts = CELLS[name]
  k = jax.random.split(jax.random.PRNGKey(seed), 4)
  params = cell.init(k[0], I, H, **opts)
  if opts.get("peephole"):  # peepholes start at zero: make them matter
    params = dataclasses.replace(params, **{p: jax.random.normal(k[3], (H,)) * 0.5
                               for p in ("p_i", "p_f", "p_o") if getattr(params, p) is not None})
  xs = jax.random.normal(k[1], (B, T, I))
  carry = jax.tree.map(lambda z: jax.random.normal(k[2], z.shape) * 0.5,
                       cell.initial_carry(params, (B,)))
  return cell, params, xs, carry


# Every cell with every feature at once runs by default; each feature alone runs with the slow
# tests (`pytest -m slow`), to keep the default suite within its time budget.
COMBOS = [pytest.param(name, mode, marks=() if mode in ("plain", "reverse_resets_lengths")
                       else pytest.mark.slow) for name in CELLS for mode in MODES]


@pytest.mark.parametrize("name, mode", COMBOS)
def test_fused_equals_autodiff_scan(name, mode):
  cell, params, xs, carry = _setup(name)
  assert cell.kernels[Backend.FUSED].unsupported(params) is None
  kwargs = MODES[mode]
  w = jax.random.normal(jax.random.PRNGKey(9), (B, T, H))

  def loss(params, xs, carry, use_fused):
    ys, final = unroll(cell, params, xs, carry=carry, backend="fused" if use_fused else "scan",
                       **kwargs)
    return jnp.sum(ys * w) + sum(jnp.sum(jnp.sin(c)) for c in jax.tree.leaves(final)), ys

  (l_f, ys_f), g_f = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(
      params, xs, carry, True)
  (l_s, ys_s), g_s = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(
      params, xs, carry, False)
  np.testing.assert_allclose(ys_f, ys_s, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(l_f, l_s, rtol=1e-5, atol=1e-5)
  for a, b in zip(jax.tree.leaves(g_f), jax.tree.leaves(g_s)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bidirectional_multi_axis_batch_and_jit_vmap():
  params = init_bidirectional(lstm.CELL, jax.random.PRNGKey(0), I, H)
  xs = jax.random.normal(jax.random.PRNGKey(1), (2, 2, T, I))  # two batch axes
  lengths = np.asarray([[7, 3], [1, 5]])

  def loss(params, use_fused):
    ys, _ = bidirectional(lstm.CELL, params, xs, lengths=lengths,
                          backend="fused" if use_fused else "scan")
    return jnp.sum(ys ** 2)

  g_f = jax.jit(jax.grad(lambda p: loss(p, True)))(params)
  g_s = jax.grad(lambda p: loss(p, False))(params)
  for a, b in zip(jax.tree.leaves(g_f), jax.tree.leaves(g_s)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  single = lambda x: unroll(gru.CELL, gru.init(jax.random.PRNGKey(2), I, H), x)[0]
  np.testing.assert_allclose(jax.vmap(single)(xs[0]), single(xs[0]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["lstm", "gru", "gru_cho"])
def test_bf16_matmuls_with_float32_carry(name):
  cell, params, xs, carry = _setup(name, seed=3)

  def run(compute_dtype):
    def loss(params):
      ys, final = unroll(cell, params, xs, carry=carry, compute_dtype=compute_dtype)
      return jnp.sum(ys ** 2), (ys, final)
    return jax.value_and_grad(loss, has_aux=True)(params)

  (_, (ys16, final16)), g16 = run(jnp.bfloat16)
  (_, (ys32, _)), g32 = run(None)
  assert ys16.dtype == jnp.float32 and final16.h.dtype == jnp.float32  # float32 carry
  assert all(a.dtype == b.dtype for a, b in zip(jax.tree.leaves(g16), jax.tree.leaves(g32)))
  # bf16 has an 8-bit mantissa (relative step 2^-8 ≈ 0.4%): errors of a few 1e-2 in the
  # worst entry after T steps and a backward pass, far below the values' scale.
  np.testing.assert_allclose(ys16, ys32, atol=3e-2)
  for a, b in zip(jax.tree.leaves(g16), jax.tree.leaves(g32)):
    scale = float(jnp.max(jnp.abs(b)))
    assert float(jnp.max(jnp.abs(a - b))) < 5e-2 * scale + 1e-3
  assert float(jnp.max(jnp.abs(ys16 - ys32))) > 0  # bf16 really was used


def test_fallbacks_and_errors():
  params = lstm.init(jax.random.PRNGKey(0), I, H, layer_norm=True)
  xs = jnp.ones((B, T, I))
  fused_lstm = lstm.CELL.kernels[Backend.FUSED]
  assert "layer norm" in fused_lstm.unsupported(params)
  assert "projection" in fused_lstm.unsupported(lstm.init(jax.random.PRNGKey(0), I, H,
                                                          proj_size=3))
  assert Backend.FUSED not in simple.CELL.kernels
  with pytest.raises(ValueError, match="backend='fused' but rnn has no fused form"):
    unroll(simple.CELL, simple.init(jax.random.PRNGKey(0), I, H), xs, backend="fused")
  unroll(lstm.CELL, params, xs)  # falls back to the scan
  with pytest.raises(ValueError, match="backend='fused' but .*has no fused form"):
    unroll(lstm.CELL, params, xs, backend="fused")
  plain = lstm.init(jax.random.PRNGKey(0), I, H)
  with pytest.raises(ValueError, match="backend='fused' but remat needs the scan"):
    unroll(lstm.CELL, plain, xs, backend="fused", remat=True)
  with pytest.raises(ValueError, match="compute_dtype needs the fused path"):
    unroll(lstm.CELL, params, xs, compute_dtype=jnp.bfloat16)


def _temp_bytes(fn, *args):
  return jax.jit(fn).lower(*args).compile().memory_analysis().temp_size_in_bytes


def test_remat_bounds_training_memory_at_t2000():
  """Temporary memory of a training step at T=2000 (XLA's compiled memory analysis), in units
  of one [B, H] float32 tensor per step. Measured (B=8, I=32, H=64): autodiff scan 24.5,
  remat 14.5, fused 19.5. About 12 units are the sequence itself (inputs, the projected gates
  and their gradient, outputs), which any method keeps; remat adds only the carry."""
  params = lstm.init(jax.random.PRNGKey(0), 32, 64)
  T = 2000
  xs = jnp.ones((8, T, 32))

  def loss(params, **kw):
    return jnp.sum(unroll(lstm.CELL, params, xs, **kw)[0])

  unit = T * 8 * 64 * 4
  scan = _temp_bytes(jax.grad(lambda p: loss(p, backend="scan")), params) / unit
  remat = _temp_bytes(jax.grad(lambda p: loss(p, remat=True)), params) / unit
  fused_units = _temp_bytes(jax.grad(lambda p: loss(p, backend="fused")), params) / unit
  assert remat < 0.65 * scan and remat < 16, (remat, scan)
  assert fused_units < 0.85 * scan, (fused_units, scan)
