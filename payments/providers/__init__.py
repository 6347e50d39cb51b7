"""Payment providers (DESIGN.md §4, §7): Stripe and manual, chosen per partner and per
payee. A blank choice follows the settings: Stripe when STRIPE_API_KEY is set, else manual.

`provider_get` is the one place a provider is built, so tests can point it elsewhere."""

from __future__ import annotations

from django.conf import settings

from contracts.models import Partner, Payee, PaymentProvider
from payments.providers.base import PaymentProvider as Provider
from payments.providers.base import ProviderError
from payments.providers.manual import ManualProvider
from payments.providers.stripe_provider import StripeProvider

__all__ = ["Provider", "ProviderError", "provider_get", "provider_name_for"]


def default_provider_name() -> str:
    return PaymentProvider.STRIPE if settings.STRIPE_API_KEY else PaymentProvider.MANUAL


def provider_name_for(party: Partner | Payee) -> str:
    return party.payment_provider or default_provider_name()


def provider_get(name: str) -> Provider:
    if name == PaymentProvider.STRIPE:
        if not settings.STRIPE_API_KEY:
            raise ProviderError(
                "Stripe is chosen but STRIPE_API_KEY is not set.", definitive=True, code="not_configured"
            )
        return StripeProvider()
    if name == PaymentProvider.MANUAL:
        return ManualProvider()
    raise ProviderError(f"Unknown payment provider {name!r}.", definitive=True, code="unknown_provider")
