import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from seqjax import Bidirectional, bidirectional, init_bidirectional, init_stack, stack, unroll
from seqjax.cells import gru, lstm, simple
from seqjax.recurrence import dropout
from tests import reference

CELLS = {
    "rnn": (simple.CELL, {}),
    "lstm": (lstm.CELL, {}),
    "lstmp_peephole": (lstm.CELL, dict(proj_size=3, peephole=True)),
    "gru": (gru.CELL, {}),
    "gru_cho": (gru.CELL, dict(reset_after=False)),
}
B, T, I, H = 4, 9, 5, 6
LENGTHS = np.array([9, 4, 1, 6])


def make(name, seed=0):
  cell, opts = CELLS[name]
  params = reference.perturb(cell.init(jax.random.PRNGKey(seed), I, H, **opts),
                             jax.random.PRNGKey(seed + 1), scale=0.1)
  xs = jax.random.normal(jax.random.PRNGKey(seed + 2), (B, T, I))
  return cell, params, xs


def close(a, b, atol=1e-5):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=atol, rtol=1e-5), a, b)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_scan_equals_python_loop(name):
  cell, params, xs = make(name)
  ys, final = unroll(cell, params, xs)
  carry = cell.initial_carry(params, (B,))
  projected = cell.project(params, xs)
  outs = []
  for t in range(T):
    carry, y = cell.step(params, carry, projected[:, t])
    outs.append(y)
  close(ys, jnp.stack(outs, 1))
  close(final, carry)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_reverse_equals_flipped_forward(name):
  cell, params, xs = make(name)
  ys_r, final_r = unroll(cell, params, xs, reverse=True)
  ys_f, final_f = unroll(cell, params, xs[:, ::-1])
  close(ys_r, ys_f[:, ::-1])
  close(final_r, final_f)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_padded_batch_equals_each_sequence_alone(name, reverse):
  cell, params, xs = make(name)
  # Garbage in the padding must not leak into outputs or state.
  ys, final = unroll(cell, params, xs, lengths=jnp.asarray(LENGTHS), reverse=reverse)
  for b, n in enumerate(LENGTHS):
    ys_b, final_b = unroll(cell, params, xs[b:b + 1, :n], reverse=reverse)
    close(ys[b:b + 1, :n], ys_b)
    np.testing.assert_array_equal(ys[b, n:], 0.0)
    close(jax.tree.map(lambda a: a[b:b + 1], final), final_b)


# Segment starts of packed rows (position 0 is a start by definition; marking it is optional).
STARTS = [[0, 3, 7], [0, 4], [0, 1, 2, 5], [0]]


def resets_from(starts, shape=(B, T)):
  resets = np.zeros(shape, bool)
  for b, row in enumerate(starts):
    resets[b, row] = True
  return jnp.asarray(resets)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_resets_equal_running_the_packed_pieces_separately(name, reverse):
  cell, params, xs = make(name)
  c0 = jax.tree.map(lambda a: a + 0.3, cell.initial_carry(params, (B,)))
  ys, final = unroll(cell, params, xs, carry=c0, resets=resets_from(STARTS), reverse=reverse)
  for b, row in enumerate(STARTS):
    bounds = list(row) + [T]
    for start, end in zip(bounds[:-1], bounds[1:]):
      piece_c0 = jax.tree.map(lambda a: a[b:b + 1], c0)
      ys_p, final_p = unroll(cell, params, xs[b:b + 1, start:end], carry=piece_c0,
                             reverse=reverse)
      close(ys[b:b + 1, start:end], ys_p)
      last = (start == bounds[0]) if reverse else (end == T)
      if last:  # the final carry is the one of the piece read last
        close(jax.tree.map(lambda a: a[b:b + 1], final), final_p)


