"""Run the container hand-off attached to the SSH channel, and survive to account for it.

``spawn`` forks: the child becomes ``docker exec`` on the same stdin, stdout and stderr (so no
byte is relayed through Python), and the parent waits, immune to the hangup and interrupt
signals that a dropped client sends, so that it always records the disconnect.

A client that vanishes (``kill -9``, a dropped network) makes sshd close its end of our
stdout; with no terminal, nothing signals the child, which could then wait forever on a
command in the container. The parent therefore watches stdout for a hang-up and ends the
child when it sees one.

While it waits, the parent also delivers notices (``podspawn.state.notices``): on
``NOTICE_SIGNAL`` it fetches this connection's notices and writes them to its own stderr,
the channel's descriptor, so nothing but the channel can be written.
"""

from __future__ import annotations

import os
import select
import signal

from podspawn.state.notices import NOTICE_SIGNAL

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    Notices = Callable[[], list[str]]

_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE)
_HANGUP = select.POLLHUP | select.POLLERR | select.POLLNVAL
_noticed = [False]


def expect_notices() -> None:
    """Catch ``NOTICE_SIGNAL`` from now on, for ``run_attached`` to act on.

    Its default action would end ``spawn``, and a notice may be sent as soon as the
    connection is recorded, before the hand-off starts (a cold start can take minutes).
    """
    signal.signal(NOTICE_SIGNAL, _remember)


def _remember(signum: int, frame: FrameType | None) -> None:
    _noticed[0] = True


def _deliverer(notices: Notices) -> Callable[[int, FrameType | None], None]:
    def deliver(signum: int, frame: FrameType | None) -> None:
        _noticed[0] = False
        try:
            if not select.select([], [2], [], 0)[1]:
                _noticed[0] = True  # the channel is full: keep them for the next signal
                return
            messages = notices()
            if not messages:
                return
            tty = os.isatty(2)
            text = "".join(f"\r\npodspawn: {m}\r\n" if tty else f"podspawn: {m}\n"
                           for m in messages)
            os.write(2, text.encode(errors="replace"))
        except Exception:  # a notice must never break the session
            return

    return deliver


def run_attached(argv: list[str], *, watch_fd: int = 1, notices: Notices | None = None,
                 started: Callable[[], object] | None = None) -> int:
    """Exec ``argv`` in a child and return its exit status (128+N if killed by signal N).

    ``notices`` returns (and forgets) this connection's waiting notices; it is called, while
    the child runs, on each ``NOTICE_SIGNAL``. ``started`` is called once in the parent just
    after the fork, so what it does (recording the login's time) runs alongside the child's
    start and delays no byte of the session.
    """
    pid = os.fork()
    if pid == 0:  # child
        try:
            for sig in _SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            _hang_up_with_parent()
            os.execv(argv[0], argv)  # noqa: S606 - argv is built by the backend login module
        finally:
            os._exit(127)
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if started is not None:
        started()
    if notices is not None:
        deliver = _deliverer(notices)
        signal.signal(NOTICE_SIGNAL, deliver)
        if _noticed[0]:
            deliver(0, None)
    try:
        return _wait(pid, watch_fd)
    finally:
        if notices is not None:
            signal.signal(NOTICE_SIGNAL, _remember)  # later ones must not touch the database


def _wait(pid: int, watch_fd: int) -> int:
    poller: select.poll | None = select.poll()
    try:
        poller.register(watch_fd, 0)  # type: ignore[union-attr]  # no events asked: only hang-up and error are reported
    except (OSError, ValueError):
        poller = None
    child_fd = _exit_fd(poller, pid)
    hung_up = False
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except InterruptedError:
            continue
        if done:
            break
        if poller is None or hung_up:
            _, status = os.waitpid(pid, 0)
            break
        if any(fd == watch_fd and mask & _HANGUP for fd, mask in poller.poll(1000)):
            hung_up = True
            _end(pid)
    _close(child_fd)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _exit_fd(poller: select.poll | None, pid: int) -> int:
    """A pidfd for ``pid`` in ``poller``, or -1: it is readable once the child has exited, so
    the wait above ends then and not at the poll timeout (which would add up to a second to
    every session)."""
    if poller is None:
        return -1
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return -1
    poller.register(fd, select.POLLIN)
    return fd


def _close(fd: int) -> None:
    if fd >= 0:
        os.close(fd)


def _hang_up_with_parent() -> None:
    """Ask the kernel to SIGHUP this process when ``spawn`` dies (even by SIGKILL), so a
    killed ``spawn`` never leaves an unaccounted ``docker exec`` holding the session open."""
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGHUP), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _end(pid: int) -> None:
    for sig in (signal.SIGHUP, signal.SIGTERM):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
