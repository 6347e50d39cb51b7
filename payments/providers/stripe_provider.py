"""Stripe, through the official `stripe` library (StripeClient, API v1).

- Collection: the partner is a Stripe customer; a statement becomes one invoice item per
  statement line (pending on the customer), then an invoice that includes them
  (`collection_method=send_invoice`), finalized and sent. Each request carries an
  idempotency key derived from the statement, so a retry after a crash returns the same
  items and the same invoice.
- Payouts: a transfer to the payee's Connect account, its key derived from the ledger
  entry the payout will post; `transfer_group` names the payout so an earlier attempt's
  transfer can be found again after Stripe's 24-hour idempotency window.
- Amounts are integers in the currency's minor unit; Stripe treats JPY as zero-decimal
  too, so they pass through unchanged. Currencies are lower case on the wire.
"""

from __future__ import annotations

from typing import Any

import stripe
from django.conf import settings

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


def _error(error: stripe.StripeError) -> ProviderError:
    # A 4xx is Stripe's considered answer (nothing was made); connection trouble, 5xx and
    # 429 leave the outcome unknown.
    status = getattr(error, "http_status", None) or 0
    definitive = 400 <= status < 500 and status not in (409, 429)
    return ProviderError(
        str(getattr(error, "user_message", None) or error)[:300],
        definitive=definitive,
        code=str(getattr(error, "code", "") or ""),
    )


def _metadata(obj: Any) -> dict[str, str]:
    raw = getattr(obj, "metadata", None)
    return {str(k): str(v) for k, v in (raw.to_dict() if hasattr(raw, "to_dict") else (raw or {})).items()}