def test_resets_with_lengths_bidirectional_stack_and_gradients():
  cell, params, xs = make("gru")
  layers = init_stack(gru.CELL, jax.random.PRNGKey(4), I, H, 2, bidirectional=True)
  lengths = jnp.asarray([9, 6, 5, 1])
  resets = resets_from([[0, 3, 7], [0, 4], [0, 1, 2], [0]])
  ys, _ = stack(gru.CELL, layers, xs, lengths=lengths, resets=resets)
  # Row 1 holds pieces [0, 4) and [4, 6), then padding.
  for start, end in ((0, 4), (4, 6)):
    ys_p, _ = stack(gru.CELL, layers, xs[1:2, start:end])
    close(ys[1:2, start:end], ys_p)
  np.testing.assert_array_equal(ys[1, 6:], 0.0)
  # No gradient flows across a reset: the loss on piece 2 ignores piece 1's inputs.
  grad = jax.grad(lambda x: jnp.sum(unroll(cell, params, x, resets=resets)[0][:, 3:7]))(xs)
  np.testing.assert_array_equal(grad[0, :3], 0.0)
  assert np.any(np.asarray(grad[0, 3:7]) != 0)
  with pytest.raises(ValueError, match=r"resets must have shape \[\*batch, T\]"):
    unroll(cell, params, xs, resets=resets[:, :3])


def test_zero_length_keeps_initial_carry():
  cell, params, xs = make("lstm")
  c0 = jax.tree.map(lambda a: a + 0.5, cell.initial_carry(params, (B,)))
  ys, final = unroll(cell, params, xs, carry=c0, lengths=jnp.array([0, 3, 0, 9]))
  close(jax.tree.map(lambda a: a[0], final), jax.tree.map(lambda a: a[0], c0))
  np.testing.assert_array_equal(ys[0], 0.0)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_carry_threads_across_windows(name):
  # Truncated BPTT: two windows with the carry passed on == one pass over the whole sequence.
  cell, params, xs = make(name)
  ys, final = unroll(cell, params, xs)
  ys_a, carry_a = unroll(cell, params, xs[:, :4])
  ys_b, final_b = unroll(cell, params, xs[:, 4:], carry=jax.lax.stop_gradient(carry_a))
  close(ys, jnp.concatenate([ys_a, ys_b], 1))
  close(final, final_b)


def test_batch_shapes_vmap_jit_unroll_and_remat_agree():
  cell, params, xs = make("lstmp_peephole")
  ys, final = unroll(cell, params, xs, lengths=jnp.asarray(LENGTHS))
  # Unbatched calls under vmap.
  single = lambda x, n: unroll(cell, params, x, lengths=n)
  ys_v, final_v = jax.vmap(single)(xs, jnp.asarray(LENGTHS))
  close(ys, ys_v)
  close(final, final_v)
  # Two batch axes.
  ys_2, final_2 = unroll(cell, params, xs.reshape(2, 2, T, I), lengths=LENGTHS.reshape(2, 2))
  close(ys, ys_2.reshape(B, T, -1))
  # jit, unroll=3 and remat give the same values and gradients.
  loss = lambda p, **kw: jnp.sum(unroll(cell, p, xs, lengths=jnp.asarray(LENGTHS), **kw)[0] ** 2)
  g = jax.grad(loss)(params)
  for kw in (dict(unroll=3), dict(remat=True)):
    close(jax.jit(functools.partial(loss, **kw))(params), loss(params))
    close(jax.grad(functools.partial(loss, **kw))(params), g, atol=1e-5)


@pytest.mark.parametrize("merge", ["concat", "sum", "mean"])
def test_bidirectional_equals_two_unrolls(merge):
  params = init_bidirectional(gru.CELL, jax.random.PRNGKey(0), I, H)
  xs = jax.random.normal(jax.random.PRNGKey(1), (B, T, I))
  lengths = jnp.asarray(LENGTHS)
  ys, final = bidirectional(gru.CELL, params, xs, lengths=lengths, merge=merge)
  ys_f, fin_f = unroll(gru.CELL, params.forward, xs, lengths=lengths)
  ys_b, fin_b = unroll(gru.CELL, params.backward, xs, lengths=lengths, reverse=True)
  expected = {"concat": jnp.concatenate([ys_f, ys_b], -1), "sum": ys_f + ys_b,
              "mean": (ys_f + ys_b) / 2}[merge]
  close(ys, expected)
  close(final, Bidirectional(fin_f, fin_b))
  # The backward direction at position 0 has read the whole sequence: its state equals the
  # backward final carry.
  close(ys_b[:, 0], fin_b.h)


