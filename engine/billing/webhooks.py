"""Payment providers' webhooks: verified, recorded, read back, settled.

A webhook is only a signal. Its signature is verified over the raw body with the provider's webhook
secret (anything else is refused with WebhookRejected and nothing is written); the verified event
is recorded in the inbox once per provider event id; then the payment it names is read back from
the provider and settled (engine/billing/settlement.py) — so a forged, replayed, duplicated or
out-of-order event can never credit anything the provider does not confirm, and every delivery
after the first is a no-op. An event whose payment no attempt of ours holds is kept in the inbox as
`unknown`, for review: never dropped. If the provider cannot be asked, PaymentGatewayError (502)
tells the provider to deliver again; the event stays `received` and the sweeper settles its attempt
meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from engine.billing import settlement
from engine.billing.context import Context
from engine.billing.errors import PaymentGatewayError, WebhookRejected
from engine.billing.payments.protocol import GatewayUnavailable, PaymentGateway, WebhookEvent
from engine.billing.results import WebhookResult
from engine.errors import InvalidInput
from engine.vocabulary import WebhookStatus
from storage import payments
from storage.database import Connection
from storage.payments import Attempt, NewEvent

#: providers' webhook bodies are a few kilobytes; anything far larger is not theirs
BODY_MAX = 256 * 1024


FORM_FIELDS = 64  # headers of a webhook request, fields of a Checkout callback
FORM_VALUE_MAX = 8_192


def checked_form(field: str, form: object) -> dict[str, str]:
    """Request headers or a callback's fields as they arrive from a web framework: a mapping of at
    most FORM_FIELDS text entries (values of at most FORM_VALUE_MAX characters). Their content is
    the provider adapter's to verify; this only keeps hostile structure out."""
    if not isinstance(form, Mapping) or len(form) > FORM_FIELDS:
        raise InvalidInput(field, f"must be a mapping of at most {FORM_FIELDS} text entries")
    checked = {}
    for name, value in form.items():
        if not isinstance(name, str) or not isinstance(value, str) or len(name) > 256 or len(value) > FORM_VALUE_MAX:
            raise InvalidInput(
                field, f"entries are text, names of at most 256 and values of at most {FORM_VALUE_MAX:,} characters"
            )
        checked[name] = value
    return checked


def payment_webhook(
    ctx: Context, provider: str, body: bytes, headers: Mapping[str, str], at: datetime
) -> WebhookResult:
    """Handle one webhook delivery (see the module docstring)."""
    gateway = ctx.gateway.for_provider(provider)
    if not isinstance(body, bytes | bytearray) or len(body) > BODY_MAX:
        raise WebhookRejected(f"a webhook body is at most {BODY_MAX:,} bytes of raw request body")
    event = gateway.parse_webhook(bytes(body), headers, at)
    new = NewEvent(
        provider=event.provider,
        event_id=event.event_id[:100],
        kind=event.kind[:64],
        reference=event.reference if event.reference and len(event.reference) <= 40 else None,
        provider_id=(event.payment_id or "")[:100] or None,
        body=bytes(body).decode("utf-8", errors="replace"),
        received_at=at,
    )
    row_id, earlier = ctx.db.run(lambda conn: payments.record_event(conn, new))
    answer = WebhookResult(
        provider=event.provider, event_id=new.event_id, status="duplicate", reference=event.reference
    )
    if earlier is not None and earlier != WebhookStatus.RECEIVED:
        return answer  # delivered again: the first delivery settled it (a `received` one was cut short)
    if not event.relevant:
        ctx.db.run(lambda conn: payments.event_processed(conn, row_id, WebhookStatus.IGNORED, None, at))
        return answer.model_copy(update={"status": "ignored"})
    attempt = _attempt_of(ctx, gateway, event)
    if attempt is None:
        note = "no payment attempt has this reference: kept for review"
        ctx.db.run(lambda conn: payments.event_processed(conn, row_id, WebhookStatus.UNKNOWN, note, at))
        return answer.model_copy(update={"status": "unknown"})
    settled = settlement.pay(ctx, attempt, at)
    ctx.db.run(lambda conn: payments.event_processed(conn, row_id, WebhookStatus.SETTLED, settled.status, at))
    return answer.model_copy(update={"status": "settled", "reference": attempt.reference, "purchase": settled})


def _attempt_of(ctx: Context, gateway: PaymentGateway, event: WebhookEvent) -> Attempt | None:
    """The attempt an event is about: by our reference, by the provider's payment id, or — when a
    crash lost the id before it was recorded — by the reference the provider holds for it."""

    def look(reference: str | None, payment_id: str | None) -> Attempt | None:
        def read(conn: Connection) -> Attempt | None:
            if reference:
                found = payments.attempt(conn, reference)
                if found is not None:
                    return found
            return payments.by_provider_id(conn, gateway.provider, payment_id) if payment_id else None

        return ctx.db.read(read)

    found = look(event.reference, event.payment_id)
    if found is not None or not event.payment_id or event.reference:
        return found
    try:
        reported = gateway.get_payment(event.payment_id)
    except GatewayUnavailable as exc:
        raise PaymentGatewayError(f"the payment provider did not answer ({exc}); deliver again") from exc
    return look(reported.reference, None)


__all__ = ["BODY_MAX", "checked_form", "payment_webhook"]
