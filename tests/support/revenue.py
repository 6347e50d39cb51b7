"""Set-up helpers for revenue tests: rows written directly, as ingestion would store them;
dates in Hoshi Mart's October 2026; a contract version back-dated so October's sales count."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from zoneinfo import ZoneInfo

from contracts.models import Placement
from core.models import AuditLog
from ledger.models import Account, JournalEntry, JournalLine
from revenue.models import (
    Outcome,
    Sale,
    SaleUpload,
    SaleUploadRejection,
    SettlementRun,
    Statement,
    StatementAdjustment,
    StatementLine,
    StatementSplit,
    Touchpoint,
)
from tests.support.factories import ContractVersionFactory, SaleFactory, TouchpointFactory
from tests.support.snapshot import Snapshot, db_snapshot
from tests.support.web import WEB_MODELS

_ids = itertools.count(1)
TOKYO = ZoneInfo("Asia/Tokyo")


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TOKYO)


def backdate(placement):
    # Test sales are dated October 2026 and versions are frozen by design, so give the
    # contract an accepted version 0 in force from January, as an import of an older
    # contract would.
    version = placement.contract.versions.get()
    ContractVersionFactory(
        contract=placement.contract,
        number=0,
        terms=version.terms,
        effective_from="2026-01-01",
        status="accepted",
        created_by=version.created_by,
    )
    return placement


def period_of(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date().replace(day=1)


def touch(placement: Placement, kind: str, key: str, at: datetime) -> Touchpoint:
    return TouchpointFactory(
        partner=placement.partner, placement=placement, kind=kind, key=key, occurred_at=at, source="agent"
    )


def sale(
    partner, at: datetime, amount: int, *, refund_of: Sale | None = None, external_id: str | None = None, **keys: str
) -> Sale:
    return SaleFactory(
        partner=partner,
        external_id=external_id or f"ext-{next(_ids)}",
        type="refund" if refund_of else "sale",
        occurred_at=at,
        amount=amount,
        currency=partner.currency,
        refund_of=refund_of,
        period=period_of(at, partner.timezone),
        content_digest="x",
        **keys,
    )


def ingestion_state() -> Snapshot:
    """Every row (every field) of the tables ingestion could touch."""
    return db_snapshot(Sale, Touchpoint, Outcome, SaleUpload, SaleUploadRejection, Statement, AuditLog)


def revenue_state() -> Snapshot:
    """Every row of everything the revenue screens could change, beside contracts' (web.db_state)."""
    return db_snapshot(
        *WEB_MODELS,
        Statement,
        StatementLine,
        StatementSplit,
        StatementAdjustment,
        Sale,
        Outcome,
        Touchpoint,
        SettlementRun,
        Account,
        JournalEntry,
        JournalLine,
    )
