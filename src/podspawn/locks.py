"""Advisory file locks that serialise work on one user's sessions, or one image build.

Every lock file lives in ``state.lock_dir`` under a name from :func:`podspawn.names.lock_name`
(kinds ``user``, ``image``, ``build``, ``firewall``); :func:`lock_path` is the one place that
joins the two.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from podspawn.errors import StateError
from podspawn.names import lock_name


@contextmanager
def file_lock(path: str, *, timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` for the block.

    Raises:
        StateError: the lock was not free within ``timeout`` seconds.
    """
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StateError(
                        "another podspawn operation on this session is taking too long; "
                        "try again in a minute",
                        detail=f"lock {path} busy for {timeout:.0f}s",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def lock_path(lock_dir: str, kind: str, key: str) -> str:
    """The lock file of ``kind`` (``user``, ``image``, ``build``, ``firewall``) and ``key``.

    Raises:
        InvalidName: the key is not a valid name for its kind.
    """
    return os.path.join(lock_dir, lock_name(kind, key))


def user_lock(lock_dir: str, user: str, *, timeout: float = 600.0
              ) -> AbstractContextManager[None]:
    """The user's lock, held around the bookkeeping of their sessions, never slow work."""
    return file_lock(lock_path(lock_dir, "user", user), timeout=timeout)
