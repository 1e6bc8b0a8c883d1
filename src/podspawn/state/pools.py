"""Warm-pool rows: sessions made ahead of any user, and the slots users took over.

A ``pool`` row is one slot: ``starting`` while the cleanup pass makes its containers (its
maker's pid and start time tell a crashed maker from a slow one), ``ready`` once they run.
A first login takes a ready slot with one ``DELETE ... RETURNING``, so two logins can never
take the same one. From then on ``pool_claims`` says that this user's workspace and service
volumes for the project are the slot's (volumes cannot be renamed), until ``remove-user``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from podspawn.state.records import Connection, SessionRow
from podspawn.state.sessions import _add_connection, _insert, _sync_count, transaction


@dataclass(frozen=True, slots=True)
class PoolMember:
    slot: str
    project: str
    session_id: str
    fingerprint: str
    image: str
    status: str
    """``starting`` or ``ready``."""
    engine: dict[str, Any]
    """The backend's state of the slot's session (opaque here)."""
    created_at: float
    maker_pid: int = 0
    maker_start: int = 0

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> PoolMember:
        return cls(slot=row["slot"], project=row["project"], session_id=row["session_id"],
                   fingerprint=row["fingerprint"], image=row["image"], status=row["status"],
                   engine=json.loads(row["engine"] or "{}"), created_at=row["created_at"],
                   maker_pid=row["maker_pid"], maker_start=row["maker_start"])


def list_members(conn: sqlite3.Connection, project: str | None = None) -> list[PoolMember]:
    if project is None:
        rows = conn.execute("SELECT * FROM pool ORDER BY project, created_at").fetchall()
    else:
        rows = conn.execute("SELECT * FROM pool WHERE project=? ORDER BY created_at",
                            (project,)).fetchall()
    return [PoolMember.from_row(r) for r in rows]


def add_member(conn: sqlite3.Connection, member: PoolMember) -> None:
    """Record a slot before anything of it is made, so a crash leaves a row to clean up."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO pool(slot, project, session_id, fingerprint, image, status, engine, "
            "created_at, maker_pid, maker_start) VALUES(?,?,?,?,?,?,?,?,?,?)",
            (member.slot, member.project, member.session_id, member.fingerprint, member.image,
             member.status, json.dumps(member.engine, sort_keys=True), member.created_at,
             member.maker_pid, member.maker_start))


def mark_ready(conn: sqlite3.Connection, slot: str, engine: dict[str, Any]) -> bool:
    """False when the slot's row went while it was being made (a drain): remove it again."""
    with transaction(conn):
        cursor = conn.execute(
            "UPDATE pool SET status='ready', engine=? WHERE slot=? AND status='starting'",
            (json.dumps(engine, sort_keys=True), slot))
        return cursor.rowcount == 1


def drop_member(conn: sqlite3.Connection, slot: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM pool WHERE slot=?", (slot,))


def claim_member(conn: sqlite3.Connection, *, user: str, project: str, fingerprint: str,
                 session: Callable[[PoolMember], SessionRow], connection: Connection
                 ) -> PoolMember | None:
    """Take the oldest ready slot of ``project`` made for ``fingerprint``, record that
    ``user`` now owns its volumes, and insert the ``starting`` session row that ``session``
    makes of it with ``connection`` counted; None (nothing changed) when there is none.

    One transaction: a slot is claimed once, by one user, ever, and at no moment is it
    without a row (a cleanup pass would take its containers for orphans).
    """
    with transaction(conn):
        row = conn.execute(
            "DELETE FROM pool WHERE slot=(SELECT slot FROM pool WHERE project=? AND "
            "fingerprint=? AND status='ready' ORDER BY created_at LIMIT 1) RETURNING *",
            (project, fingerprint)).fetchone()
        if row is None:
            return None
        member = PoolMember.from_row(row)
        conn.execute(
            "INSERT OR REPLACE INTO pool_claims(user, project, slot, claimed_at) "
            "VALUES(?,?,?,?)", (user, project, member.slot, time.time()))
        reserved = session(member)
        _insert(conn, reserved)
        _add_connection(conn, connection)
        _sync_count(conn, reserved.user, reserved.project)
    return member


def claimed_slot(conn: sqlite3.Connection, user: str, project: str) -> str:
    """The slot whose volumes are ``user``'s for ``project``, or ""."""
    row = conn.execute("SELECT slot FROM pool_claims WHERE user=? AND project=?",
                       (user, project)).fetchone()
    return str(row["slot"]) if row else ""


def claims_of(conn: sqlite3.Connection, user: str) -> list[tuple[str, str]]:
    """(project, slot) of every slot ``user`` took over."""
    rows = conn.execute("SELECT project, slot FROM pool_claims WHERE user=? ORDER BY project",
                        (user,)).fetchall()
    return [(str(r["project"]), str(r["slot"])) for r in rows]


def all_claimed_slots(conn: sqlite3.Connection) -> set[str]:
    return {str(r["slot"]) for r in conn.execute("SELECT slot FROM pool_claims").fetchall()}


def forget_claim(conn: sqlite3.Connection, user: str, project: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM pool_claims WHERE user=? AND project=?", (user, project))
