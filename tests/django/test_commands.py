"""The maintenance jobs from `manage.py`: each does its work on the configured ledger, says what it
did in one line, and ends a refusal with one line and exit status 1 (CommandError), never a
traceback."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.django.conftest import World


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_sweep_abandons_a_payment_its_payer_never_finished(world: World) -> None:
    before = world.billing.balance("smile").balance
    bought = world.billing.purchase("smile", 1_000, payment_method="card_pending", key=f"sweep-{world.kind}")
    assert bought.status == "pending" and world.billing.balance("smile").balance == before
    assert "0 failed" in _run("creditbook_sweep")  # too young to be asked about
    world.clock.advance(hours=25)
    said = _run("creditbook_sweep")
    assert "1 failed" in said and "0 credited" in said
    assert "0 failed" in _run("creditbook_sweep")  # settled once: the next sweep finds nothing
    assert world.billing.balance("smile").balance == before


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("creditbook_sweep", ("--older-than", "-1"), "between 0"),
        ("creditbook_sweep", ("--older-than", "1e9"), "not a whole number"),
        ("creditbook_sweep", ("--abandon-after", "1", "--older-than", "120"), "at least as long"),
        ("creditbook_sweep", ("--at", "2026-11-20T10:00:00"), "UTC offset"),
        ("creditbook_notify", ("--loop", "--interval", "nan"), "not between"),
        ("creditbook_notify", ("--loop", "--interval", "inf"), "not between"),
        ("creditbook_notify", ("--loop", "--interval", "0"), "not between"),
        ("creditbook_notify", ("--loop", "--interval", "soon"), "not a number"),
        ("creditbook_notify", ("--loop", "--rounds", "0"), "not between"),
        ("creditbook_notify", ("--loop", "--rounds", "2.5"), "not a whole number"),
    ],
)
def test_a_job_refuses_bad_arguments_in_one_line(
    world: World, command: str, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(CommandError) as refused:
        call_command(command, *args, stdout=StringIO(), stderr=StringIO())
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_expire_and_reconcile_say_what_they_did(world: World) -> None:
    assert _run("creditbook_expire").startswith("Expired ")
    assert _run("creditbook_reconcile").startswith("OK: ")


def test_notify_says_what_it_delivered_and_a_second_run_finds_nothing(world: World) -> None:
    assert _run("creditbook_notify").startswith("Delivered ")
    assert _run("creditbook_notify").strip() == "Delivered 0, to retry 0, dead 0"
