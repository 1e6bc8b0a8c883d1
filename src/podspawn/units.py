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
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([kKmMgGtTpP]?)[bB]?$")
_SIZE_UNITS = {**_MEMORY_UNITS, "t": 1024**4, "p": 1024**5}


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
    return _bytes(text, _MEMORY, _MEMORY_UNITS, "a memory size; write it like 512m or 2g")


def parse_size(text: str) -> int:
    """Bytes in a disk size such as ``2G``, ``500m`` or ``1t`` (memory sizes plus ``t`` and
    ``p``); ``0`` or empty means none.

    Raises:
        ValueError: the text is not a number with an optional k, m, g, t or p suffix.
    """
    return _bytes(text, _SIZE, _SIZE_UNITS, "a size; write it like 500m, 2G or 1t")


def _bytes(text: str, pattern: re.Pattern[str], units: dict[str, int], what: str) -> int:
    value = text.strip()
    if value in ("", "0"):
        return 0
    match = pattern.fullmatch(value)
    if not match:
        raise ValueError(f"{text!r} is not {what}")
    return int(float(match.group(1)) * units[match.group(2).lower()])


def format_duration(seconds: float) -> str:
    """``45s``, ``10m``, ``7h50m``: the Go implementation's short form."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    hours, minutes = divmod(whole // 60, 60)
    return f"{hours}h{minutes}m" if minutes else f"{hours}h"
