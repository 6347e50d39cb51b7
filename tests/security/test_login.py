"""Sign-in lockout: repeated failures per username and per client address lock further
attempts for a while, shared by every worker (a database table), audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.models import AuditLog, LoginThrottle
from tests.support.factories import PASSWORD, UserFactory
from tests.support.web import text

LOCKED = "Too many failed sign-in attempts. Sign-in is locked for 15 more minute(s); try again later."
INVALID = "Please enter a correct username and password."


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LOGIN_MAX_FAILURES = 5
    settings.LOGIN_ADDRESS_MAX_FAILURES = 8
    settings.LOGIN_LOCKOUT_SECONDS = 900


def sign_in(client: Client, username: str, password: str, *, address: str = "203.0.113.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def throttles() -> list[tuple]:
    return list(LoginThrottle.objects.order_by("scope", "key").values_list("scope", "key", "failures", "locked_until"))


def audit() -> list[tuple]:
    return list(AuditLog.objects.order_by("pk").values_list("action", "actor_label", "target_id"))


@pytest.mark.django_db
def test_five_failures_lock_the_username_with_a_clear_message_and_an_audit_record():
    # given a user
    user = UserFactory(username="hoshi-owner")
    client = Client()
    # when four wrong passwords are tried
    for _ in range(4):
        response = sign_in(client, "hoshi-owner", "wrong")
        assert response.status_code == 200
        assert INVALID in text(response)
    assert AuditLog.objects.count() == 0
    # and a fifth
    response = sign_in(client, "hoshi-owner", "wrong")
    # then the page says sign-in is locked, and the lock is audited
    assert response.status_code == 200
    assert LOCKED in text(response)
    row = LoginThrottle.objects.get(scope="username", key="hoshi-owner")
    assert row.failures == 5
    assert row.locked_until is not None
    assert timedelta(seconds=899) < row.locked_until - timezone.now() <= timedelta(seconds=900)
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor_label, entry.target_id) == ("login.locked", "system:login-lockout", str(row.pk))
    assert entry.changes["failures"] == 5
    assert entry.changes["username"] == "hoshi-owner"
    # when the right password is then given
    before = (throttles(), audit())
    response = sign_in(client, "hoshi-owner", PASSWORD)
    # then it is refused with the same message, nobody is signed in and nothing changed
    assert response.status_code == 200
    assert LOCKED in text(response)
    assert SESSION_KEY not in client.session
    assert (throttles(), audit()) == before
    user.refresh_from_db()
    assert user.last_login is None


@pytest.mark.django_db
def test_a_lock_covers_the_username_whatever_its_case_and_from_any_address():
    # given a locked username
    UserFactory(username="hoshi-owner")
    for _ in range(5):
        sign_in(Client(), "hoshi-owner", "wrong")
    before = (throttles(), audit())
    # when the right password comes from another address, the name upper-cased
    client = Client()
    response = sign_in(client, "HOSHI-OWNER", PASSWORD, address="198.51.100.9")
    # then it is refused and nothing changed
    assert LOCKED in text(response)
    assert SESSION_KEY not in client.session
    assert (throttles(), audit()) == before


@pytest.mark.django_db
def test_a_success_resets_the_count():
    # given four failures
    UserFactory(username="hoshi-owner")
    for _ in range(4):
        sign_in(Client(), "hoshi-owner", "wrong")
    # when the right password is given
    client = Client()
    response = sign_in(client, "hoshi-owner", PASSWORD)
    # then the user is signed in and the count is back to zero
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(UserFactory(username="hoshi-owner").pk)
    assert LoginThrottle.objects.get(scope="username", key="hoshi-owner").failures == 0
    # and four more failures do not lock
    for _ in range(4):
        response = sign_in(Client(), "hoshi-owner", "wrong", address="198.51.100.9")
        assert INVALID in text(response)
    assert LoginThrottle.objects.get(scope="username", key="hoshi-owner").locked_until is None
    assert AuditLog.objects.count() == 0


@pytest.mark.django_db
def test_an_expired_lock_is_lifted_on_the_next_attempt_and_the_unlock_is_audited():
    # given a lock that has run out
    UserFactory(username="hoshi-owner")
    for _ in range(5):
        sign_in(Client(), "hoshi-owner", "wrong")
    LoginThrottle.objects.filter(scope="username").update(locked_until=timezone.now() - timedelta(seconds=1))
    # when the right password is given
    client = Client()
    response = sign_in(client, "hoshi-owner", PASSWORD, address="198.51.100.9")
    # then the user is signed in, the unlock is audited and the count starts afresh
    assert response.status_code == 302
    assert SESSION_KEY in client.session
    row = LoginThrottle.objects.get(scope="username", key="hoshi-owner")
    assert (row.failures, row.locked_until) == (0, None)
    assert [a[0] for a in audit()] == ["login.locked", "login.unlocked"]
    unlocked = AuditLog.objects.get(action="login.unlocked")
    assert unlocked.target_id == str(row.pk)
    assert unlocked.changes["reason"] == "lockout expired"


@pytest.mark.django_db
def test_failures_older_than_the_lockout_period_no_longer_count():
    # given four failures a while ago
    UserFactory(username="hoshi-owner")
    for _ in range(4):
        sign_in(Client(), "hoshi-owner", "wrong")
    LoginThrottle.objects.update(first_failure_at=timezone.now() - timedelta(seconds=901))
    # when one more fails
    sign_in(Client(), "hoshi-owner", "wrong")
    # then it is the first of a new count, no lock
    row = LoginThrottle.objects.get(scope="username", key="hoshi-owner")
    assert (row.failures, row.locked_until) == (1, None)
    assert AuditLog.objects.count() == 0


@pytest.mark.django_db
def test_one_address_guessing_many_usernames_is_locked_out_for_all_of_them():
    # given users, and eight failures from one address over different usernames
    UserFactory(username="hoshi-owner")
    for n in range(8):
        sign_in(Client(), f"guess-{n}", "wrong")
    address_row = LoginThrottle.objects.get(scope="address", key="203.0.113.7")
    assert address_row.failures == 8
    assert address_row.locked_until is not None
    assert [a[0] for a in audit()] == ["login.locked"]
    before = (throttles(), audit())
    # when a real user's right password comes from that address
    client = Client()
    response = sign_in(client, "hoshi-owner", PASSWORD)
    # then it is refused, nothing changed
    assert LOCKED in text(response)
    assert SESSION_KEY not in client.session
    assert (throttles(), audit()) == before
    # and from another address it works
    other = Client()
    assert sign_in(other, "hoshi-owner", PASSWORD, address="198.51.100.9").status_code == 302
    assert SESSION_KEY in other.session


@pytest.mark.django_db
def test_the_admin_sign_in_is_locked_too():
    # given a staff user locked out through the login page
    UserFactory(username="admin", is_staff=True, is_superuser=True)
    for _ in range(5):
        sign_in(Client(), "admin", "wrong")
    before = (throttles(), audit())
    # when the right password goes to the admin's own sign-in form
    client = Client()
    response = client.post(
        reverse("admin:login"), {"username": "admin", "password": PASSWORD}, REMOTE_ADDR="198.51.100.9"
    )
    # then it is refused and nothing changed
    assert response.status_code == 200
    assert SESSION_KEY not in client.session
    assert (throttles(), audit()) == before


@pytest.mark.django_db
def test_force_login_is_not_affected_by_a_lock():
    # given a locked user (tests and sessions never re-authenticate by password)
    user = UserFactory(username="hoshi-owner")
    for _ in range(5):
        sign_in(Client(), "hoshi-owner", "wrong")
    client = Client()
    client.force_login(user)
    # then the session works
    assert client.get(reverse("home")).status_code == 302
    assert client.session[SESSION_KEY] == str(user.pk)


@pytest.mark.django_db
def test_staff_lift_a_lock_from_the_admin_and_it_is_audited_under_their_name():
    # given a locked user and a staff member
    UserFactory(username="hoshi-owner")
    staff = UserFactory(username="admin", is_staff=True, is_superuser=True)
    for _ in range(5):
        sign_in(Client(), "hoshi-owner", "wrong")
    row = LoginThrottle.objects.get(scope="username", key="hoshi-owner")
    admin = Client()
    admin.force_login(staff)
    # when staff run the admin's unlock action on it
    response = admin.post(
        reverse("admin:core_loginthrottle_changelist"), {"action": "unlock", "_selected_action": [row.pk]}
    )
    # then it is lifted, audited by them, and the user signs in
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.failures, row.locked_until) == (0, None)
    unlocked = AuditLog.objects.get(action="login.unlocked")
    assert (unlocked.actor_id, unlocked.actor_label, unlocked.changes["reason"]) == (
        staff.pk,
        "admin",
        "lifted by admin",
    )
    client = Client()
    assert sign_in(client, "hoshi-owner", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_only_staff_may_lift_a_lock_and_an_unlocked_row_is_refused():
    from core.errors import InvalidTransition, PermissionDenied
    from core.services import login_throttle_unlock

    # given a lock, and a partner member
    UserFactory(username="hoshi-owner")
    member = UserFactory(username="hoshi-member")
    for _ in range(5):
        sign_in(Client(), "hoshi-owner", "wrong")
    row = LoginThrottle.objects.get(scope="username", key="hoshi-owner")
    before = (throttles(), audit())
    # when the member tries to lift it, then it is refused and nothing changed
    with pytest.raises(PermissionDenied):
        login_throttle_unlock(actor=member, throttle=row)
    assert (throttles(), audit()) == before
    # and a row with nothing to lift is refused too
    clean = LoginThrottle.objects.create(scope="username", key="nobody")
    staff = UserFactory(username="admin", is_staff=True, is_superuser=True)
    before = (throttles(), audit())
    with pytest.raises(InvalidTransition):
        login_throttle_unlock(actor=staff, throttle=clean)
    assert (throttles(), audit()) == before
