"""One set of sale rules, two readings (revenue/sale_rules.py): the API checks each event in
Python, a CSV upload checks every row at once in SQL. The same bad events sent both ways
must be refused with the same code and message, on the same field, and store the same rows.

The differences sale_rules declares are asserted as declared: a file's message for an
echoed problem ends with the bad cell ("…; got '-5'."), and positions read "this batch
(index 0)" in the API and "this file (row 2)" in a file. Each event becomes a CSV row with
its values as text, an absent or null value an empty cell."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from string import Formatter
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from contracts import services as contract_services
from revenue import sale_rules
from revenue.models import Sale, SaleUploadRejection
from revenue.sale_rules import MAX_AMOUNT, OCCURRED_AT_HELP, SALE_FIELD_ORDER, SALE_OPTIONAL_KEYS, sql_quote
from revenue.services import ingestion
from revenue.services.uploads import upload_create, upload_process

AMOUNT_HELP = f"amount must be a positive integer in the currency's minor unit (at most {MAX_AMOUNT})."
STORED_CONFLICT = (
    "external_id 'old-1' was already received with different content; an event cannot be "
    "changed once sent (send a refund, and a new sale with a new external_id)."
)


@pytest.fixture(autouse=True)
def _media_and_throttle(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    yield
    cache.clear()


def sale(external_id: str = "e-1", **fields: Any) -> dict[str, Any]:
    event = {
        "external_id": external_id,
        "type": "sale",
        "occurred_at": "2026-10-03T12:01:00+09:00",
        "amount": 1280,
        "currency": "JPY",
        **fields,
    }
    return {name: value for name, value in event.items() if value is not ABSENT}


def refund(external_id: str, of: Any, amount: int = 100, **fields: Any) -> dict[str, Any]:
    return sale(
        external_id,
        **{"type": "refund", "refund_of": of, "occurred_at": "2026-10-05T09:00:00+09:00", "amount": amount, **fields},
    )


ABSENT: Any = object()


# --- the two paths ----------------------------------------------------------------------


@dataclass(frozen=True)
class PathResult:
    """What one path did with a batch: counts, the rejections as (index, field, code,
    message) in order (a file's rows as indexes), and the rows it stored."""

    counts: tuple[int, int, int]
    rejections: list[tuple[int, str, str, str]]
    stored: dict[str, tuple[Any, ...]] = field(repr=False)


def stored_rows() -> dict[str, tuple[Any, ...]]:
    """Every sale and refund by external_id, without what tells one arrival from another."""
    return {
        s.external_id: (
            s.partner_id,
            s.type,
            s.occurred_at,
            s.amount,
            s.currency,
            s.coupon_code,
            s.click_id,
            s.conversation_id,
            s.customer_ref,
            s.store_id,
            s.refund_of.external_id if s.refund_of else None,
            s.period,
            s.content_digest,
            s.attribution,
        )
        for s in Sale.objects.select_related("refund_of")
    }


def changes(before: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    after = stored_rows()
    # then nothing stored before changed or went
    assert {key: after.get(key) for key in before} == before
    return {key: row for key, row in after.items() if key not in before}


def through_api(world, events: list[Any]) -> PathResult:
    """POST /api/v1/sales with a partner API key; undone afterwards (a savepoint)."""
    cache.clear()  # the ingest throttle counts every request of a test
    with transaction.atomic():
        before = stored_rows()
        issued = contract_services.api_key_create(actor=world.hoshi_owner, partner=world.hoshi, name="parity")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
        # The field at fault is not in the public answer; the service's result carries it,
        # so the test reads it there on the way out.
        fields: list[str] = []
        result_of = ingestion._Outcomes.result

        def keep_fields(outcomes: Any, inserted_ids: list[int]) -> Any:
            result = result_of(outcomes, inserted_ids)
            fields.extend(rejection.field for rejection in result.rejected)
            return result

        with mock.patch.object(ingestion._Outcomes, "result", autospec=True, side_effect=keep_fields):
            response = client.post("/api/v1/sales", {"events": events}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        new = changes(before)
        transaction.set_rollback(True)
    rejected = [
        (r["index"], column, r["code"], r["message"]) for r, column in zip(body["rejected"], fields, strict=True)
    ]
    return PathResult((body["accepted"], body["duplicates"], len(body["rejected"])), rejected, new)


def cell(value: Any) -> str:
    return "" if value is None else str(value)


def csv_of(events: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SALE_FIELD_ORDER)
    writer.writerows([cell(event.get(name)) for name in SALE_FIELD_ORDER] for event in events)
    return out.getvalue()


def through_file(world, events: list[dict[str, Any]]) -> tuple[PathResult, list[tuple[int, str, str, str]]]:
    """An upload of the events as CSV rows, processed as the task does; undone afterwards.
    Also every problem of every row (a file lists them all; `rejections` keeps each row's
    first, as the API names one)."""
    with transaction.atomic():
        before = stored_rows()
        upload = upload_create(
            actor=world.hoshi_owner,
            partner=world.hoshi,
            file=SimpleUploadedFile("parity.csv", csv_of(events).encode(), "text/csv"),
        )
        upload = upload_process(upload_id=upload.pk)
        assert (upload.status, upload.error) == ("done", "")
        problems = [
            (row - 2, column, code, reason)
            for row, column, code, reason in SaleUploadRejection.objects.filter(upload=upload)
            .order_by("row_number", "id")
            .values_list("row_number", "column", "code", "reason")
        ]
        new = changes(before)
        transaction.set_rollback(True)
    firsts: dict[int, tuple[int, str, str, str]] = {}
    for problem in problems:
        firsts.setdefault(problem[0], problem)
    outcome = PathResult((upload.accepted, upload.duplicates, upload.rejected), list(firsts.values()), new)
    return outcome, problems


def given_stored_sales(world) -> None:
    """Hoshi Mart (JPY) sent old-1 (5000) and old-3 (1000), 600 of it refunded by old-3-r1;
    and usd-1, a sale in USD from before the partner changed currency."""
    result = ingestion.sales_ingest(
        partner=world.hoshi,
        events=[
            sale("old-1", occurred_at="2026-10-01T10:00:00+09:00", amount=5000),
            sale("old-3", occurred_at="2026-10-02T10:00:00+09:00", amount=1000),
            refund("old-3-r1", "old-3", 600, occurred_at="2026-10-03T10:00:00+09:00"),
        ],
    )
    assert (result.accepted, result.rejected) == (3, [])
    Sale.objects.create(
        partner=world.hoshi,
        external_id="usd-1",
        type="sale",
        amount=900,
        currency="USD",
        occurred_at=datetime(2026, 10, 1, tzinfo=UTC),
        period=datetime(2026, 10, 1).date(),
        content_digest="usd",
    )


# --- the table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    events: list[dict[str, Any]]
    # (index, field, code, the API's message); [] when every event is accepted or a duplicate.
    rejected: list[tuple[int, str, str, str]]
    counts: tuple[int, int, int]
    # The cell a file's message ends with, where sale_rules declares an echo.
    got: str | None = None
    # The file's message where positions are worded for a file.
    file_message: str | None = None


LONG = "k" * 129
CASES = {
    "missing-external-id": Case([sale(ABSENT)], [(0, "external_id", "invalid", "external_id is required.")], (0, 0, 1)),
    "long-external-id": Case(
        [sale(LONG)], [(0, "external_id", "invalid", "external_id is longer than 128 characters.")], (0, 0, 1)
    ),
    "longest-external-id-is-fine": Case([sale("k" * 128)], [], (1, 0, 0)),
    "missing-type": Case([sale(type=ABSENT)], [(0, "type", "invalid", 'type must be "sale" or "refund".')], (0, 0, 1)),
    "unknown-type": Case(
        [sale(type="Sale")], [(0, "type", "invalid", 'type must be "sale" or "refund".')], (0, 0, 1), got="Sale"
    ),
    "missing-time": Case(
        [sale(occurred_at=ABSENT)],
        [(0, "occurred_at", "invalid", f"occurred_at is required: {OCCURRED_AT_HELP}.")],
        (0, 0, 1),
    ),
    "bad-time": Case(
        [sale(occurred_at="yesterday")],
        [(0, "occurred_at", "invalid", f"occurred_at must be {OCCURRED_AT_HELP}.")],
        (0, 0, 1),
        got="yesterday",
    ),
    "no-such-day": Case(
        [sale(occurred_at="2026-02-30T00:00:00Z")],
        [(0, "occurred_at", "invalid", f"occurred_at must be {OCCURRED_AT_HELP}.")],
        (0, 0, 1),
        got="2026-02-30T00:00:00Z",
    ),
    "naive-time": Case(
        [sale(occurred_at="2026-10-04T10:00:00")],
        [(0, "occurred_at", "invalid", f"occurred_at has no UTC offset; send {OCCURRED_AT_HELP}.")],
        (0, 0, 1),
        got="2026-10-04T10:00:00",
    ),
    "before-2000": Case(
        [sale(occurred_at="1999-12-31T23:59:59Z")],
        [(0, "occurred_at", "invalid", "occurred_at must lie between 2000-01-01 and now; got 1999-12-31T23:59:59Z.")],
        (0, 0, 1),
    ),
    # The file used to show this time in UTC; it now quotes it as sent, as the API does.
    "future": Case(
        [sale(occurred_at="2199-01-01T09:00:00+09:00")],
        [
            (
                0,
                "occurred_at",
                "invalid",
                "occurred_at must lie between 2000-01-01 and now; got 2199-01-01T09:00:00+09:00.",
            )
        ],
        (0, 0, 1),
    ),
    "missing-amount": Case([sale(amount=ABSENT)], [(0, "amount", "invalid", AMOUNT_HELP)], (0, 0, 1)),
    "negative-amount": Case([sale(amount=-5)], [(0, "amount", "invalid", AMOUNT_HELP)], (0, 0, 1), got="-5"),
    "zero-amount": Case([sale(amount=0)], [(0, "amount", "invalid", AMOUNT_HELP)], (0, 0, 1), got="0"),
    "fractional-amount": Case([sale(amount=12.5)], [(0, "amount", "invalid", AMOUNT_HELP)], (0, 0, 1), got="12.5"),
    "text-amount": Case([sale(amount="abc")], [(0, "amount", "invalid", AMOUNT_HELP)], (0, 0, 1), got="abc"),
    "amount-over-the-limit": Case(
        [sale(amount=MAX_AMOUNT + 1)], [(0, "amount", "invalid", AMOUNT_HELP)], (0, 0, 1), got=str(MAX_AMOUNT + 1)
    ),
    "largest-amount-is-fine": Case([sale(amount=MAX_AMOUNT)], [], (1, 0, 0)),
    "missing-currency": Case(
        [sale(currency=ABSENT)], [(0, "currency", "invalid", "currency is required (ISO 4217).")], (0, 0, 1)
    ),
    "unknown-currency": Case(
        [sale(currency="XYZ")], [(0, "currency", "unknown_currency", "'XYZ' is not an ISO 4217 currency.")], (0, 0, 1)
    ),
    "lowercase-currency": Case(
        [sale(currency="jpy")], [(0, "currency", "unknown_currency", "'jpy' is not an ISO 4217 currency.")], (0, 0, 1)
    ),
    # The file used to cut the currency to 40 characters; it now quotes it whole, as the API does.
    "long-currency": Case(
        [sale(currency="C" * 50)],
        [(0, "currency", "unknown_currency", f"'{'C' * 50}' is not an ISO 4217 currency.")],
        (0, 0, 1),
    ),
    "currency-mismatch": Case(
        [sale(currency="USD")],
        [(0, "currency", "currency_mismatch", "This partner reports sales in JPY, not USD.")],
        (0, 0, 1),
    ),
    **{
        f"long-{name}": Case(
            [sale(**{name: LONG})], [(0, name, "invalid", f"{name} is longer than 128 characters.")], (0, 0, 1)
        )
        for name in SALE_OPTIONAL_KEYS
    },
    "refund-without-refund-of": Case(
        [refund("r-1", ABSENT)], [(0, "refund_of", "invalid", "refund_of is required.")], (0, 0, 1)
    ),
    "long-refund-of": Case(
        [refund("r-1", LONG)], [(0, "refund_of", "invalid", "refund_of is longer than 128 characters.")], (0, 0, 1)
    ),
    "sale-with-refund-of": Case(
        [sale(refund_of="old-1")], [(0, "refund_of", "invalid", "Only a refund names refund_of.")], (0, 0, 1)
    ),
    "refund-of-unknown-sale": Case(
        [refund("r-1", "nope")],
        [(0, "refund_of", "unknown_sale", "refund_of names no sale of yours: 'nope'.")],
        (0, 0, 1),
    ),
    "refund-of-a-stored-refund": Case(
        [refund("r-1", "old-3-r1")],
        [(0, "refund_of", "invalid", "refund_of names 'old-3-r1', a refund; name the original sale.")],
        (0, 0, 1),
    ),
    "refund-of-a-refund-in-the-batch": Case(
        [refund("r-1", "old-1"), refund("r-2", "r-1")],
        [(1, "refund_of", "invalid", "refund_of names 'r-1', a refund; name the original sale.")],
        (1, 0, 1),
    ),
    "refund-before-its-sale": Case(
        [refund("r-1", "old-1", occurred_at="2026-10-01T09:59:59+09:00")],
        [(0, "occurred_at", "invalid", "The refund occurs before its sale 'old-1'.")],
        (0, 0, 1),
    ),
    "refund-in-another-currency": Case(
        [refund("r-1", "usd-1")],
        [(0, "currency", "currency_mismatch", "Sale 'usd-1' is in USD; refund in that currency.")],
        (0, 0, 1),
    ),
    "refund-exceeds-what-is-left": Case(
        [refund("r-1", "old-3", 500)],
        [
            (
                0,
                "amount",
                "refund_exceeds_sale",
                "Refunding 500 would exceed sale 'old-3': 400 of its 1000 is left to refund.",
            )
        ],
        (0, 0, 1),
    ),
    "refunds-exceed-together": Case(
        [refund("r-1", "old-3", 300), refund("r-2", "old-3", 200)],
        [
            (
                1,
                "amount",
                "refund_exceeds_sale",
                "Refunding 200 would exceed sale 'old-3': 100 of its 1000 is left to refund.",
            )
        ],
        (1, 0, 1),
    ),
    "refund-before-its-sale-in-the-batch": Case(
        [refund("r-1", "s-late"), sale("s-late")],
        [
            (
                0,
                "refund_of",
                "unknown_sale",
                "refund_of names no sale of yours: 's-late' (it comes later in this batch: put the sale first).",
            )
        ],
        (1, 0, 1),
        file_message="refund_of names no sale of yours: 's-late' (it comes later in this file, row 3: put the sale "
        "first).",
    ),
    "conflict-with-a-stored-sale": Case(
        [sale("old-1", occurred_at="2026-10-01T10:00:00+09:00", amount=5001)],
        [(0, "external_id", "conflict", STORED_CONFLICT)],
        (0, 0, 1),
    ),
    "duplicate-of-a-stored-sale": Case([sale("old-1", occurred_at="2026-10-01T01:00:00Z", amount=5000)], [], (0, 1, 0)),
    "conflict-with-a-stored-refund": Case(
        [refund("old-3-r1", "old-3", 601, occurred_at="2026-10-03T10:00:00+09:00")],
        [(0, "external_id", "conflict", STORED_CONFLICT.replace("old-1", "old-3-r1"))],
        (0, 0, 1),
    ),
    "conflict-in-the-batch": Case(
        [sale("e-1"), sale("e-1", amount=1281)],
        [
            (
                1,
                "external_id",
                "conflict",
                "external_id 'e-1' appears earlier in this batch (index 0) with different content.",
            )
        ],
        (1, 0, 1),
        file_message="external_id 'e-1' appears earlier in this file (row 2) with different content.",
    ),
    "repeat-in-the-batch": Case([sale("e-1"), sale("e-1")], [], (1, 1, 0)),
    "repeat-of-a-rejected-event": Case(
        [sale("e-1", amount=-5), sale("e-1", amount=-5)],
        [(0, "amount", "invalid", AMOUNT_HELP), (1, "amount", "invalid", AMOUNT_HELP)],
        (0, 0, 2),
        got="-5",
    ),
    # Combinations: the API names the first problem in the rules' order, a file lists them all.
    "bad-type-amount-and-currency": Case(
        [sale(type="gift", amount=-5, currency="XYZ")],
        [(0, "type", "invalid", 'type must be "sale" or "refund".')],
        (0, 0, 1),
        got="gift",
    ),
    "long-key-and-refund-without-refund-of": Case(
        [refund("r-1", ABSENT, coupon_code=LONG)], [(0, "refund_of", "invalid", "refund_of is required.")], (0, 0, 1)
    ),
}


def file_message(case: Case, message: str) -> str:
    if case.file_message is not None:
        return case.file_message
    if case.got is None:
        return message
    return f"{message[:-1]}; got {sql_quote(case.got)}."


@pytest.mark.parametrize("name", list(CASES))
def test_the_api_and_a_file_refuse_a_bad_event_alike(world, name):
    case = CASES[name]
    # given Hoshi Mart's stored sales
    given_stored_sales(world)
    # when the events are posted to the API, and (from the same state) uploaded as a file
    api = through_api(world, case.events)
    file, _ = through_file(world, case.events)
    # then the API answers as the table says
    assert (api.counts, api.rejections) == (case.counts, case.rejected)
    # and the file the same: counts, field, code, and the message as declared for a file
    assert file.counts == case.counts
    assert file.rejections == [
        (index, column, code, file_message(case, message)) for index, column, code, message in case.rejected
    ]
    # and both stored exactly the same new rows, and changed nothing else
    assert file.stored == api.stored
    assert len(api.stored) == case.counts[0]


def test_a_file_lists_every_problem_of_a_row_in_the_rules_order(world):
    # given events with several problems each
    events = [sale(type="gift", amount=-5, currency="XYZ"), refund("r-1", ABSENT, coupon_code=LONG)]
    # when they are uploaded
    _, problems = through_file(world, events)
    # then each row lists all its problems, the one the API names first (refund_of before the keys)
    assert problems == [
        (0, "type", "invalid", 'type must be "sale" or "refund"; got \'gift\'.'),
        (0, "amount", "invalid", f"{AMOUNT_HELP[:-1]}; got '-5'."),
        (0, "currency", "unknown_currency", "'XYZ' is not an ISO 4217 currency."),
        (1, "refund_of", "invalid", "refund_of is required."),
        (1, "coupon_code", "invalid", "coupon_code is longer than 128 characters."),
    ]


def _meets(problem: sale_rules.Problem, column: str, code: str, message: str) -> bool:
    pattern = "".join(
        re.escape(literal) + (".*" if name is not None else "")
        for literal, name, _, _ in Formatter().parse(problem.template)
    )
    return (problem.field, problem.code) == (column, code) and re.fullmatch(pattern, message) is not None


def test_every_rule_a_file_can_break_is_in_the_table():
    # given every problem sale_rules declares that a file can have (an optional key is never missing)
    declared = [
        problem
        for rule in sale_rules.SALE_FIELD_RULES
        for problem in rule.problems.values()
        if not problem.api_only and not (problem.tag == "required" and rule.required == "never")
    ]
    declared += [*sale_rules.REFUND_RULES, sale_rules.CONFLICT_STORED, sale_rules.CONFLICT_EARLIER]
    # then a case of the table meets each one
    rejected = [rejection for case in CASES.values() for rejection in case.rejected]
    assert [
        problem
        for problem in declared
        if not any(_meets(problem, column, code, message) for _, column, code, message in rejected)
    ] == []


# --- the spellings of a time -------------------------------------------------------------

# Known difference, left as it is (see the report of issue 14): the API reads a time with
# Python's datetime.fromisoformat, which takes more ISO 8601 spellings than the file's
# pattern (sale_rules.FILE_OCCURRED_AT_RE). Every spelling a file takes, the API takes at
# the same instant; these the API takes and a file refuses.
API_ONLY_SPELLINGS = [
    "2026-10-03T12+09:00",  # hours only
    "20261003T120100+0900",  # basic format
    "2026-W40-6T12:01:00+09:00",  # a week date
    "2026-10-03T12:01:00,5+09:00",  # a decimal comma
    "2026-10-03T12:01:00.1234567Z",  # more than six decimals (Python drops the seventh)
    "2026-10-03T12:01:00+16:00",  # an offset of 16 hours or more
    "2026-10-03T12:01:00+09:00:30",  # an offset with seconds
    "2026-10-03x12:01:00+09:00",  # any separator
]
SHARED_SPELLINGS = [
    "2026-10-03T12:01:00+09:00",
    "2026-10-03 12:01+09",
    "2026-10-03T03:01:00Z",
    "2026-10-03T03:01:00.5Z",
    "2026-10-02T22:01:00.123456-0500",
    "2024-02-29T00:00:00Z",
    "2026-10-03T12:01:00+15:59",
]


def test_a_file_takes_a_subset_of_the_time_spellings_the_api_takes(world):
    # given sales at times in each spelling
    events = [sale(f"t-{i}", occurred_at=at) for i, at in enumerate([*SHARED_SPELLINGS, *API_ONLY_SPELLINGS])]
    # when they are sent both ways
    api = through_api(world, events)
    file, _ = through_file(world, events)
    # then the API stores them all, each at the instant Python reads
    assert api.counts == (len(events), 0, 0)
    assert {key: row[2] for key, row in api.stored.items()} == {
        f"t-{i}": datetime.fromisoformat(event["occurred_at"]).astimezone(UTC) for i, event in enumerate(events)
    }
    # and a file stores the shared spellings at the same instants, and refuses the others
    shared = len(SHARED_SPELLINGS)
    assert file.stored == {key: row for key, row in api.stored.items() if int(key[2:]) < shared}
    assert file.rejections == [
        (i, "occurred_at", "invalid", f"occurred_at must be {OCCURRED_AT_HELP}; got {sql_quote(at)}.")
        for i, at in enumerate(API_ONLY_SPELLINGS, start=shared)
    ]


# --- random events ------------------------------------------------------------------------


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(ABSENT), values)


# Text without quotes, backslashes or control characters: the API quotes with Python's repr,
# a file with PostgreSQL's quote_literal, and the two agree on such text only.
_texts = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N"), include_characters="-_ .é日"), max_size=4)
# A valid event, then up to two of its fields made absent or wrong: most events get far
# enough to meet the checks against what is stored, and some break several rules at once.
_GOOD = {
    "external_id": st.one_of(
        st.sampled_from(["e-1", "e-2", "e-3", "old-1", "old-3-r1", "k" * 128]), _texts.filter(bool)
    ),
    "type": st.sampled_from(["sale", "sale", "refund"]),
    "occurred_at": st.sampled_from([*SHARED_SPELLINGS, "2026-10-01T10:00:00+09:00", "2026-10-05T09:00:00+09:00"]),
    "amount": st.one_of(st.integers(min_value=1, max_value=6000), st.just(MAX_AMOUNT)),
    "currency": st.just("JPY"),
    "coupon_code": _maybe(st.one_of(_texts, st.just("k" * 128))),
    "store_id": _maybe(st.just("tokyo-221")),
    "refund_of": st.sampled_from(["old-1", "old-3", "old-3-r1", "usd-1", "nope", "e-1", "e-2"]),
}
_BAD = {
    "external_id": st.sampled_from([ABSENT, "", LONG]),
    "type": st.sampled_from([ABSENT, "Sale", "gift"]),
    "occurred_at": st.sampled_from(
        [
            ABSENT,
            "2026-10-04T10:00:00",
            "yesterday",
            "2026-02-30T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "2199-01-01T00:00:00Z",
        ]
    ),
    "amount": st.sampled_from([ABSENT, -3, 0, MAX_AMOUNT + 1, 2**63, 12.5, "abc"]),
    "currency": st.sampled_from([ABSENT, "USD", "XYZ", "jpy"]),
    "coupon_code": st.just(LONG),
    "store_id": st.just(LONG),
    "refund_of": st.sampled_from([ABSENT, LONG, "old-1"]),
}


@st.composite
def _events(draw: st.DrawFn) -> dict[str, Any]:
    event = {name: draw(values) for name, values in _GOOD.items()}
    if event["type"] == "sale":
        event["refund_of"] = ABSENT
    for name in draw(st.lists(st.sampled_from(sorted(_BAD)), max_size=2, unique=True)):
        event[name] = draw(_BAD[name])
    return {name: value for name, value in event.items() if value is not ABSENT}


def _representable(event: dict[str, Any]) -> bool:
    """A file cell is text: "7" reads as the amount 7 there, as a string in JSON. That is the
    file's format, not a rule; such an event has no file twin."""
    return not isinstance(event.get("amount"), str) or not event["amount"].isdigit()


def _in_file(message: str, event: dict[str, Any], column: str) -> set[str]:
    """The messages a file may give for the API's `message` on `column`: the same, or the
    same ending with the cell (the rules that echo)."""
    value = cell(event.get(column))
    return {message, f"{message[:-1]}; got {sql_quote(value[: sale_rules.ECHO_MAX])}."}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(events=st.lists(_events().filter(_representable), min_size=1, max_size=4))
def test_random_events_are_accepted_or_refused_alike_by_both_paths(world, events):
    # given Hoshi Mart's stored sales (once: each example undoes its own writes)
    if not Sale.objects.exists():
        given_stored_sales(world)
    # when random events are sent both ways
    api = through_api(world, events)
    file, _ = through_file(world, events)
    # then both accept, count as duplicates and refuse the same events, for the same reasons
    assert file.counts == api.counts
    assert [(index, column, code) for index, column, code, _ in file.rejections] == [
        (index, column, code) for index, column, code, _ in api.rejections
    ]
    positions = {f"this batch (index {i})": f"this file (row {i + 2})" for i in range(len(events))}
    for (index, column, _, file_says), (_, _, _, api_says) in zip(file.rejections, api.rejections, strict=True):
        for batch, in_file in positions.items():
            api_says = api_says.replace(batch, in_file)
        api_says = api_says.replace("(it comes later in this batch:", "(it comes later in this file, row ")
        if "comes later" in file_says:
            assert file_says.split(" (it comes later")[0] == api_says.split(" (it comes later")[0]
        else:
            assert file_says in _in_file(api_says, events[index], column)
    # and store the same rows
    assert file.stored == api.stored
