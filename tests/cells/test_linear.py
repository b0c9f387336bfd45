"""Linear-recurrence cells (minGRU, minLSTM, LRU): equations against NumPy, and the parallel
(associative) scan equal to the sequential one in values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.cells import lru, minrnn
from seqjax.nn.rnn import DeepRNN
from seqjax.nn.rnn import RNNSpec
from seqjax.recurrence import unroll

B, T, I, H = 3, 11, 4, 6
CELLS = {"mingru": minrnn.MINGRU, "minlstm": minrnn.MINLSTM, "lru": lru.CELL}


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def make(name, dtype=jnp.float32, seed=0):
  cell = CELLS[name]
  params = cell.init(jax.random.PRNGKey(seed), I, H, dtype=dtype)
  if name != "lru":  # non-zero biases so every term is exercised
    params = type(params)(w=params.w, b=(0.3 * jax.random.normal(
        jax.random.PRNGKey(seed + 5), params.b.shape)).astype(dtype), kind=params.kind)
  xs = jax.random.normal(jax.random.PRNGKey(seed + 1), (B, T, I)).astype(dtype)
  return cell, params, xs


def numpy_reference(name, params, xs):
  x = np.asarray(xs, np.float64)
  if name == "lru":
    p = {k: np.asarray(getattr(params, k), np.float64) for k in
         ("nu_log", "theta_log", "gamma_log", "b_re", "b_im", "c_re", "c_im", "d")}
    lam = np.exp(-np.exp(p["nu_log"]) + 1j * np.exp(p["theta_log"]))
    Bm, Cm = p["b_re"] + 1j * p["b_im"], p["c_re"] + 1j * p["c_im"]
    state = np.zeros((B, H), complex)
    ys = []
    for t in range(T):
      state = lam * state + np.exp(p["gamma_log"]) * (x[:, t] @ Bm)
      ys.append((state @ Cm).real + p["d"] * x[:, t])
    return np.stack(ys, 1)
  w, b = np.asarray(params.w, np.float64), np.asarray(params.b, np.float64)
  h = np.zeros((B, H))
  ys = []
  for t in range(T):
    z = x[:, t] @ w + b
    if name == "mingru":
      gate, cand = z[:, :H], z[:, H:]
      zt = sigmoid(gate)
      h = (1 - zt) * h + zt * cand
    else:
      f, i, cand = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), z[:, 2 * H:]
      h = f / (f + i) * h + i / (f + i) * cand
    ys.append(h)
  return np.stack(ys, 1)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_equations_match_numpy(name, parallel):
  cell, params, xs = make(name)
  ys, _ = unroll(cell, params, xs, backend="associative" if parallel else "scan")
  np.testing.assert_allclose(ys, numpy_reference(name, params, xs), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_parallel_scan_equals_sequential_with_lengths_resets_and_carry(name, reverse):
  cell, params, xs = make(name, seed=3)
  lengths = jnp.asarray([11, 7, 2])
  resets = np.zeros((B, T), bool)
  resets[0, [4, 8]] = True
  resets[1, 3] = True
  carry = jax.tree.map(lambda a: a + 0.2, cell.initial_carry(params, (B,)))
  kw = dict(carry=carry, lengths=lengths, resets=jnp.asarray(resets), reverse=reverse)
  ys_s, final_s = unroll(cell, params, xs, **kw)
  ys_p, final_p = unroll(cell, params, xs, backend="associative", **kw)
  np.testing.assert_allclose(ys_p, ys_s, rtol=1e-5, atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
               final_p, final_s)

  def loss(p, x, parallel):
    ys, final = unroll(cell, p, x, backend="associative" if parallel else "scan", **kw)
    return jnp.sum(ys ** 2) + sum(jnp.sum(f) for f in jax.tree.leaves(final))

  g_s = jax.grad(loss, argnums=(0, 1))(params, xs, False)
  g_p = jax.grad(loss, argnums=(0, 1))(params, xs, True)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), g_p, g_s)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_bf16_parameters_keep_a_float32_state(name):
  cell, params32, xs32 = make(name)
  params16 = jax.tree.map(lambda a: a.astype(jnp.bfloat16), params32)
  ys16, final16 = unroll(cell, params16, xs32.astype(jnp.bfloat16),
                               backend="associative")
  assert all(f.dtype == jnp.float32 for f in jax.tree.leaves(final16))
  ys32, _ = unroll(cell, params32, xs32, backend="associative")
  # bf16 inputs and weights carry ~3 significant digits; the float32 scan adds no more error.
  np.testing.assert_allclose(np.asarray(ys16, np.float32), ys32, rtol=0.05, atol=0.05)


def test_lru_eigenvalues_lie_on_the_requested_ring():
  params = lru.init(jax.random.PRNGKey(0), 8, 512, r_min=0.9, r_max=0.999, max_phase=np.pi / 10)
  lam = np.asarray(lru.lam(params))
  assert np.all(np.abs(lam) >= 0.9 - 1e-6) and np.all(np.abs(lam) <= 0.999 + 1e-6)
  assert np.all(np.angle(lam) >= 0) and np.all(np.angle(lam) <= np.pi / 10 + 1e-6)
  # γ normalises the input so that a white-noise input keeps unit state variance.
  np.testing.assert_allclose(np.exp(np.asarray(params.gamma_log)) ** 2, 1 - np.abs(lam) ** 2,
                             rtol=1e-4)
  with pytest.raises(ValueError, match="need 0 <= r_min < r_max <= 1"):
    lru.init(jax.random.PRNGKey(0), 8, 16, r_min=0.5, r_max=0.4)


def test_parallel_needs_a_linear_cell_and_deep_rnn_runs_them():
  from seqjax.cells import gru  # pylint: disable=g-import-not-at-top
  params = gru.init(jax.random.PRNGKey(0), I, H)
  with pytest.raises(ValueError, match="backend='associative' needs a linear-recurrence cell"):
    unroll(gru.CELL, params, jnp.zeros((B, T, I)), backend="associative")
  xs = jax.random.normal(jax.random.PRNGKey(1), (B, T, I))
  for name in ("mingru", "minlstm", "lru"):
    spec = RNNSpec(cell=name, hidden_size=H, num_layers=2, bidirectional=True)
    seq = DeepRNN(spec)
    variables = seq.init(jax.random.PRNGKey(2), xs)
    a = seq.apply(variables, xs)[0]
    b = DeepRNN(spec.replace(backend="associative")).apply(variables, xs)[0]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
