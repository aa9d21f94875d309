"""Where a clinic's (and the company's) notifications go, and which ones it wants.

An endpoint is a webhook URL (with its signing secret) or an e-mail address, owned by a clinic or
company-wide (no clinic: it hears every clinic's events), subscribed to some event kinds or to all.
Turning kinds off is how a clinic chooses which alerts it receives (docs/domain.md §13). Delivery is
engine/notify's worker."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from engine.billing import state as clinic_state
from engine.billing.context import Context
from engine.bounds import URL_MAX, check_text
from engine.errors import InvalidInput
from engine.vocabulary import EventKind, NotifyChannel
from storage import outbox
from storage.database import Connection
from storage.outbox import Endpoint

EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")


@dataclass(frozen=True)
class EndpointRequest:
    clinic_id: str | None
    channel: str
    target: str
    kinds: tuple[str, ...] = ()

    def checked(self) -> tuple[NotifyChannel, str, tuple[str, ...]]:
        if self.channel not in tuple(NotifyChannel):
            raise InvalidInput("channel", f"is webhook or email, not {self.channel!r:.40}")
        channel = NotifyChannel(self.channel)
        target = check_text("target", self.target, URL_MAX)
        if channel is NotifyChannel.WEBHOOK and not re.fullmatch(r"https?://[^\s]{1,1990}", target):
            raise InvalidInput("target", "a webhook is an http:// or https:// URL")
        if channel is NotifyChannel.EMAIL and not EMAIL.fullmatch(target):
            raise InvalidInput("target", "is not an e-mail address")
        return channel, target, checked_kinds(self.kinds)


def checked_kinds(kinds: object) -> tuple[str, ...]:
    """Event kinds an endpoint subscribes to (none: all of them)."""
    if isinstance(kinds, str) or not isinstance(kinds, list | tuple | set | frozenset):
        raise InvalidInput("kinds", "is a list of event kinds")
    unknown = [kind for kind in kinds if kind not in tuple(EventKind)]
    if unknown:
        raise InvalidInput("kinds", f"unknown event kinds {unknown!r:.80}; known: {', '.join(EventKind)}")
    return tuple(dict.fromkeys(kinds))


def add_endpoint(ctx: Context, asked: EndpointRequest, at: datetime) -> tuple[Endpoint, str | None]:
    """Add an endpoint; a webhook gets a new signing secret, returned once (the receiver keeps it)."""
    channel, target, kinds = asked.checked()
    secret = "whsec_" + secrets.token_urlsafe(32) if channel is NotifyChannel.WEBHOOK else None

    def write(conn: Connection) -> Endpoint:
        if asked.clinic_id is not None:
            clinic_state.wallet_of(conn, asked.clinic_id)  # an unknown clinic is refused
        endpoint_id = outbox.add_endpoint(conn, outbox.NewEndpoint(asked.clinic_id, channel, target, secret, kinds, at))
        return next(e for e in outbox.endpoints(conn, asked.clinic_id) if e.id == endpoint_id)

    return ctx.db.run(write), secret


def endpoints(ctx: Context, clinic_id: str | None) -> list[Endpoint]:
    return ctx.db.read(lambda conn: outbox.endpoints(conn, clinic_id))


def choose(ctx: Context, endpoint_id: int, clinic_id: str | None, kinds: tuple[str, ...], active: bool) -> None:
    """Change which kinds an endpoint receives, or switch it off (only the owner's endpoints)."""
    kinds = checked_kinds(kinds)
    if not ctx.db.run(lambda conn: outbox.set_endpoint(conn, endpoint_id, clinic_id, kinds, active)):
        raise InvalidInput("endpoint_id", f"no endpoint {endpoint_id} of this clinic")
