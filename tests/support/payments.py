"""Set-up for the payment tests: the local Stripe-compatible server (tests/support/stripe_server.py:
localstripe plus Connect and idempotency) as a subprocess, the official `stripe` library
pointed at it, webhook events signed the way Stripe signs them, and approved statements
made through the real settlement services.

The `local_stripe` fixture (tests/fixtures/stripe.py) starts the server per test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import stripe as stripe_lib
from django.test import Client
from django.utils import timezone

from contracts.models import Payee, Placement
from ledger.models import JournalEntry, JournalLine
from payments.models import Invoice, Payout, PayoutItem, PayoutRun, WebhookEvent
from payments.services.invoicing import invoice_create, invoice_issue
from payments.services.payouts import payout_run_execute, payout_run_request
from payments.services.webhooks import webhook_event_process
from revenue.models import Statement
from revenue.services.settlement import settlement_run_execute, statement_approve, statement_submit
from tests.support.factories import PayeeFactory, SettlementRunFactory
from tests.support.revenue import at, backdate, sale, touch
from tests.support.world import design_terms, hire

TOKYO = ZoneInfo("Asia/Tokyo")
OCT, NOV, DEC = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
API_KEY = "sk_test_haken_local"
WEBHOOK_SECRET = "whsec_haken_test_secret"
SERVER_SCRIPT = Path(__file__).with_name("stripe_server.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class StripeServer:
    url: str
    process: subprocess.Popen
    client: stripe_lib.StripeClient

    def transfers(self, **filters: str) -> list:
        return list(self.client.v1.transfers.list(params={"limit": 100, **filters}).auto_paging_iter())

    def configure(self, path: str, **data: str) -> None:
        import urllib.parse
        import urllib.request

        body = urllib.parse.urlencode(data).encode()
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/_config/{path}", data=body), timeout=5).read()


def start_stripe_server() -> StripeServer:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError as error:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the Stripe test server did not start: {process.stderr.read().decode()}") from error
            time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    client = stripe_lib.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)
    return StripeServer(url=url, process=process, client=client)


# --- webhooks, signed as Stripe signs them ----------------------------------------------------


def signature(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def invoice_event(server: StripeServer, invoice_id: str, kind: str, *, event_id: str | None = None) -> dict:
    """An event carrying the invoice as the Stripe server has it now (read through the
    official library), as Stripe's webhook would deliver it."""
    invoice = server.client.v1.invoices.retrieve(invoice_id)
    return {
        "id": event_id or f"evt_{secrets.token_hex(8)}",
        "object": "event",
        "type": kind,
        "api_version": stripe_lib.api_version,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": invoice.to_dict()},
    }


def deliver(event: dict, *, sign_with: str = WEBHOOK_SECRET, header: str | None = None):
    payload = json.dumps(event).encode()
    return Client().post(
        "/webhooks/stripe/",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header if header is not None else signature(payload, secret=sign_with),
    )


def partner_pays(server: StripeServer, invoice: Invoice, *, card: str = "4242424242424242") -> dict:
    """The partner pays its invoice at Stripe with a card (4000000000000341 is declined)."""
    client = server.client
    remote = client.v1.invoices.retrieve(invoice.provider_invoice_id)
    method = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    client.v1.payment_methods.attach(method.id, params={"customer": remote.customer})
    client.v1.customers.update(remote.customer, params={"invoice_settings": {"default_payment_method": method.id}})
    return client.v1.invoices.pay(invoice.provider_invoice_id).to_dict()


# --- approved statements through the real services --------------------------------------------


def two_payee_terms(**overrides) -> dict:
    """No platform share: the whole wage goes to two payees (studio 60%, reseller 40%), so
    their transfers add up to everything collected."""
    return design_terms(
        splits=[{"payee": "studio-aoi", "share": "0.60"}, {"payee": "reseller-kumo", "share": "0.40"}], **overrides
    )


def connect_payees(server: StripeServer | None) -> tuple[Payee, Payee]:
    """Studio Aoi and reseller Kumo, each with a Connect account at the local Stripe."""
    studio = Payee.objects.get(slug="studio-aoi")
    reseller = PayeeFactory(slug="reseller-kumo", name="Kumo Resale", kind="reseller")
    for payee in (studio, reseller):
        if server is not None:
            payee.stripe_account_id = server.client.v1.accounts.create(
                params={"type": "express", "metadata": {"haken_payee": payee.slug}}
            ).id
            payee.payment_provider = "stripe"
        else:
            payee.payment_provider = "manual"
        payee.save()
    return studio, reseller


def placement_with_coupons(world, *, terms: dict | None = None) -> Placement:
    placement = backdate(hire(world, terms=terms or two_payee_terms()))
    for n in range(1, 6):
        touch(placement, "coupon", f"C{n}", at(10, n, 9))
    return placement


def settle_and_approve(world, period: date) -> Statement:
    settlement_run_execute(run_id=SettlementRunFactory(period=period).pk)
    statement = Statement.objects.get(period=period)
    statement_submit(actor=world.finance, statement=statement)
    return statement_approve(actor=world.finance2, statement=statement)


def october_statement(world, placement: Placement) -> Statement:
    """5,000,000 of attributed October sales: 280,000 of share raised to the 300,000
    minimum; split 180,000 / 120,000."""
    for n, amount in enumerate([3_000_000, 1_500_000, 400_000, 100_000], start=1):
        sale(world.hoshi, at(10, 10 + n), amount, coupon_code=f"C{n}", external_id=f"oct-{n}")
    return settle_and_approve(world, OCT)


def db_state() -> dict:
    """What a refused request must leave exactly as it was. (Not a tests.support.snapshot:
    test_invoicing and test_payouts read its parts by name — "events", "entries", "lines".)"""
    return {
        "invoices": sorted(Invoice.objects.values_list("id", "status", "provider_invoice_id", "payment_entry_id")),
        "events": sorted(WebhookEvent.objects.values_list("event_id", "outcome")),
        "entries": JournalEntry.objects.count(),
        "lines": JournalLine.objects.count(),
        "statements": sorted(Statement.objects.values_list("id", "status")),
        "payouts": sorted(Payout.objects.values_list("id", "status", "attempt", "provider_transfer_id")),
        "items": PayoutItem.objects.count(),
    }


# --- collection and payout runs ----------------------------------------------------------------

LATER = timedelta(days=31)  # past the contract's 30-day hold


def collect(world, server, statement: Statement):
    """Invoice the statement, the partner pays at Stripe, Stripe's webhook says so."""
    invoice = invoice_issue(invoice_id=invoice_create(actor=world.finance, statement=statement).pk)
    partner_pays(server, invoice)
    webhook_event_process(event=invoice_event(server, invoice.provider_invoice_id, "invoice.paid"))
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    return invoice


def run_payouts(world, *, after: timedelta = LATER) -> PayoutRun:
    run = payout_run_request(actor=world.finance, as_of=timezone.now() + after)
    return payout_run_execute(run_id=run.pk)
