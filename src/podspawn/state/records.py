"""Rows as immutable records, so nothing above the state layer sees a cursor or a tuple.

They are :class:`podspawn.record.Record` classes, not dataclasses: they sit on the login
path, where ``dataclasses`` would be paid on every SSH session.
"""

from __future__ import annotations

from podspawn.record import EMPTY as _EMPTY
from podspawn.record import Record

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


class SessionRow(Record):
    """One container session, keyed by (user, project); project "" is the default one.

    ``runtime_state`` is the backend's opaque JSON dict (names and ids it needs to find its
    resources again, plus a ``version``), stored as text so a new backend needs no migration.
    """

    __slots__ = (
        "user", "project", "container_id", "container_name", "image", "status",
        "connections", "created_at", "last_activity", "max_lifetime", "mode",
        "grace_expiry", "network_id", "service_ids", "id", "lifetime_warned", "runtime_state",
        "idle_timeout", "idle_warned_at",
    )
    _defaults: Mapping[str, Any] = {
        "grace_expiry": None, "network_id": "", "service_ids": "", "id": "",
        "lifetime_warned": False, "runtime_state": _EMPTY, "idle_timeout": 0.0,
        "idle_warned_at": None,
    }
    user: str
    project: str
    container_id: str
    container_name: str
    image: str
    status: str  # "running" | "grace_period"
    connections: int
    created_at: float
    last_activity: float
    max_lifetime: float  # absolute deadline, epoch seconds
    mode: str
    grace_expiry: float | None
    network_id: str
    service_ids: str
    id: str
    lifetime_warned: bool
    runtime_state: Mapping[str, Any]
    idle_timeout: float  # seconds without activity before cleanup ends it; 0 is never
    idle_warned_at: float | None  # when the idle warning went out (services.idle)

    if TYPE_CHECKING:
        def __init__(
            self, *, user: str, project: str, container_id: str, container_name: str,
            image: str, status: str, connections: int, created_at: float,
            last_activity: float, max_lifetime: float, mode: str,
            grace_expiry: float | None = None, network_id: str = "", service_ids: str = "",
            id: str = "", lifetime_warned: bool = False,
            runtime_state: Mapping[str, Any] = _EMPTY, idle_timeout: float = 0.0,
            idle_warned_at: float | None = None,
        ) -> None: ...

    @classmethod
    def from_row(cls, row: Any) -> SessionRow:
        import json

        return cls(
            user=row["user"],
            project=row["project"],
            container_id=row["container_id"],
            container_name=row["container_name"],
            image=row["image"],
            status=row["status"],
            connections=row["connections"],
            created_at=row["created_at"],
            last_activity=row["last_activity"],
            max_lifetime=row["max_lifetime"],
            mode=row["mode"],
            grace_expiry=row["grace_expiry"],
            network_id=row["network_id"],
            service_ids=row["service_ids"],
            id=row["id"] or "",
            lifetime_warned=bool(row["lifetime_warned"]),
            runtime_state=json.loads(row["runtime_state"] or "{}"),
            idle_timeout=row["idle_timeout"] or 0.0,
            idle_warned_at=row["idle_warned_at"],
        )


class Connection(Record):
    """One live SSH session served by a ``spawn`` process, checkable by pid and start time."""

    __slots__ = ("user", "project", "pid", "pid_start", "started_at")
    user: str
    project: str
    pid: int
    pid_start: int
    started_at: float

    if TYPE_CHECKING:
        def __init__(self, *, user: str, project: str, pid: int, pid_start: int,
                     started_at: float) -> None: ...


class UserRow(Record):
    """A registered podspawn user and whether podspawn owns their host account."""

    __slots__ = ("name", "account_created", "created_at", "expires_at", "adopted")
    _defaults: Mapping[str, Any] = {"expires_at": None, "adopted": ""}
    name: str
    account_created: bool
    created_at: float
    expires_at: float | None
    adopted: str  # JSON: what adopting the account changed, restored on removal

    if TYPE_CHECKING:
        def __init__(self, *, name: str, account_created: bool, created_at: float,
                     expires_at: float | None = None, adopted: str = "") -> None: ...

    @classmethod
    def from_row(cls, row: Any) -> UserRow:
        return cls(
            name=row["name"],
            account_created=bool(row["account_created"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            adopted=row["adopted"] or "",
        )
