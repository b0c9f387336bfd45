"""The oneDNN back end (``seqjax.recurrence.onednn``): the weight layout (always), and, where the
extension is built (``pip install -e ".[cpu-kernels]"``), values and every gradient against the
fused scan and PyTorch, lengths, ``jit``/``vmap``, the back-end choice and a damaged kernel
cache on disk (the trainers end to end: ``tests/experiments/test_onednn_trainers.py``)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.cells import gru, lstm, minrnn, simple
from seqjax.recurrence import (Backend, UnrollOptions, choose_backend, init_stack, onednn, stack,
                               unroll)

REPO = pathlib.Path(__file__).resolve().parents[2]
WHY = onednn.unavailable_reason()
needs_onednn = pytest.mark.skipif(WHY is not None, reason=f"oneDNN back end not built: {WHY}")

CELLS = {  # name -> (record, init options)
    "lstm": (lstm.CELL, {}),
    "gru": (gru.CELL, {}),
    "rnn-tanh": (simple.CELL, {}),
    "rnn-relu": (simple.CELL, {"activation": "relu"}),
}
KINDS = {"lstm": onednn.LSTM, "gru": onednn.GRU, "rnn-tanh": onednn.RNN_TANH,
         "rnn-relu": onednn.RNN_RELU}
B, T, I, H = 3, 7, 5, 6


def _params(name, key=0, input_size=I):
  cell, options = CELLS[name]
  return cell, cell.init(jax.random.PRNGKey(key), input_size, H, **options)


def _random_like(tree, seed):
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda a: jnp.asarray(rng.normal(size=a.shape).astype(np.float32)), tree)


# ---------------------------------------------------------------------- without the extension


@pytest.mark.parametrize("name", list(CELLS))
def test_weight_layout_round_trip(name):
  _, params = _params(name)
  w_layer, w_iter, bias = onednn.to_onednn(params, KINDS[name])
  back = onednn.from_onednn(params, KINDS[name], w_layer, w_iter, bias)
  cell = CELLS[name][0]
  assert cell.kernels[Backend.ONEDNN].run.args[0](params) == KINDS[name]
  assert jax.tree.structure(back) == jax.tree.structure(params)
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(back)):
    np.testing.assert_array_equal(a, b)
  if name == "gru":  # seqjax (r, z, n) -> oneDNN (u=z, r, o=n), b_hn the fourth bias
    np.testing.assert_array_equal(w_layer[:, :H], params.w_ih[:, H:2 * H])
    np.testing.assert_array_equal(w_iter[:, H:2 * H], params.w_hh[:, :H])
    np.testing.assert_array_equal(bias, np.concatenate([params.b[H:2 * H], params.b[:H],
                                                        params.b[2 * H:], params.b_hn]))
  else:
    np.testing.assert_array_equal(w_layer, params.w_ih)


def test_variants_oneDNN_lacks_are_named():
  assert "peepholes" in onednn.lstm_unsupported(lstm.init(jax.random.PRNGKey(0), I, H,
                                                          peephole=True))
  assert "projection" in onednn.lstm_unsupported(lstm.init(jax.random.PRNGKey(0), I, H,
                                                           proj_size=3))
  assert "reset-after" in onednn.gru_unsupported(gru.init(jax.random.PRNGKey(0), I, H,
                                                          reset_after=False))
  assert "float32" in onednn.gru_unsupported(gru.init(jax.random.PRNGKey(0), I, H,
                                                      dtype=jnp.bfloat16))
  assert onednn.lstm_unsupported(lstm.init(jax.random.PRNGKey(0), I, H)) is None


def test_missing_onednn_is_named_and_auto_falls_back(monkeypatch, tmp_path):
  monkeypatch.setenv("SEQJAX_ONEDNN_ROOT", str(tmp_path))
  found, why = onednn.find_onednn()
  assert found is None and f"SEQJAX_ONEDNN_ROOT={tmp_path}" in why
  # this process, as if the extension could not be had
  monkeypatch.setitem(onednn._state, "lib", None)
  monkeypatch.setitem(onednn._state, "why", 'oneDNN is not installed (pip install -e ".[cpu-kernels]" installs it)')
  cell, params = _params("lstm")
  assert choose_backend(cell, params, UnrollOptions()) == Backend.FUSED
  with pytest.raises(ValueError, match=r"backend='onednn' but oneDNN is not installed \(pip "):
    unroll(cell, params, jnp.ones((B, T, I)), backend="onednn")


def test_a_cell_without_a_primitive_is_refused_by_name():
  params = minrnn.MINGRU.init(jax.random.PRNGKey(0), I, H)
  with pytest.raises(ValueError, match="mingru has no oneDNN primitive"):
    unroll(minrnn.MINGRU, params, jnp.ones((B, T, I)), backend="onednn")


# ------------------------------------------------------------------------- with the extension


@needs_onednn
@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("ragged", [False, True])
def test_values_and_every_gradient_equal_the_scan(name, reverse, ragged):
  cell, params = _params(name)
  xs = jnp.asarray(np.random.default_rng(1).normal(size=(B, T, I)).astype(np.float32))
  carry = _random_like(cell.initial_carry(params, (B,)), 2)
  lengths = np.array([7, 3, 0]) if ragged else None
  weights = jnp.asarray(np.random.default_rng(3).normal(size=(B, T, H)).astype(np.float32))

  def loss(params, xs, carry, backend):
    ys, final = unroll(cell, params, xs, carry=carry, lengths=lengths, reverse=reverse,
                       backend=backend)
    return jnp.sum(ys * weights) + sum(jnp.sum(jnp.sin(f)) for f in jax.tree.leaves(final)), ys

  grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True), static_argnums=3)
  (l_dnn, ys_dnn), g_dnn = grad(params, xs, carry, "onednn")
  (l_ref, ys_ref), g_ref = grad(params, xs, carry, "scan")
  np.testing.assert_allclose(ys_dnn, ys_ref, rtol=1e-5, atol=2e-6)
  np.testing.assert_allclose(l_dnn, l_ref, rtol=1e-5)
  if ragged:
    assert np.all(np.asarray(ys_dnn)[1, 3:] == 0) and np.all(np.asarray(ys_dnn)[2] == 0)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(g_dnn), jax.tree.leaves(g_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=str(path))


@needs_onednn
@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stacks_equal_pytorch_with_initial_states(name, bidirectional):
  torch = pytest.importorskip("torch")
  from seqjax.interop import torch as interop  # pylint: disable=g-import-not-at-top
  cell, options = CELLS[name]
  params = init_stack(cell, jax.random.PRNGKey(4), I, H, 2, bidirectional=bidirectional,
                      **options)
  xs = np.random.default_rng(5).normal(size=(B, T, I)).astype(np.float32)
  d = 2 if bidirectional else 1
  h0 = np.random.default_rng(6).normal(size=(2 * d, B, H)).astype(np.float32)
  c0 = np.random.default_rng(7).normal(size=(2 * d, B, H)).astype(np.float32)

  def carries():  # torch's [layers·directions, B, H] as seqjax's per-layer carries
    out = []
    for l in range(2):
      def one(k):
        return (cell.initial_carry(params[0] if not bidirectional else params[0].forward, (B,))
                ._replace(h=jnp.asarray(h0[k]), **({"c": jnp.asarray(c0[k])} if name == "lstm"
                                                   else {})))
      out.append(type(params[l])(one(2 * l), one(2 * l + 1)) if bidirectional else one(l))
    return out

  def loss(params, xs):
    ys, finals = stack(cell, params, xs, carry=carries(), deterministic=True, backend="onednn")
    return jnp.sum(ys * jnp.cos(jnp.arange(ys.size, dtype=jnp.float32).reshape(ys.shape))), (
        ys, finals)

  (_, (ys, finals)), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
      params, jnp.asarray(xs))
  module = interop.to_torch(params)
  for p in module.parameters():
    p.requires_grad_(True)
  x_t = torch.tensor(xs, requires_grad=True)
  state = ((torch.tensor(h0), torch.tensor(c0)) if name == "lstm" else torch.tensor(h0))
  out, last = module(x_t, state)
  weights = torch.cos(torch.arange(out.numel(), dtype=torch.float32).reshape(out.shape))
  (out * weights).sum().backward()
  np.testing.assert_allclose(ys, out.detach().numpy(), rtol=1e-5, atol=1e-5)
  h_last = (last[0] if name == "lstm" else last).detach().numpy()
  for l, final in enumerate(finals):
    parts = list(final) if bidirectional else [final]
    for k, part in enumerate(parts):
      np.testing.assert_allclose(part.h, h_last[l * d + k], rtol=1e-5, atol=1e-5)
      if name == "lstm":
        np.testing.assert_allclose(part.c, last[1].detach().numpy()[l * d + k], rtol=1e-5,
                                   atol=1e-5)
  np.testing.assert_allclose(grads[1], x_t.grad.numpy(), rtol=1e-4, atol=1e-5)
  torch_grads = {n: p.grad.numpy() for n, p in module.named_parameters()}
  for l, layer in enumerate(grads[0]):
    for suffix, g in zip(("", "_reverse"), (list(layer) if bidirectional else [layer])):
      np.testing.assert_allclose(g.w_ih, torch_grads[f"weight_ih_l{l}{suffix}"].T, rtol=1e-4,
                                 atol=1e-5)
      np.testing.assert_allclose(g.w_hh, torch_grads[f"weight_hh_l{l}{suffix}"].T, rtol=1e-4,
                                 atol=1e-5)
      np.testing.assert_allclose(g.b, torch_grads[f"bias_ih_l{l}{suffix}"], rtol=1e-4,
                                 atol=1e-5)
      if name == "gru":
        np.testing.assert_allclose(g.b_hn, torch_grads[f"bias_hh_l{l}{suffix}"][2 * H:],
                                   rtol=1e-4, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("name", ["lstm", "gru", "rnn-tanh"])
def test_a_sequence_does_not_depend_on_its_padding_or_batch_mates(name):
  cell, params = _params(name)
  _, params_2 = _params(name, key=1, input_size=H)
  rng = np.random.default_rng(8)
  xs = rng.normal(size=(B, T, I)).astype(np.float32)
  lengths = np.array([7, 4, 2])
  run = jax.jit(lambda xs, lengths, reverse: stack(
      cell, [params, params_2], xs, lengths=lengths, deterministic=True, reverse=reverse,
      backend="onednn"), static_argnums=2)
  for reverse in (False, True):
    ys, finals = run(jnp.asarray(xs), jnp.asarray(lengths), reverse)
    for b, n in enumerate(lengths):
      alone = xs[b:b + 1, :n]
      ys_1, finals_1 = run(jnp.asarray(alone), jnp.asarray([n]), reverse)
      np.testing.assert_allclose(ys[b, :n], ys_1[0], rtol=1e-5, atol=1e-6)
      assert np.all(np.asarray(ys[b, n:]) == 0)
      # other padding values change nothing
      noisy = xs.copy()
      noisy[b, n:] = 100.0
      ys_2, _ = run(jnp.asarray(noisy), jnp.asarray(lengths), reverse)
      np.testing.assert_allclose(ys_2[b], ys[b], rtol=1e-5, atol=1e-6)
      for f, f1 in zip(jax.tree.leaves(finals), jax.tree.leaves(finals_1)):
        np.testing.assert_allclose(f[b], f1[0], rtol=1e-5, atol=1e-6)


@needs_onednn
def test_auto_picks_it_where_allowed_and_says_why_not():
  cell, params = _params("lstm")
  assert choose_backend(cell, params, UnrollOptions()) == Backend.ONEDNN
  assert choose_backend(cell, params, UnrollOptions(), lengths=np.array([1, 2, 3])) == (
      Backend.ONEDNN)
  peep = lstm.init(jax.random.PRNGKey(0), I, H, peephole=True)
  assert choose_backend(cell, peep, UnrollOptions()) == Backend.FUSED
  assert choose_backend(cell, params, UnrollOptions(compute_dtype="bfloat16")) == Backend.FUSED
  assert choose_backend(cell, params, UnrollOptions(), training=True) == Backend.SCAN
  xs = jnp.ones((B, T, I))
  for options, message in ((dict(state_dropout=0.5, deterministic=False,
                                 key=jax.random.PRNGKey(0)), "state dropout and zoneout"),
                           (dict(resets=np.zeros((B, T), bool)), "resets is not an option"),
                           (dict(compute_dtype="bfloat16"), "compute_dtype is not an option")):
    with pytest.raises(ValueError, match=f"backend='onednn' but .*{message}"):
      unroll(cell, params, xs, backend="onednn", **options)
  with pytest.raises(ValueError, match="oneDNN's LSTM has no peepholes"):
    unroll(cell, peep, xs, backend="onednn")
  with pytest.raises(ValueError, match="float32 inputs"):
    unroll(cell, params, xs.astype(jnp.bfloat16), backend="onednn")


def _ffi_calls(fn, *args):
  return str(jax.make_jaxpr(fn)(*args)).count("ffi_call")


@needs_onednn
@pytest.mark.parametrize("name,small,large", [("lstm", 4, 8), ("gru", 16, 32)])
def test_auto_leaves_small_batches_to_the_fused_path(name, small, large):
  """Below the measured crossover ``auto`` runs the fused scan; from it on, oneDNN; by name,
  oneDNN runs at any batch size, with the fused path's numbers."""
  cell, params = _params(name)  # H = 6: the small-hidden thresholds
  worthwhile = cell.kernels[Backend.ONEDNN].worthwhile
  assert not worthwhile(small, H) and worthwhile(large, H)
  for batch, want in ((1, Backend.FUSED), (small, Backend.FUSED), (large, Backend.ONEDNN)):
    assert choose_backend(cell, params, UnrollOptions(), batch_size=batch) == want
    xs = jnp.asarray(np.random.default_rng(batch).normal(size=(batch, T, I)).astype(np.float32))
    assert _ffi_calls(lambda x: unroll(cell, params, x)[0], xs) == (want == Backend.ONEDNN)
  assert choose_backend(cell, params, UnrollOptions(), batch_size=None) == Backend.ONEDNN
  xs = jnp.asarray(np.random.default_rng(0).normal(size=(2, 2, T, I)).astype(np.float32))
  assert _ffi_calls(lambda x: unroll(cell, params, x)[0], xs) == 0  # 4 sequences in all
  ys_named = unroll(cell, params, xs[0, :1], backend="onednn")[0]
  ys_auto = unroll(cell, params, xs[0, :1])[0]
  np.testing.assert_allclose(ys_named, ys_auto, rtol=1e-5, atol=1e-6)
  # a wider layer moves the crossover down
  assert worthwhile(small, 1024) and not worthwhile(small // 2, 1024)


@needs_onednn
def test_auto_steps_aside_for_a_batch_split_over_devices(monkeypatch):
  """XLA cannot split the FFI call by the batch: under a data-parallel mesh it gathers the
  batch and runs all of it on every device. Traced for a sharded batch (``DataParallel.sharded``,
  as the trainer's steps are), ``auto`` runs the fused path, which XLA partitions; oneDNN by
  name still gives the right numbers there."""
  from jax.sharding import NamedSharding, PartitionSpec as P  # pylint: disable=g-import-not-at-top
  from seqjax import parallel  # pylint: disable=g-import-not-at-top
  assert len(jax.devices()) >= 2  # tests/conftest.py: 8 host devices
  cell, params = _params("lstm")
  par = parallel.DataParallel(parallel.make_mesh(2, 1))
  xs = np.random.default_rng(0).normal(size=(16, T, I)).astype(np.float32)
  xs_sharded = jax.device_put(xs, par.batch_sharding)
  params_rep = jax.device_put(params, par.replicated)
  loss = lambda backend: (lambda p, x: jnp.sum(unroll(cell, p, x, backend=backend)[0] ** 2))
  outs = {}
  for name, backend, wrap in (("sharded auto", "auto", par.sharded),
                              ("unsharded auto", "auto", lambda f: f),
                              ("sharded onednn", "onednn", par.sharded)):
    f = jax.jit(jax.value_and_grad(wrap(loss(backend))),
                in_shardings=(par.replicated, NamedSharding(par.mesh, P(parallel.DATA))))
    hlo = f.lower(params_rep, xs_sharded).compile().as_text()
    calls = hlo.count('custom_call_target="seqjax_onednn_rnn')
    assert calls == (0 if name == "sharded auto" else 2), name  # forward + backward
    if name == "sharded onednn":  # why auto steps aside: each device runs all 16 sequences
      fwd = [l for l in hlo.splitlines() if 'custom_call_target="seqjax_onednn_rnn_fwd"' in l]
      assert fwd and all(f"f32[{T},16,{H}]" in l.split("custom-call(")[0] for l in fwd), fwd
    outs[name] = f(params_rep, xs_sharded)
  assert parallel.batch_shards() == 1  # the mark is gone after tracing
  for name in ("unsharded auto", "sharded onednn"):
    np.testing.assert_allclose(outs[name][0], outs["sharded auto"][0], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(outs[name][1]), jax.tree.leaves(outs["sharded auto"][1])):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  with parallel.tracing_sharded(2):
    assert choose_backend(cell, params, UnrollOptions(), batch_size=64) == Backend.FUSED
    assert choose_backend(cell, params, UnrollOptions(backend="onednn")) == Backend.ONEDNN
  assert choose_backend(cell, params, UnrollOptions(), batch_size=64) == Backend.ONEDNN


@needs_onednn
def test_trainer_says_auto_steps_aside_on_a_data_parallel_mesh():
  import ml_collections  # pylint: disable=g-import-not-at-top
  from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
  for data, said in ((2, True), (1, False)):
    config = ml_collections.ConfigDict(dict(
        train=dict(batch_size=8), parallel=dict(data=data, model=1, per_device_batch_size=0,
                                                shard_vocab=False)))
    lines = []
    par = trainer.data_parallel(config, log=lines.append)
    assert par.data_size == data
    assert any("runs the fused path on this 2-way data-parallel mesh, not oneDNN" in l
               for l in lines) == said, lines


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_auto_takes_onednn_at_the_benchmark_shapes_and_not_at_batch_one(name):
  """The rule (one for every CPU since the primitives run on one thread): every training shape
  of ``benchmarks/rnn_speed.py`` and PTB small's 20 x 200 LSTM on oneDNN, batch 1 on the fused
  path."""
  worthwhile = onednn.lstm_worthwhile if name == "lstm" else onednn.gru_worthwhile
  for batch, hidden in ((64, 200), (32, 512), (16, 1024)):
    assert worthwhile(batch, hidden), (batch, hidden)
  assert worthwhile(20, 200) == (name == "lstm")
  for hidden in (128, 512, 1024):
    assert not worthwhile(1, hidden)


@needs_onednn
def test_elman_rnn_on_onednn_only_from_256_units():
  rnn = simple.CELL.kernels[Backend.ONEDNN].worthwhile
  assert not rnn(64, 128) and rnn(1, 256)
  params = simple.init(jax.random.PRNGKey(0), I, 256)
  assert choose_backend(simple.CELL, params, UnrollOptions(), batch_size=2) == Backend.ONEDNN
  params = simple.init(jax.random.PRNGKey(0), I, H)
  assert choose_backend(simple.CELL, params, UnrollOptions(), batch_size=64) == Backend.SCAN


@needs_onednn
def test_env_switch_keeps_auto_off(monkeypatch):
  monkeypatch.setenv("SEQJAX_ONEDNN", "0")
  assert choose_backend(*_params("lstm"), UnrollOptions()) == Backend.FUSED
  assert choose_backend(*_params("lstm"), UnrollOptions(backend="onednn")) == Backend.ONEDNN


@needs_onednn
def test_jit_vmap_batch_shapes_and_empty_inputs():
  cell, params = _params("gru")
  xs = jnp.asarray(np.random.default_rng(9).normal(size=(2, 3, T, I)).astype(np.float32))
  f = lambda xs: unroll(cell, params, xs, backend="onednn")
  ys, final = jax.jit(f)(xs)  # two batch axes
  ys_v, final_v = jax.vmap(f)(xs)  # vmap over one, the call sees [3, T, I]
  ys_u, _ = jax.vmap(jax.vmap(f))(xs)  # every call unbatched: [T, I]
  ys_ref, final_ref = unroll(cell, params, xs, backend="scan")
  for got in (ys, ys_v, ys_u):
    np.testing.assert_allclose(got, ys_ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(final.h, final_ref.h, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(final_v.h, final_ref.h, rtol=1e-5, atol=1e-6)
  g = jax.grad(lambda p: jnp.sum(jax.vmap(lambda x: unroll(cell, p, x, backend="onednn")[0])(xs)))
  g_ref = jax.grad(lambda p: jnp.sum(unroll(cell, p, xs, backend="scan")[0]))
  for a, b in zip(jax.tree.leaves(g(params)), jax.tree.leaves(g_ref(params))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  ys0, final0 = unroll(cell, params, jnp.ones((0, T, I)), backend="onednn")
  assert ys0.shape == (0, T, H) and final0.h.shape == (0, H)
  ys1, _ = unroll(cell, params, jnp.ones((2, 0, I)), backend="onednn")
  assert ys1.shape == (2, 0, H)


@needs_onednn
def test_many_shapes_and_programs_interleaved_in_one_process():
  """Forward, backward and unrelated programs over several shapes, alternating (the kernel
  caches primitives per shape and gives every call its own scratchpad)."""
  programs = []
  for k, (name, shape) in enumerate([("lstm", (4, 9, 5)), ("gru", (16, 20, 32)),
                                     ("lstm", (1, 30, 64)), ("rnn-relu", (8, 3, 16))]):
    cell, options = CELLS[name]
    params = init_stack(cell, jax.random.PRNGKey(k), shape[2], 24, 2, bidirectional=True,
                        **options)
    xs = jnp.asarray(np.random.default_rng(k).normal(size=shape).astype(np.float32))
    loss = lambda p, x, cell=cell, b="onednn": jnp.sum(
        stack(cell, p, x, deterministic=True, backend=b)[0] ** 2)
    programs.append((jax.jit(jax.grad(loss)), jax.jit(functools_partial(loss, b="scan")),
                     params, xs))
  expected = [jax.grad(lambda p, x, f=ref: f(p, x))(p, x) for _, ref, p, x in programs]
  for _ in range(5):
    outs = [(g(p, x), jnp.tanh(x @ x.swapaxes(-1, -2))) for g, _, p, x in programs]
    for (got, _), want in zip(outs, expected):
      for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


ONE_POOL_SCRIPT = """
import json, os
import numpy as np, jax, jax.numpy as jnp
from seqjax.cells import lstm
from seqjax.recurrence import init_stack, stack
threads = lambda: len(os.listdir("/proc/self/task"))
params = init_stack(lstm.CELL, jax.random.PRNGKey(0), 16, 32, 2, bidirectional=True)
xs = jnp.asarray(np.random.default_rng(0).normal(size=(8, 20, 16)).astype(np.float32))
grad = jax.jit(jax.grad(lambda p, x: jnp.sum(
    stack(lstm.CELL, p, x, deterministic=True, backend="onednn")[0] ** 2)))
jax.block_until_ready(grad(params, xs))
after_one = threads()
for _ in range(30):
  out = jax.block_until_ready(grad(params, xs))
print(json.dumps({"after_one": after_one, "after_many": threads(),
                  "grads": [np.asarray(l).ravel()[:50].tolist() for l in jax.tree.leaves(out)]}))
"""


@needs_onednn
def test_every_primitive_runs_on_one_thread_so_openmp_keeps_one_pool():
  """GNU OpenMP gives each thread that opens a parallel region its own pool of workers; XLA
  calls handlers from any of its threads, so without the extension's one executor thread a
  process collected a pool per calling thread (and libgomp, seeing more threads than CPUs,
  let its workers sleep between oneDNN's short parallel regions). A 2-layer bidirectional
  stack's 8 primitives a step, 31 steps: no thread is created after the first step, and the
  gradients equal those computed on XLA's calling threads (SEQJAX_ONEDNN_CALLER_THREAD=1)."""
  def run(**env):
    proc = subprocess.run([sys.executable, "-c", ONE_POOL_SCRIPT], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, **env}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
  ours = run()
  assert ours["after_many"] == ours["after_one"], ours
  theirs = run(SEQJAX_ONEDNN_CALLER_THREAD="1")
  for a, b in zip(ours["grads"], theirs["grads"]):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@needs_onednn
def test_an_error_inside_the_executor_reaches_the_caller_and_the_next_call_runs(monkeypatch):
  """Fault injected: a workspace one byte long for a training forward. The handler's check,
  which runs on the executor's thread, comes back to the calling thread as an error naming
  the workspace (not a hang, not a crash), and the executor still runs the next call."""
  cell, params = _params("lstm")
  xs = jnp.asarray(np.random.default_rng(5).normal(size=(3, 11, I)).astype(np.float32))
  loss = lambda p, x: jnp.sum(unroll(cell, p, x, backend="onednn")[0])
  monkeypatch.setattr(onednn, "_workspace_bytes", lambda *a: 1)
  with pytest.raises(Exception, match="workspace buffer smaller than the primitive needs"):
    jax.block_until_ready(jax.grad(loss)(params, xs))
  monkeypatch.undo()
  got = jax.grad(loss)(params, xs)
  want = jax.grad(lambda p, x: jnp.sum(unroll(cell, p, x, backend="scan")[0]))(params, xs)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def functools_partial(f, **kw):
  return lambda *a: f(*a, **kw)


# ------------------------------------------------------------------------------ fault injection


@needs_onednn
def test_a_damaged_kernel_cache_is_rebuilt_and_a_missing_compiler_is_one_line(tmp_path):
  """The cached ``.so`` is truncated on disk (loading it as it is would kill the process with
  SIGBUS): a new process says so, builds it again and runs.
  Without a compiler (and no cache) the back end says why, and ``auto`` still trains."""
  cache = tmp_path / "kernels"
  script = ("import jax, jax.numpy as jnp, logging\n"
            "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
            "from seqjax.cells import lstm\n"
            "from seqjax.recurrence import unroll, choose_backend, UnrollOptions\n"
            "p = lstm.CELL.init(jax.random.PRNGKey(0), 3, 4)\n"
            "print('backend', choose_backend(lstm.CELL, p, UnrollOptions()).value)\n"
            "print('sum', float(jnp.sum(unroll(lstm.CELL, p, jnp.ones((2, 5, 3)))[0])))\n")
  env = {**os.environ, "SEQJAX_KERNEL_DIR": str(cache), "JAX_PLATFORMS": "cpu"}
  first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=300)
  assert first.returncode == 0 and "backend onednn" in first.stdout, first.stderr
  cached = next(cache.glob("libseqjax_onednn-*.so"))
  cached.write_bytes(cached.read_bytes()[:4096])
  run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                       cwd=REPO, timeout=300)
  assert run.returncode == 0, run.stderr
  assert f"the cached oneDNN kernels {cached} are damaged (it does not match the checksum" in (
      run.stderr)
  assert "building them again" in run.stderr and "backend onednn" in run.stdout
  assert cached.stat().st_size > 4096
  want = float(jnp.sum(unroll(lstm.CELL, lstm.CELL.init(jax.random.PRNGKey(0), 3, 4),
                              jnp.ones((2, 5, 3)), backend="scan")[0]))
  assert abs(float(run.stdout.split("sum ")[1]) - want) < 1e-4

  empty = tmp_path / "empty"
  env.update(SEQJAX_KERNEL_DIR=str(empty), CXX=str(tmp_path / "no-such-compiler"))
  run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                       cwd=REPO, timeout=300)
  assert run.returncode == 0, run.stderr
  warnings = [l for l in run.stderr.splitlines() if "oneDNN back end is installed but cannot" in l]
  assert len(warnings) == 1 and "building the oneDNN kernels failed" in warnings[0]
  assert "backend fused" in run.stdout
