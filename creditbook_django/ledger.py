"""The ledger behind the API: one `engine.Billing` per process, created on first use.

Creating it never migrates (`manage.py migrate` does, through `upgrade()`), so a web worker starts
without touching the schema. It is fork-safe: a Billing created before a fork (gunicorn's
`--preload`) opens its own connections in the child (storage.database drops the parent's pool
after a fork). Tests and host projects swap in a ledger of their own with `use(...)` (see
creditbook_django/testing.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils.module_loading import import_string

from creditbook_django.conf import config

if TYPE_CHECKING:
    from engine import Billing

_lock = threading.Lock()
_overrides: list[Billing] = []


class _Process:
    """This process's Billing, once created."""

    billing: Billing | None = None


def url() -> str:
    """The ledger's database URL: CREDITBOOK["DATABASE_URL"], else the server of the Django
    database CREDITBOOK["DATABASE_ALIAS"] names (PostgreSQL or SQLite)."""
    settings = config()
    if settings.database_url:
        return settings.database_url
    alias = settings.database_alias
    if alias not in connections.settings:
        raise ImproperlyConfigured(f"CREDITBOOK['DATABASE_ALIAS'] is {alias!r}, which DATABASES does not define")
    return url_of(connections[alias].settings_dict, alias)


def url_of(db: dict[str, Any], alias: str = "default") -> str:
    """The SQLAlchemy URL of a Django database's settings (PostgreSQL or an SQLite file)."""
    engine = db["ENGINE"]
    if engine.endswith("sqlite3"):
        name = str(db["NAME"])
        if name.startswith("file:") or name in ("", ":memory:"):
            raise ImproperlyConfigured(
                f"the ledger cannot share the in-memory SQLite database of {alias!r}: set CREDITBOOK['DATABASE_URL']"
            )
        return f"sqlite:///{name}"
    if engine.endswith(("postgresql", "postgis")):
        user = quote(str(db.get("USER") or ""), safe="")
        password = quote(str(db.get("PASSWORD") or ""), safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = db.get("HOST") or ""
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgresql+psycopg://{credentials}{host}{port}/{quote(str(db['NAME']), safe='')}"
    raise ImproperlyConfigured(f"the ledger runs on PostgreSQL or SQLite, not {engine}: set CREDITBOOK['DATABASE_URL']")


def shown(address: str) -> str:
    """The URL as a log line may show it: without its password."""
    scheme, sep, rest = address.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return address
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


def configured_clock() -> Callable[[], datetime] | None:
    path = config().clock
    return None if path is None else import_string(path)


def create(address: str | None = None, *, migrate: bool = False) -> Billing:
    """A Billing on the configured ledger (or at `address`) with the configured pool size, schema,
    clock and payment gateway; it migrates only when asked."""
    from engine import Billing

    settings = config()
    options: dict[str, Any] = {"migrate": migrate}
    clock = configured_clock()
    if clock is not None:
        options["clock"] = clock
    if settings.gateway is not None:
        options["gateway"] = import_string(settings.gateway)()
    return Billing.open(address or url(), pool_size=settings.pool_size, schema=settings.schema, **options)


def billing() -> Billing:
    """This process's Billing (created on first use), or the one a test put in place."""
    if _overrides:
        return _overrides[-1]
    if _Process.billing is None:
        with _lock:
            if _Process.billing is None:
                _Process.billing = create()
    return _Process.billing


def upgrade() -> str:
    """Bring the ledger's schema to the latest revision (under PostgreSQL's advisory lock: safe when
    many processes migrate at once); returns the URL it upgraded, for the log."""
    create(migrate=True).close()
    return shown(url())


def reset() -> None:
    """Close this process's Billing; the next request creates it again (after a settings change)."""
    with _lock:
        if _Process.billing is not None:
            _Process.billing.close()
        _Process.billing = None


@contextmanager
def use(ledger: Billing) -> Iterator[Billing]:
    """Serve requests from `ledger` inside the block (tests)."""
    _overrides.append(ledger)
    try:
        yield ledger
    finally:
        _overrides.remove(ledger)
