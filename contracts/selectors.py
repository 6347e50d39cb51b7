"""Reads, always scoped to what the viewer may see.

A viewer is a `core.User` (a person in the web UI or API) or an `ApiKeyPrincipal` (a
partner's system). Objects outside the viewer's scope are reported as not found rather
than forbidden, so one partner cannot even learn that another's placement exists.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from contracts.models import (
    Contract,
    ContractVersion,
    Notification,
    Partner,
    PartnerApiKey,
    PartnerMembership,
    Payee,
    Placement,
)
from core.errors import NotFound
from core.models import AuditLog, User


class Viewer(Protocol):
    is_authenticated: bool
    role: str


def viewer_partner_id(viewer: Any) -> int | None:
    """The one partner a partner member or API key acts for; None for platform staff."""
    api_partner = getattr(viewer, "api_partner_id", None)
    if api_partner is not None:
        return api_partner
    if getattr(viewer, "role", None) == User.Role.PARTNER:
        # A partner user without an organisation sees nothing (no partner has id -1).
        return viewer.membership.partner_id if _has_membership(viewer) else -1
    return None


def _has_membership(user: Any) -> bool:
    try:
        return user.membership is not None
    except PartnerMembership.DoesNotExist:
        return False


def membership_role(viewer: Any, partner: Partner) -> str | None:
    """'owner' or 'member' when viewer is a person belonging to `partner`."""
    if not isinstance(viewer, User) or not _has_membership(viewer):
        return None
    membership = viewer.membership
    return membership.role if membership.partner_id == partner.pk else None


def partners_visible(*, viewer: Any) -> QuerySet[Partner]:
    partners = Partner.objects.all()
    partner_id = viewer_partner_id(viewer)
    if partner_id is not None:
        return partners.filter(pk=partner_id)
    role = getattr(viewer, "role", None)
    if role == User.Role.ACCOUNT_MANAGER:
        return partners.filter(account_manager=viewer)
    if role in (User.Role.FINANCE, User.Role.STAFF):
        return partners
    return partners.none()


def partner_get(*, viewer: Any, slug: str) -> Partner:
    partner = partners_visible(viewer=viewer).filter(slug=slug).first()
    if partner is None:
        raise NotFound(f"No partner {slug!r}.")
    return partner


def placement_list(
    *, viewer: Any, status: str | None = None, partner: Partner | None = None
) -> QuerySet[Placement]:
    placements = (
        Placement.objects.filter(partner__in=partners_visible(viewer=viewer))
        .select_related("partner", "employee", "contract", "requested_by")
        .order_by("-created_at", "-id")
    )
    if status:
        placements = placements.filter(status=status)
    if partner is not None:
        placements = placements.filter(partner=partner)
    return placements


def placement_get(*, viewer: Any, placement_id: int) -> Placement:
    placement = placement_list(viewer=viewer).filter(pk=placement_id).first()
    if placement is None:
        raise NotFound(f"No placement {placement_id}.")
    return placement


def contract_list(*, viewer: Any) -> QuerySet[Contract]:
    return (
        Contract.objects.filter(placement__partner__in=partners_visible(viewer=viewer))
        .select_related("placement__partner", "placement__employee")
        .prefetch_related(Prefetch("versions", queryset=ContractVersion.objects.order_by("number")))
        .order_by("-created_at", "-id")
    )


def contract_get(*, viewer: Any, contract_id: int) -> Contract:
    contract = contract_list(viewer=viewer).filter(pk=contract_id).first()
    if contract is None:
        raise NotFound(f"No contract {contract_id}.")
    return contract


def contract_version_get(*, viewer: Any, contract_id: int, number: int) -> ContractVersion:
    contract = contract_get(viewer=viewer, contract_id=contract_id)
    version = contract.versions.filter(number=number).first()
    if version is None:
        raise NotFound(f"Contract {contract_id} has no version {number}.")
    return version


def contract_version_effective(*, contract: Contract, on: date) -> ContractVersion | None:
    """The accepted version in force on `on` (a date in the partner's zone)."""
    return (
        contract.versions.filter(status=ContractVersion.Status.ACCEPTED, effective_from__lte=on)
        .order_by("-effective_from")
        .first()
    )


def contract_version_open(*, contract: Contract) -> ContractVersion | None:
    """The draft or proposed version under discussion, if any."""
    return contract.versions.filter(
        status__in=[ContractVersion.Status.DRAFT, ContractVersion.Status.PROPOSED]
    ).first()


def partner_today(*, partner: Partner, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(ZoneInfo(partner.timezone)).date()


def period_start(day: date) -> date:
    return day.replace(day=1)


def next_period_start(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def payee_slugs() -> list[str]:
    return list(Payee.objects.order_by("kind", "slug").values_list("slug", flat=True))


def api_key_list(*, viewer: Any) -> QuerySet[PartnerApiKey]:
    return PartnerApiKey.objects.filter(partner__in=partners_visible(viewer=viewer)).select_related(
        "partner", "created_by"
    )


def api_key_get(*, viewer: Any, key_id: int) -> PartnerApiKey:
    key = api_key_list(viewer=viewer).filter(pk=key_id).first()
    if key is None:
        raise NotFound(f"No API key {key_id}.")
    return key


def audit_list(*, viewer: Any, partner: Partner | None = None) -> QuerySet[AuditLog]:
    """Audit trail for account managers (their partners), finance and staff (all)."""
    role = getattr(viewer, "role", None)
    entries = AuditLog.objects.select_related("actor", "target_type")
    if role not in (User.Role.ACCOUNT_MANAGER, User.Role.FINANCE, User.Role.STAFF):
        return entries.none()
    visible_ids = partners_visible(viewer=viewer).values("pk")
    entries = entries.filter(partner_id__in=visible_ids)
    if partner is not None:
        entries = entries.filter(partner_id=partner.pk)
    return entries


def audit_for_placement(*, viewer: Any, placement: Placement) -> QuerySet[AuditLog]:
    """Entries about the placement and its contract and versions."""
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Q

    contract = placement.contract if hasattr(placement, "contract") else None
    condition = Q(
        target_type=ContentType.objects.get_for_model(Placement), target_id=str(placement.pk)
    )
    if contract is not None:
        condition |= Q(
            target_type=ContentType.objects.get_for_model(Contract), target_id=str(contract.pk)
        ) | Q(
            target_type=ContentType.objects.get_for_model(ContractVersion),
            target_id__in=[str(pk) for pk in contract.versions.values_list("pk", flat=True)],
        )
    return audit_list(viewer=viewer).filter(condition)


def notifications_unread(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user, read_at__isnull=True)
