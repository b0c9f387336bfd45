"""The cells' parameter dataclasses with Flax's serialization and name-based tools (before,
``flax.serialization.to_bytes`` failed with "can not serialize 'LSTMParams'" and
``traverse_util.flatten_dict`` stopped at the dataclasses)."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization, traverse_util
import optax
import pytest

from seqjax.cells import CELLS, base
from seqjax.nn.rnn import DeepRNN, RNNSpec


def params_of(spec):
  return DeepRNN(spec).init(jax.random.key(0), jnp.ones((2, 3, 5)))


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_to_bytes_round_trip_for_every_cell(cell):
  params = params_of(RNNSpec(cell=cell, hidden_size=4, num_layers=2, bidirectional=True))
  blob = serialization.to_bytes(params)
  target = jax.tree_util.tree_map(jnp.zeros_like, params)
  back = serialization.from_bytes(target, blob)
  assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(params)
  for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(back)):
    np.testing.assert_array_equal(a, b)
  # msgpack_restore gives plain nested dicts, named by field
  raw = serialization.msgpack_restore(blob)
  first = raw["params"]["layer_0"]["forward"]
  assert set(first) == set(base.data_fields(type(params["params"]["layer_0"].forward)))


def test_flatten_dict_and_optax_masked_by_name():
  spec = RNNSpec(cell="lstm", hidden_size=4, cell_options={"peephole": True})
  params = params_of(spec)["params"]
  flat = traverse_util.flatten_dict(serialization.to_state_dict(params))
  assert ("layer_0", "w_hh") in flat and ("layer_0", "p_f") in flat
  # freeze the recurrent matrices by field name
  mask = jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "name", None) == "w_hh", params)
  tx = optax.masked(optax.set_to_zero(), mask)
  grads = jax.tree_util.tree_map(jnp.ones_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  assert float(jnp.abs(updates["layer_0"].w_hh).sum()) == 0.0
  assert float(jnp.abs(updates["layer_0"].w_ih).sum()) > 0.0


def test_a_cell_defined_later_is_registered_too():
  @base.params_dataclass
  class ToyParams:
    w: jax.Array
    size: int = base.static(3)

  blob = serialization.to_bytes({"x": ToyParams(jnp.arange(3.0))})
  back = serialization.from_bytes({"x": ToyParams(jnp.zeros(3))}, blob)
  np.testing.assert_array_equal(back["x"].w, [0.0, 1.0, 2.0])
  assert back["x"].size == 3
