"""Reads, always scoped to what the viewer may see.

A viewer is a `core.User` (a person in the web UI or API) or an `ApiKeyPrincipal` (a
partner's system). Objects outside the viewer's scope are reported as not found rather
than forbidden, so one partner cannot even learn that another's placement exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.models import (
    Contract,
    ContractVersion,
    Invitation,
    Notification,
    Partner,
    PartnerApiKey,
    PartnerMembership,
    Payee,
    PendingNotification,
    Placement,
)
from contracts.terms import terms_template
from core.errors import NotFound
from core.models import AuditLog, User
from employees.hiring import HiringStatus


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


def placement_list(*, viewer: Any, status: str | None = None, partner: Partner | None = None) -> QuerySet[Placement]:
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


def hiring_status_by_employee(viewer: Any, employee_ids: Iterable[int]) -> dict[int, HiringStatus]:
    """For the catalog: the open placement (any status but ended; the database allows one
    per partner and employee) of each of these employees at the viewer's own organisation.
    Only a partner member has one; an account manager or finance browsing the catalog hires
    nobody."""
    partner_id = viewer_partner_id(viewer)
    if partner_id is None:
        return {}
    rows = (
        Placement.objects.filter(partner_id=partner_id, employee_id__in=list(employee_ids))
        .exclude(status=Placement.Status.ENDED)
        .values_list("employee_id", "pk", "status")
    )
    labels = dict(Placement.Status.choices)
    return {
        employee_id: HiringStatus(status=status, label=str(labels[status]), url=reverse("portal-placement", args=[pk]))
        for employee_id, pk, status in rows
    }


def placement_get(*, viewer: Any, placement_id: int) -> Placement:
    placement = placement_list(viewer=viewer).filter(pk=placement_id).first()
    if placement is None:
        raise NotFound(_("No placement %(placement_id)s.") % {"placement_id": placement_id})
    return placement


def contract_versions_visible(*, viewer: Any) -> QuerySet[ContractVersion]:
    """Drafts are the platform's work in progress: partners see terms once they are sent.
    A draft withdrawn before it was ever sent (by the manager, or by ending the placement)
    stays private too, as in `placement_versions`: what was never proposed has no
    `proposed_at`."""
    versions = ContractVersion.objects.select_related("created_by", "decided_by").order_by("number")
    if viewer_partner_id(viewer) is not None:
        versions = versions.filter(proposed_at__isnull=False)
    return versions


def contract_list(*, viewer: Any) -> QuerySet[Contract]:
    return (
        Contract.objects.filter(placement__partner__in=partners_visible(viewer=viewer))
        .select_related("placement__partner", "placement__employee")
        .prefetch_related(Prefetch("versions", queryset=contract_versions_visible(viewer=viewer)))
        .order_by("-created_at", "-id")
    )


def contract_get(*, viewer: Any, contract_id: int) -> Contract:
    contract = contract_list(viewer=viewer).filter(pk=contract_id).first()
    if contract is None:
        raise NotFound(_("No contract %(contract_id)s.") % {"contract_id": contract_id})
    return contract


def contract_version_get(*, viewer: Any, contract_id: int, number: int) -> ContractVersion:
    contract = contract_get(viewer=viewer, contract_id=contract_id)
    version = contract_versions_visible(viewer=viewer).filter(contract=contract, number=number).first()
    if version is None:
        raise NotFound(
            _("Contract %(contract_id)s has no version %(number)s.") % {"contract_id": contract_id, "number": number}
        )
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
    return contract.versions.filter(status__in=[ContractVersion.Status.DRAFT, ContractVersion.Status.PROPOSED]).first()


def partner_today(*, partner: Partner, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(ZoneInfo(partner.timezone)).date()


def period_start(day: date) -> date:
    return day.replace(day=1)


def next_period_start(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def payee_names() -> dict[str, str]:
    """Payee slug → the name people know it by (what a partner reads instead of the slug)."""
    return dict(Payee.objects.values_list("slug", "name"))


def payee_choices() -> list[tuple[str, str]]:
    return list(Payee.objects.order_by("kind", "name").values_list("slug", "name"))


def payee_slugs() -> list[str]:
    return list(Payee.objects.order_by("kind", "slug").values_list("slug", flat=True))


def api_key_list(*, viewer: Any) -> QuerySet[PartnerApiKey]:
    return PartnerApiKey.objects.filter(partner__in=partners_visible(viewer=viewer)).select_related(
        "partner", "created_by"
    )


def api_key_get(*, viewer: Any, key_id: int) -> PartnerApiKey:
    key = api_key_list(viewer=viewer).filter(pk=key_id).first()
    if key is None:
        raise NotFound(_("No API key %(key_id)s.") % {"key_id": key_id})
    return key


def audit_list(*, viewer: Any, partner: Partner | None = None) -> QuerySet[AuditLog]:
    """Audit trail for account managers (their partners), finance and staff (all)."""
    role = getattr(viewer, "role", None)
    entries = AuditLog.objects.select_related("actor", "target_type")
    if role not in (User.Role.ACCOUNT_MANAGER, User.Role.FINANCE, User.Role.STAFF):
        return entries.none()
    visible_ids = partners_visible(viewer=viewer).values("pk")
    if partner is not None:
        return entries.filter(partner_id__in=visible_ids).filter(partner_id=partner.pk)
    if role in (User.Role.FINANCE, User.Role.STAFF):
        # The platform's own changes (payees, settlement and payout runs, sign-in locks)
        # name no partner; finance and staff, who run them, read them too.
        return entries.filter(Q(partner_id__in=visible_ids) | Q(partner_id__isnull=True))
    return entries.filter(partner_id__in=visible_ids)


def audit_for_placement(*, viewer: Any, placement: Placement) -> QuerySet[AuditLog]:
    """Entries about the placement and its contract and versions."""
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Q

    contract = placement.contract if hasattr(placement, "contract") else None
    condition = Q(target_type=ContentType.objects.get_for_model(Placement), target_id=str(placement.pk))
    if contract is not None:
        condition |= Q(target_type=ContentType.objects.get_for_model(Contract), target_id=str(contract.pk)) | Q(
            target_type=ContentType.objects.get_for_model(ContractVersion),
            target_id__in=[str(pk) for pk in contract.versions.values_list("pk", flat=True)],
        )
    return audit_list(viewer=viewer).filter(condition)


def notifications_unread(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user, read_at__isnull=True)


# --- reads for the web UI ----------------------------------------------------------------


def viewer_partner(viewer: Any) -> Partner | None:
    """The partner a partner member acts for, or None (platform staff, or no membership)."""
    partner_id = viewer_partner_id(viewer)
    if partner_id is None:
        return None
    return Partner.objects.filter(pk=partner_id).first()


def placement_versions(*, viewer: Any, placement: Placement) -> QuerySet[ContractVersion]:
    """The placement's contract versions as `viewer` may see them. A draft that was never
    sent is the account manager's work in progress, so partners see only versions that
    were proposed to them."""
    if not hasattr(placement, "contract"):
        return ContractVersion.objects.none()
    versions = placement.contract.versions.select_related("created_by", "decided_by").order_by("number")
    if viewer_partner_id(viewer) is not None:
        versions = versions.filter(proposed_at__isnull=False)
    return versions


def placement_version_get(*, viewer: Any, placement_id: int, number: int) -> ContractVersion:
    placement = placement_get(viewer=viewer, placement_id=placement_id)
    version = placement_versions(viewer=viewer, placement=placement).filter(number=number).first()
    if version is None:
        raise NotFound(
            _("Placement %(placement_id)s has no contract version %(number)s.")
            % {"placement_id": placement_id, "number": number}
        )
    return version


def contract_versions_awaiting_decision(*, viewer: Any) -> QuerySet[ContractVersion]:
    """Proposed terms the viewer's partner has not yet accepted or rejected."""
    return (
        ContractVersion.objects.filter(
            status=ContractVersion.Status.PROPOSED,
            contract__placement__partner__in=partners_visible(viewer=viewer),
        )
        .select_related("contract__placement__employee", "contract__placement__partner")
        .order_by("proposed_at", "id")
    )


