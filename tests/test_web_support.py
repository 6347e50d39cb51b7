"""Shared pieces of the web UI tests (test_web_*.py import from here; no tests of its own).

- `plain_static_files`: outside DEBUG the settings serve static files through whitenoise's
  manifest storage, which needs `collectstatic` to have run; the test run does not run
  it, so pages are rendered with the plain storage instead.
- `fast_passwords`: the default hasher spends a quarter of a second per user on purpose;
  the world fixture makes seven users per test, which is most of a web test's run time.
- `browser(user)`: a Django test client signed in as `user`.
- `text(response)`: the page as a person reads it (entities such as &#x27; unescaped).
- `db_state()`: everything a web action could change, so a refused action can be shown to
  have changed nothing at all.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.test import Client

from contracts.models import (
    Contract,
    ContractVersion,
    Notification,
    PartnerApiKey,
    Placement,
    PlacementTransition,
)
from core.models import AuditLog, User


@pytest.fixture(autouse=True)
def plain_static_files(settings) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def db_state() -> dict[str, Any]:
    return {
        "placements": list(Placement.objects.order_by("pk").values_list("pk", "status", "request_note")),
        "transitions": PlacementTransition.objects.count(),
        "contracts": list(Contract.objects.order_by("pk").values_list("pk", "placement_id")),
        "versions": list(
            ContractVersion.objects.order_by("pk").values_list(
                "pk", "number", "status", "terms", "effective_from", "decision_note"
            )
        ),
        "audit": list(AuditLog.objects.order_by("pk").values_list("pk", "action")),
        "api_keys": list(PartnerApiKey.objects.order_by("pk").values_list("pk", "name", "revoked_at")),
        "notifications": list(Notification.objects.order_by("pk").values_list("pk", "read_at")),
    }
