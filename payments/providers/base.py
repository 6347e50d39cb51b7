"""The payment-provider interface (DESIGN.md §4, §7): what invoicing, payouts and
reconciliation need from a provider, and nothing of how it does it.

Every call that creates something takes an idempotency key derived from our own data
(the statement, the ledger entry), so repeating a call after a crash or a timeout returns
what the first one made instead of making it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class ProviderError(Exception):
    """The provider answered and refused (`definitive`), or did not answer in a way we
    can trust (`definitive=False`: a timeout, a 5xx — the outcome is unknown, so the same
    idempotency key must be used again)."""

    def __init__(self, message: str, *, definitive: bool, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.definitive = definitive
        self.code = code


@dataclass(frozen=True)
class InvoiceLineSpec:
    description: str
    amount: int  # minor units; may be zero (a revenue line) or negative (a clawback)
    key: str  # idempotency key of this line
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvoiceSpec:
    key: str  # idempotency key of the invoice, derived from the statement
    customer_key: str  # idempotency key of the customer, derived from the partner
    customer_id: str  # "" when the partner has no customer at the provider yet
    customer_name: str
    customer_email: str
    currency: str
    amount: int
    description: str
    days_until_due: int
    lines: list[InvoiceLineSpec]
    metadata: dict[str, str]
    # A retry after a refusal: items an earlier attempt left pending are removed first.
    replaces_earlier_attempt: bool = False


@dataclass(frozen=True)
class IssuedInvoice:
    customer_id: str
    invoice_id: str
    number: str
    status: str  # the provider's: open, paid, …
    hosted_url: str


@dataclass(frozen=True)
class CreditNoteLineSpec:
    description: str
    amount: int  # minor units, positive: what this line takes off the invoice


@dataclass(frozen=True)
class CreditNoteSpec:
    key: str  # idempotency key, derived from the credit note row
    invoice_id: str  # the provider's invoice id
    currency: str
    amount: int  # the note's total: the lines' sum, tax included
    memo: str
    lines: list[CreditNoteLineSpec]
    metadata: dict[str, str]
    # After payment the money goes back outside the provider's customer balance (a refund
    # or a deduction finance makes), so the partner's next invoice is not silently reduced.
    post_payment: bool = False


@dataclass(frozen=True)
class IssuedCreditNote:
    credit_note_id: str
    number: str
    amount: int
    kind: str  # pre_payment or post_payment


@dataclass(frozen=True)
class ProviderInvoice:
    invoice_id: str
    status: str  # draft, open, paid, void, uncollectible
    currency: str
    amount_due: int
    amount_paid: int
    metadata: dict[str, str]


@dataclass(frozen=True)
class TransferSpec:
    key: str  # idempotency key, derived from the payout's ledger entry
    group: str  # names the payout, to find an earlier attempt's transfer
    destination: str
    currency: str
    amount: int
    description: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class Transfer:
    transfer_id: str
    destination: str
    currency: str
    amount: int
    group: str
    metadata: dict[str, str]


class PaymentProvider(Protocol):
    name: str

    def invoice_issue(self, spec: InvoiceSpec) -> IssuedInvoice: ...

    def credit_note_issue(self, spec: CreditNoteSpec) -> IssuedCreditNote: ...

    def transfer_create(self, spec: TransferSpec) -> Transfer: ...

    def transfer_find(self, *, group: str) -> Transfer | None: ...

    def connect_account_create(self, *, key: str, name: str, email: str, metadata: dict[str, str]) -> str: ...

    def onboarding_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str: ...

    def invoices_list(self) -> list[ProviderInvoice]: ...

    def transfers_list(self) -> list[Transfer]: ...
