"""Every write about partners, placements, contracts and API keys.

Each service checks that the actor's role allows the action, takes a row lock where two
people could act at once, records the transition and an audit entry, and queues the
notification task on commit.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import smtplib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
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
    PaymentProvider,
    PendingNotification,
    Placement,
    PlacementTransition,
)
from contracts.selectors import (
    contract_version_open,
    membership_role,
    next_period_start,
    partner_today,
    payee_slugs,
    period_start,
)
from contracts.terms import terms_validate
from core.currencies import is_known_currency
from core.errors import (
    ApplicationError,
    Conflict,
    ErrorCode,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from core.models import AuditLog, User
from core.queue import enqueue_on_commit
from core.services import audit_record
from employees.models import DigitalEmployee, Industry

logger = logging.getLogger(__name__)

S = Placement.Status
V = ContractVersion.Status


# --- role checks ----------------------------------------------------------------------


def _is_manager_of(actor: User, partner: Partner) -> bool:
    return actor.role == User.Role.STAFF or (
        actor.role == User.Role.ACCOUNT_MANAGER and partner.account_manager_id == actor.pk
    )


def _require_manager(actor: User, partner: Partner, doing: str) -> None:
    if not _is_manager_of(actor, partner):
        raise PermissionDenied(
            _("Only %(name)s's account manager can %(doing)s.") % {"name": partner.name, "doing": doing}
        )


def partner_member_require(actor: Any, partner: Partner, *, doing: str, owner: bool = False) -> str:
    """The guard of a partner's own actions: `actor` is a member (an owner with owner=True) of
    `partner`, else PermissionDenied naming who may. Returns the member's role."""
    role = membership_role(actor, partner)
    if role is None or (owner and role != PartnerMembership.Role.OWNER):
        who = "an owner" if owner else "a member"
        raise PermissionDenied(
            _("Only %(who)s of %(name)s can %(doing)s.") % {"who": who, "name": partner.name, "doing": doing}
        )
    return role


def _require_reason(reason: str, doing: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            _("A reason is required to %(doing)s.") % {"doing": doing}, fields={"reason": ["is required."]}
        )
    return reason


# --- audit + notifications -------------------------------------------------------------


def _audit(
    *,
    actor: User | None,
    action: str,
    target: Any,
    placement: Placement,
    summary: str,
    changes: dict[str, Any] | None = None,
    via: str | None = None,
) -> AuditLog:
    entry = audit_record(
        actor=actor,
        action=action,
        target=target,
        summary=summary,
        via=via,
        partner_id=placement.partner_id,
        changes={"placement": placement.pk, **(changes or {})},
    )
    notification_queue(entry=entry)
    return entry


def notification_queue(*, entry: AuditLog) -> None:
    """Have the people involved in `entry`'s placement notified, on a worker after commit.
    The PendingNotification row, written in the caller's transaction, stays until the
    notices are made: if the task's message is lost, the notifications sweep finds it."""
    PendingNotification.objects.create(audit_entry=entry)
    enqueue_on_commit("contracts.tasks.audit_entry_notify", entry.pk)


def _transition(
    placement: Placement,
    to_status: str,
    *,
    action: str,
    actor: User | None,
    reason: str = "",
    via: str | None = None,
) -> None:
    from_status = placement.status
    placement.status = to_status
    placement.save(update_fields=["status", "updated_at"])
    PlacementTransition.objects.create(
        placement=placement,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        actor_label=via or (actor.username if actor else "system"),
        reason=reason,
    )
    _audit(
        actor=actor,
        via=via,
        action=f"placement.{action}",
        target=placement,
        placement=placement,
        summary=f"{placement.employee.name} at {placement.partner.name}: {from_status} → {to_status}"
        + (f" ({reason})" if reason else ""),
        changes={"status": [from_status, to_status], "reason": reason},
    )


def _lock_placement(placement: Placement) -> Placement:
    return Placement.objects.select_for_update(of=("self",)).select_related("partner", "employee").get(pk=placement.pk)


def _expect(placement: Placement, allowed: tuple[str, ...], doing: str) -> None:
    if placement.status not in allowed:
        raise InvalidTransition(
            _("Cannot %(doing)s: the placement is %(status)s (allowed from %(join)s).")
            % {"doing": doing, "status": placement.status, "join": ", ".join(allowed)}
        )


INTERNAL_ACTIONS = {"contract.drafted", "contract.draft_edited"}


def notifications_send(*, audit_entry_id: int) -> int:
    """Notify everyone involved in the placement except the actor; return how many new
    notices were made. Safe to run again: existing notices are not repeated. Once they are
    all made, the entry is no longer pending."""
    made = _notices_make(audit_entry_id)
    PendingNotification.objects.filter(audit_entry_id=audit_entry_id).delete()
    return made


def _notices_make(audit_entry_id: int) -> int:
    entry = AuditLog.objects.filter(pk=audit_entry_id).select_related("actor").first()
    placement_id = (entry.changes or {}).get("placement") if entry else None
    if entry is None or placement_id is None:
        return 0
    placement = Placement.objects.filter(pk=placement_id).select_related("partner").first()
    if placement is None:
        return 0
    recipients: dict[int, tuple[User, str]] = {}
    portal_url = reverse("portal-placement", args=[placement.pk])
    console_url = reverse("console-placement", args=[placement.pk])
    for membership in placement.partner.memberships.select_related("user"):
        if membership.role == PartnerMembership.Role.OWNER or membership.user_id == placement.requested_by_id:
            recipients[membership.user_id] = (membership.user, portal_url)
    manager = placement.partner.account_manager
    if manager is not None:
        recipients[manager.pk] = (manager, console_url)
    if entry.action in INTERNAL_ACTIONS:
        # Drafts are the platform's work in progress: the partner hears when terms are sent.
        recipients = {pk: pair for pk, pair in recipients.items() if pair[1] == console_url}
    recipients.pop(entry.actor_id or 0, None)
    created_count = 0
    for user, url in recipients.values():
        _notice, created = Notification.objects.get_or_create(
            recipient=user, audit_entry=entry, defaults={"message": entry.summary, "url": url}
        )
        if created:
            created_count += 1
            if user.email:
                _notice_mail(user=user, summary=entry.summary, url=url)
    return created_count


