"""Reading a compiled XLA program's text (``jax.jit(f).lower(...).compile().as_text()``): the one
parser that ``rnn_speed --hlo`` and ``step_profile`` share."""

from __future__ import annotations

import re

_NAME = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) ")
_OPCODE = re.compile(r" ([a-z][a-z0-9_\-]*)\(")


def computations(text: str) -> tuple[dict, str]:
  """``({computation: [(instruction, opcode, right-hand side), ...]}, entry computation)``.

  A computation starts at an unindented line ending in ``{``; an instruction is an indented
  ``%name = <type> opcode(...)`` line (``ROOT`` dropped from the name). Raises ``ValueError``
  where the text has no ``ENTRY`` computation."""
  comps, entry, current = {}, None, None
  for line in text.splitlines():
    if line.endswith("{") and not line.startswith(" "):
      m = _NAME.match(line)
      current = m.group(1) if m else None
      comps[current] = []
      if line.startswith("ENTRY"):
        entry = current
      continue
    if current is None or " = " not in line:
      continue
    lhs, rhs = line.split(" = ", 1)
    m = _OPCODE.search(" " + rhs)
    if m:
      comps[current].append((lhs.strip().replace("ROOT ", "").lstrip("%"), m.group(1), rhs))
  if entry is None:
    raise ValueError("no ENTRY computation in the compiled HLO")
  return comps, entry
