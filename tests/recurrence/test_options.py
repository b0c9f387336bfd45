"""``UnrollOptions``: one frozen value for every option that changes a recurrence; keyword
overrides of its fields; clear errors for a bad back end or a bad option name."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.cells import Backend, lstm
from seqjax.recurrence import UnrollOptions, unroll
from seqjax.recurrence.options import resolve


def test_values_are_normalised_and_hashable():
  o = UnrollOptions(backend="fused", zoneout=[0.1, 0.05], compute_dtype="bfloat16")
  assert o.backend is Backend.FUSED and o.zoneout == (0.1, 0.05)
  assert o.compute_dtype == jnp.bfloat16 and UnrollOptions(compute_dtype="").compute_dtype is None
  assert hash(o) == hash(UnrollOptions(backend="fused", zoneout=(0.1, 0.05),
                                       compute_dtype=jnp.bfloat16))
  assert o.regularized and not UnrollOptions().regularized


@pytest.mark.parametrize("kwargs,message", [
    (dict(backend="fast"), r"backend must be one of \['auto', 'scan', 'associative', 'fused'"),
    (dict(unroll=0), "unroll must be a positive int"),
    (dict(state_dropout=1.0), r"state_dropout must be in \[0, 1\)"),
])
def test_bad_values_name_the_option(kwargs, message):
  with pytest.raises(ValueError, match=message):
    UnrollOptions(**kwargs)


def test_keyword_overrides_equal_the_options_value():
  params = lstm.CELL.init(jax.random.PRNGKey(0), 3, 4)
  xs = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 3))
  by_value, _ = unroll(lstm.CELL, params, xs, UnrollOptions(reverse=True, backend="scan"))
  by_keyword, _ = unroll(lstm.CELL, params, xs, reverse=True, backend="scan")
  np.testing.assert_array_equal(by_value, by_keyword)
  assert resolve(UnrollOptions(unroll=2), {"remat": True}) == UnrollOptions(unroll=2, remat=True)
  with pytest.raises(TypeError, match=r"unknown unroll option\(s\) \['fused'\]"):
    unroll(lstm.CELL, params, xs, fused=True)


def test_cudnn_is_for_whole_stacks():
  params = lstm.CELL.init(jax.random.PRNGKey(0), 3, 4)
  with pytest.raises(ValueError, match="backend='cudnn' runs whole LSTM stacks"):
    unroll(lstm.CELL, params, jnp.ones((2, 5, 3)), backend="cudnn")
