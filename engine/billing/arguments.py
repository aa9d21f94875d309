"""Every argument of a Billing call, checked before a transaction starts (engine/bounds.py).

Ids, keys, names, references, codes and notes are checked for type, length, NUL and other control
characters, lone surrogates and bidirectional controls; numbers for type and range; times for
awareness and the years the ledger stores. A bad argument raises one documented error —
`engine.InvalidInput` naming the field (an idempotency key: `InvalidKey`) — the same on SQLite and
PostgreSQL, and leaves nothing behind, because nothing was written yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.billing.errors import InvalidAmount
from engine.bounds import (
    ACTOR_MAX,
    CODE_MAX,
    INT64_MAX,
    LABEL_MAX,
    NAME_MAX,
    NOTE_MAX,
    OPERATION_CREDITS_MAX,
    PATIENT_REF_MAX,
    REFERENCE_MAX,
    RESERVED_IDS,
    check_identifier,
    check_optional_text,
    check_text,
    check_time,
)
from engine.errors import InvalidInput


def clinic_id(value: object, field: str = "clinic_id") -> str:
    """An existing clinic's id: the identifier alphabet (reserved names included: they never exist)."""
    return check_identifier(field, value, reserved=frozenset())


def new_clinic_id(value: object) -> str:
    """A clinic id being registered: the identifier alphabet, and not a reserved name."""
    return check_identifier("clinic_id", value, reserved=RESERVED_IDS)


def optional_clinic_id(value: object, field: str) -> str | None:
    return None if value is None else clinic_id(value, field)


def name(value: object) -> str:
    return check_text("name", value, NAME_MAX)


def label(field: str, value: object) -> str:
    """A short word from a list (a segment, a market, a clinic size, a dispute reason)."""
    return check_text(field, value, LABEL_MAX)


def optional_label(field: str, value: object) -> str | None:
    return check_optional_text(field, value, LABEL_MAX)


def optional_labels(field: str, value: object) -> tuple[str, ...] | None:
    """A list of short words (transaction kinds to filter on), at most 32 of them."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
        raise InvalidInput(field, f"must be a list of words, not {type(value).__name__}")
    if len(value) > 32:
        raise InvalidInput(field, "lists at most 32 words")
    return tuple(label(field, item) for item in value)


def actor(value: object, required: bool = True) -> str:
    """Who did it (an admin's login, "policy", "api:<client>")."""
    return check_text("actor", value, ACTOR_MAX, required=required)


def note(field: str, value: object, required: bool = True) -> str:
    """Free text a person typed (a reason, a note): several lines allowed."""
    return check_text(field, value, NOTE_MAX, required=required, multiline=True)


def code(field: str, value: object) -> str:
    return check_text(field, value, CODE_MAX)


def optional_code(field: str, value: object) -> str | None:
    return check_optional_text(field, value, CODE_MAX)


def reference(field: str, value: object) -> str:
    return check_text(field, value, REFERENCE_MAX)


def patient_ref(value: object) -> str | None:
    return check_optional_text("patient_ref", value, PATIENT_REF_MAX)


def row_id(field: str, value: object) -> int:
    """A transaction's or a dispute's id: a positive whole number the database can hold."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT64_MAX:
        raise InvalidInput(field, f"must be a positive whole number, not {value!r:.40}")
    return value


def optional_time(field: str, value: object) -> datetime | None:
    return None if value is None else check_time(field, value)


def credits(field: str, value: object, *, signed: bool = False) -> int:
    """A whole number of credits no operation may exceed (OPERATION_CREDITS_MAX, either way when
    `signed`); whether it is enough, or may be zero, is the operation's to say."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{field} must be a whole number of credits, not {value!r:.40}", field=field)
    if abs(value) > OPERATION_CREDITS_MAX or (value < 0 and not signed):
        raise InvalidAmount(
            f"{field} must be {'' if signed else 'a positive number '}within {OPERATION_CREDITS_MAX:,} credits; "
            f"got {value:,}",
            field=field,
        )
    return value


def purchase_amount(value: object) -> str | int:
    """A package code or a number of credits (the pricebook's minimum top-up is checked later)."""
    if isinstance(value, str):
        return code("package_or_amount", value)
    if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
        return value  # the operation says what the smallest top-up is
    return credits("package_or_amount", value)


def optional_credits(field: str, value: Any) -> int | None:
    return None if value is None else credits(field, value, signed=True)
