"""The manual provider: for partners and payees outside Stripe. It only records — the
invoice is sent and the bank transfer made by finance outside the platform, from the CSV
exports — so its "ids" are our own keys, and finance marks a manual invoice paid."""

from __future__ import annotations

from payments.providers.base import (
    CreditNoteSpec,
    InvoiceSpec,
    IssuedCreditNote,
    IssuedInvoice,
    ProviderError,
    ProviderInvoice,
    Transfer,
    TransferSpec,
)


class ManualProvider:
    name = "manual"

    def invoice_issue(self, spec: InvoiceSpec) -> IssuedInvoice:
        return IssuedInvoice(customer_id="", invoice_id=f"manual:{spec.key}", number="", status="open", hosted_url="")

    def credit_note_issue(self, spec: CreditNoteSpec) -> IssuedCreditNote:
        # Numbered by payments.services.credit_notes (HKN-CN-…), as manual invoices are.
        return IssuedCreditNote(
            credit_note_id=f"manual:{spec.key}",
            number="",
            amount=spec.amount,
            kind="post_payment" if spec.post_payment else "pre_payment",
        )

    def invoices_list(self) -> list[ProviderInvoice]:
        return []

    def transfer_create(self, spec: TransferSpec) -> Transfer:
        return Transfer(
            transfer_id=f"manual:{spec.key}",
            destination=spec.destination,
            currency=spec.currency,
            amount=spec.amount,
            group=spec.group,
            metadata=spec.metadata,
        )

    def transfer_find(self, *, group: str) -> Transfer | None:
        return None

    def transfers_list(self) -> list[Transfer]:
        return []

    def connect_account_create(self, *, key: str, name: str, email: str, metadata: dict[str, str]) -> str:
        raise ProviderError(
            "Manual payees are paid by bank transfer; they have no Connect account.",
            definitive=True,
            code="not_supported",
        )

    def onboarding_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        raise ProviderError("Manual payees have no onboarding.", definitive=True, code="not_supported")
