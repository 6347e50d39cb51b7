"""Shared pieces of the web UI tests (test_web_*.py import from here; no tests of its own).

- `browser(user)`: a Django test client signed in as `user`.
- `text(response)`: the page as a person reads it (entities such as &#x27; unescaped).
- `db_state()`: everything a web action could change, so a refused action can be shown to
  have changed nothing at all.
"""

from __future__ import annotations

import html
from typing import Any

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


def stored() -> dict[str, Any]:
    """db_state, and how many rows every model has: what a refused request must leave as it was."""
    from django.apps import apps

    return {"state": db_state(),
            "counts": {model._meta.label: model._default_manager.count() for model in apps.get_models()}}
