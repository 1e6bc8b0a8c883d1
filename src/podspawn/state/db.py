"""Open the database with the settings every process must share, and migrate its schema.

Many short-lived ``spawn`` processes write at once, so the database runs in WAL mode with a
busy timeout, and each write is one short transaction (``BEGIN IMMEDIATE``). The schema
version lives in ``PRAGMA user_version``; migrations only go forward.
"""

from __future__ import annotations

import os
import sqlite3

from podspawn.errors import StateError

_MIGRATIONS: tuple[str, ...] = (
    # 1: sessions (the Go implementation's columns, times as epoch seconds), connections, users
    """
    CREATE TABLE sessions(
        user TEXT NOT NULL,
        project TEXT NOT NULL DEFAULT '',
        id TEXT,
        container_id TEXT NOT NULL,
        container_name TEXT NOT NULL,
        image TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'running',
        connections INTEGER NOT NULL DEFAULT 0 CHECK(connections >= 0),
        grace_expiry REAL,
        created_at REAL NOT NULL,
        last_activity REAL NOT NULL,
        max_lifetime REAL NOT NULL,
        network_id TEXT NOT NULL DEFAULT '',
        service_ids TEXT NOT NULL DEFAULT '',
        mode TEXT NOT NULL DEFAULT 'grace-period',
        lifetime_warned INTEGER NOT NULL DEFAULT 0,
        runtime_state TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (user, project)
    );
    CREATE TABLE connections(
        pid INTEGER NOT NULL,
        pid_start INTEGER NOT NULL,
        user TEXT NOT NULL,
        project TEXT NOT NULL,
        started_at REAL NOT NULL,
        PRIMARY KEY (pid, pid_start)
    );
    CREATE INDEX connections_session ON connections(user, project);
    CREATE TABLE users(
        name TEXT PRIMARY KEY,
        account_created INTEGER NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL
    );
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: what adopting a host account changed (JSON), so remove-user can put it back
    """
    ALTER TABLE users ADD COLUMN adopted TEXT NOT NULL DEFAULT '';
    """,
    # 3: notices waiting for a connection's own spawn to write them (state/notices.py)
    """
    CREATE TABLE notices(
        id INTEGER PRIMARY KEY,
        pid INTEGER NOT NULL,
        pid_start INTEGER NOT NULL,
        message TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX notices_connection ON notices(pid, pid_start);
    """,
    # 4: idle detection (services/idle.py): each session's timeout (0 = off) and when its
    # idle warning went out; each connection's last channel byte count and when it was read
    """
    ALTER TABLE sessions ADD COLUMN idle_timeout REAL NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN idle_warned_at REAL;
    ALTER TABLE connections ADD COLUMN io_bytes INTEGER NOT NULL DEFAULT -1;
    ALTER TABLE connections ADD COLUMN io_seen_at REAL NOT NULL DEFAULT 0;
    """,
    # 5: how long logins and image builds took, for the metrics daemon (state/timings.py);
    # AUTOINCREMENT so that ids never go back after a prune empties the table
    """
    CREATE TABLE timings(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        seconds REAL NOT NULL,
        at REAL NOT NULL
    );
    """,
    # 6: warm pools (state/pools.py): ready, unassigned sessions of a project, and which
    # slot's volumes a user took over when their first login claimed one
    """
    CREATE TABLE pool(
        slot TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        session_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        image TEXT NOT NULL,
        status TEXT NOT NULL,
        engine TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        maker_pid INTEGER NOT NULL DEFAULT 0,
        maker_start INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE pool_claims(
        user TEXT NOT NULL,
        project TEXT NOT NULL,
        slot TEXT NOT NULL,
        claimed_at REAL NOT NULL,
        PRIMARY KEY(user, project)
    );
    """,
)

#: The schema version this podspawn writes (``PRAGMA user_version``).
SCHEMA_VERSION = len(_MIGRATIONS)


def open_db(path: str, *, create: bool = False) -> sqlite3.Connection:
    """A connection to the state database, migrated to the current schema.

    Raises:
        StateError: the database does not exist (and ``create`` is false) or cannot be opened.
    """
    if not create and not os.path.exists(path):
        raise StateError(
            "podspawn is not set up on this server; an administrator must run "
            "'podspawn server-setup'",
            detail=f"state database {path} does not exist",
        )
    try:
        if create:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        _migrate(conn)
    except sqlite3.Error as exc:
        raise StateError(
            "the podspawn state database is unusable; ask an administrator to check it",
            detail=f"{path}: {exc}",
        ) from exc
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version >= len(_MIGRATIONS):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for index in range(version, len(_MIGRATIONS)):
            for statement in _MIGRATIONS[index].split(";"):
                if statement.strip():
                    conn.execute(statement)
        if version == 0:
            import uuid  # only when a database is first created

            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES('install_id', ?)",
                (uuid.uuid4().hex[:12],),
            )
        conn.execute(f"PRAGMA user_version={len(_MIGRATIONS)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def install_id(conn: sqlite3.Connection) -> str:
    """This installation's id; every container it creates carries it as a label."""
    row = conn.execute("SELECT value FROM meta WHERE key='install_id'").fetchone()
    return str(row[0])
