"""Looking inside trained sequence models: plots (matplotlib, written as PNG files).

- ``plot_attention``: the attention heat map of one translation (which source positions each
  target token read).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np


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
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path
