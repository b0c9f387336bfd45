"""Gradient and Jacobian diagnostics against brute force; gate statistics; plots."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax import diagnostics
from seqjax.cells import gru, lstm, simple

B, T, I, H = 2, 12, 3, 5


def last_step_loss(ys, final):
  del final
  return jnp.sum(ys[:, -1] * jnp.arange(1.0, H + 1.0)[None, :])


@pytest.mark.parametrize("cell,options", [(simple.CELL, {}), (lstm.CELL, {}), (gru.CELL, {})])
def test_hidden_grad_norms_equal_brute_force(cell, options):
  params = cell.init(jax.random.PRNGKey(0), I, H, **options)
  xs = jax.random.normal(jax.random.PRNGKey(1), (B, T, I))
  norms = diagnostics.hidden_grad_norms(cell, params, xs, last_step_loss)
  assert norms.shape == (B, T)
  # Brute force: rerun the tail from each h_t and differentiate with respect to that h_t.
  projected = cell.project(params, xs)
  carry, carries = cell.initial_carry(params, (B,)), []
  for t in range(T):
    carry, _ = cell.step(params, carry, projected[:, t])
    carries.append(carry)
  for t in range(T):
    def tail(h, t=t):
      c = carries[t]._replace(h=h)
      y = h
      for s in range(t + 1, T):
        c, y = cell.step(params, c, projected[:, s])
      return last_step_loss(y[:, None], None)
    expected = np.linalg.norm(jax.grad(tail)(carries[t].h), axis=-1)
    np.testing.assert_allclose(norms[:, t], expected, rtol=1e-4, atol=1e-7)


def test_jacobian_norms_equal_the_composite_jacobian():
  params = lstm.init(jax.random.PRNGKey(0), I, H)
  xs = jax.random.normal(jax.random.PRNGKey(1), (T, I))
  norms = diagnostics.jacobian_norms(lstm.CELL, params, xs)
  projected = lstm.project(params, xs)
  c = lstm.initial_carry(params, ())
  for t in (0, 5, T - 2):
    start = c
    for s in range(t + 1):
      start, _ = lstm.step(params, start, projected[s])

    def run(flat, t=t):
      carry = lstm.LSTMCarry(flat[:H], flat[H:])
      for s in range(t + 1, T):
        carry, _ = lstm.step(params, carry, projected[s])
      return jnp.concatenate([carry.h, carry.c])

    jac = jax.jacfwd(run)(jnp.concatenate([start.h, start.c]))
    assert norms[t] == pytest.approx(np.linalg.norm(np.asarray(jac), 2), rel=1e-4)
  assert norms[-1] == pytest.approx(1.0)


def test_vanishing_gradients_in_a_contracting_tanh_rnn():
  params = simple.init(jax.random.PRNGKey(0), I, H, recurrent_init="orthogonal")
  params = type(params)(w_ih=params.w_ih, w_hh=0.5 * params.w_hh, b=params.b)
  assert diagnostics.spectral_radius(simple.CELL, params)["h"] == pytest.approx(0.5, rel=1e-5)
  xs = jax.random.normal(jax.random.PRNGKey(1), (B, 40, I))
  norms = np.asarray(diagnostics.hidden_grad_norms(simple.CELL, params, xs, last_step_loss))
  # Each step back multiplies by at most ‖diag(1-h²) W_hhᵀ‖ <= 0.5.
  assert np.all(norms[:, -11] <= norms[:, -1] * 0.5 ** 10 * (1 + 1e-4))
  assert np.all(norms[:, 0] < 1e-9 * norms[:, -1])


def test_spectral_radius_per_gate_and_irnn_identity():
  irnn = simple.init(jax.random.PRNGKey(0), I, H, activation="relu", identity_init=True)
  assert diagnostics.spectral_radius(simple.CELL, irnn) == {"h": pytest.approx(1.0)}
  radii = diagnostics.spectral_radius(gru.CELL, gru.init(jax.random.PRNGKey(0), I, H))
  assert sorted(radii) == ["n", "r", "z"] and all(r > 0 for r in radii.values())
  assert sorted(diagnostics.spectral_radius(lstm.CELL, lstm.init(jax.random.PRNGKey(0), I, H))) == [
      "f", "g", "i", "o"]


def test_gate_statistics_see_the_forget_bias():
  xs = jax.random.normal(jax.random.PRNGKey(1), (B, T, I))
  open_gate = lstm.init(jax.random.PRNGKey(0), I, H, forget_bias=8.0)
  stats = diagnostics.gate_statistics(lstm.CELL, open_gate, xs)
  assert stats["mean"] > 0.99 and stats["high"] == 1.0 and stats["saturated"] == 1.0
  closed = lstm.init(jax.random.PRNGKey(0), I, H, forget_bias=-8.0)
  assert diagnostics.gate_statistics(lstm.CELL, closed, xs)["low"] == 1.0
  values = diagnostics.gate_values(gru.CELL, gru.init(jax.random.PRNGKey(0), I, H), xs)
  assert values.shape == (B, T, H) and np.all((values > 0) & (values < 1))
  with pytest.raises(ValueError, match="has no forget/update gate"):
    diagnostics.gate_values(simple.CELL, simple.init(jax.random.PRNGKey(0), I, H), xs)


def test_plots_write_png_files(tmp_path):
  curves = {"tanh": np.geomspace(1, 1e-6, 30), "lstm": np.geomspace(1, 1e-1, 30)}
  path = diagnostics.plot_gradient_norms(curves, str(tmp_path / "grad.png"))
  assert pathlib.Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  path = diagnostics.plot_gate_histograms({"f": np.random.default_rng(0).random(100)},
                                          str(tmp_path / "gates.png"))
  assert pathlib.Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  rows = [{"split": "train", "step": s, "loss": 3.0 / s} for s in range(1, 6)]
  rows.append({"split": "eval", "step": 5, "loss": 0.7})
  (tmp_path / "run").mkdir()
  (tmp_path / "run" / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
  path = diagnostics.plot_training_curves(str(tmp_path / "run"), str(tmp_path / "curves.png"))
  assert pathlib.Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  with pytest.raises(ValueError, match=r"weights have shape \(2, 2\)"):
    diagnostics.plot_attention(np.eye(2), ["a"], ["b", "c"], str(tmp_path / "a.png"))
