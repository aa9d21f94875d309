"""Stub Stripe and Razorpay servers on 127.0.0.1, for the official SDKs to talk to in tests.

Written from the providers' public API references (never from their code): the request shapes the
SDKs send and the documented responses — Stripe's PaymentIntents (create with an Idempotency-Key,
retrieve, cancel, search on metadata; 402 card errors carrying the intent; the 400
idempotency_error when a key comes back with other parameters; `requires_action` with its
`next_action`), Razorpay's Orders (create, fetch, list by receipt, an order's payments) and
payment capture, with their error bodies. They also play the payer and the provider's side:
`complete` finishes 3-D Secure, `pay` completes a Razorpay Checkout, `event`/`webhook` sign a
webhook the way each provider does (Stripe-Signature t=...,v1=HMAC-SHA256("t.body"); Razorpay
X-Razorpay-Signature = HMAC-SHA256(body)).

`faults` inject what real networks do: a 5xx instead of the answer, a delay longer than the
client's timeout, or the request processed and its answer lost (`after=True`). Nothing here
reaches the internet.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Fault:
    """What happens to the next request whose path contains `path` (and whose method is `method`)."""

    path: str
    status: int = 500
    delay: float = 0.0
    after: bool = False  # process the request, then lose the answer (respond with `status`)
    method: str = "POST"


class Stub:
    """A threaded HTTP server on a free port of 127.0.0.1; subclasses route requests."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.ids = itertools.count(1)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()  # headers and body go out in two writes: without this, Nagle's
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # algorithm adds 40 ms

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = stub.handle(self.command, self.path, dict(self.headers.items()), body)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a timeout) or was killed

            do_GET = do_POST = do_DELETE = _serve

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client killed or timed out mid-request: nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        with self.lock:
            self.requests.append((method, path))
            fault = next((f for f in self.faults if f.path in path and f.method == method), None)
            if fault is not None:
                self.faults.remove(fault)
        if path.startswith("/ping"):
            return 200, {"ok": True}
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and not fault.after and not fault.delay:
            return fault.status, self.server_error()
        with self.lock:
            answer = self.route(method, path, headers, body)
        if fault is not None and fault.after:
            return fault.status, self.server_error()
        return answer

    def server_error(self) -> Any:
        return {"error": {"message": "stub: injected failure"}}

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        raise NotImplementedError

    def count(self, method: str, fragment: str) -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and fragment in p)


def _sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


# -- Stripe ----------------------------------------------------------------------------------------

STRIPE_SECRET = "sk_test_stub"
STRIPE_WEBHOOK_SECRET = "whsec_stub"
#: Stripe's test PaymentMethods, as its testing docs name them, and what each does
SUCCEEDS, DECLINED, NEEDS_3DS = "pm_card_visa", "pm_card_chargeDeclined", "pm_card_authenticationRequired"


