"""Run the container hand-off attached to the SSH channel, and survive to account for it.

``spawn`` forks: the child becomes ``docker exec`` on the same stdin, stdout and stderr (so no
byte is relayed through Python), and the parent waits, immune to the hangup and interrupt
signals that a dropped client sends, so that it always records the disconnect.
"""

from __future__ import annotations

import os
import signal

_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE)


def run_attached(argv: list[str]) -> int:
    """Exec ``argv`` in a child and return its exit status (128+N if killed by signal N)."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            for sig in _SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
