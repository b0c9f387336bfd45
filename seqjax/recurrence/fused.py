r"""The fused recurrence for LSTM and GRU: one recurrent matmul per step forward, a hand-written
backward (``jax.custom_vjp``) whose weight gradients are large matmuls after the loop.

Autodiff through ``lax.scan`` stores a dozen tensors per step and computes the recurrent weight
gradient as one thin ``[H, B] x [B, G*H]`` matmul per step. Here the forward scan keeps only
what the backward needs (the carry entering each step and the gate activations), the reverse
scan does per step just ``dh_{t-1} = dz_t W_hh^T`` and the elementwise gate derivatives, and
after it

    dW_hh = Σ_t h_{t-1}^T dz_t     (one [H, T·B] x [T·B, G·H] matmul)

with ``dz_t`` also the gradient of the hoisted input projection ``x_t W_ih + b`` (so autodiff
of that projection gives ``dW_ih = X^T dZ`` and ``db = Σ dZ`` as one matmul and one sum too).
This is the schedule of oneDNN's and cuDNN's RNN primitives.

What it covers (``lstm_unsupported``, ``gru_unsupported``): the LSTM with or without peepholes, coupled or not (no
projection, no layer norm), and both GRU forms; with lengths (padded steps keep the carry and
emit zeros), in-sequence resets, reverse, and a given initial carry (whose gradient is
returned). The LSTM and GRU records declare these kernels (``kernels[Backend.FUSED]``);
``Backend.AUTO`` picks them where they apply and no per-step regulariser is on (state dropout,
zoneout, ``perturb``, ``remat``); every other case runs the autodiff scan. Both paths are tested
equal in values and gradients.

``compute_dtype`` (e.g. ``jnp.bfloat16``): the recurrent matmuls take their operands in that
dtype and accumulate in float32 (``preferred_element_type``); the carry, the gate math and the
weight gradients stay float32.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import jax
import jax.numpy as jnp
from jax import lax

from seqjax import masks
from seqjax.cells import base


def _dot(a: jax.Array, b: jax.Array, compute_dtype: Any) -> jax.Array:
  if compute_dtype is None:
    if a.dtype != b.dtype:  # bf16 weights against a float32 carry: both in the wider dtype
      dtype = base.wider(a.dtype, b.dtype)
      a, b = a.astype(dtype), b.astype(dtype)
    return a @ b
  return jnp.matmul(a.astype(compute_dtype), b.astype(compute_dtype),
                    preferred_element_type=jnp.float32)


def _weight_grad(inputs: jax.Array, dz: jax.Array, compute_dtype: Any) -> jax.Array:
  """``Σ_{t,n} inputs[t, n]^T dz[t, n]``: ``[T, N, H], [T, N, G] -> [H, G]``."""
  t, n = inputs.shape[:2]
  return _dot(inputs.reshape(t * n, -1).T, dz.reshape(t * n, -1), compute_dtype)


def _select(mask: Optional[jax.Array], a: jax.Array, b: jax.Array) -> jax.Array:
  """``a`` where ``mask`` (per row), else ``b``; ``mask=None`` means everywhere (no kernel)."""
  return a if mask is None else masks.select(mask, a, b)


def _unless(mask: Optional[jax.Array], a: jax.Array) -> jax.Array:
  """``a`` where ``mask`` is False, else 0; ``None`` masks nothing."""
  return a if mask is None else jnp.where(masks.expand(mask, a), 0.0, a)


def _only(mask: Optional[jax.Array], a: jax.Array) -> jax.Array:
  """``a`` where ``mask``, else 0; ``None``: 0 everywhere."""
  return jnp.zeros_like(a) if mask is None else masks.select(mask, a, 0.0)


def project_mixed(params: Any, xs: jax.Array, compute_dtype: Any) -> jax.Array:
  """``xs W_ih + b`` with ``xs`` and ``W_ih`` in ``compute_dtype`` and a float32 result (one large
  matmul; ``preferred_element_type`` accumulates in float32)."""
  xs = jnp.asarray(xs)
  if xs.ndim < 1 or xs.shape[-1] != params.w_ih.shape[0]:
    raise ValueError(f"unroll: xs has shape {tuple(xs.shape)}, so feature size "
                     f"{xs.shape[-1] if xs.ndim else None}; expected input_size="
                     f"{params.w_ih.shape[0]} (the first axis of params.w_ih)")
  z = jnp.matmul(xs.astype(compute_dtype), params.w_ih.astype(compute_dtype),
                 preferred_element_type=jnp.float32)
  b = params.b.astype(jnp.float32)
  return z + jnp.reshape(b, (1,) * (z.ndim - 1) + b.shape)


def lstm_unsupported(params: Any) -> Optional[str]:
  """Why the fused LSTM does not cover these parameters (``None``: it does)."""
  extras = [name for name, on in (("a projection", params.w_hr is not None),
                                  ("layer norm", params.ln_x is not None or
                                   params.ln_h is not None or params.ln_c_scale is not None))
            if on]
  return f"the fused LSTM has no {' or '.join(extras)}" if extras else None


def gru_unsupported(params: Any) -> Optional[str]:
  del params
  return None


# ------------------------------------------------------------------------------------- LSTM


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def _lstm(reverse, unroll, coupled, compute_dtype, w_hh, peep, projected, h0, c0, valid,
          resets):
  ys, final, _ = _lstm_forward(reverse, unroll, coupled, compute_dtype, w_hh, peep, projected,
                               h0, c0, valid, resets)
  return ys, final


def _lstm_forward(reverse, unroll, coupled, compute_dtype, w_hh, peep, projected, h0, c0, valid,
                  resets):
  p_i, p_f, p_o = peep

  def step(carry, inputs):
    h, c = carry
    p_t, v_t, r_t = inputs
    h_in, c_in = (h, c) if r_t is None else (_select(r_t, h0, h), _select(r_t, c0, c))
    z = p_t + _dot(h_in, w_hh, compute_dtype)
    if coupled:
      z_f, z_g, z_o = jnp.split(z, 3, axis=-1)
      f = jax.nn.sigmoid(z_f + (0.0 if p_f is None else p_f * c_in))
      i = 1.0 - f
    else:
      z_i, z_f, z_g, z_o = jnp.split(z, 4, axis=-1)
      i = jax.nn.sigmoid(z_i + (0.0 if p_i is None else p_i * c_in))
      f = jax.nn.sigmoid(z_f + (0.0 if p_f is None else p_f * c_in))
    g = jnp.tanh(z_g)
    c_new = f * c_in + i * g
    o = jax.nn.sigmoid(z_o + (0.0 if p_o is None else p_o * c_new))
    h_new = o * jnp.tanh(c_new)
    h_out, c_out = _select(v_t, h_new, h_in), _select(v_t, c_new, c_in)
    y = h_new if v_t is None else jnp.where(v_t[..., None], h_new, 0.0)
    # Residuals: the carry entering the step and the activated gates in one array (few
    # per-step writes); the new cell state is recomputed in the backward pass.
    acts = jnp.concatenate([f, g, o] if coupled else [i, f, g, o], axis=-1)
    return (h_out, c_out), (y, (h_in, c_in, acts))

  final, (ys, res) = lax.scan(step, (h0, c0), (projected, valid, resets), reverse=reverse,
                              unroll=unroll)
  return ys, final, res


def _lstm_fwd(reverse, unroll, coupled, compute_dtype, w_hh, peep, projected, h0, c0, valid,
              resets):
  ys, final, res = _lstm_forward(reverse, unroll, coupled, compute_dtype, w_hh, peep,
                                 projected, h0, c0, valid, resets)
  return (ys, final), (w_hh, peep, res, valid, resets)


def _lstm_bwd(reverse, unroll, coupled, compute_dtype, saved, cotangents):
  w_hh, (p_i, p_f, p_o), res, valid, resets = saved
  d_ys, (d_hT, d_cT) = cotangents
  w_t = w_hh.T

  def step(carry, inputs):
    dh, dc, d_h0, d_c0 = carry
    dy, v, r, (h_in, c_in, acts) = inputs
    if coupled:
      f, g, o = jnp.split(acts, 3, axis=-1)
      i = 1.0 - f
    else:
      i, f, g, o = jnp.split(acts, 4, axis=-1)
    c_new = f * c_in + i * g
    dh_new = _select(v, dh + dy, jnp.zeros_like(dh))
    dc_new = _select(v, dc, jnp.zeros_like(dc))
    tanh_c = jnp.tanh(c_new)
    d_zo = dh_new * tanh_c * o * (1.0 - o)
    dc_tot = dc_new + dh_new * o * (1.0 - tanh_c * tanh_c)
    if p_o is not None:
      dc_tot = dc_tot + d_zo * p_o
    di, dg, df = dc_tot * g, dc_tot * i, dc_tot * c_in
    dc_in = dc_tot * f
    d_zg = dg * (1.0 - g * g)
    if coupled:
      d_zf = (df - di) * f * (1.0 - f)
      dz = jnp.concatenate([d_zf, d_zg, d_zo], axis=-1)
      d_zi = None
    else:
      d_zi, d_zf = di * i * (1.0 - i), df * f * (1.0 - f)
      dz = jnp.concatenate([d_zi, d_zf, d_zg, d_zo], axis=-1)
    d_peep = (None if p_i is None or coupled else jnp.sum(d_zi * c_in, 0, keepdims=True),
              None if p_f is None else jnp.sum(d_zf * c_in, 0, keepdims=True),
              None if p_o is None else jnp.sum(d_zo * c_new, 0, keepdims=True))
    if p_i is not None and not coupled:
      dc_in = dc_in + d_zi * p_i
    if p_f is not None:
      dc_in = dc_in + d_zf * p_f
    dh_in = _dot(dz, w_t, compute_dtype)
    if v is not None:  # a padded step passed its carry (and its gradient) straight through
      dh_in, dc_in = dh_in + _unless(v, dh), dc_in + _unless(v, dc)
    if r is not None:  # a reset step read the initial carry, not the previous one
      d_h0, d_c0 = d_h0 + _only(r, dh_in), d_c0 + _only(r, dc_in)
      dh_in, dc_in = _unless(r, dh_in), _unless(r, dc_in)
    return (dh_in, dc_in, d_h0, d_c0), (dz, d_peep)

  zeros = jnp.zeros_like(d_hT)
  (dh, dc, d_h0, d_c0), (dz, d_peep) = lax.scan(
      step, (d_hT, d_cT, zeros, jnp.zeros_like(d_cT)), (d_ys, valid, resets, res),
      reverse=not reverse, unroll=unroll)
  h_in = res[0]
  d_w = _weight_grad(h_in, dz, compute_dtype).astype(w_hh.dtype)
  d_peep = tuple(None if d is None else jnp.sum(d, 0).astype(p.dtype)
                 for d, p in zip(d_peep, (p_i, p_f, p_o)))
  return (d_w, d_peep, dz, dh + d_h0, dc + d_c0, None, None)


_lstm.defvjp(_lstm_fwd, _lstm_bwd)


# -------------------------------------------------------------------------------------- GRU


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _gru(reverse, unroll, compute_dtype, w_hh, b_hn, projected, h0, valid, resets):
  ys, final, _ = _gru_forward(reverse, unroll, compute_dtype, w_hh, b_hn, projected, h0, valid,
                              resets)
  return ys, final


def _gru_forward(reverse, unroll, compute_dtype, w_hh, b_hn, projected, h0, valid, resets):
  hidden = w_hh.shape[0]

  def step(h, inputs):
    p_t, v_t, r_t = inputs
    h_in = h if r_t is None else _select(r_t, h0, h)
    x_r, x_z, x_n = jnp.split(p_t, 3, axis=-1)
    if b_hn is not None:  # reset-after: one matmul
      h_r, h_z, h_n = jnp.split(_dot(h_in, w_hh, compute_dtype), 3, axis=-1)
      hn = h_n + b_hn
      r = jax.nn.sigmoid(x_r + h_r)
      z = jax.nn.sigmoid(x_z + h_z)
      n = jnp.tanh(x_n + r * hn)
      extra = hn
    else:  # Cho et al.: the candidate reads r ⊙ h
      h_r, h_z = jnp.split(_dot(h_in, w_hh[:, :2 * hidden], compute_dtype), 2, axis=-1)
      r = jax.nn.sigmoid(x_r + h_r)
      z = jax.nn.sigmoid(x_z + h_z)
      extra = r * h_in
      n = jnp.tanh(x_n + _dot(extra, w_hh[:, 2 * hidden:], compute_dtype))
    h_new = (1.0 - z) * n + z * h_in
    y = h_new if v_t is None else jnp.where(v_t[..., None], h_new, 0.0)
    return _select(v_t, h_new, h_in), (y, (h_in, jnp.concatenate([r, z, n], axis=-1), extra))

  final, (ys, res) = lax.scan(step, h0, (projected, valid, resets), reverse=reverse,
                              unroll=unroll)
  return ys, final, res


def _gru_fwd(reverse, unroll, compute_dtype, w_hh, b_hn, projected, h0, valid, resets):
  ys, final, res = _gru_forward(reverse, unroll, compute_dtype, w_hh, b_hn, projected, h0,
                                valid, resets)
  return (ys, final), (w_hh, b_hn, res, valid, resets)


def _gru_bwd(reverse, unroll, compute_dtype, saved, cotangents):
  w_hh, b_hn, res, valid, resets = saved
  d_ys, d_hT = cotangents
  hidden = w_hh.shape[0]
  w_t = w_hh.T

  def step(carry, inputs):
    dh, d_h0 = carry
    dy, v, rr, (h_in, acts, extra) = inputs
    r, z, n = jnp.split(acts, 3, axis=-1)
    dh_new = _select(v, dh + dy, jnp.zeros_like(dh))
    d_zn = dh_new * (1.0 - z) * (1.0 - n * n)
    d_zz = dh_new * (h_in - n) * z * (1.0 - z)
    dh_in = dh_new * z if v is None else dh_new * z + _unless(v, dh)
    if b_hn is not None:
      d_zr = d_zn * extra * r * (1.0 - r)
      # gradient of h W_hh (+ b_hn): [d_zr, d_zz, d_zn ⊙ r]
      d_rec = jnp.concatenate([d_zr, d_zz, d_zn * r], axis=-1)
      dh_in = dh_in + _dot(d_rec, w_t, compute_dtype)
    else:
      d_rh = _dot(d_zn, w_t[2 * hidden:], compute_dtype)  # gradient of r ⊙ h
      d_zr = d_rh * h_in * r * (1.0 - r)
      d_rec = jnp.concatenate([d_zr, d_zz], axis=-1)
      dh_in = dh_in + d_rh * r + _dot(d_rec, w_t[:2 * hidden], compute_dtype)
    if rr is not None:
      d_h0 = d_h0 + _only(rr, dh_in)
      dh_in = _unless(rr, dh_in)
    dx = jnp.concatenate([d_zr, d_zz, d_zn], axis=-1)
    return (dh_in, d_h0), dx

  # Only dx leaves the loop: the recurrent gradients are rebuilt from it in one pass after.
  (dh, d_h0), dx = lax.scan(step, (d_hT, jnp.zeros_like(d_hT)), (d_ys, valid, resets, res),
                            reverse=not reverse, unroll=unroll)
  h_in, acts, extra = res
  if b_hn is not None:
    d_hn = dx[..., 2 * hidden:] * acts[..., :hidden]
    d_rec = jnp.concatenate([dx[..., :2 * hidden], d_hn], axis=-1)
    d_w = _weight_grad(h_in, d_rec, compute_dtype)
    d_bhn = jnp.sum(d_hn, (0, 1))[None].astype(b_hn.dtype)
  else:
    d_w = jnp.concatenate([_weight_grad(h_in, dx[..., :2 * hidden], compute_dtype),
                           _weight_grad(extra, dx[..., 2 * hidden:], compute_dtype)], axis=-1)
    d_bhn = None
  return (d_w.astype(w_hh.dtype), d_bhn, dx, dh + d_h0, None, None)


_gru.defvjp(_gru_fwd, _gru_bwd)


# ------------------------------------------------------------------------------------ entry


def _time_major(projected: jax.Array, carry: Any, valid, resets):
  """Flattens the batch axes: ``(proj [T, N, G], valid, resets [T, N], unflat, acc dtype)``."""
  T = projected.shape[0]
  batch_shape = projected.shape[1:-1]
  n = 1
  for d in batch_shape:
    n *= d
  steps = lambda m: (None if m is None
                     else jnp.reshape(jnp.broadcast_to(m, (T,) + batch_shape), (T, n)))
  acc = base.carry_dtype(carry.h.dtype)  # float32, or float64 under x64
  proj = jnp.reshape(projected, (T, n, projected.shape[-1])).astype(acc)
  unflat = lambda x: jnp.reshape(x, batch_shape + (x.shape[-1],))
  flat = lambda x: jnp.reshape(x, (n, x.shape[-1])).astype(acc)
  return proj, steps(valid), steps(resets), flat, unflat, acc


def _outputs(ys: jax.Array, projected: jax.Array, carry: Any) -> jax.Array:
  T, batch_shape = projected.shape[0], projected.shape[1:-1]
  return jnp.reshape(ys, (T,) + batch_shape + (ys.shape[-1],)).astype(carry.h.dtype)


def run_lstm(params: Any, projected: jax.Array, carry: Any, *,
             valid: Optional[jax.Array] = None, resets: Optional[jax.Array] = None,
             reverse: bool = False, unroll: int = 1,
             compute_dtype: Any = None) -> tuple[jax.Array, Any]:
  """The fused LSTM over a time-major ``projected [T, *B, G·H]`` from ``carry`` (batch shape
  ``B``); ``valid``/``resets``: ``[T, *B]`` bools (None: all valid / no resets). Returns
  ``(ys [T, *B, H], final carry)`` as the scan back end does."""
  proj, valid_f, resets_f, flat, unflat, acc = _time_major(projected, carry, valid, resets)
  row = lambda p: None if p is None else p.astype(acc)[None]  # [1, H] (no rank promotion)
  peep = (row(params.p_i), row(params.p_f), row(params.p_o))
  ys, (h, c) = _lstm(reverse, unroll, params.coupled, compute_dtype, params.w_hh, peep, proj,
                     flat(carry.h), flat(carry.c), valid_f, resets_f)
  final = type(carry)(h=unflat(h).astype(carry.h.dtype), c=unflat(c).astype(carry.c.dtype))
  return _outputs(ys, projected, carry), final


def run_gru(params: Any, projected: jax.Array, carry: Any, *,
            valid: Optional[jax.Array] = None, resets: Optional[jax.Array] = None,
            reverse: bool = False, unroll: int = 1,
            compute_dtype: Any = None) -> tuple[jax.Array, Any]:
  """The fused GRU (either form); arguments and result as ``run_lstm``."""
  proj, valid_f, resets_f, flat, unflat, acc = _time_major(projected, carry, valid, resets)
  b_hn = None if params.b_hn is None else params.b_hn.astype(acc)[None]
  ys, h = _gru(reverse, unroll, compute_dtype, params.w_hh, b_hn, proj, flat(carry.h), valid_f,
               resets_f)
  final = type(carry)(h=unflat(h).astype(carry.h.dtype))
  return _outputs(ys, projected, carry), final
