"""Reads for payments, scoped to the viewer: a partner sees only its own invoices (others
are 404); the finance console sees everything."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.models import ContractVersion, Payee, PaymentProvider
from contracts.selectors import viewer_partner_id
from core.currencies import format_money
from core.errors import NotFound
from core.models import User
from ledger.selectors.balances import account_balances
from payments.models import Invoice, Payout, PayoutRun, ReconciliationRun
from payments.providers import provider_name_for
from revenue.models import Statement, StatementSplit

FINANCE = (User.Role.FINANCE, User.Role.STAFF)


def invoices_for(*, viewer: Any, status: str | None = None) -> QuerySet[Invoice]:
    invoices = Invoice.objects.select_related("partner", "statement__contract__placement__employee").prefetch_related(
        "credit_notes"
    )
    partner_id = viewer_partner_id(viewer)
    if partner_id is not None:
        invoices = invoices.filter(partner_id=partner_id).exclude(status=Invoice.Status.DRAFT)
    elif getattr(viewer, "role", None) not in FINANCE:
        return Invoice.objects.none()
    if status:
        invoices = invoices.filter(status=status)
    return invoices.order_by("-created_at", "-id")


def invoice_get(*, viewer: Any, invoice_id: int) -> Invoice:
    invoice = invoices_for(viewer=viewer).filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound(_("No invoice %(invoice_id)s.") % {"invoice_id": invoice_id})
    return invoice


def statements_awaiting_invoice() -> QuerySet[Statement]:
    return (
        Statement.objects.filter(status=Statement.Status.APPROVED, payable__gt=0, invoice__isnull=True)
        .select_related("contract__placement__partner", "contract__placement__employee")
        .order_by("period", "id")
    )


def payout_runs() -> QuerySet[PayoutRun]:
    return PayoutRun.objects.select_related("requested_by").order_by("-created_at", "-id")


def payouts_recent(*, run: PayoutRun | None = None) -> QuerySet[Payout]:
    payouts = Payout.objects.select_related("payee", "run").order_by("-id")
    return payouts.filter(run=run) if run is not None else payouts


def _hold_days(split: StatementSplit, versions: dict[tuple[int, int], ContractVersion]) -> int:
    version = versions.get((split.statement.contract_id, split.statement.version_number))
    contract_hold = int((version.terms or {}).get("hold_days") or 0) if version else 0
    return max(contract_hold, split.payee.hold_days)


def payouts_due(*, as_of: datetime) -> dict[tuple[int, str], list[StatementSplit]]:
    """The splits that may be paid at `as_of`, by (payee, currency): collected, past the
    hold, not yet on any payout, of payees that can be paid (a Stripe payee needs its
    Connect account)."""
    splits = list(
        StatementSplit.objects.filter(
            amount__gt=0,
            payout_item__isnull=True,
            statement__invoice__status=Invoice.Status.PAID,
            statement__invoice__paid_at__lte=as_of,
        )
        .exclude(payee__kind=Payee.Kind.PLATFORM)
        .select_related("payee", "statement__invoice")
        .order_by("payee_id", "statement__period", "id")
    )
    keys = {(s.statement.contract_id, s.statement.version_number) for s in splits}
    versions = {
        (v.contract_id, v.number): v
        for v in ContractVersion.objects.filter(contract_id__in={k[0] for k in keys}, number__in={k[1] for k in keys})
    }
    due: dict[tuple[int, str], list[StatementSplit]] = defaultdict(list)
    for split in splits:
        paid_at = split.statement.invoice.paid_at  # set: the query asks for paid invoices
        if paid_at is None or paid_at + timedelta(days=_hold_days(split, versions)) > as_of:
            continue
        if provider_name_for(split.payee) == PaymentProvider.STRIPE and not split.payee.stripe_account_id:
            continue
        due[(split.payee_id, split.statement.currency)].append(split)
    return due


HELD_HOLD = "hold"
HELD_NOT_COLLECTED = "not_collected"
HELD_BELOW_MINIMUM = "below_minimum"
HELD_NO_ACCOUNT = "no_account"


@dataclass(frozen=True)
class HeldSplit:
    """A payee's share that a payout run would not pay at `as_of`, and why."""

    split: StatementSplit
    reason: str  # one of HELD_*
    explanation: str
    until: datetime | None  # when the hold ends; None when it waits on something else


