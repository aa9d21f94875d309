"""The API's contract at its boundary: Idempotency-Key on every POST (replays marked, reuse for another
request refused), problem details for every refusal, and hostile input answered with one clear
error that leaves the ledger as it was — never a traceback, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.django.conftest import World, as_client, as_user, post
from tests.django.test_endpoints import API, body
from tests.support.ledger_rows import snapshot

POSTS = [
    ("/purchase/", {"credits": 100_000, "payment_method": "card_ok"}),
    ("/quote/", {"request": {"product": "sms", "units": 10}}),
    ("/disputes/", {"charge_id": 1, "reason": "invalid"}),
]


@pytest.mark.parametrize(("path", "payload"), POSTS)
def test_every_post_needs_an_idempotency_key(world: World, api: Any, path: str, payload: Any) -> None:
    got = as_user(api, "alice").post(API + path, payload, format="json")
    assert got.status_code == 400 and body(got)["code"] == "idempotency_key_missing"


@pytest.mark.parametrize("key", ["", " ", "a" * 201, "ключ", "a\tb"])
def test_a_malformed_idempotency_key_is_refused(world: World, api: Any, key: str) -> None:
    got = post(as_user(api, "alice"), f"{API}/purchase/", POSTS[0][1], key=key or None, HTTP_IDEMPOTENCY_KEY=key)
    assert got.status_code == 400 and body(got)["code"] == "invalid_idempotency_key"


def test_a_replay_answers_the_stored_response_and_says_so(world: World, api: Any) -> None:
    client = as_client(api, world.keys["marketplace"])
    lead = {"practice_id": "smile", "product": "lead_call", "package_price": "15000"}
    first = post(client, f"{API}/charges/leads/", lead, key=f"replay-{world.kind}")
    again = post(client, f"{API}/charges/leads/", lead, key=f"replay-{world.kind}")
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first and again["Idempotent-Replayed"] == "true"
    assert body(first)["transaction_id"] == body(again)["transaction_id"]
    assert body(first)["cost"] == body(again)["cost"]


def test_a_key_reused_for_another_request_is_409(world: World, api: Any) -> None:
    client = as_user(api, "alice")
    key = f"reuse-{world.kind}"
    assert (
        post(client, f"{API}/purchase/", {"credits": 100_000, "payment_method": "card_ok"}, key=key).status_code == 201
    )
    before = snapshot(world.billing)
    other = post(client, f"{API}/purchase/", {"credits": 200_000, "payment_method": "card_ok"}, key=key)
    assert other.status_code == 409 and body(other)["code"] == "idempotency_conflict"
    assert snapshot(world.billing) == before


def test_a_replayed_decline_stays_declined(world: World, api: Any) -> None:
    client = as_client(api, world.keys["marketplace"])
    huge = {"practice_id": "smile", "product": "lead_call", "package_price": "150000", "quantity": 1000}
    first = post(client, f"{API}/charges/leads/", huge, key=f"decline-{world.kind}")
    again = post(client, f"{API}/charges/leads/", huge, key=f"decline-{world.kind}")
    assert first.status_code == again.status_code == 402
    assert body(again)["transaction_id"] == body(first)["transaction_id"] and body(again)["replayed"] is True


HOSTILE_QUERIES = [
    "practice_id=%00",
    "practice_id=riverside%00",
    "practice_id=" + "r" * 5000,
    "practice_id=r%C3%AFverside",  # a look-alike
    "practice_id=riverside%E2%80%AE",  # a right-to-left override
    "practice_id=admin",
    "limit=0",
    "limit=-1",
    "limit=99999999999999999999999999",
    "limit=1.5",
    "limit=NaN",
    "cursor=%00",
    "cursor=not-a-cursor",
    "cursor=" + "A" * 300,
    "cursor=MjAyNi0xMS0zMFQxNDowNzozNyswMDowMHwtMQ",  # a forged cursor: id -1
    "kind=everything",
    "kind=%00",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_query_parameters_get_one_clear_error(world: World, api: Any, query: str) -> None:
    got = as_user(api, "alice").get(f"{API}/transactions/?{query}")
    data = body(got)
    assert got.status_code in (400, 404, 422), data
    assert got["Content-Type"] == "application/problem+json" and data["code"] and data["detail"]
    assert "Traceback" not in got.content.decode()


HOSTILE_BODIES: list[tuple[str, Any]] = [
    ("/purchase/", {"credits": 10**30, "payment_method": "card_ok"}),
    ("/purchase/", {"credits": -5, "payment_method": "card_ok"}),
    ("/purchase/", {"credits": 1.5, "payment_method": "card_ok"}),
    ("/purchase/", {"credits": True, "payment_method": "card_ok"}),
    ("/purchase/", {"credits": "100000", "payment_method": "card_ok", "package": "SOLO-SMS"}),
    ("/purchase/", {"package": "SOLO\x00SMS", "payment_method": "card_ok"}),
    ("/purchase/", {"package": "S" * 10_000, "payment_method": "card_ok"}),
    ("/purchase/", {"credits": 100_000, "payment_method": "card\u202eok"}),
    ("/purchase/", {"credits": 100_000, "payment_method": "card_ok", "promo_code": "\x07"}),
    ("/purchase/", [1, 2, 3]),
    ("/purchase/", "a string"),
    ("/purchase/", None),
    ("/purchase/", {"package": "NO-SUCH", "payment_method": "card_ok"}),
    ("/quote/", {"request": {"product": "sms", "units": 10**40}}),
    ("/quote/", {"request": {"product": "sms", "body": "x" * 100_000, "recipients": 1}}),
    ("/quote/", {"request": {"product": "sms", "body": "hi", "recipients": -1}}),
    ("/quote/", {"request": {"product": "voice", "calls": [{"duration_s": "1e400"}]}}),
    ("/quote/", {"request": {"product": "lead_call", "package_price": "-1"}}),
    ("/quote/", {"request": {"product": "lead_call", "package_price": "Infinity"}}),
    ("/quote/", {"request": {"product": "teleportation"}}),
    ("/quote/", {"request": "sms"}),
    ("/quote/", {"request": {"product": "sms", "units": 1, "extra": {"a": [1, {"b": 2}]}}}),
    ("/disputes/", {"charge_id": 2**64, "reason": "invalid"}),
    ("/disputes/", {"charge_id": 0, "reason": "invalid"}),
    ("/disputes/", {"charge_id": 1, "reason": "because"}),
]


@pytest.mark.parametrize(("path", "payload"), HOSTILE_BODIES)
def test_hostile_bodies_get_one_clear_error_and_change_nothing(world: World, api: Any, path: str, payload: Any) -> None:
    before = snapshot(world.billing)
    got = post(as_user(api, "alice"), API + path, payload)
    data = body(got)
    assert got.status_code in (400, 404, 409, 422), data
    assert got["Content-Type"] == "application/problem+json" and data["code"] and data["detail"]
    assert snapshot(world.billing) == before


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        (b'{"credits": 100000, "payment_method": ', "application/json", 400, "malformed_request"),
        (b'{"credits": NaN, "payment_method": "card_ok"}', "application/json", 400, "malformed_request"),
        (b'{"credits": Infinity, "payment_method": "card_ok"}', "application/json", 400, "malformed_request"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "malformed_request"),
        (b'{"credits": 1e999999, "payment_method": "card_ok"}', "application/json", 422, "invalid_input"),
        (b"\xff\xfe\x00", "application/json", 400, "malformed_request"),
        (b"credits=100000&payment_method=card_ok", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"<credits>1</credits>", "application/xml", 415, "unsupported_media_type"),
        (b'{"credits": 100000, "payment_method": "card_ok"}', "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_malformed_json_and_wrong_content_types(
    world: World, api: Any, raw: bytes, content_type: str, status: int, code: str
) -> None:
    before = snapshot(world.billing)
    client = as_user(api, "alice")
    got = client.post(f"{API}/purchase/", raw, content_type=content_type, HTTP_IDEMPOTENCY_KEY="malformed")
    assert (got.status_code, body(got)["code"]) == (status, code), body(got)
    assert snapshot(world.billing) == before


def test_a_body_past_the_size_limit_is_413(world: World, api: Any) -> None:
    from django.conf import settings

    raw = json.dumps({"request": {"product": "sms", "bodies": ["x"] * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 4)}})
    got = as_user(api, "alice").post(f"{API}/quote/", raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="big")
    assert got.status_code == 413 and body(got)["code"] == "request_too_large"


def test_an_unexpected_error_is_a_500_problem_with_an_error_id_and_no_traceback(
    world: World, api: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(type(world.billing), "balance", broken)
    got = as_user(api, "alice").get(f"{API}/balance/")
    data = body(got)
    assert got.status_code == 500 and data["code"] == "internal_error" and data["error_id"] in data["detail"]
    assert "secret" not in got.content.decode() and "Traceback" not in got.content.decode()
    assert data["error_id"] in caplog.text


def test_a_busy_database_is_503_with_retry_after(world: World, api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import DatabaseBusy

    def busy(*_: Any, **__: Any) -> Any:
        raise DatabaseBusy("the database stayed busy after 30 attempts")

    monkeypatch.setattr(type(world.billing), "balance", busy)
    got = as_user(api, "alice").get(f"{API}/balance/")
    assert got.status_code == 503 and body(got)["code"] == "database_busy" and got["Retry-After"] == "1"


def test_wrong_methods_are_405_problems(world: World, api: Any) -> None:
    got = as_user(api, "alice").delete(f"{API}/balance/")
    assert got.status_code == 405 and body(got)["code"] == "method_not_allowed"


@pytest.mark.parametrize("dispute_id", ["abc", "null,null", "-1", "0", "9" * 30, "%00", "1.5", "٣"])
def test_a_malformed_id_in_a_path_is_a_problem_not_an_html_page(world: World, api: Any, dispute_id: str) -> None:
    for got in (
        as_user(api, "bob").get(f"{API}/disputes/{dispute_id}/"),
        post(as_user(api, "staff"), f"{API}/staff/disputes/{dispute_id}/decision/", {"decision": "reject"}),
    ):
        assert got.status_code == 422 and got["Content-Type"] == "application/problem+json"
        assert body(got)["field"] == "dispute_id"
