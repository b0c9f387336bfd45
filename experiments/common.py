"""What every experiment's ``main.py`` shares: one-line errors for bad flags and configs."""

from __future__ import annotations

import sys
from typing import Callable

from absl import flags


def one_line(error: BaseException) -> str:
  text = str(error).replace("\\n", " ").replace("\\'", "'")
  if len(text) > 1 and text[0] == text[-1] == "'":  # repr of a KeyError inside AttributeError
    text = text[1:-1]
  return " ".join(text.split())


def flags_parser(argv: list[str]) -> list[str]:
  """``app.run(main, flags_parser=flags_parser)``: a bad flag, an unknown ``--config.*`` key or
  a missing ``--config`` file prints ``error: ...`` on one line and exits with status 2."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except  (absl, config_flags, ConfigDict)
    sys.stderr.write(f"error: {type(e).__name__}: {one_line(e)}\n")
    sys.exit(2)


def check_or_exit(validate: Callable[[], None]) -> None:
  """Runs ``validate``; a bad value, path or config file becomes a one-line exit 2.

  (``config_flags`` reports a missing ``--config`` file on first access, so that lands here.)
  """
  try:
    validate()
  except (ValueError, OSError, KeyError, AttributeError) as e:
    sys.stderr.write(f"error: {one_line(e)}\n")
    sys.exit(2)
