"""The per-user connection cap, checked on every login (``resources.max_connections_per_user``).

Standard library only, because the warm ``spawn`` checks it too: the count is one indexed
``COUNT(*)`` over the ``connections`` rows, after dead ones were pruned. The caller holds the
user's lock and records its own connection in the same critical section, so two logins at
the limit cannot both get in; a refused login has written nothing.
"""

from __future__ import annotations

from podspawn.errors import LimitReached
from podspawn.state.sessions import count_connections

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    import sqlite3


def connection_refusal(held: int, limit: int) -> str | None:
    """The sentence refusing one more connection, or None when ``limit`` (0: none) allows
    it."""
    if not limit or held < limit:
        return None
    return (f"you already have {held} SSH connection(s) open to this server and the limit "
            f"is {limit} (resources.max_connections_per_user); close one of them (exit a "
            "shell, end a transfer or a tunnel) and connect again")


def check_connections(conn: sqlite3.Connection, user: str, limit: int) -> None:
    """Refuse a connection of ``user`` over ``limit``. Caller holds the user's lock and has
    pruned dead connections.

    Raises:
        LimitReached: the user holds ``limit`` connections already.
    """
    if not limit:
        return
    held = count_connections(conn, user)
    refusal = connection_refusal(held, limit)
    if refusal is not None:
        raise LimitReached(refusal, detail=f"user={user} connections={held} limit={limit}")
