"""Checking an experiment config against its schema (the base config of the task)."""

from __future__ import annotations

import difflib
from typing import Any, Sequence

import ml_collections


def _flatten(config: Any, prefix: str = "") -> dict[str, Any]:
  out = {}
  for key, value in config.items():
    name = f"{prefix}{key}"
    if isinstance(value, (ml_collections.ConfigDict, dict)):
      out[name] = value
      out.update(_flatten(value, name + "."))
    else:
      out[name] = value
  return out


def check_keys(config: ml_collections.ConfigDict, schema: ml_collections.ConfigDict,
               free: Sequence[str] = ()) -> None:
  """Raises ``ValueError`` naming the first key of ``config`` not in ``schema``.

  Keys under a prefix in ``free`` (e.g. ``model.cell_options``) are not checked.
  """
  known = _flatten(schema)
  for key in _flatten(config):
    if key in known or any(key.startswith(f + ".") for f in free):
      continue
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown config key {key!r}{hint}")
