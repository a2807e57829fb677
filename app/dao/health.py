"""Health check queries."""
from __future__ import annotations

from ..db import DbConn


def ping(conn: DbConn) -> None:
    """Read a table; raise if the database cannot answer."""
    conn.run("health_ping")
