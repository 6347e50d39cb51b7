"""Set-up helpers for revenue tests: rows written directly, as ingestion would store them."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from zoneinfo import ZoneInfo

from contracts.models import Placement
from revenue.models import Sale, Touchpoint

_ids = itertools.count(1)


def period_of(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date().replace(day=1)


def touch(placement: Placement, kind: str, key: str, at: datetime) -> Touchpoint:
    return Touchpoint.objects.create(partner=placement.partner, placement=placement, kind=kind, key=key,
                                     occurred_at=at, source="agent")


def sale(partner, at: datetime, amount: int, *, refund_of: Sale | None = None,
         external_id: str | None = None, **keys: str) -> Sale:
    return Sale.objects.create(
        partner=partner, external_id=external_id or f"ext-{next(_ids)}",
        type="refund" if refund_of else "sale", occurred_at=at, amount=amount,
        currency=partner.currency, refund_of=refund_of, period=period_of(at, partner.timezone),
        content_digest="x", **keys,
    )
