"""Durations and sizes as the config files write them: ``60s``, ``1h30m``, ``512m``, ``2g``.

Shared by the server config, user overrides, Podfiles and the command line, so one spelling
means one value everywhere. Pure and standard library only.
"""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([kKmMgG]?)[bB]?$")
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration such as ``60s``, ``8h`` or ``1h30m``.

    Raises:
        ValueError: the text is not a sequence of number+unit pairs (units ms, s, m, h).
    """
    value = text.strip()
    if value in ("0", ""):
        if value == "":
            raise ValueError("a duration such as 60s, 5m or 8h is required")
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(value):
        raise ValueError(f"{text!r} is not a duration; write it like 60s, 5m, 8h or 1h30m")
    return total


def parse_memory(text: str) -> int:
    """Bytes in a memory size such as ``2g`` or ``512m``; ``0`` or empty means no limit.

    Raises:
        ValueError: the text is not a number with an optional k, m or g suffix.
    """
    value = text.strip()
    if value in ("", "0"):
        return 0
    match = _MEMORY.fullmatch(value)
    if not match:
        raise ValueError(f"{text!r} is not a memory size; write it like 512m or 2g")
    return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])
