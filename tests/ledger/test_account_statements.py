"""Statements of account: one ledger account over a span of days — balance brought forward,
every line with its running balance, balance carried forward — for finance, on a page and
through the API."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase
from rest_framework.test import APIClient

from contracts import services as contract_services
from core.errors import NotFound, ValidationFailed
from ledger.models import JournalEntry, JournalLine
from ledger.selectors.balances import account_balance
from ledger.selectors.statements import account_statement
from ledger.services.posting import Posting, journal_entry_post

RECEIVABLE = "partner_receivable:hoshi-mart"


def _post(key: str, day: date, amount: int, memo: str) -> None:
    """Dr (amount > 0) or Cr (amount < 0) the receivable, against cash or revenue."""
    other = "platform_revenue" if amount > 0 else "cash:manual"
    journal_entry_post(
        idempotency_key=key,
        memo=memo,
        occurred_on=day,
        postings=[Posting(RECEIVABLE, amount, "JPY", "receivable"), Posting(other, -amount, "JPY", "other side")],
    )


@pytest.fixture
def postings(db):
    # given a September statement paid in October, and an October statement not yet paid
    _post("sep-approved", date(2026, 9, 30), 300000, "September statement approved")
    _post("sep-paid", date(2026, 10, 6), -300000, "September invoice paid")
    _post("oct-approved", date(2026, 10, 31), 120500, "October statement approved")
    _post("nov-approved", date(2026, 11, 30), 99000, "November statement approved")


def test_a_month_reads_brought_forward_each_line_with_its_balance_and_carried_forward(postings):
    # when finance reads October
    statement = account_statement(code=RECEIVABLE, currency="JPY", first=date(2026, 10, 1), last=date(2026, 10, 31))
    # then September's approval is brought forward and November's is not there
    assert (statement.opening, statement.debits, statement.credits, statement.closing) == (
        300000,
        120500,
        300000,
        120500,
    )
    assert [(line.occurred_on, line.memo, line.debit, line.credit, line.balance) for line in statement.lines] == [
        (date(2026, 10, 6), "September invoice paid", 0, 300000, 0),
        (date(2026, 10, 31), "October statement approved", 120500, 0, 120500),
    ]
    assert (statement.kind, statement.truncated) == ("asset", False)


def test_a_span_with_nothing_posted_carries_the_balance_through(postings):
    statement = account_statement(code=RECEIVABLE, currency="JPY", first=date(2026, 11, 1), last=date(2026, 11, 29))
    assert (statement.opening, statement.closing, statement.lines) == (120500, 120500, [])


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (date(2026, 10, 31), date(2026, 10, 1), "The statement ends before it starts."),
        (date(2026, 1, 1), date(2027, 1, 2), "A statement of account spans at most 366 days."),
    ],
)
def test_a_span_backwards_or_over_a_year_is_refused(postings, first, last, message):
    with pytest.raises(ValidationFailed) as refused:
        account_statement(code=RECEIVABLE, currency="JPY", first=first, last=last)
    assert refused.value.message == message


def test_an_account_that_does_not_exist_in_that_currency_is_not_found(postings):
    with pytest.raises(NotFound) as missing:
        account_statement(code=RECEIVABLE, currency="USD", first=date(2026, 10, 1), last=date(2026, 10, 31))
    assert missing.value.message == "No ledger account 'partner_receivable:hoshi-mart' in USD."


def _url(code: str = RECEIVABLE, currency: str = "JPY", **query: str) -> str:
    params = "&".join(f"{key}={value}" for key, value in query.items())
    return f"/api/v1/ledger/accounts/{code}/{currency}/statement" + (f"?{params}" if params else "")


def test_finance_reads_it_through_the_api(world, postings):
    client = APIClient()
    client.force_login(world.finance)
    response = client.get(_url(start="2026-10-01", end="2026-10-31"))
    assert response.status_code == 200
    assert response.json() == {
        "account": RECEIVABLE,
        "currency": "JPY",
        "kind": "asset",
        "start": "2026-10-01",
        "end": "2026-10-31",
        "opening_balance": 300000,
        "debits": 120500,
        "credits": 300000,
        "closing_balance": 120500,
        "truncated": False,
        "lines": [
            {
                "entry_id": JournalEntry.objects.get(idempotency_key="sep-paid").pk,
                "occurred_on": "2026-10-06",
                "memo": "September invoice paid",
                "description": "receivable",
                "debit": 0,
                "credit": 300000,
                "balance": 0,
            },
            {
                "entry_id": JournalEntry.objects.get(idempotency_key="oct-approved").pk,
                "occurred_on": "2026-10-31",
                "memo": "October statement approved",
                "description": "receivable",
                "debit": 120500,
                "credit": 0,
                "balance": 120500,
            },
        ],
    }


@pytest.mark.parametrize(
    ("query", "status", "code", "message"),
    [
        ({"start": "2026-10-01", "end": "31/10/2026"}, 400, "invalid", "end must be a date as YYYY-MM-DD."),
        ({"start": "2026-13-01", "end": "2026-10-31"}, 400, "invalid", "start must be a date as YYYY-MM-DD."),
        ({"start": "2026-10-31", "end": "2026-10-01"}, 400, "invalid", "The statement ends before it starts."),
    ],
)
def test_bad_dates_are_a_400_naming_the_problem(world, postings, query, status, code, message):
    client = APIClient()
    client.force_login(world.finance)
    before = list(JournalLine.objects.values_list("pk", "amount").order_by("pk"))
    response = client.get(_url(**query))
    assert (response.status_code, response.json()["error"]["code"], response.json()["error"]["message"]) == (
        status,
        code,
        message,
    )
    assert list(JournalLine.objects.values_list("pk", "amount").order_by("pk")) == before


def test_without_dates_it_reads_from_the_start_to_the_end_of_a_month(world, postings):
    client = APIClient()
    client.force_login(world.finance)
    body = client.get(_url(start="2026-10-01")).json()
    assert (body["start"], body["end"], body["opening_balance"], body["closing_balance"]) == (
        "2026-10-01",
        "2026-10-31",
        300000,
        120500,
    )
    assert client.get(_url()).status_code == 200


def test_an_unknown_account_is_a_404(world, postings):
    client = APIClient()
    client.force_login(world.finance)
    response = client.get(_url(code="payee_payable:nobody", start="2026-10-01", end="2026-10-31"))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_only_finance_reads_the_ledger(world, postings):
    for person in (world.hoshi_owner, world.hoshi_manager):
        client = APIClient()
        client.force_login(person)
        response = client.get(_url(start="2026-10-01", end="2026-10-31"))
        assert (response.status_code, response.json()["error"]["message"]) == (
            403,
            "The ledger is finance's: only finance can read statements of account.",
        )
    issued = contract_services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="till")
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    response = keyed.get(_url(start="2026-10-01", end="2026-10-31"))
    assert (response.status_code, response.json()["error"]["message"]) == (
        403,
        "This action needs a person signed in; API keys may only read it.",
    )


def test_finance_reads_it_on_a_page_linked_from_the_trial_balance(world, postings, client):
    client.force_login(world.finance)
    ledger_page = client.get("/console/ledger/").content.decode()
    assert f'href="/console/ledger/accounts/{RECEIVABLE}/JPY/"' in ledger_page
    page = client.get(f"/console/ledger/accounts/{RECEIVABLE}/JPY/?start=2026-10-01&end=2026-10-31")
    assert page.status_code == 200
    text = page.content.decode()
    for figure in (
        "Balance brought forward",
        "JPY 300,000",
        "September invoice paid",
        "JPY 120,500",
        "Balance carried forward",
    ):
        assert figure in text
    refused = client.get(f"/console/ledger/accounts/{RECEIVABLE}/JPY/?start=2026-10-31&end=2026-10-01")
    assert refused.status_code == 400
    assert "The statement ends before it starts." in refused.content.decode()
    assert client.get(f"/console/ledger/accounts/{RECEIVABLE}/USD/").status_code == 404


class StatementProperties(HypothesisTestCase):
    @settings(max_examples=30, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.integers(min_value=1, max_value=60), st.integers(min_value=-(10**9), max_value=10**9).filter(bool)
            ),
            min_size=1,
            max_size=12,
        ),
        st.integers(min_value=1, max_value=60),
        st.integers(min_value=0, max_value=30),
    )
    def test_brought_forward_plus_the_lines_is_carried_forward_and_the_ledger_agrees(self, moves, start, span):
        # given postings on days of Oct–Nov 2026
        october = date(2026, 10, 1)
        for index, (day, amount) in enumerate(moves):
            _post(f"p{index}", october + timedelta(days=day - 1), amount, f"move {index}")
        first = october + timedelta(days=start - 1)
        last = first + timedelta(days=span)
        # when the statement is read
        statement = account_statement(code=RECEIVABLE, currency="JPY", first=first, last=last)
        # then every running balance adds up, and the carried-forward balance is the ledger's own
        running = statement.opening
        for line in statement.lines:
            running += line.debit - line.credit
            assert line.balance == running
        assert statement.closing == running
        assert statement.closing - statement.opening == statement.debits - statement.credits
        entries_until_last = sum(amount for day, amount in moves if october + timedelta(days=day - 1) <= last)
        assert statement.closing == entries_until_last
        assert account_balance(code=RECEIVABLE, currency="JPY") == sum(amount for _, amount in moves)
