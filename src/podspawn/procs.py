"""Tell whether the process that serves a connection still lives.

A pid alone can be reused, so a connection is identified by (pid, start time), the start time
being field 22 of ``/proc/<pid>/stat`` (clock ticks since boot).
"""

from __future__ import annotations


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def is_alive(pid: int, started: int) -> bool:
    return start_time(pid) == started
