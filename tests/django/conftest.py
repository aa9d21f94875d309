"""Django configured once per test process (the reference project's apps, a throw-away SQLite
database for Django's own tables), and a real ledger per module on SQLite and on PostgreSQL, with
clinics, users and API clients that every API test uses.

The users authenticate for real (HTTP Basic, with a fast password hasher so that a request does not
spend 0.3 s in PBKDF2); API clients use their real keys."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import Clock
from tests.support.paths import IN_V2, US_V1

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
PASSWORD = "correct horse"
DJANGO_DIR = Path(tempfile.mkdtemp(prefix="creditbook-django-tests-"))


def configure() -> None:
    """Django settings for the tests: the reference project's, on a temporary folder."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    os.environ["CREDITBOOK_REFERENCE_DIR"] = str(DJANGO_DIR)
    from reference import settings as reference

    values = {name: getattr(reference, name) for name in dir(reference) if name.isupper()}
    values["PASSWORD_HASHERS"] = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    values["DATABASES"] = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DJANGO_DIR / "django.db")}}
    values["CREDITBOOK"] = {**reference.CREDITBOOK, "DATABASE_URL": f"sqlite:///{DJANGO_DIR / 'ledger.db'}"}
    settings.configure(**values)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


configure()


@dataclass
class World:
    """The ledger and who calls it."""

    billing: Any
    clock: Clock
    keys: dict[str, str]
    kind: str


def _users() -> None:
    from django.contrib.auth.models import Permission, User

    from creditbook_django.models import Membership

    if User.objects.filter(username="alice").exists():
        return
    for name, clinics in (("alice", ["riverside"]), ("bob", ["smile"]), ("carol", ["riverside", "lakeside"])):
        user = User.objects.create_user(name, password=PASSWORD)
        for clinic in clinics:
            Membership.objects.create(user=user, clinic_id=clinic)
    User.objects.create_user("nobody", password=PASSWORD)
    staff = User.objects.create_user("staff", password=PASSWORD, is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="creditbook"))
    support = User.objects.create_user("support", password=PASSWORD, is_staff=True)
    support.user_permissions.set(Permission.objects.filter(codename="act_for_any_clinic"))


def _keys() -> dict[str, str]:
    from creditbook_django.models import ApiClient

    keys = {}
    for name, clinic, charge in (("marketplace", "", True), ("smile-dashboard", "smile", False)):
        client = ApiClient.objects.filter(name=name).first() or ApiClient(name=name)
        client.clinic_id, client.can_charge = clinic, charge
        keys[name] = client.new_key()
        client.save()
    return keys


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A ledger for the module: US clinics riverside and lakeside, Indian clinic smile, funded."""
    from creditbook_django import ledger, rates
    from engine import Billing

    clock = Clock(NOW)
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}", None
    else:
        url, drop = _postgres_database(request)
    billing = Billing(url, clock=clock)
    try:
        for path in (US_V1, IN_V2):
            billing.publish_pricebook(
                path, actor="pricing", key=f"publish-{path.name}", at=datetime(2025, 6, 1, tzinfo=UTC)
            )
        billing.register_clinic("riverside", "Riverside Hearing", "US", key="r")
        billing.register_clinic("lakeside", "Lakeside Hearing", "US", key="r", segment="preferred")
        billing.register_clinic("smile", "Smile Dental", "IN", key="r")
        billing.purchase("riverside", 1_000_000, payment_method="card_ok", key="seed")
        billing.purchase("smile", 10_000, payment_method="upi_ok", key="seed")
        _users()
        rates.forget()
        with ledger.use(billing):
            yield World(billing, clock, _keys(), request.param)
        assert billing.reconcile().ok
    finally:
        billing.close()
        if drop is not None:
            drop()


def _postgres_database(request: pytest.FixtureRequest) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"creditbook_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture
def api() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


def as_user(api: Any, name: str) -> Any:
    import base64

    token = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
    api.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    return api


def as_client(api: Any, key: str) -> Any:
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api


def post(api: Any, path: str, body: Any, key: str | None = None, **headers: str) -> Any:
    """A JSON POST with an Idempotency-Key (a fresh one unless given; None: a unique one)."""
    extra = {"HTTP_IDEMPOTENCY_KEY": key or uuid.uuid4().hex, **headers}
    return api.post(path, body, format="json", **extra)
