from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from core.models import AuditLog, User


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
