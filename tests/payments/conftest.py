"""Every gateway behind one harness: the fake, Stripe's SDK on the Stripe stub, Razorpay's SDK on the
Razorpay stub (tests/support/payment_providers.py plays each one's payer and provider)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.payment_providers import PROVIDERS, Provider, make_provider
from tests.support.provider_stubs import RazorpayStub, StripeStub


@pytest.fixture(scope="session")
def stripe_stub() -> Iterator[StripeStub]:
    stub = StripeStub()
    yield stub
    stub.close()


@pytest.fixture(scope="session")
def razorpay_stub() -> Iterator[RazorpayStub]:
    stub = RazorpayStub()
    yield stub
    stub.close()


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> Provider:
    return make_provider(request.param, request)
