"""Writing a partner's tax profile (payments.tax has the rules it feeds)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.models import Partner
from core.errors import PermissionDenied, ValidationFailed
from core.models import User
from core.services import audit_record
from payments import tax
from payments.models import TaxProfile


def _may_edit(actor: User, partner: Partner) -> bool:
    role = getattr(actor, "role", None)
    return role in (User.Role.FINANCE, User.Role.STAFF) or (
        role == User.Role.ACCOUNT_MANAGER and partner.account_manager_id == actor.pk
    )


@transaction.atomic
def tax_profile_update(
    *, actor: User, partner: Partner, country: str, registration_number: str, treatment: str
) -> TaxProfile:
    """Record how a partner is taxed (finance, or the partner's account manager). A refused
    request changes nothing; the audit log keeps what changed."""
    if not _may_edit(actor, partner):
        raise PermissionDenied(
            _("Only finance or %(partner)s's account manager can edit its tax profile.") % {"partner": partner.name}
        )
    country = (country or "").strip().upper()
    number = tax.normalize_registration_number(registration_number)
    errors: dict[str, list[str]] = {}
    if problem := tax.country_error(country):
        errors["country"] = [problem]
    elif problem := tax.registration_number_error(country, number):
        errors["registration_number"] = [problem]
    if treatment not in TaxProfile.Treatment.values:
        errors["treatment"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(TaxProfile.Treatment.values)}]
    elif treatment == TaxProfile.Treatment.REVERSE_CHARGE and not (country in tax.EU_COUNTRIES and number):
        errors["treatment"] = [_("Reverse charge needs an EU country and the partner's VAT id.")]
    if errors:
        raise ValidationFailed(_("The tax profile is not valid."), fields=errors)
    profile = TaxProfile.objects.select_for_update().filter(partner=partner).first()
    before = (
        {"country": profile.country, "registration_number": profile.registration_number, "treatment": profile.treatment}
        if profile
        else {}
    )
    after = {"country": country, "registration_number": number, "treatment": treatment}
    if profile is None:
        profile = TaxProfile(partner=partner)
    for name, value in after.items():
        setattr(profile, name, value)
    profile.updated_by, profile.updated_at = actor, timezone.now()
    profile.save()
    audit_record(
        actor=actor,
        action="tax_profile.updated",
        target=profile,
        partner_id=partner.pk,
        summary=f"Tax profile of {partner.name}: {country} {number or '-'} ({treatment})",
        changes={name: [before.get(name), value] for name, value in after.items() if before.get(name) != value},
    )
    return profile