def partner_owners_notify(*, entry: AuditLog, partner: Partner, url: str) -> int:
    """Notices of `entry` for `partner`'s owners, for what concerns the organisation as a
    whole rather than one placement (a webhook endpoint disabled after failing). Made at
    once, in the caller's transaction; safe to call twice (one notice per person and entry).
    A mail server that refuses is logged: the in-app notice stands."""
    made = 0
    owners = partner.memberships.filter(role=PartnerMembership.Role.OWNER).select_related("user")
    for membership in owners.order_by("pk"):
        if membership.user_id == entry.actor_id:
            continue
        _notice, created = Notification.objects.get_or_create(
            recipient=membership.user, audit_entry=entry, defaults={"message": entry.summary, "url": url}
        )
        if not created:
            continue
        made += 1
        if membership.user.email:
            try:
                _notice_mail(user=membership.user, summary=entry.summary, url=url)
            except (smtplib.SMTPException, OSError):
                logger.warning("could not mail %s about audit entry %s", membership.user_id, entry.pk, exc_info=True)
    return made


@transaction.atomic
def notification_mark_read(*, user: User, notification_ids: list[int] | None = None) -> int:
    notices = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        notices = notices.filter(pk__in=notification_ids)
    return notices.update(read_at=timezone.now())


# --- partners and payees ---------------------------------------------------------------

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _is_platform_staff(actor: User) -> bool:
    return actor.role == User.Role.STAFF or actor.is_superuser


def _check_slug(slug: str, fields: dict[str, list[str]]) -> str:
    slug = (slug or "").strip()
    if not SLUG.fullmatch(slug) or len(slug) > 64:
        fields["slug"] = ["use lower-case letters, digits and single hyphens, up to 64 characters."]
    return slug


def _check_name(name: str, fields: dict[str, list[str]], *, limit: int = 120) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > limit:
        fields["name"] = [f"is required, up to {limit} characters."]
    return name


@transaction.atomic
def partner_create(
    *,
    actor: User | None,
    slug: str,
    name: str,
    industry: str,
    currency: str,
    timezone_name: str,
    account_manager: User | None,
) -> Partner:
    """A new partner organisation. Account managers create partners they manage
    themselves; staff may assign any account manager (or none yet). `actor` None is the
    shell (seed data)."""
    if actor is not None:
        if not (_is_platform_staff(actor) or actor.role == User.Role.ACCOUNT_MANAGER):
            raise PermissionDenied(
                _("Only account managers and the platform's staff can create partner organisations.")
            )
        if actor.role == User.Role.ACCOUNT_MANAGER:
            if account_manager is not None and account_manager.pk != actor.pk:
                raise PermissionDenied(
                    "An account manager creates partners they manage themselves; "
                    "staff can assign a partner to another account manager.",
                    fields={"account_manager": ["must be yourself."]},
                )
            account_manager = actor
    fields: dict[str, list[str]] = {}
    slug = _check_slug(slug, fields)
    name = _check_name(name, fields)
    if not is_known_currency(currency):
        fields["currency"] = [f"unknown currency {currency!r}."]
    if industry not in Industry.values:
        fields["industry"] = [f"unknown industry {industry!r}."]
    try:
        ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        fields["timezone"] = [f"unknown time zone {timezone_name!r}."]
    if account_manager is not None and account_manager.role != User.Role.ACCOUNT_MANAGER:
        fields["account_manager"] = [f"{account_manager.username} is not an account manager."]
    if "slug" not in fields and Partner.objects.filter(slug=slug).exists():
        fields["slug"] = [f"{slug!r} is taken."]
    if fields:
        raise ValidationFailed(_("The partner is not valid."), fields=fields)
    partner = Partner.objects.create(
        slug=slug,
        name=name,
        industry=industry,
        currency=currency,
        timezone=timezone_name,
        account_manager=account_manager,
    )
    audit_record(
        actor=actor,
        action="partner.created",
        target=partner,
        partner_id=partner.pk,
        summary=f"Created partner {name}",
        changes={
            "slug": slug,
            "currency": currency,
            "timezone": timezone_name,
            "industry": industry,
            "account_manager": account_manager.username if account_manager else None,
        },
    )
    return partner


@transaction.atomic
def partner_member_add(
    *, actor: User | None, partner: Partner, user: User, role: str = PartnerMembership.Role.MEMBER
) -> PartnerMembership:
    if user.role != User.Role.PARTNER:
        raise ValidationFailed(_("%(username)s is platform staff, not a partner member.") % {"username": user.username})
    if PartnerMembership.objects.filter(user=user).exists():
        raise Conflict(_("%(username)s already belongs to a partner.") % {"username": user.username})
    membership = PartnerMembership.objects.create(user=user, partner=partner, role=role)
    audit_record(
        actor=actor,
        action="partner.member_added",
        target=partner,
        partner_id=partner.pk,
        summary=f"{user.username} joined {partner.name} as {role}",
    )
    return membership


