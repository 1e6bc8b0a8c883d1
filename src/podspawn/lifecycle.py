"""The session rules that both the login path and the services apply; pure functions.

Keeping them here means the warm login path (stdlib only) and the cold services decide the
same way: when an existing container may be reused, and what the last disconnect does.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    from typing import Any, Literal

    from podspawn.state.records import SessionRow

    DisconnectAction = Literal["destroy", "grace", "keep"]


def lifetime_expired(row: SessionRow, now: float) -> bool:
    return row.mode != "persistent" and now >= row.max_lifetime


def grace_expired(row: SessionRow, now: float) -> bool:
    return (
        row.status == "grace_period"
        and row.grace_expiry is not None
        and now >= row.grace_expiry
    )


def expired(row: SessionRow, now: float) -> bool:
    """Over its lifetime, or left alone past its grace period: the next login starts afresh,
    whether or not a cleanup pass has run in between."""
    return lifetime_expired(row, now) or grace_expired(row, now)


def reusable(row: SessionRow | None, status: str, now: float) -> bool:
    """Whether a login can join ``row``'s session as it is, with no engine work: its engine
    polls ``running`` (``Runtime.poll``) and it has not expired.

    A ``starting`` row has nothing to join yet: that login takes the cold path and waits
    there for the session being made.
    """
    return (
        row is not None
        and row.status != "starting"
        and status == "running"
        and not expired(row, now)
    )


def engine_state(row: SessionRow) -> dict[str, Any]:
    """The backend's record of ``row``'s session (``runtime_state["engine"]``).

    Rows of the previous release (runtime_state version 1) kept it in the row's own columns,
    always for Docker: it is rebuilt here in the layout the container backends read.
    """
    state = row.runtime_state
    engine = state.get("engine")
    if isinstance(engine, dict):
        return engine
    return {"version": 1, "container": row.container_id,
            "network": str(state.get("network") or row.network_id),
            "services": [s for s in row.service_ids.split(",") if s]}


def backend(row: SessionRow) -> str:
    """The backend that made ``row``'s session (Docker before the key existed)."""
    return str(row.runtime_state.get("backend") or "docker")


def abandoned(row: SessionRow) -> bool:
    """A ``starting`` row whose maker is gone: every connection of a session being made is
    the maker's own, so none left (after pruning dead ones) means it crashed midway."""
    return row.status == "starting" and row.connections == 0


def on_last_disconnect(mode: str, grace_seconds: float) -> DisconnectAction:
    if mode == "persistent":
        return "keep"
    if mode == "destroy-on-disconnect" or grace_seconds <= 0:
        return "destroy"
    return "grace"