def payouts_held(*, as_of: datetime) -> list[HeldSplit]:
    """Every unpaid payee split that a run at `as_of` would leave: not yet collected (the
    invoice is not paid), in its hold period (until when), below the payee's minimum, or a
    Stripe payee without its Connect account. The same rules as payouts_due, read the other way."""
    splits = list(
        StatementSplit.objects.filter(
            amount__gt=0, payout_item__isnull=True, statement__status__in=["approved", "invoiced", "paid"]
        )
        .exclude(payee__kind=Payee.Kind.PLATFORM)
        .select_related(
            "payee",
            "statement__invoice",
            "statement__contract__placement__partner",
            "statement__contract__placement__employee",
        )
        .order_by("payee__name", "statement__period", "id")
    )
    keys = {(s.statement.contract_id, s.statement.version_number) for s in splits}
    versions = {
        (v.contract_id, v.number): v
        for v in ContractVersion.objects.filter(contract_id__in={k[0] for k in keys}, number__in={k[1] for k in keys})
    }
    held: list[HeldSplit] = []
    eligible: dict[tuple[int, str], list[StatementSplit]] = defaultdict(list)
    for split in splits:
        invoice = getattr(split.statement, "invoice", None)
        if (
            invoice is None
            or invoice.status != Invoice.Status.PAID
            or invoice.paid_at is None
            or invoice.paid_at > as_of
        ):
            what = (
                "the invoice is not issued yet"
                if invoice is None
                else f"invoice {invoice.number or invoice.pk} is {invoice.get_status_display().lower()}"
            )
            held.append(
                HeldSplit(
                    split, HELD_NOT_COLLECTED, f"Not yet collected: {what}; paid out once the partner pays.", None
                )
            )
            continue
        days = _hold_days(split, versions)
        until = invoice.paid_at + timedelta(days=days)
        if until > as_of:
            held.append(HeldSplit(split, HELD_HOLD, f"Hold period: {days} days from the payment.", until))
            continue
        if provider_name_for(split.payee) == PaymentProvider.STRIPE and not split.payee.stripe_account_id:
            held.append(
                HeldSplit(split, HELD_NO_ACCOUNT, "The payee has no Stripe account yet: onboard it under Payees.", None)
            )
            continue
        eligible[(split.payee_id, split.statement.currency)].append(split)
    for group in eligible.values():
        payee = group[0].payee
        total = sum(split.amount for split in group)
        if total < payee.minimum_payout:
            for split in group:
                held.append(
                    HeldSplit(
                        split,
                        HELD_BELOW_MINIMUM,
                        f"Below the payee's minimum payout: {format_money(total, split.statement.currency)} due, "
                        f"the minimum is {format_money(payee.minimum_payout, split.statement.currency)}; "
                        "it waits until more is collected.",
                        None,
                    )
                )
    return held


def payees_for_payouts() -> list[dict[str, Any]]:
    """Each payee with what it is owed (by currency), what is due now and what waits."""
    owed: dict[str, list[tuple[str, int]]] = {}
    for balance in account_balances(code_prefix="payee_payable:"):
        owed.setdefault(balance.code.split(":", 1)[1], []).append((balance.currency, -balance.balance))
    due: dict[int, list[tuple[str, int]]] = {}
    for (payee_id, currency), splits in payouts_due(as_of=timezone.now()).items():
        due.setdefault(payee_id, []).append((currency, sum(s.amount for s in splits)))
    return [
        {
            "payee": payee,
            "provider": provider_name_for(payee),
            "owed": owed.get(payee.slug, []),
            "due": due.get(payee.pk, []),
        }
        for payee in Payee.objects.exclude(kind=Payee.Kind.PLATFORM).order_by("name")
    ]


def reconciliation_latest() -> ReconciliationRun | None:
    return ReconciliationRun.objects.order_by("-created_at", "-id").first()


def partner_period_statements(*, viewer: Any, partner_id: int, period: date) -> QuerySet[Statement]:
    """A partner's settled statements of one period (for its PDF), scoped to the viewer."""
    own = viewer_partner_id(viewer)
    if own is not None and own != partner_id:
        return Statement.objects.none()
    if own is None and getattr(viewer, "role", None) not in FINANCE:
        return Statement.objects.none()
    return (
        Statement.objects.filter(
            contract__placement__partner_id=partner_id,
            period=period,
            status__in=["approved", "invoiced", "paid", "closed"],
        )
        .select_related("contract__placement__partner", "contract__placement__employee")
        .prefetch_related("lines", "splits__payee")
        .order_by("id")
    )