def _form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding (metadata[reference]=..., payment_method_types[0]=card) as a dict."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        if "[" in key:
            outer, inner = key.split("[", 1)
            out.setdefault(outer, {})[inner.rstrip("]")] = value
        else:
            out[key] = value
    return out


class StripeStub(Stub):
    """PaymentIntents as Stripe documents them (see the module docstring)."""

    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, tuple[str, tuple[int, Any]]] = {}
        super().__init__()

    def server_error(self) -> Any:
        return {"error": {"type": "api_error", "message": "An unknown error occurred (stub)."}}

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if headers.get("Authorization") != f"Bearer {STRIPE_SECRET}":
            return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}}
        parts = urlsplit(path)
        segments = parts.path.strip("/").split("/")
        if method == "POST" and parts.path == "/v1/payment_intents":
            key = headers.get("Idempotency-Key")
            fingerprint = hashlib.sha256(body).hexdigest()
            if key in self.keys:
                seen, answer = self.keys[key]
                if seen != fingerprint:
                    return 400, {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the same parameters "
                            "they were first used with.",
                        }
                    }
                return answer
            answer = self._create(_form(body))
            if key:
                self.keys[key] = (fingerprint, answer)
            return answer
        if parts.path == "/v1/payment_intents/search":
            query = dict(parse_qsl(parts.query)).get("query", "")
            reference = query.split(":", 1)[-1].strip("'")
            found = [i for i in self.intents.values() if i["metadata"].get("reference") == reference]
            return 200, {
                "object": "search_result",
                "data": found,
                "has_more": False,
                "next_page": None,
                "url": "/v1/payment_intents/search",
            }
        if len(segments) >= 3 and segments[:2] == ["v1", "payment_intents"]:
            intent = self.intents.get(segments[2])
            if intent is None:
                return 404, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": f"No such payment_intent: '{segments[2]}'",
                    }
                }
            if method == "GET" and len(segments) == 3:
                return 200, intent
            if method == "POST" and segments[3:] == ["cancel"]:
                if intent["status"] in ("succeeded", "canceled"):
                    return 400, {
                        "error": {
                            "type": "invalid_request_error",
                            "code": "payment_intent_unexpected_state",
                            "message": "You cannot cancel this PaymentIntent because it has a status "
                            f"of {intent['status']}.",
                        }
                    }
                reason = _form(body).get("cancellation_reason") or "requested_by_customer"
                intent.update(status="canceled", cancellation_reason=reason, next_action=None)
                return 200, intent
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})."}}

    def _create(self, form: dict[str, Any]) -> tuple[int, Any]:
        number = next(self.ids)
        intent_id = f"pi_stub{number:06d}"
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "client_secret": f"{intent_id}_secret_stub{number}",
            "metadata": form.get("metadata", {}),
            "customer": form.get("customer"),
            "payment_method": form.get("payment_method"),
            "status": "requires_payment_method",
            "next_action": None,
            "last_payment_error": None,
            "cancellation_reason": None,
            "livemode": False,
        }
        self.intents[intent_id] = intent
        method = form.get("payment_method")
        off_session = form.get("off_session") == "true"
        if method == DECLINED or (method == NEEDS_3DS and off_session):
            code = "card_declined" if method == DECLINED else "authentication_required"
            error = {
                "type": "card_error",
                "code": code,
                "decline_code": "generic_decline" if method == DECLINED else code,
                "message": "Your card was declined." if method == DECLINED else "Your card requires authentication.",
            }
            intent["last_payment_error"] = error
            return 402, {"error": {**error, "payment_intent": intent}}
        if method == NEEDS_3DS:
            intent.update(
                status="requires_action",
                next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}},
            )
        elif method == SUCCEEDS:
            intent["status"] = "succeeded"
        else:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such PaymentMethod: '{method}'",
                    "param": "payment_method",
                }
            }
        return 200, intent

    # -- the payer, and Stripe's side -----------------------------------------------------------
    def complete(self, intent_id: str, succeeded: bool = True) -> None:
        """The payer finished (or failed) 3-D Secure in the browser."""
        with self.lock:
            intent = self.intents[intent_id]
            if succeeded:
                intent.update(status="succeeded", next_action=None)
            else:
                error = {
                    "type": "card_error",
                    "code": "payment_intent_authentication_failure",
                    "message": "The provided PaymentMethod has failed authentication.",
                }
                intent.update(status="requires_payment_method", next_action=None, last_payment_error=error)

    def event(
        self, intent_id: str, kind: str, at: float, event_id: str | None = None, secret: str = STRIPE_WEBHOOK_SECRET
    ) -> tuple[bytes, dict[str, str]]:
        """A webhook as Stripe sends it: the event (with a snapshot of the intent) and its signature."""
        with self.lock:
            snapshot = json.loads(json.dumps(self.intents[intent_id]))
        body = json.dumps(
            {
                "id": event_id or f"evt_{next(self.ids)}",
                "object": "event",
                "type": kind,
                "created": int(at),
                "data": {"object": snapshot},
            }
        ).encode()
        stamp = int(at)
        return body, {"Stripe-Signature": f"t={stamp},v1={_sign(secret, f'{stamp}.{body.decode()}')}"}


# -- Razorpay --------------------------------------------------------------------------------------

RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, RAZORPAY_WEBHOOK_SECRET = "rzp_test_stub", "rzp_secret_stub", "rzp_whsec_stub"


def _bad_request(description: str) -> tuple[int, Any]:
    return 400, {
        "error": {
            "code": "BAD_REQUEST_ERROR",
            "description": description,
            "source": "business",
            "step": "payment_initiation",
            "reason": "input_validation_failed",
            "metadata": {},
        }
    }