# --- invitations -----------------------------------------------------------------------
# A person joins a partner through a link e-mailed to them: a long random token, stored
# only as a SHA-256 digest, working once and until it expires (INVITATION_TTL_HOURS).
# Accepting it creates their account with the invited role; the link is then spent.


class MailUnavailable(ApplicationError):
    """The e-mail could not be handed to the mail server: nothing was stored, try again."""

    code = ErrorCode.SERVICE_UNAVAILABLE
    status = 503


def invitation_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _notice_mail(*, user: User, summary: str, url: str) -> None:
    """A notice by e-mail, framed in the recipient's language (User.language, else the
    site's). The summary itself is the audit log's record, stored once, in English."""
    with translation.override(user.language or settings.LANGUAGE_CODE):
        body = _("%(summary)s\n\nSee %(url)s") % {"summary": summary, "url": url}
        send_mail(f"[Haken] {summary}", body, None, [user.email])


def _may_invite(actor: User, partner: Partner) -> bool:
    return _is_manager_of(actor, partner) or membership_role(actor, partner) == PartnerMembership.Role.OWNER


def _require_inviter(actor: User | None, partner: Partner) -> None:
    if actor is not None and not _may_invite(actor, partner):
        raise PermissionDenied(
            _("Only an owner of %(partner)s or its account manager can invite people to it.")
            % {"partner": partner.name}
        )


def _invitation_mail(*, invitation: Invitation, link: str) -> None:
    # In the inviter's language (the one active for their request): the invitee has none yet.
    inviter = invitation.invited_by.display_name if invitation.invited_by else "Haken"
    if invitation.role == PartnerMembership.Role.OWNER:
        invites = _("%(inviter)s invites you to join %(partner)s on Haken as an owner.")
    else:
        invites = _("%(inviter)s invites you to join %(partner)s on Haken as a member.")
    greeting = _("Hello %(name)s,") % {"name": invitation.name} if invitation.name else _("Hello,")
    body = (
        f"{greeting}\n\n"
        + invites % {"inviter": inviter, "partner": invitation.partner.name}
        + "\n\n"
        + _("Choose your user name and password here:\n%(link)s") % {"link": link}
        + "\n\n"
        + _("The link works once, until %(until)s UTC. If you did not expect this invitation, ignore this e-mail.")
        % {"until": f"{invitation.expires_at:%Y-%m-%d %H:%M}"}
        + "\n"
    )
    subject = _("[Haken] Join %(partner)s") % {"partner": invitation.partner.name}
    try:
        send_mail(subject, body, None, [invitation.email], fail_silently=False)
    except (OSError, smtplib.SMTPException) as error:
        logger.warning("invitation e-mail to %s not sent", invitation.email, exc_info=True)
        raise MailUnavailable(
            _("The invitation e-mail could not be sent just now; nothing was stored. Try again in a moment.")
        ) from error


def _close_invitation(invitation: Invitation, *, actor: User | None, reason: str) -> None:
    invitation.revoked_at, invitation.revoked_by = timezone.now(), actor
    invitation.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        actor=actor,
        action="invitation.revoked",
        target=invitation,
        partner_id=invitation.partner_id,
        summary=f"Invitation of {invitation.email} to {invitation.partner.name} withdrawn ({reason})",
        changes={"email": invitation.email, "role": invitation.role, "reason": reason},
    )


