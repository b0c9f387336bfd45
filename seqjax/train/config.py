"""Checking an experiment config against its schema: every key known to the task's base config
(``check_keys``), every value within the constraints declared beside the keys
(``check_values``)."""

from __future__ import annotations

import difflib
import math
from typing import Any, Callable, Mapping, Sequence

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


def leaves(config: Any, *, keep_empty: bool = False) -> dict[str, Any]:
  """``{"a.b.c": value}`` for every leaf of a config (a ``ConfigDict`` or nested dicts); an
  empty section is kept as ``{}`` only with ``keep_empty``.

  >>> leaves({"a": {"b": 1, "c": {}}, "d": "x"})
  {'a.b': 1, 'd': 'x'}
  >>> leaves({"a": {"c": {}}}, keep_empty=True)
  {'a.c': {}}
  """
  out = {}

  def walk(node: Any, prefix: str) -> None:
    for key, value in node.items():
      if isinstance(value, (ml_collections.ConfigDict, dict)):
        if len(value) or not keep_empty:
          walk(value, f"{prefix}{key}.")
        else:
          out[f"{prefix}{key}"] = {}
      else:
        out[f"{prefix}{key}"] = value
  walk(config, "")
  return out


def check_keys(config: ml_collections.ConfigDict, schema: ml_collections.ConfigDict,
               free: Sequence[str] = ()) -> None:
  """Raises ``ValueError`` naming the first key of ``config`` not in ``schema``.

  Keys under a prefix in ``free`` (e.g. ``model.rnn.cell_options``) are not checked.
  """
  known = _flatten(schema)
  for key in _flatten(config):
    if key in known or any(key.startswith(f + ".") for f in free):
      continue
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown config key {key!r}{hint}")


def missing_keys(config: ml_collections.ConfigDict, schema: ml_collections.ConfigDict,
                 free: Sequence[str] = ()) -> list[str]:
  """The keys of ``schema`` that ``config`` lacks (keys under a prefix in ``free`` aside): a
  config saved by an older version of the task."""
  have = _flatten(config)
  return sorted(k for k in _flatten(schema)
                if k not in have and not any(k.startswith(f + ".") for f in free))


# ---- value constraints, declared beside the keys ---------------------------------------------
# A constraint is ``check(key, value)`` raising ``ValueError`` that names the key. A task's base
# config module declares ``CHECKS = {"model.embed_size": positive_int, ...}`` next to its keys;
# ``check_values`` applies them (``Task.check`` does, before the task's cross-key checks).
Constraint = Callable[[str, Any], None]


def positive_int(key: str, value: Any) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ValueError(f"{key} must be a positive int; got {value!r}")


def _number(value: Any) -> bool:
  return (not isinstance(value, bool) and isinstance(value, (int, float))
          and math.isfinite(value))


def nonnegative(key: str, value: Any) -> None:
  """A finite number >= 0 (NaN and inf are refused)."""
  if not _number(value) or value < 0:
    raise ValueError(f"{key} must be a finite number >= 0; got {value!r}")


def positive(key: str, value: Any) -> None:
  """A finite number > 0 (learning rates)."""
  if not _number(value) or value <= 0:
    raise ValueError(f"{key} must be a finite number > 0; got {value!r}")


def nonnegative_int(key: str, value: Any) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 0:
    raise ValueError(f"{key} must be an int >= 0; got {value!r}")


def fraction(key: str, value: Any) -> None:
  """A number in [0, 1) (a momentum, a decay factor where 0 disables it)."""
  if not _number(value) or not 0.0 <= value < 1.0:
    raise ValueError(f"{key} must be in [0, 1); got {value!r}")


def rate(key: str, value: Any) -> None:
  """A probability that may be 0 but not 1 (dropout rates)."""
  if not _number(value) or not 0.0 <= value < 1.0:
    raise ValueError(f"{key} must be in [0, 1); got {value!r}")


def probability(key: str, value: Any) -> None:
  """A number in [0, 1], both ends included (a keep rate where 0 and 1 both mean something)."""
  if not _number(value) or not 0.0 <= value <= 1.0:
    raise ValueError(f"{key} must be in [0, 1]; got {value!r}")


def subset_of(choices: Sequence[Any]) -> Constraint:
  """A list or tuple whose every element is one of ``choices``."""
  def check(key: str, value: Any) -> None:
    if not isinstance(value, (list, tuple)) or any(v not in choices for v in value):
      raise ValueError(f"{key} must be a list of values from {list(choices)}; got {value!r}")
  return check


def one_of(choices: Sequence[Any]) -> Constraint:
  def check(key: str, value: Any) -> None:
    if value not in choices:
      raise ValueError(f"{key} must be one of {list(choices)}; got {value!r}")
  return check


def positive_ints(key: str, value: Any) -> None:
  """A non-empty sequence of positive ints (filter widths, hidden sizes)."""
  if not value or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
    raise ValueError(f"{key} must be positive ints; got {value!r}")


def sizes(key: str, value: Any) -> None:
  """A sequence of positive ints that may be empty (an MLP's hidden sizes)."""
  if value:
    positive_ints(key, value)


def check_values(config: ml_collections.ConfigDict, checks: Mapping[str, Constraint]) -> None:
  """Applies every declared constraint to its key's value (``ValueError`` naming the first bad
  one). A key absent from ``config`` is skipped (``check_keys`` covers names)."""
  flat = _flatten(config)
  for key, check in checks.items():
    if key in flat:
      check(key, flat[key])
