"""The cuDNN LSTM path: the flat weight layout (checked on any backend through JAX's reference
implementation of the kernel) and, on a GPU, the kernel against seqjax's stack."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.recurrence import cudnn
from seqjax.cells import lstm
from seqjax.recurrence import init_bidirectional, init_stack, stack

B, T, I, H = 3, 6, 5, 4


def _stack(bidirectional, layers=2):
  key = jax.random.PRNGKey(0)
  if bidirectional:
    params, size = [], I
    for l in range(layers):
      params.append(init_bidirectional(lstm.CELL, jax.random.fold_in(key, l), size, H))
      size = 2 * H
    return params
  return init_stack(lstm.CELL, key, I, H, layers)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_pack_unpack_round_trip_and_reference_equals_stack(bidirectional):
  params = _stack(bidirectional)
  flat = cudnn.pack_lstm(params)
  back = cudnn.unpack_lstm(flat, I, H, 2, bidirectional)
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(back)):
    np.testing.assert_array_equal(a, b)
  xs = jax.random.normal(jax.random.PRNGKey(1), (B, T, I))
  ys_ref, finals_ref = cudnn.lstm_stack(params, xs, reference=True)
  ys, finals = stack(lstm.CELL, params, xs, deterministic=True)
  np.testing.assert_allclose(ys_ref, ys, rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(finals_ref), jax.tree.leaves(finals)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_unsupported_options_and_backends_are_named():
  with pytest.raises(ValueError, match="peephole, coupled, proj_size or layer_norm"):
    cudnn.pack_lstm([lstm.init(jax.random.PRNGKey(0), I, H, peephole=True)])
  if not cudnn.available():
    with pytest.raises(ValueError, match="backend='cudnn' needs a GPU backend"):
      cudnn.lstm_stack(_stack(False), jnp.ones((B, T, I)))


@pytest.mark.skipif(not cudnn.available(), reason="the cuDNN kernel needs a GPU backend")
@pytest.mark.parametrize("bidirectional", [False, True])
def test_cudnn_kernel_matches_the_stack_on_gpu(bidirectional):
  params = _stack(bidirectional)
  xs = jax.random.normal(jax.random.PRNGKey(1), (B, T, I))
  lengths = jnp.asarray([6, 3, 1], jnp.int32)

  def loss(params, use_cudnn):
    if use_cudnn:
      ys, _ = cudnn.lstm_stack(params, xs, lengths=lengths)
    else:
      ys, _ = stack(lstm.CELL, params, xs, lengths=lengths, deterministic=True)
    return jnp.sum(ys ** 2), ys

  (_, ys_c), g_c = jax.value_and_grad(loss, has_aux=True)(params, True)
  (_, ys_s), g_s = jax.value_and_grad(loss, has_aux=True)(params, False)
  np.testing.assert_allclose(ys_c, ys_s, rtol=1e-4, atol=1e-5)
  for a, b in zip(jax.tree.leaves(g_c), jax.tree.leaves(g_s)):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
