"""Every error as RFC 9457 problem details (`application/problem+json`), never a traceback.

creditbook's own refusals carry their stable `code` and HTTP `status` (engine.CreditbookError);
the web layer's are added here in the same family (a missing idempotency key, a declined charge or
payment, a clinic the caller may not see). DRF's errors (bad JSON, a wrong content type, a field
that fails validation, no credentials) are mapped to the same shape with codes of their own, and
anything unexpected becomes a 500 with an error id that the server log holds the traceback under.

| status | when |
|---|---|
| 400 | malformed JSON, a missing or malformed Idempotency-Key, practice_id needed |
| 401 / 403 | no or wrong credentials / not allowed (a staff permission, charging) |
| 402 | a declined charge or a failed payment (recorded in the ledger all the same) |
| 404 | no such clinic, charge or dispute — or one the caller may not see: the same answer |
| 409 | an idempotency key reused for another request, a dispute already decided, ... |
| 415 / 422 | a body that is not JSON / a field outside what creditbook accepts |
| 503 | the database stayed busy (retry with the same Idempotency-Key; Retry-After says when) |
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from engine.errors import CreditbookError, DatabaseBusy, StorageError

log = logging.getLogger("creditbook_django")
PROBLEM = "application/problem+json"


class ClinicNotFound(CreditbookError):
    """No clinic with this id."""

    code = "unknown_clinic"
    status = 404

    @classmethod
    def of(cls, clinic_id: str) -> ClinicNotFound:
        """The one answer for a clinic that does not exist and for one the caller may not see."""
        return cls(f"no clinic {clinic_id!r}", clinic_id=clinic_id)


class PracticeRequired(CreditbookError):
    """The request must name its clinic."""

    code = "practice_id_required"
    status = 400


class IdempotencyKeyMissing(CreditbookError):
    """Every POST needs an Idempotency-Key header."""

    code = "idempotency_key_missing"
    status = 400


class IdempotencyKeyInvalid(CreditbookError):
    """An Idempotency-Key header that is empty, too long, or not visible ASCII."""

    code = "invalid_idempotency_key"
    status = 400


class ChargeDeclined(CreditbookError):
    """The charge was declined and recorded; no credits moved."""

    code = "charge_declined"
    status = 402


class PaymentFailed(CreditbookError):
    """The payment failed and was recorded; no credits were added."""

    code = "payment_failed"
    status = 402


class CampaignChargesOff(CreditbookError):
    """Campaign charging is not switched on (CREDITBOOK["CAMPAIGN_CHARGES"])."""

    code = "campaign_charges_off"
    status = 404


_DRF_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ParseError: "malformed_request",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=body["status"], content_type=PROBLEM, headers=headers)


def handle(error: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER for the app's views (set on each view: the host's stays its own)."""
    if isinstance(error, CreditbookError) and not isinstance(error, StorageError):
        headers = {"Retry-After": "1"} if isinstance(error, DatabaseBusy) else None
        return problem_response(error.problem(), headers)
    if isinstance(error, Http404):
        error = exceptions.NotFound()
    elif isinstance(error, DjangoPermissionDenied):
        error = exceptions.PermissionDenied()
    elif isinstance(error, RequestDataTooBig):
        return problem_response(_body(413, "request_too_large", "Request too large", "the request body is too large"))
    elif isinstance(error, SuspiciousOperation):
        return problem_response(_body(400, "malformed_request", "Malformed request", "the request was refused"))
    if isinstance(error, exceptions.ValidationError):
        return problem_response(_validation(error))
    if isinstance(error, exceptions.APIException):
        return _api_problem(error)
    return _internal(error, context)


def _body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    body = {"type": f"urn:creditbook:error:{code}", "title": title, "status": status, "code": code, "detail": detail}
    return body | extra


def _validation(error: exceptions.ValidationError) -> dict[str, Any]:
    """A field that fails validation: 422 with every field's first message (`errors`)."""
    fields = [{"field": field, "message": message} for field, message in _flatten(error.detail, "")]
    first = fields[0] if fields else {"field": "", "message": "invalid request"}
    detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return _body(422, "invalid_input", "Invalid input", detail, field=first["field"] or None, errors=fields)


def _flatten(detail: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field path, first message) of DRF's nested error detail; non-field errors have no path."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            yield from _flatten(value, ".".join(part for part in (path, name) if part))
    elif isinstance(detail, list):
        if detail and all(isinstance(item, str) for item in detail):
            yield path, str(detail[0])
        else:
            for n, item in enumerate(detail):
                yield from _flatten(item, f"{path}[{n}]")
    else:
        yield path, str(detail)


def _api_problem(error: exceptions.APIException) -> Response:
    code = next((c for kind, c in _DRF_CODES.items() if isinstance(error, kind)), "request_refused")
    body = _body(error.status_code, code, code.replace("_", " ").capitalize(), str(error.detail))
    headers = {}
    if isinstance(error, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="api", Basic realm="api"'
    if isinstance(error, exceptions.Throttled) and error.wait is not None:
        headers["Retry-After"] = str(int(error.wait) + 1)
    return problem_response(body, headers)


def _internal(error: Exception, context: dict[str, Any]) -> Response:
    """A bug or a damaged ledger: logged with its traceback under an id the caller can quote."""
    error_id = uuid.uuid4().hex[:12]
    view = context.get("view")
    log.error("creditbook API error %s in %s", error_id, type(view).__name__, exc_info=error)
    return problem_response(
        _body(
            500, "internal_error", "Internal error", f"the server failed; quote error id {error_id}", error_id=error_id
        )
    )
