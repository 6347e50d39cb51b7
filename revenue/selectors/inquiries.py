"""Reads of inquiries, scoped like the statements they question: a partner sees its own
(on statements it may see), finance all; another partner's inquiry does not exist."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from contracts.models import Placement
from core.errors import NotFound, ValidationFailed
from core.models import AuditLog
from revenue.models import Inquiry, InquiryComment, Statement
from revenue.selectors.statements import statement_list


def inquiry_list(*, statement: Statement) -> QuerySet[Inquiry]:
    """The inquiries of a statement the viewer already reached through statement_get."""
    return (
        Inquiry.objects.filter(statement=statement)
        .select_related("sale", "opened_by", "resolved_by", "reattributed_to__employee", "partner")
        .prefetch_related(Prefetch("comments", queryset=InquiryComment.objects.order_by("created_at", "id")))
        .order_by("opened_at", "id")
    )


def inquiry_get(*, viewer: Any, inquiry_id: int) -> Inquiry:
    inquiry = (
        Inquiry.objects.filter(pk=inquiry_id, statement__in=statement_list(viewer=viewer).prefetch_related(None))
        .select_related("statement__contract__placement__partner", "sale", "partner", "reattributed_to__employee")
        .prefetch_related(Prefetch("comments", queryset=InquiryComment.objects.order_by("created_at", "id")))
        .first()
    )
    if inquiry is None:
        raise NotFound(f"No inquiry {inquiry_id}.")
    return inquiry


def inquiry_history(*, inquiries: list[Inquiry]) -> dict[int, list[AuditLog]]:
    """Each inquiry's audit trail, oldest first: what both sides read as its history."""
    history: dict[int, list[AuditLog]] = {inquiry.pk: [] for inquiry in inquiries}
    rows = AuditLog.objects.filter(
        target_type__app_label="revenue",
        target_type__model="inquiry",
        target_id__in=[str(pk) for pk in history],
    ).order_by("at", "id")
    for row in rows:
        history[int(row.target_id)].append(row)
    return history


def reattribution_target(*, placement_id: int | None) -> Placement | None:
    """The placement finance named to re-attribute a disputed sale to, or None when none was
    named; an unknown id is refused (inquiry_resolve checks that it may take the sale)."""
    if not placement_id:
        return None
    placement = Placement.objects.filter(pk=placement_id).first()
    if placement is None:
        raise ValidationFailed(_("No such placement."), fields={"placement": [_("no such placement.")]})
    return placement
