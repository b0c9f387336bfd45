"""PyTorch parity: converted weights reproduce nn.RNN / nn.LSTM / nn.GRU, values and gradients."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch parity tests need the `test` extra (torch)")

from seqjax import init_stack, stack  # noqa: E402
from seqjax.cells import gru, lstm, simple  # noqa: E402
from seqjax.interop import torch as interop  # noqa: E402

B, T, I, H, P = 4, 6, 5, 7, 3
LENGTHS = [6, 2, 1, 4]

CONFIGS = [
    (kind, layers, bidir, proj)
    for kind, layers, bidir, proj in itertools.product(
        ["rnn_tanh", "rnn_relu", "lstm", "gru"], [1, 2], [False, True], [0, P])
    if proj == 0 or kind == "lstm"
]


def make_module(kind, layers, bidir, proj, batch_first=True, bias=True, seed=0):
  torch.manual_seed(seed)
  common = dict(input_size=I, hidden_size=H, num_layers=layers, bidirectional=bidir,
                batch_first=batch_first, bias=bias)
  if kind == "lstm":
    return torch.nn.LSTM(proj_size=proj, **common)
  if kind == "gru":
    return torch.nn.GRU(**common)
  return torch.nn.RNN(nonlinearity=kind[4:], **common)


def initial_state(module, kind, seed=1):
  g = torch.Generator().manual_seed(seed)
  LD = module.num_layers * (2 if module.bidirectional else 1)
  h0 = torch.randn(LD, B, module.proj_size or H, generator=g)
  if kind == "lstm":
    return (h0, torch.randn(LD, B, H, generator=g))
  return h0


def run_torch(module, x, state, lengths):
  if lengths is None:
    out, final = module(x, state)
  else:
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(lengths), batch_first=module.batch_first, enforce_sorted=False)
    out, final = module(packed, state)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(
        out, batch_first=module.batch_first, total_length=T)
  return out, final


def to_np(t):
  if isinstance(t, tuple):
    return tuple(to_np(a) for a in t)
  return t.detach().numpy()


def assert_close(a, b, atol=1e-5, rtol=1e-5):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=atol, rtol=rtol), a, b)


@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("kind,layers,bidir,proj", CONFIGS)
def test_outputs_final_states_and_gradients(kind, layers, bidir, proj, use_lengths):
  module = make_module(kind, layers, bidir, proj)
  lengths = LENGTHS if use_lengths else None
  x = torch.randn(B, T, I, generator=torch.Generator().manual_seed(2), requires_grad=True)
  state = initial_state(module, kind)
  state = tuple(s.requires_grad_() for s in state) if kind == "lstm" else state.requires_grad_()
  out, final = run_torch(module, x, state, lengths)

  apply_fn, params = interop.load_rnn(module)
  jlengths = None if lengths is None else jnp.asarray(lengths)
  ys, jfinal = jax.jit(apply_fn)(params, jnp.asarray(to_np(x)), lengths=jlengths,
                                 carry=jax.tree.map(jnp.asarray, to_np(state)))
  assert_close(ys, to_np(out))
  assert_close(jfinal, to_np(final))

  # Gradients of the same scalar loss, through the conversion, in PyTorch's layout.
  g = torch.Generator().manual_seed(3)
  w_out = torch.randn(out.shape, generator=g)
  finals = final if kind == "lstm" else (final,)
  w_fin = [torch.randn(f.shape, generator=g) for f in finals]
  loss = (out * w_out).sum() + sum((f * w).sum() for f, w in zip(finals, w_fin))
  loss.backward()

  spec = interop.spec_of(module)
  sd = {k: jnp.asarray(to_np(v)) for k, v in module.state_dict().items()}

  def jax_loss(sd, xs, carry):
    ys, fin = apply_fn(interop.convert_state_dict(sd, spec), xs, lengths=jlengths, carry=carry)
    fins = fin if kind == "lstm" else (fin,)
    return jnp.sum(ys * to_np(w_out)) + sum(jnp.sum(f * to_np(w)) for f, w in zip(fins, w_fin))

  carry = jax.tree.map(jnp.asarray, to_np(state))
  g_sd, g_x, g_carry = jax.grad(jax_loss, argnums=(0, 1, 2))(sd, jnp.asarray(to_np(x)), carry)
  for name, p in module.named_parameters():
    assert_close(g_sd[name], to_np(p.grad), atol=1e-4, rtol=1e-4)
  assert_close(g_x, to_np(x.grad), atol=1e-4, rtol=1e-4)
  torch_state_grad = tuple(s.grad for s in state) if kind == "lstm" else state.grad
  assert_close(g_carry, to_np(torch_state_grad), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_time_major_and_no_bias_modules(kind):
  module = make_module(kind, 2, True, 0, batch_first=False, bias=False)
  x = torch.randn(T, B, I, generator=torch.Generator().manual_seed(2))
  out, final = run_torch(module, x, None, LENGTHS)
  apply_fn, params = interop.load_rnn(module)
  ys, jfinal = apply_fn(params, jnp.asarray(to_np(x)), lengths=jnp.asarray(LENGTHS))
  assert_close(ys, to_np(out))
  assert_close(jfinal, to_np(final))


@pytest.mark.parametrize("cell,opts", [
    (lstm.CELL, {}), (lstm.CELL, dict(proj_size=P)), (gru.CELL, {}),
    (simple.CELL, dict(activation="relu"))])
@pytest.mark.parametrize("bidir", [False, True])
def test_export_to_torch_reproduces_seqjax(cell, opts, bidir):
  params = init_stack(cell, jax.random.PRNGKey(0), I, H, 2, bidirectional=bidir, **opts)
  xs = jax.random.normal(jax.random.PRNGKey(1), (B, T, I))
  ys, _ = stack(cell, params, xs, lengths=jnp.asarray(LENGTHS))
  module = interop.to_torch(params)
  out, _ = run_torch(module, torch.tensor(np.asarray(xs)), None, LENGTHS)
  assert_close(ys, to_np(out))
  # And back again: the same function.
  apply_fn, params_back = interop.load_rnn(module)
  ys_back, _ = apply_fn(params_back, xs, lengths=jnp.asarray(LENGTHS))
  assert_close(ys_back, ys)


def test_export_refuses_what_pytorch_lacks():
  key = jax.random.PRNGKey(0)
  for opts, match in [(dict(peephole=True), "peephole"), (dict(coupled=True), "coupled"),
                      (dict(layer_norm=True), "layer_norm")]:
    with pytest.raises(ValueError, match=match):
      interop.to_state_dict([lstm.init(key, I, H, **opts)])
  with pytest.raises(ValueError, match="reset_after=False"):
    interop.to_state_dict([gru.init(key, I, H, reset_after=False)])


def test_bad_input_errors():
  module = make_module("lstm", 2, False, 0)
  apply_fn, params = interop.load_rnn(module)
  xs = jnp.zeros((B, T, I))
  with pytest.raises(ValueError, match=r"carry h_0 must have shape .*\(2, 4, 7\)"):
    apply_fn(params, xs, carry=(jnp.zeros((1, B, H)), jnp.zeros((2, B, H))))
  with pytest.raises(ValueError, match=r"\(h_0, c_0\)"):
    apply_fn(params, xs, carry=(jnp.zeros((2, B, H)),))
  with pytest.raises(ValueError, match=r"xs must have shape \[B, T, I\]"):
    apply_fn(params, xs[0])
  with pytest.raises(ValueError, match="torch.nn.RNN, LSTM or GRU"):
    interop.load_rnn(torch.nn.Linear(3, 4))
  sd = dict(module.state_dict())
  del sd["bias_hh_l1"]
  with pytest.raises(ValueError, match="bias_hh_l1"):
    interop.convert_state_dict(sd, interop.spec_of(module))