class RazorpayStub(Stub):
    """Orders and payments as Razorpay documents them (see the module docstring)."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.auto_capture = False  # the account's setting: capture payments as soon as authorised
        super().__init__()

    def server_error(self) -> Any:
        return {"error": {"code": "SERVER_ERROR", "description": "The server encountered an error (stub)."}}

    def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        expected = "Basic " + base64.b64encode(f"{RAZORPAY_KEY_ID}:{RAZORPAY_KEY_SECRET}".encode()).decode()
        if headers.get("Authorization") != expected:
            return _bad_request("The api key provided is invalid")
        parts = urlsplit(path)
        segments = parts.path.strip("/").split("/")
        if segments == ["v1", "orders"] and method == "POST":
            return self._create(json.loads(body or b"{}"))
        if segments == ["v1", "orders"] and method == "GET":
            receipt = dict(parse_qsl(parts.query)).get("receipt")
            items = [o for o in self.orders.values() if receipt is None or o["receipt"] == receipt]
            return 200, {"entity": "collection", "count": len(items), "items": items[::-1]}
        if segments[:2] == ["v1", "orders"] and len(segments) >= 3:
            order = self.orders.get(segments[2])
            if order is None:
                return _bad_request("The id provided does not exist")
            if segments[3:] == ["payments"]:
                items = [p for p in self.payments.values() if p["order_id"] == order["id"]]
                return 200, {"entity": "collection", "count": len(items), "items": items}
            return 200, order
        if segments[:2] == ["v1", "payments"] and len(segments) >= 3:
            payment = self.payments.get(segments[2])
            if payment is None:
                return _bad_request("The id provided does not exist")
            if segments[3:] == ["capture"] and method == "POST":
                if payment["status"] != "authorized":
                    return _bad_request("This payment has already been captured")
                self._captured(payment)
            return 200, payment
        return _bad_request(f"The requested URL was not found on the server ({path})")

    def _create(self, data: dict[str, Any]) -> tuple[int, Any]:
        amount = data.get("amount")
        if not isinstance(amount, int) or amount < 100:
            return _bad_request("The amount must be atleast INR 1.00")
        if len(str(data.get("receipt") or "")) > 40:
            return _bad_request("receipt: the length must be no more than 40.")
        order_id = f"order_stub{next(self.ids):06d}"
        order = {
            "id": order_id,
            "entity": "order",
            "amount": amount,
            "amount_paid": 0,
            "amount_due": amount,
            "currency": data.get("currency", "INR"),
            "receipt": data.get("receipt"),
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": data.get("notes") or [],
            "created_at": int(time.time()),
        }
        self.orders[order_id] = order
        return 200, order

    def _captured(self, payment: dict[str, Any]) -> None:
        payment.update(status="captured", captured=True)
        order = self.orders[payment["order_id"]]
        order.update(status="paid", amount_paid=order["amount"], amount_due=0)

    # -- the payer, and Razorpay's side -----------------------------------------------------------
    def pay(self, order_id: str, *, fail: bool = False, secret: str = RAZORPAY_KEY_SECRET) -> dict[str, str]:
        """The payer completes Checkout: a payment on the order (authorised, captured when the account
        auto-captures, or failed), and the fields Checkout hands the page, signed with the key secret."""
        with self.lock:
            order = self.orders[order_id]
            payment_id = f"pay_stub{next(self.ids):06d}"
            payment = {
                "id": payment_id,
                "entity": "payment",
                "amount": order["amount"],
                "currency": order["currency"],
                "status": "failed" if fail else "authorized",
                "order_id": order_id,
                "method": "upi",
                "captured": False,
                "error_description": "Payment failed (stub)" if fail else None,
                "created_at": int(time.time()),
            }
            self.payments[payment_id] = payment
            order.update(status="attempted", attempts=order["attempts"] + 1)
            if self.auto_capture and not fail:
                self._captured(payment)
        return {
            "razorpay_order_id": order_id,
            "razorpay_payment_id": payment_id,
            "razorpay_signature": _sign(secret, f"{order_id}|{payment_id}"),
        }

    def webhook(
        self,
        order_id: str,
        kind: str = "payment.captured",
        event_id: str | None = None,
        secret: str = RAZORPAY_WEBHOOK_SECRET,
    ) -> tuple[bytes, dict[str, str]]:
        """A webhook as Razorpay sends it, signed over the raw body."""
        with self.lock:
            order = json.loads(json.dumps(self.orders[order_id]))
            paid = [p for p in self.payments.values() if p["order_id"] == order_id]
        payment = json.loads(json.dumps(paid[-1])) if paid else {}
        payload: dict[str, Any] = {"payment": {"entity": payment}}
        contains = ["payment"]
        if kind == "order.paid":
            payload["order"] = {"entity": order}
            contains.append("order")
        body = json.dumps(
            {
                "entity": "event",
                "account_id": "acc_stub",
                "event": kind,
                "contains": contains,
                "payload": payload,
                "created_at": int(time.time()),
            }
        ).encode()
        return body, {
            "X-Razorpay-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "X-Razorpay-Event-Id": event_id or f"evt_stub{next(self.ids)}",
        }
