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


def seconds_since(started: int) -> float:
    """How long ago a process that started at ``started`` (clock ticks since boot) began.

    The kernel counts start times on the boot clock, so this includes the time the process
    spent before Python ran: for ``spawn``, the interpreter's own start-up and imports.
    """
    import os
    import time

    return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started / os.sysconf("SC_CLK_TCK"))


def is_alive(pid: int, started: int) -> bool:
    return start_time(pid) == started


def send_signal(pid: int, started: int, signum: int) -> bool:
    """Send ``signum`` to the process (pid, started) and to no other; False if it is gone.

    The start time is checked through a pidfd, which pins the process: a pid reused between
    the check and the kill cannot receive the signal.
    """
    import os
    import signal

    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if start_time(pid) != started:
            return False
        signal.pidfd_send_signal(fd, signum)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
