"""Management commands: creditbook's maintenance jobs from `manage.py`, on the configured ledger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class LedgerCommand(BaseCommand):
    """A command whose creditbook refusals end it with one line and exit status 1, never a traceback."""

    def handle(self, *args: Any, **options: Any) -> None:
        from engine import CreditbookError

        try:
            self.run(**options)
        except CreditbookError as error:
            raise CommandError(f"{error.code}: {error.message}") from None

    #: the command's work, called with its parsed options by name (each command declares the ones it reads)
    run: Callable[..., None]


def aware(text: str) -> datetime:
    """An ISO date-time with an offset (argparse type)."""
    import argparse

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date-time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset (e.g. 2026-11-30T00:00:00+00:00)")
    return value


def bounded(kind: type[int] | type[float], low: float, high: float, unit: str = "") -> Callable[[str], Any]:
    """An argparse type: a number of `kind` within [low, high] (NaN, infinities and words refused)."""
    import argparse

    def read(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not between {low:,g} and {high:,g}{unit}")
        return value

    return read


def billing_call(name: str) -> Callable[..., Any]:
    from creditbook_django import ledger

    return getattr(ledger.billing(), name)
