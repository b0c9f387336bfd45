r"""Looking inside recurrent models: why vanilla RNNs forget, measured.

For ``h_t = f(h_{t-1}, x_t)`` the gradient reaching step ``s`` from a loss at ``T`` is
``∂L/∂h_s = ∂L/∂h_T · Π_{t=s+1..T} ∂h_t/∂h_{t-1}``, and for a tanh RNN each factor is
``diag(1 - h_t²) W_hhᵀ``: its norm shrinks (or grows) geometrically with the distance ``T - s``
unless the spectral radius of ``W_hh`` is near 1 and the units stay unsaturated. Gating
(LSTM's forget gate, GRU's update gate) gives the gradient a path whose factor is the gate
itself, which the statistics below show.

- ``hidden_grad_norms``: ``‖∂L/∂h_t‖`` for every ``t`` in one backward pass (zero perturbations
  added to each ``h_t``, ``seqjax.recurrence.unroll(perturb=...)``).
- ``jacobian_norms``: spectral norms of ``∂h_T/∂h_t`` (the full carry, ``(h, c)`` for an LSTM).
- ``spectral_radius``: of each gate's recurrent block.
- ``gate_statistics``: LSTM forget gate / GRU update gate mean and saturation fraction.
- Plots (matplotlib, PNG): ``plot_gradient_norms``, ``plot_gate_histograms``,
  ``plot_training_curves``, ``plot_attention``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from seqjax.recurrence import unroll

SATURATION = (0.1, 0.9)  # a gate value outside this interval counts as saturated


def hidden_grad_norms(cell: Any, params: Any, xs: jax.Array,
                      loss_fn: Callable[[jax.Array, Any], jax.Array], *, carry: Any = None,
                      lengths: Optional[jax.Array] = None) -> jax.Array:
  """``‖∂L/∂h_t‖₂`` for every step: ``[*B, T]``.

  ``loss_fn(ys, final_carry) -> scalar`` is the loss on the unrolled outputs ``ys: [*B, T, O]``
  (e.g. a readout of the last step only, or of every step). One forward and one backward pass.
  """
  ys, _ = unroll(cell, params, xs, carry=carry, lengths=lengths)
  zeros = jnp.zeros(ys.shape, jnp.float32)

  def loss(perturb):
    out, final = unroll(cell, params, xs, carry=carry, lengths=lengths, perturb=perturb)
    return loss_fn(out, final)

  grads = jax.grad(loss)(zeros)
  return jnp.linalg.norm(grads, axis=-1)


def jacobian_norms(cell: Any, params: Any, xs: jax.Array, *,
                   carry: Any = None) -> np.ndarray:
  """``‖∂c_T/∂c_t‖₂`` (largest singular value) for ``t = 0..T-1`` of one unbatched sequence
  ``xs: [T, I]``, with ``c`` the whole carry flattened; entry ``T-1`` is the identity's 1.

  Computed from the per-step Jacobians ``J_t = ∂c_t/∂c_{t-1}`` at the actual states, multiplied
  from the end: ``∂c_T/∂c_t = J_T ⋯ J_{t+1}``.
  """
  if xs.ndim != 2:
    raise ValueError(f"jacobian_norms: xs must be one sequence [T, I]; got shape {xs.shape}")
  projected = cell.project(params, xs)
  c = cell.initial_carry(params, ()) if carry is None else carry
  flat, unravel = ravel_pytree(c)

  def step(flat_c, p_t):
    new, _ = cell.step(params, unravel(flat_c), p_t)
    return ravel_pytree(new)[0]

  jacobians = []
  for t in range(xs.shape[0]):
    jacobians.append(np.asarray(jax.jacfwd(step)(flat, projected[t]), np.float64))
    flat = step(flat, projected[t])
  norms = np.zeros(xs.shape[0])
  product = np.eye(flat.shape[0])
  for t in range(xs.shape[0] - 1, -1, -1):
    norms[t] = np.linalg.norm(product, 2)
    product = product @ jacobians[t]
  return norms


def spectral_radius(cell: Any, params: Any) -> dict[str, float]:
  """``max |eig(W)|`` of each gate's recurrent block (``{"h": ...}`` for a simple RNN), from the
  blocks the cell record declares (``Cell.recurrent_blocks``). Needs square blocks (no LSTM
  projection)."""
  out = {}
  try:
    blocks = cell.recurrent_blocks(params)
  except ValueError as e:
    raise ValueError(f"spectral_radius: {e}") from None
  for name, block in blocks.items():
    block = np.asarray(block, np.float64)
    if block.shape[0] != block.shape[1]:
      raise ValueError("spectral_radius: recurrent blocks are not square (LSTM projection)")
    out[name] = float(np.max(np.abs(np.linalg.eigvals(block))))
  return out


def gate_values(cell: Any, params: Any, xs: jax.Array, *, carry: Any = None) -> jax.Array:
  """The gate the cell record names its ``memory_gate`` (LSTM forget gate ``f_t``, GRU update
  gate ``z_t``) at every step: ``[*B, T, H]``."""
  if cell.memory_gate is None:
    raise ValueError(f"gate_values: cell {cell.name!r} has no forget/update gate")
  pick = lambda c, p_t: cell.memory_gate(params, c, p_t)
  projected = cell.project(params, xs)
  c0 = cell.initial_carry(params, xs.shape[:-2]) if carry is None else carry

  def body(c, p_t):
    new, _ = cell.step(params, c, p_t)
    return new, pick(c, p_t)

  _, values = jax.lax.scan(body, c0, jnp.moveaxis(projected, -2, 0))
  return jnp.moveaxis(values, 0, -2)


def gate_statistics(cell: Any, params: Any, xs: jax.Array, *,
                    carry: Any = None) -> dict[str, float]:
  """``mean``, ``saturated`` (fraction outside ``SATURATION``), ``low`` (< 0.1) and ``high``
  (> 0.9) of the LSTM forget gate or GRU update gate over every unit, step and sequence."""
  g = np.asarray(gate_values(cell, params, xs, carry=carry), np.float64)
  low, high = g < SATURATION[0], g > SATURATION[1]
  return {"mean": float(g.mean()), "saturated": float(np.mean(low | high)),
          "low": float(low.mean()), "high": float(high.mean())}


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")  # files only; no display needed
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def plot_attention(weights: np.ndarray, source: Sequence[str], target: Sequence[str], path: str,
                   *, title: str = "") -> str:
  """Writes ``weights: [len(target), len(source)]`` (row ``t``: the attention while producing
  target token ``t``) as a heat map with the tokens on the axes; returns ``path``."""
  weights = np.asarray(weights, np.float32)
  if weights.shape != (len(target), len(source)):
    raise ValueError(f"plot_attention: weights have shape {weights.shape}; expected "
                     f"[len(target), len(source)] = [{len(target)}, {len(source)}]")
  plt = _pyplot()
  width = max(4.0, 0.45 * len(source) + 1.5)
  height = max(3.0, 0.4 * len(target) + 1.5)
  fig, ax = plt.subplots(figsize=(width, height))
  image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
  ax.set_xticks(range(len(source)))
  ax.set_xticklabels(source, rotation=60, ha="right")
  ax.set_yticks(range(len(target)))
  ax.set_yticklabels(target)
  ax.set_xlabel("source")
  ax.set_ylabel("output")
  if title:
    ax.set_title(title, fontsize=9)
  fig.colorbar(image, ax=ax, fraction=0.03)
  fig.tight_layout()
  return _save(fig, plt, path)


def overlay_attention(ax, image: np.ndarray, weights: np.ndarray, title: str = "", *,
                      vmax: Optional[float] = None) -> None:
  """Draws ``image [S, S, 3]`` on ``ax`` with attention ``weights`` (one per cell of a square
  feature map, row-major) over it, upsampled bilinearly to the image's size; the colour scale
  runs from 0 to ``vmax`` (default: the map's own maximum)."""
  weights = np.asarray(weights, np.float32)
  side = int(round(np.sqrt(weights.shape[-1])))
  if side * side != weights.shape[-1]:
    raise ValueError(f"overlay_attention: {weights.shape[-1]} weights are not a square map")
  grid = weights.reshape(side, side)
  size = image.shape[0]
  ax.imshow(image, interpolation="nearest")
  ax.imshow(grid, cmap="magma", alpha=0.55, interpolation="bilinear",
            extent=(-0.5, size - 0.5, size - 0.5, -0.5), vmin=0.0,
            vmax=float(grid.max()) if vmax is None else vmax)
  if title:
    ax.set_title(title, fontsize=7)
  ax.axis("off")


def plot_caption_attention(image: np.ndarray, words: Sequence[str], weights: np.ndarray,
                           path: str, *, title: str = "", per_row: int = 6) -> str:
  """Show, Attend and Tell's Figure 2 strip: the image, then for each word of a caption the
  attention (``weights [len(words), N]``, ``N`` cells of a square map) with which it was
  written, all on one colour scale (0 to the largest weight), so a diffuse map looks dim;
  returns ``path``."""
  weights = np.asarray(weights, np.float32)
  if weights.ndim != 2 or weights.shape[0] != len(words):
    raise ValueError(f"plot_caption_attention: weights have shape {weights.shape}; expected "
                     f"[{len(words)} words, regions]")
  plt = _pyplot()
  panels = len(words) + 1
  cols = min(per_row, panels)
  rows = -(-panels // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.0 * rows), squeeze=False)
  for ax in axes.ravel()[panels:]:
    ax.axis("off")
  first = axes.ravel()[0]
  first.imshow(image, interpolation="nearest")
  first.set_title("image", fontsize=8)
  first.axis("off")
  for ax, word, w in zip(axes.ravel()[1:], words, weights):
    overlay_attention(ax, image, w, word, vmax=float(weights.max()))
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  return _save(fig, plt, path)


def plot_gradient_norms(curves: Mapping[str, Sequence[float]], path: str, *,
                        title: str = "", log_scale: bool = True) -> str:
  """``{label: ‖∂L/∂h_t‖ for t = 0..T-1}`` against the distance ``T-1-t`` to the loss, one line
  per label (e.g. per cell), on one chart. Labels ``"<name> (<stage>)"`` share a colour per
  name; a stage ``init`` is dashed (e.g. ``"lstm (init)"`` and ``"lstm (trained)"``)."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(7.0, 4.4))
  names = list(dict.fromkeys(label.split(" (")[0] for label in curves))
  colours = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
  for label, norms in curves.items():
    norms = np.asarray(norms, np.float64)
    name = label.split(" (")[0]
    ax.plot(np.arange(len(norms))[::-1], norms, label=label,
            color=colours(names.index(name) % colours.N),
            linestyle="--" if label.endswith("(init)") else "-")
  if log_scale:
    ax.set_yscale("log")
  ax.set_xlabel("distance in time to the loss (steps)")
  ax.set_ylabel("‖∂L/∂h_t‖")
  ax.set_title(title or "gradient norm vs. distance in time", fontsize=9)
  ax.legend(fontsize=7, ncol=2 if len(curves) > 8 else 1)
  fig.tight_layout()
  return _save(fig, plt, path)


def plot_gate_histograms(gates: Mapping[str, np.ndarray], path: str, *, title: str = "") -> str:
  """Histograms of gate values in ``[0, 1]``, one panel per label."""
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(gates), figsize=(3.2 * len(gates), 3.0), squeeze=False)
  for ax, (label, values) in zip(axes[0], gates.items()):
    ax.hist(np.asarray(values, np.float64).ravel(), bins=40, range=(0.0, 1.0))
    ax.set_title(label, fontsize=9)
    ax.set_xlabel("gate value")
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  return _save(fig, plt, path)


def plot_training_curves(workdir: str, path: str, *, metrics: Sequence[str] = ("loss",)) -> str:
  """Train and eval curves of ``metrics`` from a workdir's ``metrics.jsonl``."""
  from seqjax.train.writer import read_metrics  # pylint: disable=g-import-not-at-top
  rows = read_metrics(workdir)
  if not rows:
    raise ValueError(f"plot_training_curves: {workdir!r} has no metrics")
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(metrics), figsize=(5.0 * len(metrics), 3.5), squeeze=False)
  for ax, name in zip(axes[0], metrics):
    for split in ("train", "eval"):
      points = [(r["step"], r[name]) for r in rows if r.get("split") == split and name in r]
      if points:
        steps, values = zip(*points)
        ax.plot(steps, values, label=split, marker="o" if split == "eval" else None)
    ax.set_xlabel("step")
    ax.set_ylabel(name)
    ax.legend(fontsize=8)
  fig.tight_layout()
  return _save(fig, plt, path)


def _save(fig, plt, path: str) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path
