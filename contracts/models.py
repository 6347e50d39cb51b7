from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from core.currencies import CURRENCY_CHOICES
from employees.models import DigitalEmployee, Industry


class PaymentProvider(models.TextChoices):
    DEFAULT = "", _("Default (Stripe when configured, else manual)")
    STRIPE = "stripe", _("Stripe")
    MANUAL = "manual", _("Manual (CSV export)")


class Partner(models.Model):
    """A business that hires digital employees."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    industry = models.CharField(max_length=40, choices=Industry.choices)
    # The currency the partner reports sales and is invoiced in; contracts use it too.
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    # Periods (and so "a sale's month") are cut at midnight in this zone (DESIGN.md §5a).
    timezone = models.CharField(max_length=64, default="UTC")
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="managed_partners",
        limit_choices_to={"role": "account_manager"},
    )
    # How the partner is invoiced (payments.providers): "" follows the settings (Stripe when
    # STRIPE_API_KEY is set, else manual); the Stripe customer is created on first invoice.
    payment_provider = models.CharField(max_length=16, choices=PaymentProvider.choices, blank=True, default="")
    stripe_customer_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PartnerMembership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MEMBER = "member", _("Member")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"{self.user} ({self.role} of {self.partner})"


class Payee(models.Model):
    """Who receives a part of each wage: the platform, the studio that built the employee,
    a reseller. Contract terms name payees by slug."""

    class Kind(models.TextChoices):
        PLATFORM = "platform", _("Platform")
        STUDIO = "studio", _("Studio")
        RESELLER = "reseller", _("Reseller")

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # How the payee is paid out (payments.providers): "" follows the settings, like Partner.
    payment_provider = models.CharField(max_length=16, choices=PaymentProvider.choices, blank=True, default="")
    stripe_account_id = models.CharField(max_length=64, blank=True, default="")
    # A payout run pays a payee only when at least this much (minor units, per currency)
    # is due, and only money collected at least `hold_days` ago.
    minimum_payout = models.BigIntegerField(default=0)
    hold_days = models.PositiveIntegerField(default=0)
    email = models.EmailField(blank=True, default="")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=Q(kind="platform"), name="payee_one_platform"),
            models.CheckConstraint(condition=Q(minimum_payout__gte=0), name="payee_minimum_payout_nonnegative"),
        ]

    def __str__(self) -> str:
        return self.name


class Placement(models.Model):
    """A hire: one digital employee working for one partner."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="placements")
    employee = models.ForeignKey(DigitalEmployee, on_delete=models.PROTECT, related_name="placements")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_placements"
    )
    request_note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A partner cannot hire the same employee twice at once.
            models.UniqueConstraint(
                fields=["partner", "employee"],
                condition=~Q(status="ended"),
                name="placement_one_open_per_partner_employee",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["requested", "approved", "active", "paused", "ended"]),
                name="placement_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.employee.name} at {self.partner.name}"


class PlacementTransition(models.Model):
    placement = models.ForeignKey(Placement, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    actor_label = models.CharField(max_length=120)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.placement_id}: {self.from_status or '—'} → {self.to_status}"


class Contract(models.Model):
    """The revenue-share agreement of one placement. Its terms live in versions."""

    placement = models.OneToOneField(Placement, on_delete=models.PROTECT, related_name="contract")
    # Fixed for the contract's life: amendments may change rates, not the currency.
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"Contract for {self.placement}"


class ContractVersion(models.Model):
    """One set of terms (DESIGN.md §5a). Editable only as a draft; once proposed its terms
    and start date are frozen, which a database trigger enforces (migration 0002)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PROPOSED = "proposed", _("Proposed to partner")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    terms = models.JSONField()
    effective_from = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=now)
    proposed_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["contract_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "number"], name="contract_version_number"),
            models.UniqueConstraint(
                fields=["contract", "effective_from"],
                condition=Q(status="accepted"),
                name="contract_one_accepted_version_per_start",
            ),
            # One set of terms under discussion at a time keeps the partner's choice clear.
            models.UniqueConstraint(
                fields=["contract"],
                condition=Q(status__in=["draft", "proposed"]),
                name="contract_one_open_version",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "proposed", "accepted", "rejected", "withdrawn"]),
                name="contract_version_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.number} of {self.contract} from {self.effective_from}"


class PartnerApiKey(models.Model):
    """A partner system's credential. Only a SHA-256 digest of the key is stored; the key
    itself is shown once, at creation. Keys are long random strings, so a fast digest is
    as safe here as a slow password hash and keeps every API call cheap."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    key_digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Notification(models.Model):
    """An in-app notice for one person about one audited change. The unique pair makes
    the notifying task safe to run twice."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    audit_entry = models.ForeignKey("core.AuditLog", on_delete=models.PROTECT, related_name="+")
    message = models.CharField(max_length=300)
    url = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["recipient", "audit_entry"], name="notification_once_per_entry")]

    def __str__(self) -> str:
        return f"to {self.recipient_id}: {self.message}"


class PendingNotification(models.Model):
    """An audit entry whose notices are still to be made: written with the entry, in its
    transaction, and deleted once notifications_send has made them. A notice alone cannot
    tell "sent" from "lost": many entries rightly notify nobody (a draft by the only
    manager). So this row is how the notifications sweep finds an entry whose task was
    lost (the broker was down) or failed."""

    audit_entry = models.OneToOneField("core.AuditLog", primary_key=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"notify audit entry {self.audit_entry_id}"


class Invitation(models.Model):
    """An invitation to join a partner organisation, sent by e-mail as a link.

    Only a SHA-256 digest of the link's token is stored (like API keys: the token is long
    and random, so a fast digest is as safe as a slow hash). The link works once, until
    `expires_at`; accepting it creates the person's account with the membership role
    below. A newer invitation to the same address revokes the older one, so at most one
    link per partner and address works at any time (the partial unique index)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="invitations")
    # Kept lower-cased by the service: one address, however it was typed.
    email = models.EmailField()
    name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=16, choices=PartnerMembership.Role.choices)
    token_digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="invitation"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_partner_email",
            ),
            models.CheckConstraint(condition=Q(role__in=["owner", "member"]), name="invitation_role_valid"),
            models.CheckConstraint(
                condition=~Q(accepted_at__isnull=False, revoked_at__isnull=False),
                name="invitation_accepted_or_revoked",
            ),
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(accepted_user__isnull=False),
                name="invitation_accepted_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.partner} as {self.role}"

    def status_at(self, moment) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= moment else "pending"

    @property
    def status(self) -> str:
        return self.status_at(now())
