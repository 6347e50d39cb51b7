"""Shared pieces of the web UI tests.

- `browser(user)`: a Django test client signed in as `user`.
- `text(response)`: the page as a person reads it (entities such as &#x27; unescaped).
- `db_state()`: every row of everything a web action could change, so a refused action can
  be shown to have changed nothing at all; `stored()` adds the row count of every model.
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
from tests.support.snapshot import Snapshot, db_snapshot

WEB_MODELS = (Placement, PlacementTransition, Contract, ContractVersion, AuditLog, PartnerApiKey, Notification)


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def db_state() -> Snapshot:
    """Every row (every field) of what a web action on placements, contracts and keys writes,
    but when a key was last used (a bearer request records it, refused or not)."""
    return db_snapshot(*WEB_MODELS, ignore=["contracts.PartnerApiKey.last_used_at"])


def stored() -> dict[str, Any]:
    """db_state, and how many rows every model has: what a refused request must leave as it was."""
    from django.apps import apps

    return {
        "state": db_state(),
        "counts": {model._meta.label: model._default_manager.count() for model in apps.get_models()},
    }
