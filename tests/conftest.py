from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from rest_framework.test import APIClient

from contracts import services
from contracts.models import Partner, Placement
from contracts.selectors import next_period_start, partner_today, period_start
from core.models import User
from employees.models import DigitalEmployee
from tests.support.factories import (
    EmployeeFactory,
    MembershipFactory,
    PartnerFactory,
    PayeeFactory,
    UserFactory,
)

# DESIGN.md §5a's example, verbatim: the canonical shape every test starts from.
DESIGN_TERMS: dict[str, Any] = {
    "currency": "JPY",
    "period": "monthly",
    "share": {"model": "graduated",
              "tiers": [{"up_to": 1000000, "rate": "0.08"}, {"up_to": None, "rate": "0.05"}]},
    "outcome_fees": {"resolution": 90, "delivered_work": 50000},
    "minimum_per_period": 300000,
    "cap_per_period": None,
    "attribution": {"window_days": 14, "model": "last_touch",
                    "keys": ["conversation_id", "click_id", "coupon_code"]},
    "hold_days": 30,
    "splits": [{"payee": "platform", "share": "0.70"}, {"payee": "studio-aoi", "share": "0.30"}],
}


def design_terms(**overrides: Any) -> dict[str, Any]:
    terms = copy.deepcopy(DESIGN_TERMS)
    terms.update(overrides)
    return terms


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is for attackers, not for building test users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Outside DEBUG, pages resolve {% static %} through WhiteNoise's manifest, which only
    # collectstatic writes; tests render pages without collecting.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@dataclass
class World:
    """Two partners with their people, so every test can check the other side sees nothing."""

    hoshi: Partner
    hoshi_owner: User
    hoshi_member: User
    hoshi_manager: User
    wayfarer: Partner
    wayfarer_owner: User
    wayfarer_manager: User
    finance: User
    staff: User
    rinna: DigitalEmployee
    kai: DigitalEmployee
    # The second pair of eyes: approves what `finance` sent to review (FOUR_EYES_THRESHOLD).
    finance2: User


@pytest.fixture
def world(db) -> World:
    PayeeFactory(slug="platform", name="Haken platform", kind="platform")
    PayeeFactory(slug="studio-aoi", name="Studio Aoi", kind="studio")
    hoshi_manager = UserFactory(username="am-hoshi", role=User.Role.ACCOUNT_MANAGER)
    wayfarer_manager = UserFactory(username="am-wayfarer", role=User.Role.ACCOUNT_MANAGER)
    hoshi = PartnerFactory(slug="hoshi-mart", name="Hoshi Mart", currency="JPY",
                           timezone="Asia/Tokyo", account_manager=hoshi_manager)
    wayfarer = PartnerFactory(slug="wayfarer", name="Wayfarer Travel", currency="USD",
                              industry="travel", timezone="America/New_York",
                              account_manager=wayfarer_manager)
    hoshi_owner = MembershipFactory(partner=hoshi, user=UserFactory(username="hoshi-owner")).user
    hoshi_member = MembershipFactory(partner=hoshi, role="member",
                                     user=UserFactory(username="hoshi-member")).user
    wayfarer_owner = MembershipFactory(partner=wayfarer,
                                       user=UserFactory(username="wayfarer-owner")).user
    return World(
        hoshi=hoshi, hoshi_owner=hoshi_owner, hoshi_member=hoshi_member,
        hoshi_manager=hoshi_manager, wayfarer=wayfarer, wayfarer_owner=wayfarer_owner,
        wayfarer_manager=wayfarer_manager,
        finance=UserFactory(username="finance", role=User.Role.FINANCE),
        staff=UserFactory(username="staff", role=User.Role.STAFF, is_staff=True, is_superuser=True),
        rinna=EmployeeFactory(slug="rinna", name="Rinna", title="Coupon promoter",
                              skills=["coupon_promoter"]),
        kai=EmployeeFactory(slug="kai", name="Kai", title="Customer-service rep",
                            skills=["customer_service"], industries=["travel", "convenience_retail"]),
        finance2=UserFactory(username="finance-2", role=User.Role.FINANCE),
    )


def this_period(partner: Partner) -> date:
    return period_start(partner_today(partner=partner))


def next_period_start_for(partner: Partner) -> date:
    return next_period_start(partner_today(partner=partner))


def hire(world: World, *, partner: str = "hoshi", employee: str = "rinna",
         until: str = "active", terms: dict[str, Any] | None = None) -> Placement:
    """A placement driven through the real services up to `until`."""
    owner = getattr(world, f"{partner}_owner")
    manager = getattr(world, f"{partner}_manager")
    placement = services.placement_request(actor=owner, employee=getattr(world, employee), note="")
    if until == "requested":
        return placement
    services.placement_approve(actor=manager, placement=placement)
    if until == "approved":
        return Placement.objects.get(pk=placement.pk)
    placement.refresh_from_db()
    currency = placement.partner.currency
    version = services.contract_version_draft(
        actor=manager, placement=placement,
        terms=terms or design_terms(currency=currency), effective_from=this_period(placement.partner),
    )
    services.contract_version_propose(actor=manager, version=version)
    if until == "proposed":
        return Placement.objects.get(pk=placement.pk)
    services.contract_version_accept(actor=owner, version=version)
    placement = Placement.objects.get(pk=placement.pk)
    if until == "paused":
        services.placement_pause(actor=manager, placement=placement, reason="Store refit")
        placement.refresh_from_db()
    return placement


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def api_as(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


# --- a real Celery worker over the real broker --------------------------------------------


def _database_url_for_worker(name: str | None = None) -> str:
    """A URL for a subprocess: the test database, or database `name` on the same server."""
    from django.db import connection

    db = {**connection.settings_dict, **({"NAME": name} if name else {})}
    host = db["HOST"] or "localhost"
    from urllib.parse import quote

    port = f":{db['PORT']}" if db["PORT"] else ""
    if host.startswith("/"):
        return f"postgres://{db['USER']}@/{db['NAME']}?host={quote(host, safe='/')}"
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}{port}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A `celery worker` subprocess on the test database and the broker dev.py started.

    Tests using it must be transactional: the worker sees only committed rows. It purges
    the queue first: messages left by earlier tests name rows that no longer exist."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from django.conf import settings

    if not settings.CELERY_BROKER_URL:
        pytest.fail("CELERY_BROKER_URL is not set: run the suite with `python3 dev.py test`.")
    env = dict(os.environ)
    env["DATABASE_URL"] = _database_url_for_worker()
    log_path = tmp_path / "worker.log"
    celery = Path(sys.executable).parent / "celery"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(celery), "-A", "config", "worker", "--loglevel", "INFO", "--pool", "prefork",
             "--concurrency", "1", "--purge", "--hostname", f"test-{os.getpid()}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while b"ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"celery worker did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    process.log_path = log_path  # type: ignore[attr-defined]
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for(predicate, *, timeout: float = 30.0, what: str = "condition"):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")
