"""NumPy (float64) references of the cell equations, written gate by gate from the docstrings.

They share no code with seqjax: each slices the fused matrices by the documented gate order and
applies the textbook update, one sequence position at a time.
"""

import numpy as np


def np64(tree_leaf):
  return None if tree_leaf is None else np.asarray(tree_leaf, np.float64)


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def layer_norm(x, gain, shift, eps):
  mu = x.mean(-1, keepdims=True)
  var = ((x - mu) ** 2).mean(-1, keepdims=True)
  y = (x - mu) / np.sqrt(var + eps) * gain
  return y if shift is None else y + shift


def rnn(p, xs, h):
  """Elman: h_t = act(x_t W_ih + b + h_{t-1} W_hh). xs: [B, T, I]."""
  act = np.tanh if p.activation == "tanh" else (lambda v: np.maximum(v, 0.0))
  W_ih, W_hh, b = np64(p.w_ih), np64(p.w_hh), np64(p.b)
  h = np64(h)
  ys = []
  for t in range(xs.shape[1]):
    h = act(np64(xs[:, t]) @ W_ih + b + h @ W_hh)
    ys.append(h)
  return np.stack(ys, 1), (h,)


def lstm(p, xs, h, c):
  """LSTM with optional peephole, coupled (CIFG), projection and layer norm."""
  G = 3 if p.coupled else 4
  W_ih, W_hh, b = np64(p.w_ih), np64(p.w_hh), np64(p.b)
  H = b.shape[0] // G
  names = ["f", "g", "o"] if p.coupled else ["i", "f", "g", "o"]
  Wx = {n: W_ih[:, k * H:(k + 1) * H] for k, n in enumerate(names)}
  Wh = {n: W_hh[:, k * H:(k + 1) * H] for k, n in enumerate(names)}
  bb = {n: b[k * H:(k + 1) * H] for k, n in enumerate(names)}
  zero = np.zeros(H)
  p_i = zero if p.p_i is None else np64(p.p_i)
  p_f = zero if p.p_f is None else np64(p.p_f)
  p_o = zero if p.p_o is None else np64(p.p_o)
  ln = p.ln_x is not None
  h, c = np64(h), np64(c)
  ys = []
  for t in range(xs.shape[1]):
    x = np64(xs[:, t])
    xw, hw = x @ W_ih, h @ W_hh
    if ln:
      xw = layer_norm(xw, np64(p.ln_x), None, p.ln_eps)
      hw = layer_norm(hw, np64(p.ln_h), None, p.ln_eps)
      z = {n: xw[:, k * H:(k + 1) * H] + hw[:, k * H:(k + 1) * H] + bb[n]
           for k, n in enumerate(names)}
    else:
      z = {n: x @ Wx[n] + h @ Wh[n] + bb[n] for n in names}
    f = sigmoid(z["f"] + p_f * c)
    i = 1.0 - f if p.coupled else sigmoid(z["i"] + p_i * c)
    g = np.tanh(z["g"])
    c = f * c + i * g
    o = sigmoid(z["o"] + p_o * c)
    c_out = layer_norm(c, np64(p.ln_c_scale), np64(p.ln_c_bias), p.ln_eps) if ln else c
    h = o * np.tanh(c_out)
    if p.w_hr is not None:
      h = h @ np64(p.w_hr)
    ys.append(h)
  return np.stack(ys, 1), (h, c)


def gru(p, xs, h):
  """GRU, Cho et al. form (b_hn is None) or reset-after form."""
  W_ih, W_hh, b = np64(p.w_ih), np64(p.w_hh), np64(p.b)
  H = W_hh.shape[0]
  W_ir, W_iz, W_in = (W_ih[:, k * H:(k + 1) * H] for k in range(3))
  W_hr, W_hz, W_hn = (W_hh[:, k * H:(k + 1) * H] for k in range(3))
  b_r, b_z, b_n = (b[k * H:(k + 1) * H] for k in range(3))
  h = np64(h)
  ys = []
  for t in range(xs.shape[1]):
    x = np64(xs[:, t])
    r = sigmoid(x @ W_ir + h @ W_hr + b_r)
    z = sigmoid(x @ W_iz + h @ W_hz + b_z)
    if p.b_hn is None:
      n = np.tanh(x @ W_in + (r * h) @ W_hn + b_n)
    else:
      n = np.tanh(x @ W_in + b_n + r * (h @ W_hn + np64(p.b_hn)))
    h = (1.0 - z) * n + z * h
    ys.append(h)
  return np.stack(ys, 1), (h,)


def perturb(params, key, scale=0.3):
  """Adds N(0, scale^2) noise to every leaf, so that gains of 1 and zero shifts are exercised."""
  import jax

  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(
      treedef, [a + scale * jax.random.normal(k, a.shape, a.dtype) for a, k in zip(leaves, keys)])
