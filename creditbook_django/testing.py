"""Tests in a host project, each on a ledger of its own.

A creditbook charge cannot join Django's test transaction: the ledger has its own connections and
retries whole transactions, so `django.test.TestCase`'s rollback would leave ledger rows behind and
hide what happens after a commit. Mix `LedgerTestMixin` into a TestCase (or TransactionTestCase)
instead: every test gets an empty ledger — a SQLite file of its own, or a PostgreSQL schema of its
own in the configured database, dropped afterwards — with the shipped pricebooks published (or
`ledger_pricebooks`), served by the API and reachable as `self.billing`.

    class BalanceTests(LedgerTestMixin, TestCase):
        def test_a_new_clinic_has_nothing(self):
            self.billing.register_clinic("c-1", "Riverside Hearing", "US", key="reg")
            ...
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from creditbook_django import ledger, rates

if TYPE_CHECKING:
    from engine import Billing

SHIPPED = tuple(sorted((Path(__file__).resolve().parent.parent / "pricebooks").glob("*/*.xlsx")))
PUBLISHED_AT = datetime(2025, 6, 1, tzinfo=UTC)  # before every shipped version takes effect
_templates: dict[tuple[Path, ...], Path] = {}  # SQLite: a migrated, published ledger copied per test


@contextmanager
def isolated_ledger(
    pricebooks: Sequence[Path] = SHIPPED, clock: Callable[[], datetime] | None = None, gateway: Any = None
) -> Iterator[Billing]:
    """An empty ledger with `pricebooks` published, served by the API inside the block."""
    from engine import Billing

    clock = clock or ledger.configured_clock()
    options: dict[str, Any] = {"clock": clock} if clock is not None else {}
    if gateway is not None:
        options["gateway"] = gateway
    address = ledger.url()
    folder = Path(tempfile.mkdtemp(prefix="creditbook-test-"))
    schema = None
    try:
        if address.startswith("sqlite"):
            shutil.copy(_sqlite_template(tuple(pricebooks)), folder / "ledger.db")
            billing = Billing.open(f"sqlite:///{folder / 'ledger.db'}", **options, migrate=False)
        else:
            schema = f"creditbook_test_{uuid.uuid4().hex[:12]}"
            billing = Billing.open(address, pool_size=2, schema=schema, **options)
            _publish(billing, pricebooks)
        rates.forget()
        try:
            with ledger.use(billing):
                yield billing
        finally:
            billing.close()
            rates.forget()
    finally:
        if schema is not None:
            _drop_schema(address, schema)
        shutil.rmtree(folder, ignore_errors=True)


def _publish(billing: Billing, pricebooks: Sequence[Path]) -> None:
    for path in pricebooks:
        billing.publish_pricebook(path, actor="test", key=f"publish:{path.name}", at=PUBLISHED_AT)


def _sqlite_template(pricebooks: tuple[Path, ...]) -> Path:
    """A migrated ledger with the pricebooks published, made once per process (publishing validates
    every workbook: seconds, where copying a file takes milliseconds)."""
    from engine import Billing

    found = _templates.get(pricebooks)
    if found is None:
        found = Path(tempfile.mkdtemp(prefix="creditbook-template-")) / "ledger.db"
        billing = Billing.open(f"sqlite:///{found}")
        _publish(billing, pricebooks)
        billing.close()
        _templates[pricebooks] = found
    return found


def _drop_schema(address: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(address.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class LedgerTestMixin:
    """Give every test of a Django TestCase a ledger of its own (module docstring)."""

    ledger_pricebooks: ClassVar[Sequence[Path]] = SHIPPED
    billing: Billing

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        context = isolated_ledger(self.ledger_pricebooks, clock=self.ledger_clock())
        self.billing = context.__enter__()
        self.addCleanup(context.__exit__, None, None, None)  # type: ignore[attr-defined]

    def ledger_clock(self) -> Callable[[], datetime] | None:
        """The ledger's clock for this test (default: the configured one, else the wall clock)."""
        return None
