from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from contracts.selectors import partners_visible, viewer_partner_id
from core.errors import NotFound
from revenue.models import Sale, SaleKey, SettlementRun, Statement, StatementLine, StatementSplit
from revenue.services.settlement import SETTLED

# What a partner sees: statements sent to review (to question them before money moves,
# revenue.services.inquiries) and settled ones; drafts are finance's work in progress.
PARTNER_VISIBLE = (Statement.Status.IN_REVIEW, *SETTLED)


def statement_list(*, viewer: Any, period: date | None = None, status: str | None = None) -> QuerySet[Statement]:
    """Partners see their statements once sent to review (drafts are finance's work in
    progress); account managers their partners'; finance and staff all."""
    statements = (
        Statement.objects.filter(contract__placement__partner__in=partners_visible(viewer=viewer))
        .select_related("contract__placement__partner", "contract__placement__employee", "approved_by")
        .prefetch_related(
            Prefetch("lines", queryset=StatementLine.objects.order_by("position")),
            Prefetch("splits", queryset=StatementSplit.objects.select_related("payee")),
        )
        .order_by("-period", "contract_id")
    )
    if viewer_partner_id(viewer) is not None:
        statements = statements.filter(status__in=PARTNER_VISIBLE)
    if period is not None:
        statements = statements.filter(period=period)
    if status:
        statements = statements.filter(status=status)
    return statements


def statement_get(*, viewer: Any, statement_id: int) -> Statement:
    statement = statement_list(viewer=viewer).filter(pk=statement_id).first()
    if statement is None:
        raise NotFound(_("No statement %(statement_id)s.") % {"statement_id": statement_id})
    return statement


def settlement_runs(*, limit: int = 20) -> QuerySet[SettlementRun]:
    return SettlementRun.objects.select_related("requested_by").order_by("-created_at", "-id")[:limit]


def sales_by_key(*, partner_ids: Any, external_id: str) -> QuerySet[Sale]:
    """The sales of these partners (ids or a queryset of partners) with this external_id,
    found through the key table: it names each sale's month, so only that month's partition
    of revenue_sale is read (the sales table has no (partner, external_id) index of its own)."""
    keys = list(
        SaleKey.objects.filter(partner_id__in=partner_ids, external_id=external_id).values_list(
            "partner_id", "sale_id", "period"
        )
    )
    match = Q(pk__in=[])
    for partner_id, sale_id, period in keys:
        match |= Q(pk=sale_id, partner_id=partner_id, period=period)
    return Sale.objects.filter(match)


def sale_get(*, viewer: Any, external_id: str) -> Sale:
    partner_id = viewer_partner_id(viewer)
    partners = partners_visible(viewer=viewer)
    if partner_id is not None:
        partners = partners.filter(pk=partner_id)
    sales = sales_by_key(partner_ids=partners.values("pk"), external_id=external_id)
    sale = sales.select_related("placement__employee", "touchpoint", "refund_of", "statement").first()
    if sale is None:
        raise NotFound(_("No sale %(external_id)r.") % {"external_id": external_id})
    return sale