class StripeProvider:
    name = "stripe"

    def __init__(self, *, api_key: str | None = None, api_base: str | None = None) -> None:
        api_key = api_key or settings.STRIPE_API_KEY
        api_base = api_base if api_base is not None else settings.STRIPE_API_BASE
        addresses: dict[str, str] = {"api": api_base, "connect": api_base} if api_base else {}
        self.client = stripe.StripeClient(
            api_key,
            base_addresses=addresses,  # type: ignore[arg-type]
            max_network_retries=2,
        )

    # --- collection ---------------------------------------------------------------------

    def invoice_issue(self, spec: InvoiceSpec) -> IssuedInvoice:
        v1 = self.client.v1
        currency = spec.currency.lower()
        try:
            customer = {"name": spec.customer_name, "metadata": {"haken_customer": spec.customer_key}}
            if spec.customer_email:
                customer["email"] = spec.customer_email
            customer_id = (
                spec.customer_id
                or v1.customers.create(
                    params=customer,  # type: ignore[arg-type]
                    options={"idempotency_key": spec.customer_key},
                ).id
            )
            invoice = self._earlier_invoice(customer_id, spec) if spec.replaces_earlier_attempt else None
            if invoice is None:
                if spec.replaces_earlier_attempt:  # items an earlier, refused attempt left pending
                    for item in v1.invoice_items.list(
                        params={"customer": customer_id, "pending": True, "limit": 100}
                    ).auto_paging_iter():
                        if _metadata(item).get("haken_statement") == spec.metadata.get("haken_statement"):
                            v1.invoice_items.delete(item.id)
                for line in spec.lines:
                    v1.invoice_items.create(
                        params={
                            "customer": customer_id,
                            "amount": line.amount,
                            "currency": currency,
                            "description": line.description[:500],
                            "metadata": line.metadata,
                        },
                        options={"idempotency_key": line.key},
                    )
                invoice = v1.invoices.create(
                    params={
                        "customer": customer_id,
                        "collection_method": "send_invoice",
                        "days_until_due": spec.days_until_due,
                        "auto_advance": False,
                        "pending_invoice_items_behavior": "include",
                        "description": spec.description,
                        "metadata": spec.metadata,
                    },
                    options={"idempotency_key": spec.key},
                )
            if invoice.amount_due != spec.amount or invoice.currency != currency:
                raise ProviderError(
                    f"Stripe drafted {invoice.amount_due} {invoice.currency} for an invoice of "
                    f"{spec.amount} {currency}; it was not finalized.",
                    definitive=True,
                    code="amount_mismatch",
                )
            if invoice.status == "draft":
                invoice = v1.invoices.finalize_invoice(invoice.id, options={"idempotency_key": f"{spec.key}:finalize"})
            if invoice.status == "open":
                invoice = v1.invoices.send_invoice(invoice.id, options={"idempotency_key": f"{spec.key}:send"})
        except stripe.StripeError as error:
            raise _error(error) from error
        return IssuedInvoice(
            customer_id=customer_id,
            invoice_id=invoice.id,
            number=getattr(invoice, "number", None) or "",
            status=invoice.status,
            hosted_url=getattr(invoice, "hosted_invoice_url", None) or "",
        )

    def _earlier_invoice(self, customer_id: str, spec: InvoiceSpec) -> Any:
        """An invoice an earlier attempt made for the same row (refused later, at finalize
        or send): carry on with it rather than bill the statement twice."""
        for invoice in self.client.v1.invoices.list(params={"customer": customer_id, "limit": 100}).auto_paging_iter():
            if _metadata(invoice).get("haken_invoice") == spec.metadata.get("haken_invoice") and invoice.status in (
                "draft",
                "open",
                "paid",
            ):
                return invoice
        return None

    def credit_note_issue(self, spec: CreditNoteSpec) -> IssuedCreditNote:
        """One Stripe credit note on the invoice, one custom line per part (the reduction,
        the tax per rate), so its total is ours to the minor unit."""
        params: dict[str, Any] = {
            "invoice": spec.invoice_id,
            "memo": spec.memo[:500],
            "metadata": spec.metadata,
            "lines": [
                {"type": "custom_line_item", "unit_amount": line.amount, "quantity": 1, "description": line.description}
                for line in spec.lines
            ],
        }
        if spec.post_payment:
            params["out_of_band_amount"] = spec.amount
        try:
            note = self.client.v1.credit_notes.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": spec.key},
            )
        except stripe.StripeError as error:
            raise _error(error) from error
        if note.total != spec.amount or note.currency != spec.currency.lower():
            raise ProviderError(
                f"Stripe credited {note.total} {note.currency} for a note of {spec.amount} {spec.currency}.",
                definitive=True,
                code="amount_mismatch",
            )
        return IssuedCreditNote(
            credit_note_id=note.id, number=getattr(note, "number", None) or "", amount=note.total, kind=note.type
        )

    def invoices_list(self) -> list[ProviderInvoice]:
        try:
            return [
                ProviderInvoice(
                    invoice_id=i.id,
                    status=i.status,
                    currency=i.currency.upper(),
                    amount_due=i.amount_due,
                    amount_paid=i.amount_paid,
                    metadata=_metadata(i),
                )
                for i in self.client.v1.invoices.list(params={"limit": 100}).auto_paging_iter()
            ]
        except stripe.StripeError as error:
            raise _error(error) from error

    # --- payouts --------------------------------------------------------------------------

    def _transfer(self, obj: Any) -> Transfer:
        return Transfer(
            transfer_id=obj.id,
            destination=obj.destination,
            currency=obj.currency.upper(),
            amount=obj.amount,
            group=getattr(obj, "transfer_group", None) or "",
            metadata=_metadata(obj),
        )

    def transfer_create(self, spec: TransferSpec) -> Transfer:
        try:
            transfer = self.client.v1.transfers.create(
                params={
                    "amount": spec.amount,
                    "currency": spec.currency.lower(),
                    "destination": spec.destination,
                    "transfer_group": spec.group,
                    "description": spec.description,
                    "metadata": spec.metadata,
                },
                options={"idempotency_key": spec.key},
            )
        except stripe.StripeError as error:
            raise _error(error) from error
        return self._transfer(transfer)

    def transfer_find(self, *, group: str) -> Transfer | None:
        try:
            found = list(self.client.v1.transfers.list(params={"transfer_group": group, "limit": 10}).data)
        except stripe.StripeError as error:
            raise _error(error) from error
        return self._transfer(found[0]) if found else None

    def transfers_list(self) -> list[Transfer]:
        try:
            return [self._transfer(t) for t in self.client.v1.transfers.list(params={"limit": 100}).auto_paging_iter()]
        except stripe.StripeError as error:
            raise _error(error) from error

    def connect_account_create(self, *, key: str, name: str, email: str, metadata: dict[str, str]) -> str:
        try:
            params: dict[str, Any] = {"type": "express", "business_profile": {"name": name}, "metadata": metadata}
            if email:
                params["email"] = email
            return self.client.v1.accounts.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": key},
            ).id
        except stripe.StripeError as error:
            raise _error(error) from error

    def onboarding_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        try:
            return self.client.v1.account_links.create(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                },
            ).url
        except stripe.StripeError as error:
            raise _error(error) from error
