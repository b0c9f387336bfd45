"""``seqjax.masks``: length masks (batch- and time-major, any leading axes) and broadcasting."""

import jax.numpy as jnp
import numpy as np

from seqjax import masks


def test_length_mask_against_numpy_for_any_batch_axes():
  lengths = np.array([[0, 3], [5, 1]])
  got = np.asarray(masks.length_mask(jnp.asarray(lengths), 5))
  want = np.arange(5)[None, None, :] < lengths[..., None]
  np.testing.assert_array_equal(got, want)
  time_major = np.asarray(masks.length_mask(jnp.asarray(lengths), 5, time_major=True))
  np.testing.assert_array_equal(time_major, np.moveaxis(want, -1, 0))


def test_expand_select_and_apply_broadcast_over_trailing_axes():
  mask = masks.length_mask(jnp.array([1, 3]), 3)
  x = jnp.arange(24.0).reshape(2, 3, 4)
  assert masks.expand(mask, x).shape == (2, 3, 1)
  want = np.where(np.asarray(mask)[..., None], np.asarray(x), -1.0)
  np.testing.assert_array_equal(masks.select(mask, x, -1.0), want)
  np.testing.assert_array_equal(masks.apply(mask, x), np.where(want == -1.0, 0.0, want))
  assert masks.apply(mask, x.astype(jnp.bfloat16)).dtype == jnp.bfloat16


def test_numerics_tests_run_with_strict_dtype_promotion():
  """``tests/conftest.py`` runs this directory's tests with strict dtype promotion: implicit
  float32/bfloat16 mixing is an error here, so the library code above casts explicitly."""
  import jax  # pylint: disable=g-import-not-at-top
  import pytest  # pylint: disable=g-import-not-at-top
  with pytest.raises(jax.dtypes.TypePromotionError):
    jnp.ones(2, jnp.float32) + jnp.ones(2, jnp.bfloat16)
