"""Set-up for inquiry tests: Hoshi Mart's October 2026 settled and sent to review, with four
coupon sales (3,000,000 + 1,500,000 + 400,000 + 100,000) and a refund of 100,000 of the
second, under the §5a graduated tiers without a minimum, so every change shows in the wage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from contracts.models import Placement
from revenue.models import Inquiry, InquiryComment, Sale, SaleExclusion, SettlementRun, Statement, StatementLine
from revenue.services.settlement import settlement_run_execute, statement_submit
from tests.support.revenue import at, backdate, sale, touch
from tests.support.snapshot import Snapshot, db_snapshot
from tests.support.world import design_terms, hire

OCT = date(2026, 10, 1)
# net 5,000,000 − 100,000 = 4,900,000: 8% of 1,000,000 + 5% of 3,900,000 = 80,000 + 195,000.
NET, SHARE = 4_900_000, 275_000


@dataclass
class Scene:
    placement: Placement
    statement: Statement
    sales: list[Sale]
    refund: Sale


def terms(**overrides: Any) -> dict[str, Any]:
    return design_terms(minimum_per_period=None, outcome_fees={}, **overrides)


def october_in_review(world, *, finance=None, terms_overrides: dict[str, Any] | None = None) -> Scene:
    placement = backdate(hire(world, terms=terms(**(terms_overrides or {}))))
    for n in range(1, 6):
        touch(placement, "coupon", f"C{n}", at(10, n, 9))
    sales = [
        sale(world.hoshi, at(10, 10 + n), amount, coupon_code=f"C{n}", external_id=f"oct-{n}")
        for n, amount in enumerate([3_000_000, 1_500_000, 400_000, 100_000], start=1)
    ]
    refund = sale(world.hoshi, at(10, 20), 100_000, refund_of=sales[1], external_id="oct-2-r")
    settlement_run_execute(run_id=SettlementRun.objects.create(period=OCT).pk)
    statement = Statement.objects.get(contract=placement.contract, period=OCT)
    statement = statement_submit(actor=finance or world.finance, statement=statement)
    return Scene(placement=placement, statement=statement, sales=sales, refund=refund)


def inquiry_state() -> Snapshot:
    """Every table an inquiry request could touch."""
    from core.models import AuditLog
    from webhooks.models import OutboundEvent

    return db_snapshot(Inquiry, InquiryComment, SaleExclusion, Sale, Statement, StatementLine, AuditLog, OutboundEvent)
