"""A local Stripe-compatible server for the payment tests, run as a subprocess:

    python tests/support/stripe_server.py --port 12345

It is `localstripe` (PyPI: customers, invoice items, invoices, payment methods, paying an
invoice) with what localstripe lacks added in Stripe's own wire format (form-encoded
requests, JSON answers, `{"error": {"type", "code", "message"}}` errors):

- idempotency: a POST with an `Idempotency-Key` is answered once; the same key again
  replays the first answer (`Idempotent-Replayed: true`), the same key with other
  parameters is a 400 `idempotency_error` — as Stripe does;
- invoices: `collection_method`, `days_until_due`, `auto_advance` on create;
  `POST /v1/invoices/{id}/finalize` and `/send`;
- credit notes: `POST /v1/credit_notes` (custom line items; before payment the note lowers
  the invoice's `amount_due`, after it `out_of_band_amount`/`credit_amount` must cover its
  total), `GET /v1/credit_notes/{id}`, `GET /v1/credit_notes?invoice=`; invoices carry
  `pre_payment_credit_notes_amount` / `post_payment_credit_notes_amount`;
- Connect: `POST/GET /v1/accounts`, `POST /v1/account_links`, `POST/GET /v1/transfers`
  (filter by `transfer_group` / `destination`). A transfer needs the platform's balance
  to cover it: the sum of paid invoices less earlier transfers, per currency — so a test
  can see that nothing is paid out of money not collected;
- test controls under `/_config/`: refuse the next N invoices, make the next N transfers
  to an account fail, delay transfers (to kill a worker in the middle of a run).

Nothing is written to disk (localstripe would pickle its store into /tmp on every write).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import time

from aiohttp import web
from localstripe import resources
from localstripe.resources import Invoice, store
from localstripe.server import app, get_post_data, json_response, unflatten_data

# --- no disk ---------------------------------------------------------------------------------
resources.Store.dump_to_disk = lambda self: None
resources.Store.try_load_from_disk = lambda self: None


def stripe_error(status: int, code: str, message: str, kind: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"type": kind, "code": code, "message": message}}, status=status)


# --- idempotency -------------------------------------------------------------------------------
_idempotent: dict[str, tuple[str, int, bytes]] = {}


@web.middleware
async def idempotency_middleware(request: web.Request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    body = await request.read()
    fingerprint = hashlib.sha256(request.path.encode() + b"\0" + body).hexdigest()
    if key in _idempotent:
        seen, status, answer = _idempotent[key]
        if seen != fingerprint:
            return stripe_error(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                kind="idempotency_error",
            )
        return web.Response(
            body=answer, status=status, content_type="application/json", headers={"Idempotent-Replayed": "true"}
        )
    response = await handler(request)
    if response.status < 500:
        _idempotent[key] = (fingerprint, response.status, response.body)
    return response


app.middlewares.insert(0, idempotency_middleware)


# --- invoices: the parameters and routes localstripe lacks --------------------------------------
def _invoice_create(
    cls,
    customer=None,
    description=None,
    metadata=None,
    collection_method=None,
    days_until_due=None,
    auto_advance=None,
    pending_invoice_items_behavior=None,
):
    # localstripe only invoices subscriptions; a one-off invoice takes the customer's
    # pending invoice items (Stripe's `pending_invoice_items_behavior=include`).
    if pending_invoice_items_behavior not in (None, "include", "exclude"):
        raise resources.UserError(400, "Bad request")
    if refusals["invoices"] > 0:
        refusals["invoices"] -= 1
        raise resources.UserError(400, "Invoices are disabled on this account.")
    invoice = Invoice(customer=customer, description=description, metadata=metadata)
    invoice.collection_method = collection_method or "charge_automatically"
    invoice.days_until_due = int(days_until_due) if days_until_due is not None else None
    invoice.auto_advance = auto_advance in (True, "true")
    invoice.number = None
    invoice.hosted_invoice_url = None
    return invoice


Invoice._api_create = classmethod(_invoice_create)
_original_items_list = resources.InvoiceItem._api_list_all.__func__


def _items_list(cls, url, pending=None, **kwargs):
    # localstripe lists only pending items anyway; Stripe's `pending` filter is accepted.
    return _original_items_list(cls, url, **kwargs)


resources.InvoiceItem._api_list_all = classmethod(_items_list)
_invoice_numbers = iter(range(1, 1_000_000))
refusals = {"invoices": 0, "sends": 0}  # how many of the next invoice creations / sends are refused


async def invoice_finalize(request: web.Request) -> web.Response:
    invoice = Invoice._api_retrieve(request.match_info["id"])
    if invoice.status != "draft":
        return stripe_error(400, "invoice_not_editable", "This invoice is already finalized.")
    invoice._finalize()
    invoice.number = f"LOCAL-{next(_invoice_numbers):05d}"
    invoice.hosted_invoice_url = f"http://{request.host}/invoice/{invoice.id}"
    resources.schedule_webhook(resources.Event("invoice.finalized", invoice))
    return json_response(invoice._export())


async def invoice_send(request: web.Request) -> web.Response:
    invoice = Invoice._api_retrieve(request.match_info["id"])
    if invoice.status != "open":
        return stripe_error(400, "invoice_not_open", "Only an open invoice can be sent.")
    if refusals["sends"] > 0:
        refusals["sends"] -= 1
        return stripe_error(400, "customer_email_missing", "The customer has no e-mail address to send to.")
    return json_response(invoice._export())


# --- credit notes ------------------------------------------------------------------------------
credit_notes: dict[str, dict] = {}
_credit_note_numbers = iter(range(1, 1_000_000))


def _credited(invoice_id: str, kind: str) -> int:
    return sum(n["amount"] for n in credit_notes.values() if n["invoice"] == invoice_id and n["type"] == kind)


# Stripe: total stays what was billed; amount_due drops by the credit notes issued before
# payment (and a payment collects amount_due).
Invoice.pre_payment_credit_notes_amount = property(lambda self: _credited(self.id, "pre_payment"))
Invoice.post_payment_credit_notes_amount = property(lambda self: _credited(self.id, "post_payment"))
Invoice.amount_due = property(lambda self: max(0, self.total - self.pre_payment_credit_notes_amount))


def _pay_invoice(invoice_id: str, data: dict) -> web.Response:
    """localstripe's pay, charging `amount_due` (what is left after credit notes) rather
    than `total`."""
    invoice = Invoice._api_retrieve(invoice_id)
    if invoice.status == "paid":
        return stripe_error(400, "invoice_already_paid", "Invoice is already paid")
    if invoice.status not in ("draft", "open"):
        return stripe_error(400, "invoice_not_open", "Bad request")
    invoice._draft = False
    if invoice.amount_due <= 0:
        invoice._on_payment_success()
    else:
        customer = resources.Customer._api_retrieve(invoice.customer)
        method = customer._get_default_payment_method_or_source()
        if method is None:
            return stripe_error(404, "resource_missing", "This customer has no payment method")
        intent = resources.PaymentIntent(
            amount=invoice.amount_due, currency=invoice.currency, customer=invoice.customer, payment_method=method.id
        )
        invoice.payment_intent = intent.id
        intent.invoice = invoice.id
        intent._confirm(on_failure_now=lambda: None)
    return json_response(invoice._export())


@web.middleware
async def credited_pay_middleware(request: web.Request, handler):
    # localstripe's pay route holds its own reference to the method; an invoice with credit
    # notes is paid here instead (others go through localstripe unchanged).
    parts = request.path.strip("/").split("/")
    if request.method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "invoices"] and parts[3] == "pay":
        try:
            invoice = Invoice._api_retrieve(parts[2])
        except resources.UserError:
            return await handler(request)
        if invoice.pre_payment_credit_notes_amount:
            return _pay_invoice(parts[2], await get_post_data(request) or {})
    return await handler(request)


app.middlewares.append(credited_pay_middleware)
CREDIT_NOTE_REASONS = {"duplicate", "fraudulent", "order_change", "product_unsatisfactory"}


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise resources.UserError(400, f"Invalid integer: {name}") from None


async def credit_note_create(request: web.Request) -> web.Response:
    data = await get_post_data(request) or {}
    try:
        invoice = Invoice._api_retrieve(data.get("invoice") or "")
    except resources.UserError:
        return stripe_error(404, "resource_missing", f"No such invoice: '{data.get('invoice')}'")
    if invoice.status not in ("open", "paid"):
        return stripe_error(
            400, "invoice_not_finalized", "A credit note can only be issued on an open or paid invoice."
        )
    raw_lines = data.get("lines") or []
    if isinstance(raw_lines, dict):  # lines[0][...] arrives as {"0": {...}}
        raw_lines = [raw_lines[k] for k in sorted(raw_lines, key=int)]
    if not raw_lines:
        return stripe_error(400, "parameter_missing", "Missing required param: lines.")
    lines = []
    for index, line in enumerate(raw_lines):
        if line.get("type") != "custom_line_item":
            return stripe_error(400, "parameter_invalid", f"lines[{index}][type] must be custom_line_item here.")
        unit, quantity = _int(line.get("unit_amount"), "unit_amount"), _int(line.get("quantity", 1), "quantity")
        if unit < 0 or quantity < 1:
            return stripe_error(400, "parameter_invalid", "A credit note line is a positive amount.")
        lines.append(
            {
                "id": _new_id("cnli_"),
                "object": "credit_note_line_item",
                "type": "custom_line_item",
                "amount": unit * quantity,
                "unit_amount": unit,
                "quantity": quantity,
                "description": line.get("description"),
            }
        )
    total = sum(line["amount"] for line in lines)
    if total <= 0:
        return stripe_error(400, "parameter_invalid", "A credit note needs a positive total.")
    reason = data.get("reason")
    if reason is not None and reason not in CREDIT_NOTE_REASONS:
        return stripe_error(400, "parameter_invalid_string_enum", f"Invalid reason: {reason}")
    kind = "post_payment" if invoice.status == "paid" else "pre_payment"
    out_of_band = _int(data.get("out_of_band_amount", 0), "out_of_band_amount")
    credit_amount = _int(data.get("credit_amount", 0), "credit_amount")
    refund_amount = _int(data.get("refund_amount", 0), "refund_amount")
    if kind == "pre_payment":
        if total > invoice.amount_due:
            return stripe_error(
                400,
                "credit_note_amount_too_large",
                f"The credit note's total ({total}) exceeds the invoice's amount due ({invoice.amount_due}).",
            )
    else:
        if out_of_band + credit_amount + refund_amount != total:
            return stripe_error(
                400,
                "parameter_invalid",
                "For a paid invoice, refund_amount + credit_amount + out_of_band_amount must equal the total.",
            )
        if total > invoice.amount_paid - invoice.post_payment_credit_notes_amount:
            return stripe_error(
                400, "credit_note_amount_too_large", "The credit note's total exceeds what the invoice collected."
            )
    note_id = _new_id("cn_")
    note = {
        "id": note_id,
        "object": "credit_note",
        "amount": total,
        "subtotal": total,
        "total": total,
        "currency": invoice.currency,
        "customer": invoice.customer,
        "invoice": invoice.id,
        "lines": {"object": "list", "url": f"/v1/credit_notes/{note_id}/lines", "data": lines, "has_more": False},
        "memo": data.get("memo"),
        "metadata": data.get("metadata") or {},
        "number": f"CN-LOCAL-{next(_credit_note_numbers):05d}",
        "reason": reason,
        "status": "issued",
        "type": kind,
        "pre_payment_amount": total if kind == "pre_payment" else 0,
        "post_payment_amount": total if kind == "post_payment" else 0,
        "out_of_band_amount": out_of_band or None,
        "credit_amount": credit_amount,
        "refund_amount": refund_amount,
        "created": int(time.time()),
        "livemode": False,
    }
    credit_notes[note_id] = note
    return web.json_response(note)


async def credit_note_retrieve(request: web.Request) -> web.Response:
    note = credit_notes.get(request.match_info["id"])
    if note is None:
        return stripe_error(404, "resource_missing", f"No such credit note: '{request.match_info['id']}'")
    return web.json_response(note)


async def credit_note_list(request: web.Request) -> web.Response:
    query = unflatten_data(request.query)
    found = [n for n in credit_notes.values() if query.get("invoice") in (None, n["invoice"])]
    found.sort(key=lambda n: n["created"], reverse=True)
    return web.json_response(_list("/v1/credit_notes", found, query.get("limit", "100")))


app.router.add_post("/v1/credit_notes", credit_note_create)
app.router.add_get("/v1/credit_notes", credit_note_list)
app.router.add_get("/v1/credit_notes/{id}", credit_note_retrieve)
app.router.add_post("/v1/invoices/{id}/finalize", invoice_finalize)
app.router.add_post("/v1/invoices/{id}/send", invoice_send)

# --- Connect -----------------------------------------------------------------------------------
accounts: dict[str, dict] = {}
transfers: dict[str, dict] = {}
failures: dict[str, int] = {}  # account → how many of its next transfers fail
delay = {"seconds": 0.0}


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


def _list(url: str, items: list[dict], limit: str | None) -> dict:
    count = int(limit or 10)
    return {"object": "list", "url": url, "data": items[:count], "has_more": len(items) > count}


async def account_create(request: web.Request) -> web.Response:
    data = await get_post_data(request) or {}
    account = {
        "id": _new_id("acct_"),
        "object": "account",
        "type": data.get("type", "express"),
        "country": data.get("country", "JP"),
        "email": data.get("email"),
        "metadata": data.get("metadata") or {},
        "created": int(time.time()),
        "charges_enabled": False,
        "payouts_enabled": True,
        "details_submitted": False,
        "capabilities": {"transfers": "active"},
    }
    accounts[account["id"]] = account
    return web.json_response(account)


async def account_retrieve(request: web.Request) -> web.Response:
    account = accounts.get(request.match_info["id"])
    if account is None:
        return stripe_error(404, "resource_missing", f"No such account: '{request.match_info['id']}'")
    return web.json_response(account)


async def account_link_create(request: web.Request) -> web.Response:
    data = await get_post_data(request) or {}
    if data.get("account") not in accounts:
        return stripe_error(400, "resource_missing", f"No such account: '{data.get('account')}'")
    for field in ("refresh_url", "return_url", "type"):
        if not data.get(field):
            return stripe_error(400, "parameter_missing", f"Missing required param: {field}.")
    now = int(time.time())
    return web.json_response(
        {
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": f"http://{request.host}/connect/onboarding/{data['account']}",
        }
    )


def _balance(currency: str) -> int:
    collected = sum(
        invoice.amount_paid
        for key, invoice in list(store.items())
        if key.startswith("invoice:") and invoice.currency == currency and invoice.status == "paid"
    )
    paid_out = sum(t["amount"] for t in transfers.values() if t["currency"] == currency)
    return collected - paid_out


async def transfer_create(request: web.Request) -> web.Response:
    data = await get_post_data(request) or {}
    try:
        amount = int(data.get("amount"))
    except (TypeError, ValueError):
        return stripe_error(400, "parameter_invalid_integer", "Invalid integer: amount")
    currency = str(data.get("currency", "")).lower()
    destination = data.get("destination")
    if amount <= 0 or not currency:
        return stripe_error(400, "parameter_invalid", "A transfer needs a positive amount and a currency.")
    if destination not in accounts:
        return stripe_error(400, "resource_missing", f"No such destination: '{destination}'")
    if delay["seconds"]:
        await asyncio.sleep(delay["seconds"])
    if failures.get(destination, 0) > 0:
        failures[destination] -= 1
        return stripe_error(400, "account_invalid", "The destination account cannot receive transfers now.")
    if amount > _balance(currency):
        return stripe_error(
            400, "balance_insufficient", "You have insufficient available funds in your Stripe account."
        )
    transfer = {
        "id": _new_id("tr_"),
        "object": "transfer",
        "amount": amount,
        "currency": currency,
        "destination": destination,
        "transfer_group": data.get("transfer_group"),
        "description": data.get("description"),
        "metadata": data.get("metadata") or {},
        "created": int(time.time()),
        "reversed": False,
        "amount_reversed": 0,
        "livemode": False,
    }
    transfers[transfer["id"]] = transfer
    return web.json_response(transfer)


async def transfer_list(request: web.Request) -> web.Response:
    query = unflatten_data(request.query)
    found = [
        t
        for t in transfers.values()
        if all(query.get(field) in (None, t[field]) for field in ("transfer_group", "destination"))
    ]
    found.sort(key=lambda t: t["created"], reverse=True)
    return web.json_response(_list("/v1/transfers", found, query.get("limit", "100")))


async def transfer_retrieve(request: web.Request) -> web.Response:
    transfer = transfers.get(request.match_info["id"])
    if transfer is None:
        return stripe_error(404, "resource_missing", f"No such transfer: '{request.match_info['id']}'")
    return web.json_response(transfer)


async def config_transfer_failures(request: web.Request) -> web.Response:
    data = await get_post_data(request) or {}
    failures[data["account"]] = int(data.get("count", 1))
    return web.json_response({"ok": True})


async def config_transfer_delay(request: web.Request) -> web.Response:
    data = await get_post_data(request) or {}
    delay["seconds"] = float(data.get("seconds", 0))
    return web.json_response({"ok": True})


async def config_refuse_invoices(request: web.Request) -> web.Response:
    data = await get_post_data(request) or {}
    refusals[data.get("step", "invoices")] = int(data.get("count", 1))
    return web.json_response({"ok": True})


async def config_transfer_attempts(request: web.Request) -> web.Response:
    return web.json_response({"transfers": len(transfers)})


app.router.add_post("/v1/accounts", account_create)
app.router.add_get("/v1/accounts/{id}", account_retrieve)
app.router.add_post("/v1/account_links", account_link_create)
app.router.add_post("/v1/transfers", transfer_create)
app.router.add_get("/v1/transfers", transfer_list)
app.router.add_get("/v1/transfers/{id}", transfer_retrieve)
app.router.add_post("/_config/transfer_failures", config_transfer_failures)
app.router.add_post("/_config/transfer_delay", config_transfer_delay)
app.router.add_get("/_config/transfers", config_transfer_attempts)
app.router.add_post("/_config/refuse_invoices", config_refuse_invoices)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    print(f"stripe test server on 127.0.0.1:{args.port}", flush=True)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
