"""The PostgreSQL server the tests use, and throw-away databases on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    """The server's URL: CREDITBOOK_PG_URL, or the local server with trust auth."""
    return os.environ.get("CREDITBOOK_PG_URL", DEFAULT_PG_URL)


@contextmanager
def throwaway_database(server_url: str, prefix: str = "creditbook_test") -> Iterator[str]:
    """A new, empty database on the server at `server_url` (its URL, password kept), dropped when
    the block ends even if connections to it are still open."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