@transaction.atomic
def invitation_send(
    *,
    actor: User | None,
    partner: Partner,
    email: str,
    role: str = PartnerMembership.Role.MEMBER,
    name: str = "",
    site_url: str,
) -> Invitation:
    """Invite `email` to `partner` as `role` (owner or member), by an e-mailed link to
    `site_url`. An owner invites to their own organisation; its account manager and staff
    to any they manage. A pending invitation to the same address is withdrawn: the newest
    link is the one that works. The e-mail goes out last, inside the transaction, so a
    mail server that refuses it leaves nothing behind."""
    _require_inviter(actor, partner)
    fields: dict[str, list[str]] = {}
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        fields["email"] = ["must be an e-mail address."]
    if role not in PartnerMembership.Role.values:
        fields["role"] = [f"must be one of {', '.join(PartnerMembership.Role.values)}; got {role!r}."]
    name = " ".join((name or "").split())
    if len(name) > 150:
        fields["name"] = ["up to 150 characters."]
    if fields:
        raise ValidationFailed(_("The invitation is not valid."), fields=fields)
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(
            _("%(email)s already has a Haken account; one address is one account.") % {"email": email},
            fields={"email": ["already has an account."]},
        )
    # One invitation per partner at a time: superseding the old link and writing the new
    # one cannot interleave with another invitation to the same address.
    partner = Partner.objects.select_for_update().get(pk=partner.pk)
    for old in Invitation.objects.filter(
        partner=partner, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).select_related("partner"):
        _close_invitation(old, actor=actor, reason="a new invitation was sent")
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        partner=partner,
        email=email,
        name=name,
        role=role,
        token_digest=invitation_token_digest(token),
        invited_by=actor,
        expires_at=timezone.now() + timedelta(hours=settings.INVITATION_TTL_HOURS),
    )
    audit_record(
        actor=actor,
        action="invitation.sent",
        target=invitation,
        partner_id=partner.pk,
        summary=f"Invited {email} to {partner.name} as {role}",
        changes={"email": email, "role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    link = f"{site_url.rstrip('/')}{reverse('invitation-accept', args=[token])}"
    _invitation_mail(invitation=invitation, link=link)
    return invitation


@transaction.atomic
def invitation_revoke(*, actor: User, invitation: Invitation) -> Invitation:
    invitation = Invitation.objects.select_for_update(of=("self",)).select_related("partner").get(pk=invitation.pk)
    _require_inviter(actor, invitation.partner)
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise InvalidTransition(
            _("The invitation of %(email)s is %(status)s; only one not yet used can be withdrawn.")
            % {"email": invitation.email, "status": invitation.status}
        )
    _close_invitation(invitation, actor=actor, reason=f"withdrawn by {actor.username}")
    return invitation


def invitation_for_token(*, token: str, lock: bool = False) -> Invitation:
    """The invitation a link's token names, if it may still be accepted; else the reason
    it may not, as the error to show."""
    invitations = Invitation.objects.select_related("partner", "invited_by")
    if lock:
        invitations = invitations.select_for_update(of=("self",))
    invitation = invitations.filter(token_digest=invitation_token_digest(token or "")).first()
    if invitation is None:
        raise NotFound(
            "This invitation link is not valid. Check that you opened the whole link from the e-mail, "
            "or ask for a new invitation."
        )
    status = invitation.status
    if status == "accepted":
        raise InvalidTransition(_("This invitation has already been used. Sign in with the account it created."))
    if status == "revoked":
        raise InvalidTransition(
            "This invitation was withdrawn (a newer one may have been sent). "
            f"Ask {invitation.partner.name}'s owner or account manager for a new one."
        )
    if status == "expired":
        raise InvalidTransition(
            f"This invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. "
            f"Ask {invitation.partner.name}'s owner or account manager for a new one."
        )
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, username: str, password: str) -> User:
    """Spend an invitation: the person's account (a partner member with the invited
    role), its membership, and the invitation marked used. Returns the new user."""
    invitation = invitation_for_token(token=token, lock=True)
    fields: dict[str, list[str]] = {}
    username = (username or "").strip()
    try:
        if not username or len(username) > 150:
            raise DjangoValidationError("is required, up to 150 characters.")
        User.username_validator(username)
    except DjangoValidationError as error:
        fields["username"] = list(error.messages)
    else:
        if User.objects.filter(username__iexact=username).exists():
            fields["username"] = [f"{username!r} is taken; choose another."]
    candidate = User(
        username=username, email=invitation.email, first_name=invitation.name[:150], role=User.Role.PARTNER
    )
    try:
        validate_password(password or "", user=candidate)
    except DjangoValidationError as error:
        fields["password"] = list(error.messages)
    if fields:
        raise ValidationFailed(_("Choose a user name and password that can be used."), fields=fields)
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise Conflict(
            _("%(email)s got a Haken account since this invitation was sent; sign in with it.")
            % {"email": invitation.email}
        )
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError as error:  # the same name chosen at the same moment by someone else
        raise Conflict(
            _("%(username)r was just taken; choose another.") % {"username": username},
            fields={"username": [f"{username!r} is taken; choose another."]},
        ) from error
    partner_member_add(actor=candidate, partner=invitation.partner, user=candidate, role=invitation.role)
    invitation.accepted_at, invitation.accepted_user = timezone.now(), candidate
    invitation.save(update_fields=["accepted_at", "accepted_user"])
    audit_record(
        actor=candidate,
        action="invitation.accepted",
        target=invitation,
        partner_id=invitation.partner_id,
        summary=f"{username} accepted the invitation to {invitation.partner.name} as {invitation.role}",
        changes={"email": invitation.email, "role": invitation.role, "username": username},
    )
    return candidate


@dataclass(frozen=True)
class OnboardedPartner:
    partner: Partner
    owner_invitation: Invitation


@transaction.atomic
def partner_onboard(
    *,
    actor: User,
    slug: str,
    name: str,
    industry: str,
    currency: str,
    timezone_name: str,
    account_manager: User | None,
    owner_email: str,
    owner_name: str = "",
    site_url: str,
) -> OnboardedPartner:
    """A partner organisation and the invitation of its first owner, together: a partner
    nobody can sign in to is of no use, and a bad owner address must not leave one behind."""
    partner = partner_create(
        actor=actor,
        slug=slug,
        name=name,
        industry=industry,
        currency=currency,
        timezone_name=timezone_name,
        account_manager=account_manager,
    )
    try:
        invitation = invitation_send(
            actor=actor,
            partner=partner,
            email=owner_email,
            name=owner_name,
            role=PartnerMembership.Role.OWNER,
            site_url=site_url,
        )
    except ValidationFailed as error:
        # The owner's fields, named as the partner form names them.
        renamed = {{"email": "owner_email", "name": "owner_name"}.get(k, k): v for k, v in error.fields.items()}
        raise ValidationFailed(error.message, fields=renamed) from error
    except Conflict as error:
        raise Conflict(error.message, fields={"owner_email": error.fields.get("email", [error.message])}) from error
    return OnboardedPartner(partner=partner, owner_invitation=invitation)


@transaction.atomic
def payee_create(
    *,
    actor: User | None,
    slug: str,
    name: str,
    kind: str,
    payment_provider: str = "",
    minimum_payout: int = 0,
    hold_days: int = 0,
    email: str = "",
) -> Payee:
    """A new payee (a studio or a reseller; the platform's own exists once), with how it
    is paid. Finance onboards it to Stripe Connect from the Payees page afterwards.
    `actor` None is the shell (seed data)."""
    if actor is not None and not (_is_platform_staff(actor) or actor.role == User.Role.FINANCE):
        raise PermissionDenied(_("Only finance can create payees."))
    fields: dict[str, list[str]] = {}
    slug = _check_slug(slug, fields)
    name = _check_name(name, fields)
    if kind not in Payee.Kind.values:
        fields["kind"] = [f"must be one of {', '.join(Payee.Kind.values)}; got {kind!r}."]
    if payment_provider not in PaymentProvider.values:
        fields["payment_provider"] = [f"unknown provider {payment_provider!r}."]
    if not isinstance(minimum_payout, int) or isinstance(minimum_payout, bool) or not 0 <= minimum_payout < 2**63:
        fields["minimum_payout"] = ["must be a whole number of minor units, 0 or more."]
    if not isinstance(hold_days, int) or isinstance(hold_days, bool) or not 0 <= hold_days <= 365:
        fields["hold_days"] = ["must be between 0 and 365."]
    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            fields["email"] = ["must be an e-mail address."]
    if fields:
        raise ValidationFailed(_("The payee is not valid."), fields=fields)
    if Payee.objects.filter(slug=slug).exists():
        raise ValidationFailed(_("A payee %(slug)r exists.") % {"slug": slug}, fields={"slug": ["taken"]})
    if kind == Payee.Kind.PLATFORM and Payee.objects.filter(kind=Payee.Kind.PLATFORM).exists():
        raise Conflict(
            _("The platform is a payee once; its share is the platform's revenue."),
            fields={"kind": ["the platform payee exists."]},
        )
    payee = Payee.objects.create(
        slug=slug,
        name=name,
        kind=kind,
        payment_provider=payment_provider,
        minimum_payout=minimum_payout,
        hold_days=hold_days,
        email=email,
    )
    audit_record(
        actor=actor,
        action="payee.created",
        target=payee,
        summary=f"Created payee {name}",
        changes={
            "slug": slug,
            "kind": kind,
            "payment_provider": payment_provider,
            "minimum_payout": minimum_payout,
            "hold_days": hold_days,
            "email": email,
        },
    )
    return payee


PAYEE_PAYMENT_FIELDS = ("payment_provider", "minimum_payout", "hold_days", "email")


@transaction.atomic
def payee_payment_settings_update(
    *,
    actor: User,
    payee: Payee,
    payment_provider: str,
    minimum_payout: int,
    hold_days: int,
    email: str = "",
) -> Payee:
    """Finance sets how a payee is paid: provider, minimum payout, hold period."""
    if actor.role not in (User.Role.FINANCE, User.Role.STAFF):
        raise PermissionDenied(_("Only finance can change how payees are paid."))
    fields: dict[str, list[str]] = {}
    if payment_provider not in PaymentProvider.values:
        fields["payment_provider"] = [f"unknown provider {payment_provider!r}."]
    if not isinstance(minimum_payout, int) or isinstance(minimum_payout, bool) or minimum_payout < 0:
        fields["minimum_payout"] = ["must be a whole number of minor units, 0 or more."]
    if not isinstance(hold_days, int) or isinstance(hold_days, bool) or not 0 <= hold_days <= 365:
        fields["hold_days"] = ["must be between 0 and 365."]
    if fields:
        raise ValidationFailed(_("The payment settings are not valid."), fields=fields)
    payee = Payee.objects.select_for_update().get(pk=payee.pk)
    before = {name: getattr(payee, name) for name in PAYEE_PAYMENT_FIELDS}
    payee.payment_provider, payee.minimum_payout, payee.hold_days = payment_provider, minimum_payout, hold_days
    payee.email = (email or "").strip()
    payee.save(update_fields=list(PAYEE_PAYMENT_FIELDS))
    after = {name: getattr(payee, name) for name in PAYEE_PAYMENT_FIELDS}
    audit_record(
        actor=actor,
        action="payee.payment_settings",
        target=payee,
        summary=f"Payment settings of {payee.name} changed",
        changes={name: [before[name], after[name]] for name in PAYEE_PAYMENT_FIELDS if before[name] != after[name]},
    )
    return payee


@transaction.atomic
def payee_stripe_account_record(*, actor: User | None, payee: Payee, account_id: str) -> Payee:
    """Remember the payee's Stripe Connect account (made by payments.services.payouts)."""
    payee = Payee.objects.select_for_update().get(pk=payee.pk)
    if payee.stripe_account_id == account_id:
        return payee
    if payee.stripe_account_id:
        raise Conflict(
            _("%(name)s already has the Connect account %(stripe_account_id)s.")
            % {"name": payee.name, "stripe_account_id": payee.stripe_account_id}
        )
    payee.stripe_account_id = account_id
    payee.save(update_fields=["stripe_account_id"])
    audit_record(
        actor=actor,
        action="payee.connect_account",
        target=payee,
        summary=f"{payee.name} has the Stripe Connect account {account_id}",
    )
    return payee


@transaction.atomic
def partner_stripe_customer_record(*, partner: Partner, customer_id: str) -> Partner:
    """Remember the partner's Stripe customer (made on its first invoice)."""
    partner = Partner.objects.select_for_update().get(pk=partner.pk)
    if partner.stripe_customer_id != customer_id:
        if partner.stripe_customer_id:
            raise Conflict(
                _("%(name)s is already the Stripe customer %(stripe_customer_id)s.")
                % {"name": partner.name, "stripe_customer_id": partner.stripe_customer_id}
            )
        partner.stripe_customer_id = customer_id
        partner.save(update_fields=["stripe_customer_id"])
        audit_record(
            actor=None,
            action="partner.stripe_customer",
            target=partner,
            partner_id=partner.pk,
            summary=f"{partner.name} is the Stripe customer {customer_id}",
            via="stripe",
        )
    return partner


# --- placements ----------------------------------------------------------------------


@transaction.atomic
def placement_request(*, actor: User, employee: DigitalEmployee, note: str = "") -> Placement:
    """A partner member asks to hire `employee`."""
    if actor.role != User.Role.PARTNER or not PartnerMembership.objects.filter(user=actor).exists():
        raise PermissionDenied(_("Only a partner member can hire a digital employee."))
    partner = actor.membership.partner
    if not employee.is_hireable:
        raise InvalidTransition(
            _("%(name)s is %(status)s and cannot be hired.") % {"name": employee.name, "status": employee.status}
        )
    # Lock the partner row so two members hiring the same employee at once get one hire.
    Partner.objects.select_for_update().get(pk=partner.pk)
    if Placement.objects.filter(partner=partner, employee=employee).exclude(status=S.ENDED).exists():
        raise Conflict(
            _("%(name)s already has %(name2)s (or a request for them) open.")
            % {"name": partner.name, "name2": employee.name}
        )
    placement = Placement.objects.create(
        partner=partner, employee=employee, requested_by=actor, request_note=note.strip()
    )
    PlacementTransition.objects.create(
        placement=placement,
        from_status="",
        to_status=S.REQUESTED,
        actor=actor,
        actor_label=actor.username,
        reason=note.strip(),
    )
    _audit(
        actor=actor,
        action="placement.requested",
        target=placement,
        placement=placement,
        summary=f"{partner.name} asked to hire {employee.name}",
        changes={"status": [None, S.REQUESTED], "note": note.strip()},
    )
    return placement


@transaction.atomic
def placement_approve(*, actor: User, placement: Placement, reason: str = "") -> Placement:
    placement = _lock_placement(placement)
    _require_manager(actor, placement.partner, "approve a hire")
    _expect(placement, (S.REQUESTED,), "approve")
    _transition(placement, S.APPROVED, action="approved", actor=actor, reason=reason.strip())
    Contract.objects.create(placement=placement, currency=placement.partner.currency)
    return placement


@transaction.atomic
def placement_decline(*, actor: User, placement: Placement, reason: str) -> Placement:
    placement = _lock_placement(placement)
    _require_manager(actor, placement.partner, "decline a hire")
    _expect(placement, (S.REQUESTED,), "decline")
    _transition(placement, S.ENDED, action="declined", actor=actor, reason=_require_reason(reason, "decline a hire"))
    return placement


@transaction.atomic
def placement_withdraw(*, actor: User, placement: Placement, reason: str = "") -> Placement:
    """The partner takes back a request nobody has approved yet."""
    placement = _lock_placement(placement)
    partner_member_require(actor, placement.partner, doing="withdraw a hire request")
    _expect(placement, (S.REQUESTED,), "withdraw")
    _transition(
        placement, S.ENDED, action="withdrawn", actor=actor, reason=reason.strip() or "Withdrawn by the partner"
    )
    return placement


@transaction.atomic
def placement_pause(*, actor: User, placement: Placement, reason: str) -> Placement:
    placement = _lock_placement(placement)
    _require_manager(actor, placement.partner, "pause a placement")
    _expect(placement, (S.ACTIVE,), "pause")
    _transition(placement, S.PAUSED, action="paused", actor=actor, reason=_require_reason(reason, "pause a placement"))
    return placement


@transaction.atomic
def placement_resume(*, actor: User, placement: Placement, reason: str = "") -> Placement:
    placement = _lock_placement(placement)
    _require_manager(actor, placement.partner, "resume a placement")
    _expect(placement, (S.PAUSED,), "resume")
    _transition(placement, S.ACTIVE, action="resumed", actor=actor, reason=reason.strip())
    return placement


@transaction.atomic
def placement_end(*, actor: User, placement: Placement, reason: str) -> Placement:
    """The account manager or a partner owner ends a placement for good."""
    placement = _lock_placement(placement)
    if not _is_manager_of(actor, placement.partner):
        partner_member_require(actor, placement.partner, doing="end a placement", owner=True)
    _expect(placement, (S.APPROVED, S.ACTIVE, S.PAUSED), "end")
    reason = _require_reason(reason, "end a placement")
    _transition(placement, S.ENDED, action="ended", actor=actor, reason=reason)
    open_version = contract_version_open(contract=placement.contract)
    if open_version is not None:
        # Lock it and look again: the partner may have accepted or rejected it since it was
        # read, and decided terms stay decided (the database refuses to change them).
        open_version = ContractVersion.objects.select_for_update().get(pk=open_version.pk)
    if open_version is not None and open_version.status in (V.DRAFT, V.PROPOSED):
        before = open_version.status
        open_version.status = V.WITHDRAWN
        open_version.decided_at = timezone.now()
        open_version.decided_by = actor
        open_version.decision_note = "Placement ended"
        open_version.save(update_fields=["status", "decided_at", "decided_by", "decision_note"])
        _audit(
            actor=actor,
            action="contract.withdrawn",
            target=open_version,
            placement=placement,
            summary=f"Withdrew v{open_version.number} of the contract for {placement}: placement ended",
            changes={"version": open_version.number, "status": [before, V.WITHDRAWN], "reason": "Placement ended"},
        )
    return placement


def placements_activate_due(*, now: datetime | None = None) -> list[int]:
    """Approved placements whose accepted contract has started become active. Run by beat;
    each placement is activated in its own transaction under a row lock, so two beats at
    once activate it once."""
    activated: list[int] = []
    candidates = (
        Placement.objects.filter(status=S.APPROVED, contract__versions__status=V.ACCEPTED)
        .select_related("partner")
        .distinct()
    )
    for placement in candidates:
        with transaction.atomic():
            locked = _lock_placement(placement)
            if locked.status != S.APPROVED:
                continue
            today = partner_today(partner=locked.partner, now=now)
            if not locked.contract.versions.filter(status=V.ACCEPTED, effective_from__lte=today).exists():
                continue
            _transition(
                locked, S.ACTIVE, action="activated", actor=None, via="system:beat", reason="Contract took effect"
            )
            activated.append(locked.pk)
    return activated


# --- contract versions ---------------------------------------------------------------


def _check_effective_from(
    contract: Contract, effective_from: date, *, today: date, exclude_pk: int | None = None
) -> None:
    if effective_from.day != 1:
        raise ValidationFailed(
            _("A contract version starts at a period boundary (the 1st of a month)."),
            fields={"effective_from": [f"{effective_from} is not the first day of a month."]},
        )
    accepted = contract.versions.filter(status=V.ACCEPTED)
    if exclude_pk is not None:
        accepted = accepted.exclude(pk=exclude_pk)
    latest = accepted.order_by("-effective_from").first()
    if latest is None:
        earliest = period_start(today)
        if effective_from < earliest:
            raise ValidationFailed(
                _("A contract cannot start in a period that has already begun before this month."),
                fields={"effective_from": [f"must be {earliest} or later."]},
            )
    else:
        # An amendment takes effect from a later period start than anything in force, and
        # never rewrites the current period.
        earliest = max(next_period_start(today), next_period_start(latest.effective_from))
        if effective_from < earliest:
            raise ValidationFailed(
                _("An amendment takes effect from a later period start."),
                fields={"effective_from": [f"must be {earliest} or later."]},
            )


def _validated_terms(contract: Contract, terms: object) -> dict[str, Any]:
    return terms_validate(terms, known_payees=payee_slugs(), required_currency=contract.currency)


@transaction.atomic
def contract_version_draft(
    *, actor: User, placement: Placement, terms: object, effective_from: date
) -> ContractVersion:
    placement = _lock_placement(placement)
    _require_manager(actor, placement.partner, "draft contract terms")
    _expect(placement, (S.APPROVED, S.ACTIVE, S.PAUSED), "draft terms")
    contract = placement.contract
    existing = contract_version_open(contract=contract)
    if existing is not None:
        raise Conflict(
            _("Version %(number)s is still %(status)s; edit or withdraw it first.")
            % {"number": existing.number, "status": existing.status}
        )
    canonical = _validated_terms(contract, terms)
    _check_effective_from(contract, effective_from, today=partner_today(partner=placement.partner))
    number = (contract.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    version = ContractVersion.objects.create(
        contract=contract,
        number=number,
        terms=canonical,
        effective_from=effective_from,
        created_by=actor,
    )
    _audit(
        actor=actor,
        action="contract.drafted",
        target=version,
        placement=placement,
        summary=f"Drafted v{number} of {placement}'s contract, from {effective_from}",
        changes={"version": number, "terms": canonical, "effective_from": str(effective_from)},
    )
    return version


def _lock_version(version: ContractVersion) -> ContractVersion:
    return (
        ContractVersion.objects.select_for_update(of=("self",))
        .select_related("contract__placement__partner", "contract__placement__employee")
        .get(pk=version.pk)
    )


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


@transaction.atomic
def contract_version_update(
    *, actor: User, version: ContractVersion, terms: object, effective_from: date
) -> ContractVersion:
    version = _lock_version(version)
    placement = version.contract.placement
    _require_manager(actor, placement.partner, "edit contract terms")
    if version.status != V.DRAFT:
        raise InvalidTransition(
            _("Version %(number)s is %(status)s; only a draft can change.")
            % {"number": version.number, "status": version.status}
        )
    canonical = _validated_terms(version.contract, terms)
    _check_effective_from(version.contract, effective_from, today=partner_today(partner=placement.partner))
    changes = _diff(version.terms, canonical)
    if version.effective_from != effective_from:
        changes["effective_from"] = [str(version.effective_from), str(effective_from)]
    version.terms = canonical
    version.effective_from = effective_from
    version.save(update_fields=["terms", "effective_from"])
    _audit(
        actor=actor,
        action="contract.draft_edited",
        target=version,
        placement=placement,
        summary=f"Edited draft v{version.number} of {placement}'s contract",
        changes={"version": version.number, "diff": changes},
    )
    return version


@transaction.atomic
def contract_version_propose(*, actor: User, version: ContractVersion) -> ContractVersion:
    version = _lock_version(version)
    placement = version.contract.placement
    _require_manager(actor, placement.partner, "send contract terms")
    if version.status != V.DRAFT:
        raise InvalidTransition(
            _("Version %(number)s is %(status)s; only a draft can be sent.")
            % {"number": version.number, "status": version.status}
        )
    if placement.status == S.ENDED:
        raise InvalidTransition(_("The placement has ended."))
    # Time may have passed since drafting: check the start date again.
    _check_effective_from(version.contract, version.effective_from, today=partner_today(partner=placement.partner))
    version.status = V.PROPOSED
    version.proposed_at = timezone.now()
    version.save(update_fields=["status", "proposed_at"])
    _audit(
        actor=actor,
        action="contract.proposed",
        target=version,
        placement=placement,
        summary=f"Sent v{version.number} of the contract for {placement} to {placement.partner.name}",
        changes={"version": version.number, "status": [V.DRAFT, V.PROPOSED]},
    )
    return version


@transaction.atomic
def contract_version_withdraw(*, actor: User, version: ContractVersion, reason: str = "") -> ContractVersion:
    version = _lock_version(version)
    placement = version.contract.placement
    _require_manager(actor, placement.partner, "withdraw contract terms")
    if version.status not in (V.DRAFT, V.PROPOSED):
        raise InvalidTransition(
            _("Version %(number)s is %(status)s; it cannot be withdrawn.")
            % {"number": version.number, "status": version.status}
        )
    before = version.status
    version.status = V.WITHDRAWN
    version.decided_by = actor
    version.decided_at = timezone.now()
    version.decision_note = reason.strip()
    version.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    _audit(
        actor=actor,
        action="contract.withdrawn",
        target=version,
        placement=placement,
        summary=f"Withdrew v{version.number} of the contract for {placement}",
        changes={"version": version.number, "status": [before, V.WITHDRAWN], "reason": reason},
    )
    return version


@transaction.atomic
def contract_version_accept(*, actor: User, version: ContractVersion) -> ContractVersion:
    # The placement first, then the version: the order placement_end takes them in, so an
    # acceptance and an end at the same moment wait for each other instead of deadlocking.
    placement = _lock_placement(version.contract.placement)
    version = _lock_version(version)
    partner_member_require(actor, placement.partner, doing="accept contract terms", owner=True)
    if version.status != V.PROPOSED:
        raise InvalidTransition(
            _("Version %(number)s is %(status)s; only proposed terms can be accepted.")
            % {"number": version.number, "status": version.status}
        )
    today = partner_today(partner=placement.partner)
    try:
        _check_effective_from(version.contract, version.effective_from, today=today)
    except ValidationFailed as error:
        raise InvalidTransition(
            f"These terms were to start on {version.effective_from}, which has passed; "
            "ask your account manager for new terms.",
            fields=error.fields,
        ) from error
    version.status = V.ACCEPTED
    version.decided_by = actor
    version.decided_at = timezone.now()
    version.save(update_fields=["status", "decided_by", "decided_at"])
    _audit(
        actor=actor,
        action="contract.accepted",
        target=version,
        placement=placement,
        summary=f"{placement.partner.name} accepted v{version.number} of the contract for "
        f"{placement.employee.name}, from {version.effective_from}",
        changes={"version": version.number, "status": [V.PROPOSED, V.ACCEPTED]},
    )
    if placement.status == S.APPROVED and version.effective_from <= today:
        _transition(placement, S.ACTIVE, action="activated", actor=actor, reason=f"Accepted contract v{version.number}")
    return version


@transaction.atomic
def contract_version_reject(*, actor: User, version: ContractVersion, reason: str) -> ContractVersion:
    version = _lock_version(version)
    placement = version.contract.placement
    partner_member_require(actor, placement.partner, doing="reject contract terms", owner=True)
    if version.status != V.PROPOSED:
        raise InvalidTransition(
            _("Version %(number)s is %(status)s; only proposed terms can be rejected.")
            % {"number": version.number, "status": version.status}
        )
    reason = _require_reason(reason, "reject contract terms")
    version.status = V.REJECTED
    version.decided_by = actor
    version.decided_at = timezone.now()
    version.decision_note = reason
    version.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    _audit(
        actor=actor,
        action="contract.rejected",
        target=version,
        placement=placement,
        summary=f"{placement.partner.name} rejected v{version.number} of the contract for "
        f"{placement.employee.name}: {reason}",
        changes={"version": version.number, "status": [V.PROPOSED, V.REJECTED], "reason": reason},
    )
    return version


# --- API keys ------------------------------------------------------------------------

API_KEY_PREFIX = "hk_live_"
# Updating last_used_at on every call would turn each read into a write; once a minute
# is precise enough for "is this key still in use?".
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedApiKey:
    key: PartnerApiKey
    secret: str  # the full key: shown to the person once, never stored


def api_key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, actor: User, partner: Partner, name: str) -> IssuedApiKey:
    partner_member_require(actor, partner, doing="create API keys", owner=True)
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationFailed(
            _("Give the key a name (up to 80 characters) so you can tell keys apart."),
            fields={"name": ["is required, up to 80 characters."]},
        )
    prefix = secrets.token_hex(4)
    raw = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = PartnerApiKey.objects.create(
        partner=partner, name=name, prefix=prefix, key_digest=api_key_digest(raw), created_by=actor
    )
    audit_record(
        actor=actor,
        action="api_key.created",
        target=key,
        partner_id=partner.pk,
        summary=f"Created API key {name!r} ({prefix}…) for {partner.name}",
    )
    return IssuedApiKey(key=key, secret=raw)


@transaction.atomic
def api_key_revoke(*, actor: User, key: PartnerApiKey) -> PartnerApiKey:
    key = PartnerApiKey.objects.select_for_update().select_related("partner").get(pk=key.pk)
    partner_member_require(actor, key.partner, doing="revoke API keys", owner=True)
    if key.revoked_at is not None:
        raise InvalidTransition(f"Key {key.prefix}… was already revoked on {key.revoked_at:%Y-%m-%d}.")
    key.revoked_at = timezone.now()
    key.revoked_by = actor
    key.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        actor=actor,
        action="api_key.revoked",
        target=key,
        partner_id=key.partner_id,
        summary=f"Revoked API key {key.name!r} ({key.prefix}…)",
    )
    return key


def api_key_authenticate(*, raw_key: str) -> PartnerApiKey | None:
    """The active key matching `raw_key`, or None. The digest comparison runs in constant
    time so response timing reveals nothing about how much of a guess was right."""
    if not raw_key.startswith(API_KEY_PREFIX):
        return None
    prefix = raw_key[len(API_KEY_PREFIX) :].split("_", 1)[0]
    key = PartnerApiKey.objects.filter(prefix=prefix).select_related("partner").first()
    digest = api_key_digest(raw_key)
    if key is None or not hmac.compare_digest(key.key_digest, digest) or key.revoked_at is not None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        PartnerApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        key.last_used_at = now
    return key
