"""Identity and access (docs/domain.md §12): a clinic user reads and acts only on its own clinic, and
every attempt on another clinic's data is answered exactly like data that does not exist."""

from __future__ import annotations

from typing import Any

import pytest

from tests.django.conftest import World, as_client, as_user, post
from tests.django.test_endpoints import API, body


def test_another_clinics_balance_reads_like_a_clinic_that_does_not_exist(world: World, api: Any) -> None:
    client = as_user(api, "alice")
    for path in ("balance", "transactions", "packages", "promotions", "disputes"):
        theirs = client.get(f"{API}/{path}/?practice_id=smile")
        missing = client.get(f"{API}/{path}/?practice_id=smilf")
        assert theirs.status_code == missing.status_code == 404, path
        assert body(theirs) == {**body(missing), "detail": "no clinic 'smile'", "clinic_id": "smile"}
        assert set(theirs.headers.items()) ^ set(missing.headers.items()) <= {
            ("Content-Length", theirs["Content-Length"]),
            ("Content-Length", missing["Content-Length"]),
        }


def test_acting_on_another_clinic_is_refused_and_changes_nothing(world: World, api: Any) -> None:
    before = world.billing.balance("smile").balance
    client = as_user(api, "alice")
    bought = post(client, f"{API}/purchase/", {"practice_id": "smile", "credits": 5000, "payment_method": "card_ok"})
    quoted = post(client, f"{API}/quote/", {"practice_id": "smile", "request": {"product": "lead_chat"}})
    assert bought.status_code == quoted.status_code == 404
    assert body(bought)["code"] == body(quoted)["code"] == "unknown_clinic"
    assert world.billing.balance("smile").balance == before


def test_another_clinics_charge_cannot_be_disputed_and_reads_like_no_charge(world: World, api: Any) -> None:
    theirs = world.billing.charge("smile", {"product": "lead_chat", "package_price": "2500"}, key=f"x-{world.kind}")
    client = as_user(api, "alice")
    refused = post(client, f"{API}/disputes/", {"charge_id": theirs.transaction_id, "reason": "invalid"})
    absent = post(client, f"{API}/disputes/", {"charge_id": 2**62, "reason": "invalid"})
    assert refused.status_code == absent.status_code == 404
    assert body(refused)["code"] == body(absent)["code"] == "unknown_charge"
    assert body(refused)["detail"] == f"no posted charge {theirs.transaction_id}"
    assert body(absent)["detail"] == f"no posted charge {2**62}"
    assert not world.billing.disputes(status=None, clinic_id="smile") or all(
        d.charge_id != theirs.transaction_id for d in world.billing.disputes(status=None, clinic_id="smile")
    )


def test_another_clinics_dispute_reads_like_no_dispute(world: World, api: Any) -> None:
    charged = world.billing.charge("smile", {"product": "lead_chat", "package_price": "2500"}, key=f"y-{world.kind}")
    dispute = world.billing.open_dispute("smile", charged.transaction_id, reason="invalid", key=f"yd-{world.kind}")
    theirs = as_user(api, "alice").get(f"{API}/disputes/{dispute.dispute_id}/")
    absent = as_user(api, "alice").get(f"{API}/disputes/{2**62}/")
    assert theirs.status_code == absent.status_code == 404
    assert body(theirs) == {**body(absent), "detail": f"no dispute {dispute.dispute_id}"}
    assert as_user(api, "bob").get(f"{API}/disputes/{dispute.dispute_id}/").status_code == 200


def test_a_member_of_several_clinics_names_one(world: World, api: Any) -> None:
    client = as_user(api, "carol")
    unnamed = client.get(f"{API}/balance/")
    assert unnamed.status_code == 400 and body(unnamed)["code"] == "practice_id_required"
    assert body(client.get(f"{API}/balance/?practice_id=lakeside"))["practice_id"] == "lakeside"
    assert client.get(f"{API}/balance/?practice_id=smile").status_code == 404


def test_a_user_of_no_clinic_is_forbidden(world: World, api: Any) -> None:
    got = as_user(api, "nobody").get(f"{API}/balance/")
    assert got.status_code == 403 and body(got)["code"] == "permission_denied"


def test_staff_with_the_permission_read_any_clinic(world: World, api: Any) -> None:
    client = as_user(api, "support")
    assert body(client.get(f"{API}/balance/?practice_id=smile"))["practice_id"] == "smile"
    missing = client.get(f"{API}/balance/?practice_id=no-such-clinic")
    assert missing.status_code == 404 and body(missing)["detail"] == "no clinic 'no-such-clinic'"


def test_an_api_key_bound_to_a_clinic_reads_only_it_and_may_not_charge(world: World, api: Any) -> None:
    client = as_client(api, world.keys["smile-dashboard"])
    assert body(client.get(f"{API}/balance/"))["practice_id"] == "smile"
    assert client.get(f"{API}/balance/?practice_id=riverside").status_code == 404
    lead = post(client, f"{API}/charges/leads/", {"product": "lead_chat", "package_price": "2500"})
    assert lead.status_code == 403 and body(lead)["code"] == "permission_denied"


def test_a_clinic_user_may_not_charge_leads(world: World, api: Any) -> None:
    got = post(as_user(api, "bob"), f"{API}/charges/leads/", {"product": "lead_chat", "package_price": "2500"})
    assert got.status_code == 403


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer cbk_00000000_not-a-key",
        "Bearer cbk_",
        "Basic YWxpY2U6d3Jvbmc=",  # alice:wrong
        "Bearer \x00",
        "Bearer cbk_" + "x" * 10_000,
    ],
)
def test_without_valid_credentials_the_answer_is_401(world: World, api: Any, authorization: str | None) -> None:
    if authorization is not None:
        api.credentials(HTTP_AUTHORIZATION=authorization)
    got = api.get(f"{API}/balance/")
    assert got.status_code == 401 and got["Content-Type"] == "application/problem+json"
    assert body(got)["code"] in ("not_authenticated", "authentication_failed") and got["WWW-Authenticate"]


def test_a_revoked_key_stops_working(world: World, api: Any) -> None:
    from django.utils import timezone

    from creditbook_django.models import ApiClient

    client = ApiClient(name=f"revoked-{world.kind}", clinic_id="smile")
    key = client.new_key()
    client.save()
    assert as_client(api, key).get(f"{API}/balance/").status_code == 200
    ApiClient.objects.filter(pk=client.pk).update(revoked_at=timezone.now())
    assert as_client(api, key).get(f"{API}/balance/").status_code == 401


def test_keys_are_stored_only_as_digests(world: World) -> None:
    from creditbook_django.models import ApiClient

    stored = ApiClient.objects.get(name="marketplace")
    key = world.keys["marketplace"]
    assert key not in (stored.key_digest, stored.prefix) and key.split("_", 2)[2] not in repr(stored.__dict__)
    assert ApiClient.authenticate(key) == stored and ApiClient.authenticate(key[:-1] + "A") in (None, stored)
    assert ApiClient.authenticate(key[:-2]) is None
