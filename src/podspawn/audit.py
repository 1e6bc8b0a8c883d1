"""The audit trail (``log.audit_log``): one JSON object per line, per event.

Every writer is root (``spawn`` runs through sudo, admin commands need root), so the file is
root-owned and not writable by users, who therefore cannot forge or erase entries. Lines are
appended with a single ``write`` on an ``O_APPEND`` descriptor, so concurrent writers never
interleave within a line. Events: ``session.connect``, ``session.disconnect``,
``container.create``, ``container.destroy`` (with ``reason``), ``cleanup.run``,
``user.add``, ``user.remove``, ``server.setup``.
"""

from __future__ import annotations

import os
import time

_path: list[str] = [""]


def configure(path: str) -> None:
    _path[0] = path


def record(event: str, **fields: object) -> None:
    """Append one event; an unwritable audit log never breaks a login."""
    path = _path[0]
    if not path:
        return
    import json  # only when auditing is on: json costs a login about 6 ms
    entry: dict[str, object] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "event": event,
    }
    entry.update({k: v for k, v in fields.items() if v is not None})
    line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
    try:
        os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            if os.geteuid() == 0:
                os.fchown(fd, 0, 0)
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        pass
