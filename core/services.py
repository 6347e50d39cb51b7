from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from core.models import AuditLog, LoginThrottle, User


def actor_label_for(actor: User | None, *, via: str | None = None) -> str:
    if via:
        return via
    return actor.username if actor is not None else "system"


@transaction.atomic
def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model,
    summary: str,
    partner_id: int | None = None,
    changes: dict[str, Any] | None = None,
    via: str | None = None,
) -> AuditLog:
    return AuditLog.objects.create(
        actor=actor,
        actor_label=actor_label_for(actor, via=via),
        action=action,
        target_type=ContentType.objects.get_for_model(target),
        target_id=str(target.pk),
        partner_id=partner_id,
        summary=summary[:300],
        changes=changes or {},
    )


# --- sign-in lockout ------------------------------------------------------------------------
# Failed sign-ins are counted per username and per client address in core.LoginThrottle.
# LOGIN_MAX_FAILURES failures for a username (LOGIN_ADDRESS_MAX_FAILURES from one address)
# within LOGIN_LOCKOUT_SECONDS lock further attempts for LOGIN_LOCKOUT_SECONDS. Locking and
# lifting a lock are audited. core.auth_backends.LockoutModelBackend calls these.

LOCKOUT_ACTOR = "system:login-lockout"


@dataclass(frozen=True)
class LoginLock:
    until: datetime

    @property
    def minutes_left(self) -> int:
        return max(1, math.ceil((self.until - timezone.now()).total_seconds() / 60))


def _throttle_keys(*, username: str, address: str | None) -> list[tuple[str, str]]:
    keys = [(LoginThrottle.Scope.USERNAME.value, username.strip().lower()[:150])]
    if address:
        keys.append((LoginThrottle.Scope.ADDRESS.value, address[:150]))
    return keys


def _throttles_locked(*, username: str, address: str | None) -> list[LoginThrottle]:
    """The rows for this attempt, created if missing, locked in a fixed order (no deadlock
    between two attempts that share a username or an address)."""
    keys = _throttle_keys(username=username, address=address)
    LoginThrottle.objects.bulk_create(
        [LoginThrottle(scope=scope, key=key) for scope, key in keys], ignore_conflicts=True
    )
    rows = []
    for scope, key in sorted(keys):
        rows.append(LoginThrottle.objects.select_for_update().get(scope=scope, key=key))
    return rows


def _limit_for(throttle: LoginThrottle) -> int:
    if throttle.scope == LoginThrottle.Scope.ADDRESS:
        return int(settings.LOGIN_ADDRESS_MAX_FAILURES)
    return int(settings.LOGIN_MAX_FAILURES)


def _throttle_unlock(throttle: LoginThrottle, *, reason: str, actor: User | None = None) -> None:
    was_locked_until = throttle.locked_until
    throttle.failures = 0
    throttle.first_failure_at = None
    throttle.locked_until = None
    throttle.save(update_fields=["failures", "first_failure_at", "locked_until", "updated_at"])
    audit_record(
        actor=actor,
        via=None if actor else LOCKOUT_ACTOR,
        action="login.unlocked",
        target=throttle,
        summary=f"Sign-in unlocked for {throttle.scope} {throttle.key} ({reason})",
        changes={
            "scope": throttle.scope,
            "key": throttle.key,
            "reason": reason,
            "locked_until": was_locked_until.isoformat() if was_locked_until else None,
        },
    )


@transaction.atomic
def login_lock_check(*, username: str, address: str | None) -> LoginLock | None:
    """The lock in force for this username or address, if any. A lock that has run out is
    lifted here (and audited), so the next attempt counts afresh."""
    now = timezone.now()
    keys = _throttle_keys(username=username, address=address)
    query = models.Q()
    for scope, key in keys:
        query |= models.Q(scope=scope, key=key)
    if not LoginThrottle.objects.filter(query, locked_until__isnull=False).exists():
        return None
    until = None
    locked = LoginThrottle.objects.select_for_update().filter(query, locked_until__isnull=False)
    for throttle in locked.order_by("scope", "key"):
        locked_until = throttle.locked_until
        if locked_until is None:  # not after the filter above; the checker cannot know that
            continue
        if locked_until <= now:
            _throttle_unlock(throttle, reason="lockout expired")
        else:
            until = max(until, locked_until) if until else locked_until
    return LoginLock(until=until) if until else None


