r"""PyTorch ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` <-> seqjax parameters.

``load_rnn(module)`` returns ``(apply_fn, params)``; ``apply_fn(params, xs, *, lengths=None,
carry=None) -> (ys, final_carry)`` reproduces the module (in eval mode: inter-layer dropout is
not applied) for any ``num_layers``, ``bidirectional``, ``proj_size``, ``nonlinearity``,
``bias`` and ``batch_first``. ``xs``, ``ys`` and the carries use the module's layout:
``xs: [B, T, I]`` (``[T, B, I]`` without ``batch_first``), ``h_0/h_n: [L*D, B, H_out]`` and for
LSTM ``c_0/c_n: [L*D, B, H]``, passed and returned as ``h`` or ``(h, c)``. ``lengths: [B]``
gives the result of ``pack_padded_sequence`` -> module -> ``pad_packed_sequence`` (zeros at
padded steps, ``h_n`` at each sequence's end, the reverse direction reversed within each length).
``params`` is a list with one entry per layer, ``Bidirectional(forward, backward)`` when
bidirectional, as ``seqjax.recurrence.stack`` takes.

The mapping (PyTorch stores ``W`` as ``[out, in]``, seqjax as ``[in, out]``):

==========================  =================================================================
PyTorch (layer k, suffix)   seqjax
==========================  =================================================================
``weight_ih_l{k}``          ``w_ih = weight_ih.T``  (gate order kept: LSTM i,f,g,o; GRU r,z,n)
``weight_hh_l{k}``          ``w_hh = weight_hh.T``
``bias_ih_l{k}`` +          RNN, LSTM: ``b = bias_ih + bias_hh`` (only the sum matters).
``bias_hh_l{k}``            GRU: ``b = bias_ih + [bias_hh_r, bias_hh_z, 0]``,
                            ``b_hn = bias_hh_n`` (it is multiplied by the reset gate).
``weight_hr_l{k}``          ``w_hr = weight_hr.T`` (LSTM ``proj_size``)
``..._reverse``             the ``backward`` field of ``Bidirectional``
==========================  =================================================================

Export (``to_state_dict``, ``to_torch``) writes the folded bias into ``bias_ih`` and zeros
(GRU: ``[0, 0, b_hn]``) into ``bias_hh``: a different split of the same function. LSTM
peepholes, CIFG and layer norm, and the Cho-form GRU, have no PyTorch module and are refused.
``torch`` is imported only by this module (it is a test extra, not a dependency).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.cells import gru, lstm, simple
from seqjax.recurrence import Bidirectional, stack

_MODES = {"RNN_TANH": simple.CELL, "RNN_RELU": simple.CELL, "LSTM": lstm.CELL, "GRU": gru.CELL}
_CARRIES = {"rnn": simple.RNNCarry, "lstm": lstm.LSTMCarry, "gru": gru.GRUCarry}


@dataclasses.dataclass(frozen=True)
class TorchRNNSpec:
  """The hyperparameters of a PyTorch recurrent module that shape its state dict."""
  mode: str  # "RNN_TANH", "RNN_RELU", "LSTM" or "GRU" (PyTorch's ``module.mode``)
  input_size: int
  hidden_size: int
  num_layers: int = 1
  bidirectional: bool = False
  proj_size: int = 0
  bias: bool = True
  batch_first: bool = True

  @property
  def cell(self):
    return _MODES[self.mode]

  @property
  def num_directions(self) -> int:
    return 2 if self.bidirectional else 1

  @property
  def output_size(self) -> int:
    return self.proj_size or self.hidden_size


def spec_of(module: Any) -> TorchRNNSpec:
  """Reads the spec of a ``torch.nn.RNN``, ``LSTM`` or ``GRU``."""
  mode = getattr(module, "mode", None)
  if mode not in _MODES:
    raise ValueError(f"load_rnn: module must be a torch.nn.RNN, LSTM or GRU; got "
                     f"{type(module).__name__}")
  return TorchRNNSpec(mode=mode, input_size=module.input_size, hidden_size=module.hidden_size,
                      num_layers=module.num_layers, bidirectional=module.bidirectional,
                      proj_size=getattr(module, "proj_size", 0), bias=module.bias,
                      batch_first=module.batch_first)


def _convert_direction(spec: TorchRNNSpec, sd: Mapping[str, Any], name: str) -> Any:
  w_ih = jnp.asarray(sd[f"weight_ih_{name}"]).T
  w_hh = jnp.asarray(sd[f"weight_hh_{name}"]).T
  width = w_ih.shape[1]
  if spec.bias:
    b_ih, b_hh = jnp.asarray(sd[f"bias_ih_{name}"]), jnp.asarray(sd[f"bias_hh_{name}"])
  else:
    b_ih = b_hh = jnp.zeros((width,), w_ih.dtype)
  if spec.mode == "LSTM":
    w_hr = jnp.asarray(sd[f"weight_hr_{name}"]).T if spec.proj_size else None
    return lstm.LSTMParams(w_ih=w_ih, w_hh=w_hh, b=b_ih + b_hh, w_hr=w_hr)
  if spec.mode == "GRU":
    H = spec.hidden_size
    b = b_ih + jnp.concatenate([b_hh[:2 * H], jnp.zeros((H,), b_hh.dtype)])
    return gru.GRUParams(w_ih=w_ih, w_hh=w_hh, b=b, b_hn=b_hh[2 * H:])
  activation = "tanh" if spec.mode == "RNN_TANH" else "relu"
  return simple.RNNParams(w_ih=w_ih, w_hh=w_hh, b=b_ih + b_hh, activation=activation)


def convert_state_dict(state_dict: Mapping[str, Any], spec: TorchRNNSpec) -> list[Any]:
  """PyTorch state dict (tensors or arrays) -> seqjax per-layer params.

  Written with ``jnp`` operations, so it is differentiable: the gradient of a loss of
  ``convert_state_dict(sd, spec)`` with respect to ``sd`` is in PyTorch's layout.
  """
  sd = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v)
        for k, v in state_dict.items()}
  expected = set()
  layers = []
  for k in range(spec.num_layers):
    dirs = []
    for suffix in ("", "_reverse")[:spec.num_directions]:
      name = f"l{k}{suffix}"
      keys = [f"weight_ih_{name}", f"weight_hh_{name}"]
      keys += [f"bias_ih_{name}", f"bias_hh_{name}"] if spec.bias else []
      keys += [f"weight_hr_{name}"] if spec.proj_size else []
      missing = [key for key in keys if key not in sd]
      if missing:
        raise ValueError(f"convert_state_dict: state dict lacks {missing} for {spec}")
      expected.update(keys)
      dirs.append(_convert_direction(spec, sd, name))
    layers.append(Bidirectional(*dirs) if spec.bidirectional else dirs[0])
  unexpected = sorted(set(sd) - expected)
  if unexpected:
    raise ValueError(f"convert_state_dict: unexpected keys {unexpected} for {spec}")
  return layers


def _carry_from_torch(spec: TorchRNNSpec, carry: Any, batch: int) -> list[Any]:
  cell = spec.cell
  parts = tuple(carry) if spec.mode == "LSTM" else (carry,)
  if spec.mode == "LSTM" and len(parts) != 2:
    raise ValueError("apply_fn: an LSTM carry must be the pair (h_0, c_0)")
  LD = spec.num_layers * spec.num_directions
  sizes = (spec.output_size, spec.hidden_size)
  for name, part, size in zip(("h_0", "c_0"), parts, sizes):
    if tuple(jnp.shape(part)) != (LD, batch, size):
      raise ValueError(f"apply_fn: carry {name} must have shape (num_layers*num_directions, "
                       f"batch, size) = {(LD, batch, size)}; got {tuple(jnp.shape(part))}")
  parts = [jnp.asarray(p) for p in parts]
  make = _CARRIES[cell.name]
  layers = []
  for k in range(spec.num_layers):
    dirs = [make(*[p[k * spec.num_directions + d] for p in parts])
            for d in range(spec.num_directions)]
    layers.append(Bidirectional(*dirs) if spec.bidirectional else dirs[0])
  return layers


def _carry_to_torch(spec: TorchRNNSpec, finals: list[Any]) -> Any:
  flat = []
  for final in finals:
    flat.extend([final.forward, final.backward] if spec.bidirectional else [final])
  h_n = jnp.stack([c.h for c in flat])
  if spec.mode == "LSTM":
    return h_n, jnp.stack([c.c for c in flat])
  return h_n


def make_apply(spec: TorchRNNSpec) -> Callable[..., tuple[jax.Array, Any]]:
  """The function that runs converted params like the PyTorch module of ``spec`` (jittable)."""

  def apply_fn(params: list[Any], xs: jax.Array, *, lengths: Any = None,
               carry: Any = None) -> tuple[jax.Array, Any]:
    xs = jnp.asarray(xs)
    if xs.ndim != 3:
      layout = "[B, T, I]" if spec.batch_first else "[T, B, I]"
      raise ValueError(f"apply_fn: xs must have shape {layout}; got {xs.shape}")
    if not spec.batch_first:
      xs = jnp.swapaxes(xs, 0, 1)
    layer_carry = None if carry is None else _carry_from_torch(spec, carry, xs.shape[0])
    ys, finals = stack(spec.cell, params, xs, carry=layer_carry, lengths=lengths)
    if not spec.batch_first:
      ys = jnp.swapaxes(ys, 0, 1)
    return ys, _carry_to_torch(spec, finals)

  return apply_fn


def load_rnn(module: Any) -> tuple[Callable[..., tuple[jax.Array, Any]], list[Any]]:
  """``(apply_fn, params)`` reproducing a ``torch.nn.RNN``, ``LSTM`` or ``GRU``."""
  spec = spec_of(module)
  return make_apply(spec), convert_state_dict(module.state_dict(), spec)


def _kind(p: Any) -> str:
  if isinstance(p, lstm.LSTMParams):
    problems = [name for name, on in (("peephole", p.p_f is not None), ("coupled", p.coupled),
                                      ("layer_norm", p.ln_x is not None)) if on]
    if problems:
      raise ValueError(f"to_state_dict: torch.nn.LSTM has no {', '.join(problems)}; these "
                       "parameters cannot be exported")
    return "LSTM"
  if isinstance(p, gru.GRUParams):
    if not p.reset_after:
      raise ValueError("to_state_dict: torch.nn.GRU is the reset-after form; a GRU with "
                       "reset_after=False (Cho et al.) cannot be exported")
    return "GRU"
  if isinstance(p, simple.RNNParams):
    return "RNN_TANH" if p.activation == "tanh" else "RNN_RELU"
  raise ValueError(f"to_state_dict: unsupported parameter type {type(p).__name__}")


def spec_from_params(params: list[Any], *, batch_first: bool = True) -> TorchRNNSpec:
  """The PyTorch module spec that ``params`` (from ``load_rnn`` or ``init_stack``) fits."""
  if not params:
    raise ValueError("to_state_dict: params must hold at least one layer")
  bidir = isinstance(params[0], Bidirectional)
  first = params[0].forward if bidir else params[0]
  mode = _kind(first)
  cell = _MODES[mode]
  H = cell.hidden_size(first)
  proj = first.w_hr.shape[1] if mode == "LSTM" and first.w_hr is not None else 0
  spec = TorchRNNSpec(mode=mode, input_size=cell.input_size(first), hidden_size=H,
                      num_layers=len(params), bidirectional=bidir, proj_size=proj,
                      batch_first=batch_first)
  for k, layer in enumerate(params):
    if isinstance(layer, Bidirectional) != bidir:
      raise ValueError(f"to_state_dict: layer {k} differs from layer 0 in being bidirectional")
    for p in (layer if bidir else [layer]):
      want_in = spec.input_size if k == 0 else spec.output_size * spec.num_directions
      got = (_kind(p), cell.input_size(p), cell.output_size(p), cell.hidden_size(p))
      want = (mode, want_in, spec.output_size, H)
      if got != want:
        raise ValueError(f"to_state_dict: layer {k} has (mode, input, output, hidden) = {got}; "
                         f"PyTorch needs {want}")
  return spec


def to_state_dict(params: list[Any]) -> dict[str, Any]:
  """seqjax per-layer params -> a PyTorch state dict (``torch.Tensor`` values)."""
  import torch

  spec = spec_from_params(params)
  H = spec.hidden_size
  out = {}
  for k, layer in enumerate(params):
    for suffix, p in zip(("", "_reverse"), (layer if spec.bidirectional else [layer])):
      name = f"l{k}{suffix}"
      b = np.asarray(p.b)
      out[f"weight_ih_{name}"] = np.asarray(p.w_ih).T
      out[f"weight_hh_{name}"] = np.asarray(p.w_hh).T
      out[f"bias_ih_{name}"] = b
      if spec.mode == "GRU":
        out[f"bias_hh_{name}"] = np.concatenate([np.zeros(2 * H, b.dtype), np.asarray(p.b_hn)])
      else:
        out[f"bias_hh_{name}"] = np.zeros_like(b)
      if spec.proj_size:
        out[f"weight_hr_{name}"] = np.asarray(p.w_hr).T
  # np.array copies: arrays viewed from JAX buffers are read-only, torch tensors are not.
  return {k: torch.from_numpy(np.array(v, copy=True, order="C")) for k, v in out.items()}


def to_torch(params: list[Any], *, batch_first: bool = True) -> Any:
  """A PyTorch module (eval mode) computing the same function as ``params``."""
  import torch

  spec = spec_from_params(params, batch_first=batch_first)
  common = dict(input_size=spec.input_size, hidden_size=spec.hidden_size,
                num_layers=spec.num_layers, bidirectional=spec.bidirectional,
                batch_first=batch_first)
  if spec.mode == "LSTM":
    module = torch.nn.LSTM(proj_size=spec.proj_size, **common)
  elif spec.mode == "GRU":
    module = torch.nn.GRU(**common)
  else:
    module = torch.nn.RNN(nonlinearity="tanh" if spec.mode == "RNN_TANH" else "relu", **common)
  state = to_state_dict(params)
  module = module.to(next(iter(state.values())).dtype)
  module.load_state_dict(state, strict=True)
  return module.eval()
