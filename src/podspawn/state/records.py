"""Rows as frozen dataclasses, so nothing above the state layer sees a cursor or a tuple."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One container session, keyed by (user, project); project "" is the default one.

    ``runtime_state`` is the backend's opaque JSON dict (names and ids it needs to find its
    resources again, plus a ``version``), stored as text so a new backend needs no migration.
    """

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
    grace_expiry: float | None = None
    network_id: str = ""
    service_ids: str = ""
    id: str = ""
    lifetime_warned: bool = False
    runtime_state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Any) -> SessionRow:
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
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """One live SSH session served by a ``spawn`` process, checkable by pid and start time."""

    user: str
    project: str
    pid: int
    pid_start: int
    started_at: float


@dataclass(frozen=True, slots=True)
class UserRow:
    """A registered podspawn user and whether podspawn owns their host account."""

    name: str
    account_created: bool
    created_at: float
    expires_at: float | None = None

    @classmethod
    def from_row(cls, row: Any) -> UserRow:
        return cls(
            name=row["name"],
            account_created=bool(row["account_created"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
        )
