"""Which provider takes which currency, with whose keys: one gateway per currency by configuration.

Keys and webhook secrets come from the environment or a `PaymentSettings` the caller builds (from its
own secret store), never from code:

    CREDITBOOK_STRIPE_SECRET_KEY, CREDITBOOK_STRIPE_WEBHOOK_SECRET   (CREDITBOOK_STRIPE_API_BASE)
    CREDITBOOK_RAZORPAY_KEY_ID, CREDITBOOK_RAZORPAY_KEY_SECRET, CREDITBOOK_RAZORPAY_WEBHOOK_SECRET
                                                                     (CREDITBOOK_RAZORPAY_API_BASE)
    CREDITBOOK_PAYMENT_ROUTES   currency=provider pairs, default "USD=stripe,INR=razorpay"
    CREDITBOOK_PAYMENT_TIMEOUT  seconds every provider call may take, default 10

A currency whose provider has no keys is taken by the deterministic fake: with no keys at all (the
demo, the tests) everything goes to the fake, exactly as before. The `*_API_BASE` variables point
an SDK somewhere other than the provider (the tests' stub servers); they are never needed in
production.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from engine.billing.errors import InvalidAmount
from engine.billing.payments.fake import FakeGateway
from engine.billing.payments.protocol import PaymentGateway
from engine.vocabulary import PaymentProvider

DEFAULT_ROUTES: Final = {"USD": PaymentProvider.STRIPE, "INR": PaymentProvider.RAZORPAY}
ENV: Final = "CREDITBOOK_"


@dataclass(frozen=True)
class StripeKeys:
    secret_key: str
    webhook_secret: str
    api_base: str | None = None

    def __repr__(self) -> str:  # keys never reach a log through a repr
        return f"StripeKeys(api_base={self.api_base!r}, secret_key=..., webhook_secret=...)"


@dataclass(frozen=True)
class RazorpayKeys:
    key_id: str
    key_secret: str
    webhook_secret: str
    api_base: str | None = None

    def __repr__(self) -> str:
        return f"RazorpayKeys(key_id={self.key_id!r}, api_base={self.api_base!r}, key_secret=..., webhook_secret=...)"


@dataclass(frozen=True)
class PaymentSettings:
    """Providers' keys and the routes; see the module docstring."""

    stripe: StripeKeys | None = None
    razorpay: RazorpayKeys | None = None
    routes: Mapping[str, PaymentProvider] = field(default_factory=lambda: dict(DEFAULT_ROUTES))
    timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PaymentSettings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV + name, "").strip()
            return value or None

        stripe = razorpay = None
        if get("STRIPE_SECRET_KEY"):
            stripe = StripeKeys(
                _required(get, "STRIPE_SECRET_KEY"), _required(get, "STRIPE_WEBHOOK_SECRET"), get("STRIPE_API_BASE")
            )
        if get("RAZORPAY_KEY_ID"):
            razorpay = RazorpayKeys(
                _required(get, "RAZORPAY_KEY_ID"),
                _required(get, "RAZORPAY_KEY_SECRET"),
                _required(get, "RAZORPAY_WEBHOOK_SECRET"),
                get("RAZORPAY_API_BASE"),
            )
        routes = parse_routes(get("PAYMENT_ROUTES")) if get("PAYMENT_ROUTES") else dict(DEFAULT_ROUTES)
        timeout = float(get("PAYMENT_TIMEOUT") or 10)
        if not 0 < timeout <= 120:
            raise ValueError(f"{ENV}PAYMENT_TIMEOUT must be between 0 and 120 seconds, not {timeout}")
        return cls(stripe=stripe, razorpay=razorpay, routes=routes, timeout_seconds=timeout)


def _required(get: Callable[[str], str | None], name: str) -> str:
    value = get(name)
    if not value:
        raise ValueError(f"{ENV}{name} must be set when the provider's other keys are")
    return value


def parse_routes(text: str | None) -> dict[str, PaymentProvider]:
    """ "USD=stripe,INR=razorpay" → {currency: provider}."""
    routes: dict[str, PaymentProvider] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        currency, _, provider = pair.partition("=")
        try:
            routes[currency.strip().upper()] = PaymentProvider(provider.strip().lower())
        except ValueError:
            known = ", ".join(p.value for p in PaymentProvider)
            raise ValueError(f"payment route {pair.strip()!r}: the provider must be one of {known}") from None
    return routes


class GatewayRouter:
    """The gateways billing talks to, by currency (a purchase) and by provider (a webhook, the
    sweeper reading back an attempt recorded with its provider)."""

    def __init__(self, gateways: Mapping[str, PaymentGateway], routes: Mapping[str, str], fallback: str):
        self.gateways = dict(gateways)
        self.routes = {currency.upper(): provider for currency, provider in routes.items()}
        self.fallback = fallback

    @classmethod
    def single(cls, gateway: PaymentGateway) -> GatewayRouter:
        """Every currency to one gateway (the tests, the demo)."""
        return cls({gateway.provider: gateway}, {}, gateway.provider)

    @classmethod
    def from_settings(cls, settings: PaymentSettings) -> GatewayRouter:
        """The configured providers on their routes; every other currency to the fake."""
        fake = FakeGateway()
        gateways: dict[str, PaymentGateway] = {fake.provider: fake}
        if settings.stripe is not None:
            from engine.billing.payments.stripe import StripeGateway

            gateways[PaymentProvider.STRIPE] = StripeGateway(settings.stripe, timeout=settings.timeout_seconds)
        if settings.razorpay is not None:
            from engine.billing.payments.razorpay import RazorpayGateway

            gateways[PaymentProvider.RAZORPAY] = RazorpayGateway(settings.razorpay, timeout=settings.timeout_seconds)
        routes = {currency: provider for currency, provider in settings.routes.items() if provider in gateways}
        return cls(gateways, routes, fake.provider)

    def for_currency(self, currency: str) -> PaymentGateway:
        return self.gateways[self.routes.get(currency.upper(), self.fallback)]

    def for_provider(self, provider: str) -> PaymentGateway:
        found = self.gateways.get(provider)
        if found is None:
            raise InvalidAmount(
                f"no {provider!r} payment provider is configured here (configured: {', '.join(self.gateways)})",
                field="provider",
            )
        return found

    @property
    def only(self) -> PaymentGateway | None:
        """The one gateway, when there is only one (a test's fake)."""
        return next(iter(self.gateways.values())) if len(self.gateways) == 1 else None


__all__ = ["DEFAULT_ROUTES", "GatewayRouter", "PaymentSettings", "RazorpayKeys", "StripeKeys", "parse_routes"]
