"""The state database: the only code that imports sqlite3 and writes SQL."""

from podspawn.state.db import open_db
from podspawn.state.records import Connection, SessionRow, UserRow

__all__ = ["Connection", "SessionRow", "UserRow", "open_db"]
