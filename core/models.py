from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person. Partner members belong to one partner (contracts.PartnerMembership);
    the other roles are the platform's own staff."""

    class Role(models.TextChoices):
        PARTNER = "partner", _("Partner member")
        ACCOUNT_MANAGER = "account_manager", _("Account manager")
        FINANCE = "finance", _("Finance")
        STAFF = "staff", _("Staff")

    role = models.CharField(max_length=32, choices=Role.choices, default=Role.PARTNER)
    # The zone the platform's own people read times in (IANA name); blank follows
    # settings.TIME_ZONE. Partner members read their partner's zone instead.
    time_zone = models.CharField(max_length=64, blank=True, default="")
    # The language the person chose for the web pages (a code of settings.LANGUAGES); blank
    # follows the browser (core.middleware.UserLanguageMiddleware).
    language = models.CharField(max_length=8, blank=True, default="")

    @property
    def is_partner_member(self) -> bool:
        return self.role == self.Role.PARTNER

    @property
    def is_account_manager(self) -> bool:
        return self.role == self.Role.ACCOUNT_MANAGER

    @property
    def is_finance(self) -> bool:
        return self.role == self.Role.FINANCE

    @property
    def is_platform_staff(self) -> bool:
        return self.role == self.Role.STAFF

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class AuditLog(models.Model):
    """Append-only record of who changed what. The database refuses UPDATE and DELETE
    (trigger in migration 0002), so history cannot be rewritten from the app either."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries")
    # How the actor acted when there is no person: "api-key:hk_3f9a…", "system:beat".
    actor_label = models.CharField(max_length=120)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    target_id = models.CharField(max_length=64)
    target = GenericForeignKey("target_type", "target_id")
    # A plain integer rather than a foreign key: core sits below contracts, and the
    # account managers' audit view filters by the partners they manage.
    partner_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    summary = models.CharField(max_length=300)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"


class LoginThrottle(models.Model):
    """Failed sign-ins counted per username and per client address.

    In the database, not a process-local cache, so every gunicorn worker shares the count
    (core.services.login_failure_record and friends). One row per (scope, key); a success
    resets the username's row, an expired lock is lifted by the next attempt."""

    class Scope(models.TextChoices):
        USERNAME = "username", _("Username")
        ADDRESS = "address", _("Client address")

    scope = models.CharField(max_length=16, choices=Scope.choices)
    # Usernames are compared case-insensitively here (lower-cased), addresses as given.
    key = models.CharField(max_length=150)
    failures = models.PositiveIntegerField(default=0)
    first_failure_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="core_loginthrottle_scope_key_unique"),
            models.CheckConstraint(
                condition=models.Q(scope__in=["username", "address"]), name="core_loginthrottle_scope_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key} ({self.failures} failures)"
