"""The session rules that both the login path and the services apply; pure functions.

Keeping them here means the warm login path (stdlib only) and the cold services decide the
same way: when an existing container may be reused, and what the last disconnect does.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    from typing import Literal

    from podspawn.runtime.info import ContainerInfo
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


def reusable(row: SessionRow | None, info: ContainerInfo | None, now: float) -> bool:
    """Whether a login can join ``row``'s container as it is, with no engine work.

    A ``starting`` row has no container to join yet: that login takes the cold path and
    waits there for the session being made.
    """
    return (
        row is not None
        and row.status != "starting"
        and info is not None
        and info.running
        and info.id == row.container_id
        and not expired(row, now)
    )


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
