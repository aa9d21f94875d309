"""Condition cells of decision tables: '-' (any), 'chat', 'chat, call' or 'not(chat)'.

A condition is kept in one canonical text form (values sorted, no spaces) so that the compiled
pricebook, its hash and its diffs do not depend on how an editor spaced or ordered the values.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

ANY = "-"
_ANY_WORDS = frozenset({"-", "*", "any", "all"})


class ConditionSyntaxError(ValueError):
    """A condition cell that cannot be read; the message says what is wrong."""


@dataclass(frozen=True)
class Condition:
    values: frozenset[str]
    negated: bool = False

    @property
    def is_any(self) -> bool:
        return self.negated and not self.values

    @functools.cached_property
    def text(self) -> str:
        """Canonical form: '-', 'chat', 'call,chat', 'not(call)'."""
        if self.is_any:
            return ANY
        inner = ",".join(sorted(self.values))
        return f"not({inner})" if self.negated else inner

    def matches(self, value: str | None) -> bool:
        if self.is_any:
            return True
        if value is None:
            return self.negated
        return (value in self.values) != self.negated

    def allowed(self, domain: frozenset[str]) -> frozenset[str]:
        """The values of `domain` this condition accepts."""
        return domain - self.values if self.negated else domain & self.values

    def intersects(self, other: Condition, domain: frozenset[str], closed: bool) -> bool:
        """Whether some value satisfies both. In an open list (cities) values outside the list exist
        too, so two exclusions always meet; in a closed list (channel) only listed values count."""
        if closed:
            return bool(self.allowed(domain) & other.allowed(domain))
        if self.negated and other.negated:
            return True  # a value outside both exclusion lists always exists
        if not self.negated and not other.negated:
            return bool(self.values & other.values)
        positive, negative = (self, other) if not self.negated else (other, self)
        return bool(positive.values - negative.values)

    def witness(self, other: Condition, domain: tuple[str, ...]) -> str:
        """A value satisfying both conditions, for messages."""
        for value in domain:
            if self.matches(value) and other.matches(value):
                return value
        if not self.negated and not other.negated:
            common = sorted(self.values & other.values)
            return common[0] if common else "?"
        return "any other value"


ANY_CONDITION = Condition(frozenset(), negated=True)


def split_values(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")]


def parse_condition(text: str) -> tuple[list[str], bool]:
    """Split a condition cell into its raw values and whether it is negated.

    Returns ([], True) for any. Raises ConditionSyntaxError with a readable reason.
    """
    stripped = text.strip()
    if stripped.lower() in _ANY_WORDS:
        return [], True
    negated = False
    lowered = stripped.lower()
    if lowered.startswith("not"):
        rest = stripped[3:].strip()
        if not rest.startswith("(") or not rest.endswith(")"):
            raise ConditionSyntaxError("'not' must be followed by values in brackets, like not(chat, call)")
        stripped = rest[1:-1].strip()
        negated = True
        if not stripped:
            raise ConditionSyntaxError("not() needs at least one value inside the brackets")
    if "(" in stripped or ")" in stripped:
        raise ConditionSyntaxError("brackets are only allowed as not(a, b)")
    if any(op in stripped for op in ("<", ">", "=", "[", "]", "..")):
        raise ConditionSyntaxError("comparisons are not written in condition cells; use the from/to columns")
    values = split_values(stripped)
    if any(not value for value in values):
        raise ConditionSyntaxError("there is an empty value between commas")
    if any(value.lower() in _ANY_WORDS for value in values):
        raise ConditionSyntaxError("'-' (any) cannot be combined with other values")
    return values, negated


def condition_from_text(text: str) -> Condition:
    """Rebuild a Condition from its canonical text (as stored in a compiled pricebook)."""
    values, negated = parse_condition(text)
    return Condition(frozenset(values), negated) if values else ANY_CONDITION