def test_stack_equals_sequential_unrolls_and_residual():
  params = init_stack(lstm.CELL, jax.random.PRNGKey(0), I, H, 3, bidirectional=True, merge="sum")
  xs = jax.random.normal(jax.random.PRNGKey(1), (B, T, I))
  lengths = jnp.asarray(LENGTHS)
  ys, finals = stack(lstm.CELL, params, xs, lengths=lengths, merge="sum")
  ys_r, finals_r = stack(lstm.CELL, params, xs, lengths=lengths, merge="sum", residual=True)
  h, h_res = xs, xs
  for l, layer in enumerate(params):
    h, fin = bidirectional(lstm.CELL, layer, h, lengths=lengths, merge="sum")
    close(finals[l], fin)
    out_res, _ = bidirectional(lstm.CELL, layer, h_res, lengths=lengths, merge="sum")
    h_res = out_res + h_res if l > 0 else out_res
  close(ys, h)
  close(ys_r, h_res)
  assert len(finals) == 3


def test_stack_dropout_between_layers_only():
  params = init_stack(gru.CELL, jax.random.PRNGKey(0), I, H, 2)
  xs = jax.random.normal(jax.random.PRNGKey(1), (B, T, I))
  key = jax.random.PRNGKey(7)
  ys, _ = stack(gru.CELL, params, xs, dropout_rate=0.4, key=key)
  # By hand: layer 0, dropout with the first of the split keys, layer 1.
  h0, _ = unroll(gru.CELL, params[0], xs)
  dropped = dropout(h0, 0.4, key=jax.random.split(key, 1)[0])
  expected, _ = unroll(gru.CELL, params[1], dropped)
  close(ys, expected)
  kept = np.asarray(dropped) != 0
  np.testing.assert_allclose(np.asarray(dropped)[kept], np.asarray(h0)[kept] / 0.6, rtol=1e-6)
  assert 0.45 < kept.mean() < 0.75
  ys_eval, _ = stack(gru.CELL, params, xs, dropout_rate=0.4, deterministic=True)
  close(ys_eval, unroll(gru.CELL, params[1], h0)[0])
  with pytest.raises(ValueError, match="key="):
    stack(gru.CELL, params, xs, dropout_rate=0.4)


# The LSTM runs by default; both GRU forms with the slow tests (`pytest -m slow`).
@pytest.mark.parametrize("name", ["lstm", pytest.param("gru_cho", marks=pytest.mark.slow),
                                  pytest.param("gru", marks=pytest.mark.slow)])
def test_finite_difference_gradients_float64(name):
  with jax.enable_x64(True):
    cell, opts = CELLS[name]
    params = cell.init(jax.random.PRNGKey(0), 3, 4, dtype=jnp.float64, **opts)
    xs = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 3), jnp.float64)
    w = jax.random.normal(jax.random.PRNGKey(2), (2, 5, 4), jnp.float64)
    lengths = jnp.array([5, 3])

    def loss(params, xs):
      ys, final = unroll(cell, params, xs, lengths=lengths)
      return jnp.sum(ys * w) + jnp.sum(final.h ** 2)

    check_grads(loss, (params, xs), order=2, modes=["rev"], eps=1e-5, atol=1e-6, rtol=1e-6)


def test_bad_input_raises_value_error_naming_argument():
  cell, params, xs = make("lstm")
  with pytest.raises(ValueError, match=r"input_size=5"):
    unroll(cell, params, xs[..., :3])
  with pytest.raises(ValueError, match=r"lengths must lie in \[0, T=9\]"):
    unroll(cell, params, xs, lengths=jnp.array([10, 1, 1, 1]))
  with pytest.raises(ValueError, match=r"lengths must lie in \[0, T=9\]"):
    unroll(cell, params, xs, lengths=jnp.array([-1, 1, 1, 1]))
  with pytest.raises(ValueError, match="lengths must have the batch shape"):
    unroll(cell, params, xs, lengths=jnp.array([1, 2]))
  with pytest.raises(ValueError, match="lengths must be integers"):
    unroll(cell, params, xs, lengths=jnp.ones(4))
  with pytest.raises(ValueError, match="carry shapes"):
    unroll(cell, params, xs, carry=cell.initial_carry(params, (3,)))
  with pytest.raises(ValueError, match="carry has structure"):
    unroll(cell, params, xs, carry=jnp.zeros((B, H)))
  with pytest.raises(ValueError, match=r"shape \[\*batch, T, input_size\]"):
    unroll(cell, params, xs[0, 0])
  with pytest.raises(ValueError, match="merge"):
    bidirectional(cell, init_bidirectional(cell, jax.random.PRNGKey(0), I, H), xs, merge="max")
  with pytest.raises(ValueError, match="num_layers"):
    init_stack(cell, jax.random.PRNGKey(0), I, H, 0)
