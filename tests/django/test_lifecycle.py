"""The app's lifecycle: one checked settings block, a ledger opened lazily per process that never
migrates on its own and survives a fork, `migrate` upgrading the ledger, and the test mixin that
gives every test of a host project a ledger of its own."""

from __future__ import annotations

import os
import sqlite3
import unittest
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

from creditbook_django import conf, ledger
from creditbook_django.testing import LedgerTestMixin
from tests.django.conftest import World, as_user


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {name for (name,) in db.execute("select name from sqlite_master where type = 'table'")}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"DATABSE_URL": "sqlite://"}, "unknown keys ['DATABSE_URL']"),
        ({"POOL_SIZE": "5"}, "POOL_SIZE'] must be int"),
        ({"POOL_SIZE": 0}, "between 1 and 200"),
        ({"CAMPAIGN_CHARGES": 1}, "CAMPAIGN_CHARGES'] must be bool"),
        ({"PAGE_SIZE": 10_000}, "PAGE_SIZE'] is between 1 and 200"),
        (["DATABASE_URL"], "must be a dict"),
    ],
)
def test_a_wrong_settings_block_is_refused_at_startup(block: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[").replace("]", r"\]")):
        conf.read(block)
    from django.core import checks

    with override_settings(CREDITBOOK=block):
        errors = [e for e in checks.run_checks() if e.id == "creditbook.E001"]
    assert errors and message.split("'", maxsplit=1)[0] in errors[0].msg


def test_the_ledger_url_comes_from_a_django_database_alias() -> None:
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "app", "USER": "me", "PASSWORD": "p@ss:w/rd",
                "HOST": "db.internal", "PORT": "5433"}  # fmt: skip
    url = ledger.url_of(postgres)
    assert url == "postgresql+psycopg://me:p%40ss%3Aw%2Frd@db.internal:5433/app"
    assert ledger.shown(url) == "postgresql+psycopg://me:***@db.internal:5433/app"
    assert ledger.url_of({"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/app.db"}) == "sqlite:////srv/app.db"
    for refused in (
        {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        {"ENGINE": "django.db.backends.mysql"},
    ):
        with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
            ledger.url_of(refused)
    with override_settings(CREDITBOOK={"DATABASE_ALIAS": "nope"}), pytest.raises(ImproperlyConfigured, match="nope"):
        ledger.url()


def test_opening_the_ledger_never_migrates_and_migrate_does(tmp_path: Path) -> None:
    from django.core.management import call_command

    path = tmp_path / "ledger.db"
    with override_settings(CREDITBOOK={"DATABASE_URL": f"sqlite:///{path}"}):
        opened = ledger.billing()
        assert opened is ledger.billing()  # one per process
        assert "alembic_version" not in tables(path)
        call_command("migrate", verbosity=0)
        assert {"alembic_version", "clinics", "transactions"} <= tables(path)
        with override_settings(CREDITBOOK={"DATABASE_URL": f"sqlite:///{path}.off", "MIGRATE_LEDGER": False}):
            call_command("migrate", verbosity=0)
            assert not Path(f"{path}.off").exists() or "alembic_version" not in tables(Path(f"{path}.off"))
    ledger.reset()


def test_a_ledger_opened_before_a_fork_answers_right_in_the_child(world: World) -> None:
    world.billing.balance("smile")  # the parent's pool holds a connection now
    expected = world.billing.balance("riverside").balance
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        try:
            answer = str(ledger.billing().balance("riverside").balance).encode()
        except BaseException as error:
            answer = repr(error).encode()
        os.write(write, answer)
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    answer = os.read(read, 1000).decode()
    os.close(read)
    assert status == 0 and answer == str(expected)
    assert world.billing.balance("riverside").balance == expected  # and the parent still works


@pytest.mark.postgres
def test_pool_size_and_schema_come_from_the_settings(postgres_database: str) -> None:
    block = {"DATABASE_URL": postgres_database, "SCHEMA": "ledger_here", "POOL_SIZE": 3}
    with override_settings(CREDITBOOK=block):
        url = ledger.upgrade()
        opened = ledger.create()  # what billing() creates once per process
        try:
            assert opened.db.schema == "ledger_here" and opened.db.engine.pool.size() == 3
            assert opened.clinics() == [] and url == postgres_database
        finally:
            opened.close()


class MixinTests(LedgerTestMixin, SimpleTestCase):
    """A host project's tests: each sees an empty ledger with the shipped pricebooks published."""

    databases = {"default"}  # noqa: RUF012 (Django's class attribute)
    ledger_pricebooks = (Path(__file__).resolve().parents[2] / "pricebooks" / "in" / "in-clinic-leads-v2.xlsx",)

    def test_one_registers_a_clinic(self) -> None:
        self.billing.register_clinic("mixin-clinic", "Mixin Dental", "IN", key="r")
        assert [c.id for c in self.billing.clinics()] == ["mixin-clinic"]
        assert ledger.billing() is self.billing  # the API serves this test's ledger

    def test_two_sees_none_of_it(self) -> None:
        assert self.billing.clinics() == []


def test_the_mixin_gives_each_test_a_ledger_of_its_own(world: World, api: Any) -> None:
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(MixinTests)
    outcome = unittest.TestResult()
    suite.run(outcome)
    assert outcome.testsRun == 2 and not outcome.failures and not outcome.errors, outcome.failures + outcome.errors
    assert as_user(api, "alice").get("/api/credits/balance/").status_code == 200  # the module's ledger again
