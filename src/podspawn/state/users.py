"""Registered users, and whether podspawn created (and so may delete) their host account."""

from __future__ import annotations

import sqlite3

from podspawn.state.records import UserRow
from podspawn.state.sessions import transaction


def get_user(conn: sqlite3.Connection, name: str) -> UserRow | None:
    row = conn.execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()
    return UserRow.from_row(row) if row else None


def list_users(conn: sqlite3.Connection) -> list[UserRow]:
    return [UserRow.from_row(r) for r in conn.execute("SELECT * FROM users ORDER BY name")]


def upsert_user(conn: sqlite3.Connection, user: UserRow) -> None:
    """Insert a user, or update expiry of an existing one; account ownership never changes."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO users(name, account_created, created_at, expires_at, adopted) "
            "VALUES(?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET expires_at=excluded.expires_at",
            (user.name, int(user.account_created), user.created_at, user.expires_at,
             user.adopted),
        )


def delete_user(conn: sqlite3.Connection, name: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM users WHERE name=?", (name,))