def contract_draft_defaults(*, placement: Placement) -> dict[str, Any]:
    """Where a new draft starts: the first version from this period, an amendment from the
    earliest period start services.contract_version_draft would accept; the terms of the
    latest version (to amend them) or the template."""
    contract = placement.contract
    today = partner_today(partner=placement.partner)
    latest_accepted = (
        contract.versions.filter(status=ContractVersion.Status.ACCEPTED).order_by("-effective_from").first()
    )
    if latest_accepted is None:
        # The next period start, never the current month's 1st: that would be retroactive.
        # (The services still accept the current period for a first version, on purpose.)
        effective_from = next_period_start(today)
    else:
        effective_from = max(next_period_start(today), next_period_start(latest_accepted.effective_from))
    latest = contract.versions.order_by("-number").first()
    # terms_template needs at least one payee to split to; "platform" is the name the
    # validator will then ask the manager to create if the platform payee is missing.
    terms = (
        latest.terms
        if latest is not None
        else terms_template(currency=contract.currency, payees=payee_slugs() or ["platform"])
    )
    return {"effective_from": effective_from, "terms": terms}


def notification_list(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id")


def partner_managed_by(*, viewer: Any, partner: Partner) -> bool:
    """Whether `viewer` manages `partner` (its account manager, or platform staff): what
    the console uses to decide which buttons to draw. services checks it again on write."""
    role = getattr(viewer, "role", None)
    return role == User.Role.STAFF or (role == User.Role.ACCOUNT_MANAGER and partner.account_manager_id == viewer.pk)


# --- partner organisations: people and invitations ------------------------------------------


def partner_by_id(*, viewer: Any, partner_id: int) -> Partner:
    partner = partners_visible(viewer=viewer).select_related("account_manager").filter(pk=partner_id).first()
    if partner is None:
        raise NotFound(_("No partner %(partner_id)s.") % {"partner_id": partner_id})
    return partner


def partner_members(*, viewer: Any, partner: Partner) -> QuerySet[PartnerMembership]:
    """The people of a partner the viewer may see (services decide who may change them)."""
    return (
        PartnerMembership.objects.filter(partner__in=partners_visible(viewer=viewer), partner=partner)
        .select_related("user")
        .order_by("-role", "user__username")
    )


def invitation_list(*, viewer: Any, partner: Partner) -> QuerySet[Invitation]:
    """A partner's invitations, newest first, for its people, its account manager, finance
    and staff. Their links are never readable: only a digest is stored."""
    return (
        Invitation.objects.filter(partner__in=partners_visible(viewer=viewer), partner=partner)
        .select_related("invited_by", "accepted_user", "partner")
        .order_by("-created_at", "-id")
    )


def invitation_get(*, viewer: Any, invitation_id: int) -> Invitation:
    invitation = (
        Invitation.objects.filter(partner__in=partners_visible(viewer=viewer), pk=invitation_id)
        .select_related("partner")
        .first()
    )
    if invitation is None:
        raise NotFound(_("No invitation %(invitation_id)s.") % {"invitation_id": invitation_id})
    return invitation


def may_invite(*, viewer: Any, partner: Partner) -> bool:
    """Whether to draw the invite form: the partner's owners, its account manager, staff
    (contracts.services checks again on write)."""
    return partner_managed_by(viewer=viewer, partner=partner) or (
        membership_role(viewer, partner) == PartnerMembership.Role.OWNER
    )


def account_managers() -> QuerySet[User]:
    return User.objects.filter(role=User.Role.ACCOUNT_MANAGER, is_active=True).order_by("username")


def payee_list(*, viewer: Any) -> QuerySet[Payee]:
    """Payees are the platform's own: finance and staff only."""
    if getattr(viewer, "role", None) not in (User.Role.FINANCE, User.Role.STAFF):
        return Payee.objects.none()
    return Payee.objects.order_by("kind", "name")


def notifications_stalled(*, older_than: timedelta | None = None, limit: int | None = None) -> list[int]:
    """Audit entries whose notices are still to be made since before `older_than` ago
    (settings.STALLED_WORK_AFTER), oldest first, at most `limit` (settings.STALLED_WORK_BATCH):
    their task's message was lost or the task failed. Making notices takes no lock and a
    second run makes none twice (one per person and entry), so age alone decides."""
    cutoff = timezone.now() - (settings.STALLED_WORK_AFTER if older_than is None else older_than)
    limit = settings.STALLED_WORK_BATCH if limit is None else limit
    return list(
        PendingNotification.objects.filter(created_at__lt=cutoff)
        .order_by("created_at", "audit_entry_id")
        .values_list("audit_entry_id", flat=True)[:limit]
    )