@transaction.atomic
def login_failure_record(*, username: str, address: str | None) -> LoginLock | None:
    """Count one failed sign-in; lock (and audit) when a limit is reached. Returns the lock
    in force after this failure, if any."""
    now = timezone.now()
    period = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    until = None
    for throttle in _throttles_locked(username=username, address=address):
        if throttle.locked_until is not None and throttle.locked_until > now:
            until = max(until, throttle.locked_until) if until else throttle.locked_until
            continue
        if throttle.locked_until is not None:
            _throttle_unlock(throttle, reason="lockout expired")
        if throttle.first_failure_at is None or throttle.first_failure_at <= now - period:
            # Failures older than one lockout period no longer count.
            throttle.failures = 0
            throttle.first_failure_at = now
        throttle.failures += 1
        if throttle.failures >= _limit_for(throttle):
            throttle.locked_until = now + period
            until = max(until, throttle.locked_until) if until else throttle.locked_until
            audit_record(
                actor=None,
                via=LOCKOUT_ACTOR,
                action="login.locked",
                target=throttle,
                summary=(
                    f"Sign-in locked for {throttle.scope} {throttle.key} after {throttle.failures} failed attempts"
                ),
                changes={
                    "scope": throttle.scope,
                    "key": throttle.key,
                    "failures": throttle.failures,
                    "locked_until": throttle.locked_until.isoformat(),
                    "username": username[:150],
                    "address": address,
                },
            )
        throttle.save(update_fields=["failures", "first_failure_at", "locked_until", "updated_at"])
    return LoginLock(until=until) if until else None


@transaction.atomic
def login_success_record(*, username: str) -> None:
    """A successful sign-in resets the username's count (the address's stays: one good
    password does not excuse guessing at other accounts)."""
    key = username.strip().lower()[:150]
    LoginThrottle.objects.filter(
        scope=LoginThrottle.Scope.USERNAME, key=key, locked_until__isnull=True, failures__gt=0
    ).update(failures=0, first_failure_at=None, updated_at=timezone.now())


@transaction.atomic
def login_throttle_unlock(*, actor: User, throttle: LoginThrottle) -> LoginThrottle:
    """Staff lift a lock (or clear a count) before it runs out; audited under their name."""
    if not (actor.is_superuser or actor.is_platform_staff):
        raise PermissionDenied(_("Only the platform's staff can lift a sign-in lock."))
    throttle = LoginThrottle.objects.select_for_update().get(pk=throttle.pk)
    if throttle.locked_until is None and throttle.failures == 0:
        raise InvalidTransition(
            _("Sign-in for %(scope)s %(key)s is not locked.") % {"scope": throttle.scope, "key": throttle.key}
        )
    _throttle_unlock(throttle, reason=f"lifted by {actor.username}", actor=actor)
    return throttle


# --- the person's own settings ----------------------------------------------------------------


@transaction.atomic
def user_language_set(*, actor: User, language: str) -> User:
    """The language `actor` reads the web pages in (a code of settings.LANGUAGES; "" follows
    the browser again); audited like any other change to a user."""
    if language and language not in dict(settings.LANGUAGES):
        raise ValidationFailed(
            _("Choose one of the languages offered."),
            fields={"language": [_("Choose one of the languages offered.")]},
        )
    user = User.objects.select_for_update().get(pk=actor.pk)
    if user.language == language:
        return user
    previous = user.language
    user.language = language
    user.save(update_fields=["language"])
    audit_record(
        actor=actor,
        action="user.language_set",
        target=user,
        summary=f"{user.username} reads the pages in {language or 'the browser language'}",
        changes={"language": [previous, language]},
    )
    return user
