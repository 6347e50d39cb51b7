"""CSV uploads of sale events (DESIGN.md §5b "Large files"): processing, set-based in SQL.

A file's rows are checked like the API's events, with the API's codes: valid rows are
stored, each problem becomes a rejection row (row, column, code, reason); a file that
cannot be read at all is refused and nothing of it is stored. The digest is the API's, so
an event sent through either path and then the other is a duplicate."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from core.errors import PermissionDenied
from core.models import AuditLog
from revenue import tasks
from revenue.models import Sale, SaleUpload, SaleUploadRejection
from revenue.services import ingestion, uploads
from revenue.services.uploads import UploadRefused, upload_create, upload_process
from tests.support.snapshot import Snapshot, db_snapshot

HEADER = (
    "external_id,type,occurred_at,amount,currency,coupon_code,click_id,conversation_id,customer_ref,store_id,"
    "refund_of\n"
)
AT_HELP = "an ISO 8601 date-time with a UTC offset, e.g. 2026-10-03T12:01:00+09:00"
AMOUNT_HELP = "amount must be a positive integer in the currency's minor unit (at most 4611686018427387904)"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def csv_file(text: str | bytes, name: str = "sales.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, content_type="text/csv")


def uploaded(world, text: str | bytes, *, partner: str = "hoshi") -> SaleUpload:
    return upload_create(actor=getattr(world, f"{partner}_owner"), partner=getattr(world, partner), file=csv_file(text))


def stored_as_is(world, content: bytes, name: str = "raw.csv") -> SaleUpload:
    """An upload whose file was not checked on the way in (as one stored before a check)."""
    upload = SaleUpload(partner=world.hoshi, original_name=name, uploaded_by=world.hoshi_owner)
    upload.file.save(name, ContentFile(content), save=True)
    return upload


def rejections(upload: SaleUpload) -> list[tuple[int, str, str, str]]:
    return list(
        SaleUploadRejection.objects.filter(upload=upload)
        .order_by("row_number", "id")
        .values_list("row_number", "column", "code", "reason")
    )


def sales_of(partner) -> list[tuple[Any, ...]]:
    return sorted(
        (
            s.external_id,
            s.type,
            s.occurred_at,
            s.amount,
            s.currency,
            s.coupon_code,
            s.customer_ref,
            s.store_id,
            s.refund_of.external_id if s.refund_of else None,
            s.period,
            s.upload_id,
            s.attribution,
        )
        for s in Sale.objects.filter(partner=partner).select_related("refund_of")
    )


def revenue_state() -> Snapshot:
    return db_snapshot(Sale, SaleUpload, SaleUploadRejection, AuditLog)


def media_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def counts(upload: SaleUpload) -> tuple[Any, ...]:
    upload.refresh_from_db()
    return (
        upload.status,
        upload.rows_total,
        upload.rows_done,
        upload.accepted,
        upload.duplicates,
        upload.rejected,
        upload.error,
    )


def store_via_api(world, *events: dict[str, Any]) -> None:
    result = ingestion.sales_ingest(partner=world.hoshi, events=list(events))
    assert (result.accepted, result.rejected) == (len(events), [])


def event(external_id: str, at: str, amount: int, **extra: Any) -> dict[str, Any]:
    kind = "refund" if "refund_of" in extra else "sale"
    return {"external_id": external_id, "type": kind, "occurred_at": at, "amount": amount, "currency": "JPY", **extra}


def tokyo(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# The mixed file of the main tests: the header is row 1.
MIXED = HEADER + "".join(
    f"{line}\n"
    for line in [
        "s-1,sale,2026-10-03T12:01:00+09:00,1280,JPY,RINNA-7F3K2,,,c0ffee,tokyo-221,",  # 2 accepted
        "s-2,sale,2026-10-31T16:00:00Z,2000,JPY,,,,,,",  # 3 accepted (November in Tokyo)
        "s-1-r,refund,2026-10-05T09:00:00+09:00,1000,JPY,,,,,,s-1",  # 4 accepted: refunds row 2
        "s-1,sale,2026-10-03T03:01:00Z,1280,JPY,RINNA-7F3K2,,,c0ffee,tokyo-221,",  # 5 duplicate of row 2
        "s-1,sale,2026-10-03T12:01:00+09:00,9999,JPY,,,,,,",  # 6 conflict with row 2
        "old-1,sale,2026-10-01T01:00:00Z,5000,JPY,,,,,,",  # 7 duplicate of a stored sale
        "old-2,sale,2026-10-01T11:00:00+09:00,501,JPY,,,,,,",  # 8 conflict with a stored sale
        "neg,sale,2026-10-04T10:00:00+09:00,-5,JPY,,,,,,",  # 9 negative amount
        "float,sale,2026-10-04T10:00:00+09:00,12.5,JPY,,,,,,",  # 10 float amount
        "garbage,sale,2026-10-04T10:00:00+09:00,abc,JPY,,,,,,",  # 11 garbage amount
        "cur,sale,2026-10-04T10:00:00+09:00,100,XYZ,,,,,,",  # 12 unknown currency
        "mismatch,sale,2026-10-04T10:00:00+09:00,100,USD,,,,,,",  # 13 not Hoshi's currency
        "naive,sale,2026-10-04T10:00:00,100,JPY,,,,,,",  # 14 no UTC offset
        "garbage-time,sale,yesterday,100,JPY,,,,,,",  # 15 not a time
        "r-unknown,refund,2026-10-05T09:00:00+09:00,100,JPY,,,,,,nope",  # 16 refunds no sale
        "r-exceed,refund,2026-10-05T09:00:00+09:00,500,JPY,,,,,,old-3",  # 17 400 left of old-3
        "r-fits,refund,2026-10-05T09:00:00+09:00,400,JPY,,,,,,old-3",  # 18 accepted: takes the 400
        "two-problems,sale,2026-02-30T00:00:00Z,0,JPY,,,,,,",  # 19 no Feb 30, zero amount
        "r-early,refund,2026-10-06T09:00:00+09:00,100,JPY,,,,,,s-late",  # 20 its sale comes later
        "s-late,sale,2026-10-05T09:00:00+09:00,300,JPY,,,,,,",  # 21 accepted
        "r-unknown,refund,2026-10-05T09:00:00+09:00,100,JPY,,,,,,nope",  # 22 copy of row 16
        "r-before,refund,2026-10-30T09:00:00+09:00,100,JPY,,,,,,s-2",  # 23 before its sale
        "r-of-refund,refund,2026-10-06T09:00:00+09:00,100,JPY,,,,,,s-1-r",  # 24 names a refund
        "future,sale,2199-01-01T00:00:00Z,100,JPY,,,,,,",  # 25 in the future
    ]
)

MIXED_REJECTIONS = [
    (6, "external_id", "conflict", "external_id 's-1' appears earlier in this file (row 2) with different content."),
    (
        8,
        "external_id",
        "conflict",
        "external_id 'old-2' was already received with different content; an event "
        "cannot be changed once sent (send a refund, and a new sale with a new "
        "external_id).",
    ),
    (9, "amount", "invalid", f"{AMOUNT_HELP}; got '-5'."),
    (10, "amount", "invalid", f"{AMOUNT_HELP}; got '12.5'."),
    (11, "amount", "invalid", f"{AMOUNT_HELP}; got 'abc'."),
    (12, "currency", "unknown_currency", "'XYZ' is not an ISO 4217 currency."),
    (13, "currency", "currency_mismatch", "This partner reports sales in JPY, not USD."),
    (14, "occurred_at", "invalid", f"occurred_at has no UTC offset; send {AT_HELP}; got '2026-10-04T10:00:00'."),
    (15, "occurred_at", "invalid", f"occurred_at must be {AT_HELP}; got 'yesterday'."),
    (16, "refund_of", "unknown_sale", "refund_of names no sale of yours: 'nope'."),
    (
        17,
        "amount",
        "refund_exceeds_sale",
        "Refunding 500 would exceed sale 'old-3': 400 of its 1000 is left to refund.",
    ),
    (19, "occurred_at", "invalid", f"occurred_at must be {AT_HELP}; got '2026-02-30T00:00:00Z'."),
    (19, "amount", "invalid", f"{AMOUNT_HELP}; got '0'."),
    (
        20,
        "refund_of",
        "unknown_sale",
        "refund_of names no sale of yours: 's-late' (it comes later in this file, row 21: put the sale first).",
    ),
    (22, "refund_of", "unknown_sale", "refund_of names no sale of yours: 'nope'."),
    (23, "occurred_at", "invalid", "The refund occurs before its sale 's-2'."),
    (24, "refund_of", "invalid", "refund_of names 's-1-r', a refund; name the original sale."),
    (25, "occurred_at", "invalid", "occurred_at must lie between 2000-01-01 and now; got 2199-01-01T00:00:00Z."),
]


def given_stored_sales(world) -> None:
    """Hoshi Mart's earlier API batches: old-1, old-2, and old-3 with 600 of its 1000 refunded."""
    store_via_api(
        world,
        event("old-1", "2026-10-01T10:00:00+09:00", 5000),
        event("old-2", "2026-10-01T11:00:00+09:00", 500),
        event("old-3", "2026-10-02T10:00:00+09:00", 1000),
        event("old-3-r1", "2026-10-03T10:00:00+09:00", 600, refund_of="old-3"),
    )


def test_a_mixed_file_stores_the_valid_rows_and_rejects_each_problem_by_row_and_column(world):
    # given Hoshi Mart's stored sales and an upload of the mixed file
    given_stored_sales(world)
    before = sales_of(world.hoshi)
    upload = uploaded(world, MIXED)
    # when it is processed
    upload_process(upload_id=upload.pk)
    # then 24 rows: 5 accepted, 2 duplicates, 17 rejected
    assert counts(upload) == ("done", 24, 24, 5, 2, 17, "")
    assert upload.finished_at is not None
    # and each problem is one rejection row, with the API's codes
    assert rejections(upload) == MIXED_REJECTIONS
    # and the accepted rows are stored exactly, beside the untouched earlier sales
    october, november = date(2026, 10, 1), date(2026, 11, 1)
    assert sales_of(world.hoshi) == sorted(
        [
            *before,
            (
                "r-fits",
                "refund",
                tokyo(2026, 10, 5, 0),
                400,
                "JPY",
                None,
                None,
                None,
                "old-3",
                october,
                upload.pk,
                "pending",
            ),
            (
                "s-1",
                "sale",
                tokyo(2026, 10, 3, 3, 1),
                1280,
                "JPY",
                "RINNA-7F3K2",
                "c0ffee",
                "tokyo-221",
                None,
                october,
                upload.pk,
                "pending",
            ),
            (
                "s-1-r",
                "refund",
                tokyo(2026, 10, 5, 0),
                1000,
                "JPY",
                None,
                None,
                None,
                "s-1",
                october,
                upload.pk,
                "pending",
            ),
            (
                "s-2",
                "sale",
                tokyo(2026, 10, 31, 16),
                2000,
                "JPY",
                None,
                None,
                None,
                None,
                november,
                upload.pk,
                "pending",
            ),
            (
                "s-late",
                "sale",
                tokyo(2026, 10, 5, 0),
                300,
                "JPY",
                None,
                None,
                None,
                None,
                october,
                upload.pk,
                "pending",
            ),
        ]
    )
    # and absent keys are NULL, not empty strings
    assert Sale.objects.get(external_id="s-2").click_id is None


def test_the_rejection_report_downloads_as_csv(world):
    # given the processed mixed file
    given_stored_sales(world)
    upload = uploaded(world, MIXED)
    upload_process(upload_id=upload.pk)
    client = _browser(world.hoshi_member)
    # when a member of Hoshi Mart downloads its report
    response = client.get(f"/portal/uploads/{upload.pk}/rejections.csv")
    # then it is a CSV of every rejection: row, column, code, reason
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="sales-rejections.csv"'
    body = b"".join(response.streaming_content).decode()
    assert list(csv.reader(io.StringIO(body))) == [["row", "column", "code", "reason"]] + [
        [str(row), column, code, reason] for row, column, code, reason in MIXED_REJECTIONS
    ]


def _browser(user):
    from tests.support.web import browser

    return browser(user)


# --- one digest for the API and the file ---------------------------------------------------


def test_an_event_sent_through_the_api_and_again_in_a_file_is_a_duplicate(world):
    # given a sale with every key (quotes, a backslash, non-ASCII, microseconds) sent through the API
    sent = event(
        "pos-9",
        "2026-10-03T12:01:00.250000+09:00",
        1280,
        coupon_code='クーポン "7" \\x',
        click_id="clk-1",
        conversation_id="conv-1",
        customer_ref="c0ffee",
        store_id="tokyo-221",
    )
    store_via_api(world, sent)
    stored = Sale.objects.get()
    # and its refund sent in a file
    first = uploaded(world, HEADER + "pos-9-r,refund,2026-10-04T00:00:00Z,80,JPY,,,,,,pos-9\n")
    upload_process(upload_id=first.pk)
    assert counts(first)[3:6] == (1, 0, 0)
    before = revenue_state()
    # when a file sends the sale again (its time written in UTC), and the refund again
    again = uploaded(
        world,
        HEADER + '"pos-9",sale,2026-10-03T03:01:00.25Z,1280,JPY,"クーポン ""7"" \\x",clk-1,conv-1,c0ffee,'
        "tokyo-221,\n"
        "pos-9-r,refund,2026-10-04T09:00:00+09:00,80,JPY,,,,,,pos-9\n",
    )
    upload_process(upload_id=again.pk)
    # then both rows are duplicates and no sale changed
    assert counts(again) == ("done", 2, 2, 0, 2, 0, "")
    assert rejections(again) == []
    after = revenue_state()
    assert after["Sale"] == before["Sale"]
    assert Sale.objects.get(pk=stored.pk).content_digest == stored.content_digest
    # and when the API sends the refund the file stored, it is a duplicate too
    result = ingestion.sales_ingest(
        partner=world.hoshi, events=[event("pos-9-r", "2026-10-04T09:00:00+09:00", 80, refund_of="pos-9")]
    )
    assert (result.accepted, result.duplicates, result.rejected) == (0, 1, [])


@pytest.mark.parametrize(
    "sent",
    [
        event("plain", "2026-10-03T12:01:00+09:00", 1),
        event("micro", "2026-10-03T12:01:00.000001Z", 4611686018427387904, store_id="s"),
        event(
            "ctrl",
            "2026-12-31T23:59:59.5-05:30",
            7,
            coupon_code='q"\\/\t\n\r\b\f\x01\x1f\x7f',
            click_id="é日本🙂",
            conversation_id=" spaced ",
            customer_ref="x" * 128,
        ),
        event("ref", "2026-10-05T09:00:00+0900", 3, refund_of="plain"),
    ],
)
def test_the_digest_in_sql_is_the_digest_in_python(world, sent):
    # given an event as the API parses it
    row = ingestion._sale_parse(0, sent, "JPY", datetime(2100, 1, 1, tzinfo=UTC))
    # when PostgreSQL computes the digest from the typed values
    expression = ingestion.SALE_DIGEST_SQL.format(
        amount="%(amount)s::bigint",
        occurred_at="%(occurred_at)s::timestamptz",
        currency="%(currency)s::text",
        external_id="%(external_id)s::text",
        type="%(type)s::text",
        refund_of="%(refund_of)s::text",
        **{name: f"%({name})s::text" for name in ingestion.SALE_OPTIONAL_KEYS},
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {expression}", row._asdict())
        in_sql = cursor.fetchone()[0]
    # then it is the same
    assert in_sql == row.digest


# --- files refused as a whole ---------------------------------------------------------------


def test_an_unknown_column_refuses_the_whole_file_and_stores_nothing(world, settings):
    # given a file with a column the API does not know
    before, files = revenue_state(), media_files(settings)
    text = "external_id,type,occurred_at,amount,currency,discount\ns-1,sale,2026-10-03T12:01:00+09:00,1,JPY,5\n"
    # when it is uploaded
    with pytest.raises(UploadRefused) as refused:
        uploaded(world, text)
    # then it is refused with the column named, and nothing is stored
    assert refused.value.message == (
        "Unknown column(s) in the header row: 'discount'. The columns are: external_id, type, occurred_at, "
        "amount, currency, coupon_code, click_id, conversation_id, customer_ref, store_id, refund_of."
    )
    assert (revenue_state(), media_files(settings)) == (before, files)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty: it needs a header row naming the columns, then one row per sale or refund."),
        (
            b"s-1,sale,2026-10-03T12:01:00+09:00,1,JPY\n",
            "Unknown column(s) in the header row: 's-1', 'sale', '2026-10-03T12:01:00+09:00', '1', 'JPY'. The first "
            "row must be the header row naming the columns. The columns are: external_id, type, occurred_at, amount, "
            "currency, coupon_code, click_id, conversation_id, customer_ref, store_id, refund_of.",
        ),
        (
            b"external_id,type,occurred_at,amount\n",
            "Missing column(s): currency. The header row must name at least "
            "external_id, type, occurred_at, amount, currency (optional: coupon_code, click_id, conversation_id, "
            "customer_ref, store_id, refund_of).",
        ),
        (b"external_id,type,type,occurred_at,amount,currency\n", "Column(s) named twice in the header row: type."),
        (
            "external_id,type,occurred_at,amount,currency\n".encode("utf-16"),
            "The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.",
        ),
    ],
)
def test_a_file_without_a_proper_header_is_refused_at_upload(world, settings, content, message):
    before, files = revenue_state(), media_files(settings)
    with pytest.raises(UploadRefused) as refused:
        uploaded(world, content)
    assert refused.value.message == message
    assert (revenue_state(), media_files(settings)) == (before, files)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (
            HEADER.encode() + b"s-1,sale,2026-10-03T12:01:00+09:00,1280,JPY,,,,,,\n"
            b"s-2,sale,2026-10-03T12:01:00+09:00,1280,JPY,caf\xe9,,,,,\n",
            "The file is not UTF-8 text (line 3 has bytes that are not). Save it as “CSV UTF-8” and upload it again.",
        ),
        (
            HEADER.encode() + b"s-1,sale,2026-10-03T12:01:00+09:00,1280,JPY,,,,,,\ns-2,sale,2026-10-03T12:01:00+09:00,"
            b"1280,JPY,,,,,,,extra\n",
            "Line 3 has more fields than the header row. Nothing was stored; fix the file and upload it again.",
        ),
        (
            HEADER.encode()
            + b"s-1,sale,2026-10-03T12:01:00+09:00,1280,JPY,,,,,,\n\ns-2,sale,2026-10-03T12:01:00+09:00,"
            b"1280,JPY,,,,,,\n",
            "Line 3 is empty. Nothing was stored; fix the file and upload it again.",
        ),
        (
            b"external_id,type,occurred_at,amount,currency,discount\ns-1,sale,2026-10-03T12:01:00+09:00,1,JPY,5\n",
            "Unknown column(s) in the header row: 'discount'. The columns are: external_id, type, occurred_at, amount, "
            "currency, coupon_code, click_id, conversation_id, customer_ref, store_id, refund_of.",
        ),
    ],
)
def test_a_broken_file_fails_its_upload_and_stores_nothing(world, content, error):
    # given a stored file that cannot be read (valid rows before the broken one)
    upload = stored_as_is(world, content)
    sales, rejected = Sale.objects.count(), SaleUploadRejection.objects.count()
    # when it is processed
    upload_process(upload_id=upload.pk)
    # then the upload failed with a clear error, and no row of it is stored
    assert counts(upload) == ("failed", 0, 0, 0, 0, 0, error)
    assert upload.finished_at is not None
    assert (Sale.objects.count(), SaleUploadRejection.objects.count()) == (sales, rejected) == (0, 0)


# --- the task ------------------------------------------------------------------------------


def test_running_the_task_twice_stores_each_row_once(world):
    # given an upload of two sales
    upload = uploaded(
        world,
        HEADER + "a,sale,2026-10-03T12:01:00+09:00,100,JPY,,,,,,\nb,sale,2026-10-03T12:02:00+09:00,200,JPY,,,,,,\n",
    )
    # when the task runs, then runs again (a redelivered message)
    assert tasks.upload_process_task(upload.pk) == "done"
    first = counts(upload)
    stored = list(Sale.objects.order_by("pk").values())
    assert tasks.upload_process_task(upload.pk) == "done"
    # then the second run changed nothing
    assert counts(upload) == first == ("done", 2, 2, 2, 0, 0, "")
    assert list(Sale.objects.order_by("pk").values()) == stored
    assert [s["external_id"] for s in stored] == ["a", "b"]


def test_a_run_that_died_midway_is_redone_without_duplicating_rows(world, monkeypatch):
    # given an upload of a sale and its refund, and a worker that dies after storing the sale
    upload = uploaded(
        world,
        HEADER + "a,sale,2026-10-03T12:01:00+09:00,100,JPY,,,,,,\na-r,refund,2026-10-04T12:01:00+09:00,40,JPY,,,,,,a\n",
    )

    def die(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("worker lost")

    monkeypatch.setattr(uploads, "_store_refunds", die)
    with pytest.raises(SystemExit):
        upload_process(upload_id=upload.pk)
    # then the upload is still processing, with nothing stored
    assert counts(upload)[0] == "processing"
    assert Sale.objects.count() == 0
    # when the message is delivered again
    monkeypatch.undo()
    upload_process(upload_id=upload.pk)
    # then each row is stored once
    assert counts(upload) == ("done", 2, 2, 2, 0, 0, "")
    assert sorted(Sale.objects.values_list("external_id", "amount")) == [("a", 100), ("a-r", 40)]


def test_a_run_over_rows_already_stored_inserts_none_again(world):
    # given an upload processed once, then sent back to processing (its status lost)
    upload = uploaded(
        world,
        HEADER + "a,sale,2026-10-03T12:01:00+09:00,100,JPY,,,,,,\na-r,refund,2026-10-04T12:01:00+09:00,40,JPY,,,,,,a\n",
    )
    upload_process(upload_id=upload.pk)
    stored = list(Sale.objects.order_by("pk").values())
    SaleUpload.objects.filter(pk=upload.pk).update(status="processing")
    # when it is processed again
    upload_process(upload_id=upload.pk)
    # then the rows already stored are duplicates, not new rows
    assert counts(upload) == ("done", 2, 2, 0, 2, 0, "")
    assert list(Sale.objects.order_by("pk").values()) == stored


def test_a_finished_or_failed_upload_is_left_as_it_is(world):
    upload = uploaded(world, HEADER)
    SaleUpload.objects.filter(pk=upload.pk).update(status="failed", error="earlier")
    upload_process(upload_id=upload.pk)
    assert counts(upload) == ("failed", 0, 0, 0, 0, 0, "earlier")


def test_new_sales_go_to_attribution_after_commit_by_id_or_by_partner(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    # given an attribution hook that records its calls
    calls: list[tuple[int, list[int] | None]] = []
    monkeypatch.setattr(
        tasks.attribution_run_task, "delay", lambda partner_id, sale_ids: calls.append((partner_id, sale_ids))
    )
    small = uploaded(
        world,
        HEADER + "a,sale,2026-10-03T12:01:00+09:00,100,JPY,,,,,,\na-r,refund,2026-10-04T12:01:00+09:00,40,JPY,,,,,,a\n",
    )
    # when an upload with one new sale (and a refund) is processed
    with django_capture_on_commit_callbacks(execute=True):
        upload_process(upload_id=small.pk)
    # then that sale goes to attribution by id
    assert calls == [(world.hoshi.pk, [Sale.objects.get(external_id="a").pk])]
    # when an upload has more new sales than are handed over by id
    monkeypatch.setattr(uploads, "ATTRIBUTE_BY_ID_MAX", 1)
    large = uploaded(
        world,
        HEADER + "b,sale,2026-10-03T12:01:00+09:00,100,JPY,,,,,,\nc,sale,2026-10-03T12:01:00+09:00,100,JPY,,,,,,\n",
    )
    with django_capture_on_commit_callbacks(execute=True):
        upload_process(upload_id=large.pk)
    # then attribution is asked for the partner's pending sales
    assert calls[1:] == [(world.hoshi.pk, None)]
    # and an upload with nothing new asks for nothing
    with django_capture_on_commit_callbacks(execute=True):
        upload_process(upload_id=uploaded(world, HEADER + "b,sale,2026-10-03T12:01:00+09:00,100,JPY,,,,,,\n").pk)
    assert len(calls) == 2


def test_pieces_end_at_record_boundaries_so_quoted_newlines_survive(world, monkeypatch):
    # given small pieces, a BOM, CRLF line ends and quoted fields holding commas, quotes and newlines
    monkeypatch.setattr(uploads, "PIECE_BYTES", 64)
    rows = [f'q-{i},sale,2026-10-03T12:01:00+09:00,{100 + i},JPY,"multi\r\nline, ""{i}""",,,,,' for i in range(40)]
    content = "\ufeff" + HEADER.replace("\n", "\r\n") + "\r\n".join(rows) + "\r\n\r\n"
    upload = uploaded(world, content.encode())
    # when it is processed
    upload_process(upload_id=upload.pk)
    # then every row is stored whole, and rows are numbered as records
    assert counts(upload) == ("done", 40, 40, 40, 0, 0, "")
    assert sorted(Sale.objects.values_list("external_id", "coupon_code", "amount")) == sorted(
        (f"q-{i}", f'multi\r\nline, "{i}"', 100 + i) for i in range(40)
    )


def test_columns_may_come_in_any_order_and_optional_ones_may_be_left_out(world):
    upload = uploaded(
        world, "currency,amount,occurred_at,type,external_id\nJPY,100,2026-10-03T12:01:00+09:00,sale,x-1\n"
    )
    upload_process(upload_id=upload.pk)
    assert counts(upload) == ("done", 1, 1, 1, 0, 0, "")
    assert Sale.objects.values_list("external_id", "amount", "coupon_code", "refund_of_id").get() == (
        "x-1",
        100,
        None,
        None,
    )


def test_only_a_member_of_the_partner_can_upload(world, settings):
    before, files = revenue_state(), media_files(settings)
    for outsider in (world.hoshi_manager, world.wayfarer_owner, world.finance):
        with pytest.raises(PermissionDenied):
            upload_create(actor=outsider, partner=world.hoshi, file=csv_file(HEADER))
    assert (revenue_state(), media_files(settings)) == (before, files)


def test_a_time_is_read_in_any_iso_spelling_that_carries_its_offset(world):
    # given times written in the spellings ISO 8601 allows, and some that are not times
    spellings = {
        "t-1": "2026-10-03T12:01:00+09:00",
        "t-2": "2026-10-03 12:01+09",
        "t-3": "2026-10-03T03:01:00Z",
        "t-4": "2026-10-03T03:01:00.5Z",
        "t-5": "2026-10-02T22:01:00.123456-0500",
        "t-6": "2024-02-29T00:00:00Z",
    }
    wrong = {
        "w-1": "2026-02-29T00:00:00Z",
        "w-2": "2026-10-03T24:00:00Z",
        "w-3": "2026-10-03T12:01:00+16:00",
        "w-4": "2026-10-03T12:01:00.1234567Z",
        "w-5": "03/10/2026 12:01 +09:00",
        "w-6": "2026-13-01T00:00:00Z",
    }
    lines = [f"{key},sale,{at},1,JPY" for key, at in {**spellings, **wrong}.items()]
    upload = uploaded(world, "external_id,type,occurred_at,amount,currency\n" + "\n".join(lines) + "\n")
    # when it is processed
    upload_process(upload_id=upload.pk)
    # then each valid spelling is stored at the instant Python reads in it
    assert counts(upload) == ("done", 12, 12, 6, 0, 6, "")
    assert dict(Sale.objects.values_list("external_id", "occurred_at")) == {
        key: datetime.fromisoformat(at) for key, at in spellings.items()
    }
    # and each wrong one is rejected on its column, the cast never reached
    assert [(row, column, code) for row, column, code, _ in rejections(upload)] == [
        (row, "occurred_at", "invalid") for row in range(8, 14)
    ]


def test_the_digest_migration_recomputes_every_stored_digest_as_the_service_computes_it(world):
    # given sales and a refund stored through the API's path, their digests then lost
    import importlib

    sent = [
        event("m-1", "2026-10-03T12:01:00.000001+09:00", 1280, coupon_code="é|~:1", store_id="s"),
        event("m-2", "2026-10-04T00:00:00Z", 7),
        event("m-2-r", "2026-10-05T09:00:00+09:00", 3, refund_of="m-2"),
    ]
    assert ingestion.sales_ingest(partner=world.hoshi, events=sent).accepted == 3
    expected = dict(Sale.objects.values_list("external_id", "content_digest"))
    Sale.objects.update(content_digest="lost")
    # when the migration's statement runs
    migration = importlib.import_module("revenue.migrations.0010_sale_digest_canonical_text")
    with connection.cursor() as cursor:
        cursor.execute(migration.Migration.operations[0].sql)
    # then every digest is back, exactly
    assert dict(Sale.objects.values_list("external_id", "content_digest")) == expected


def test_an_upload_is_stored_without_jit_and_the_session_gets_its_settings_back(world, monkeypatch):
    # given a file of a sale and its refund, and the session's own JIT and work_mem settings
    def setting(name: str) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting(%s)", [name])
            return cursor.fetchone()[0]

    before = (setting("jit"), setting("work_mem"))
    assert before[0] == "on"
    upload = uploaded(
        world,
        HEADER
        + "s-jit,sale,2026-10-03T12:00:00+09:00,1000,JPY,,,,,,\n"
        + "r-jit,refund,2026-10-04T12:00:00+09:00,400,JPY,,,,,,s-jit\n",
    )
    seen: list[tuple[str, str]] = []
    store = uploads._store

    def store_watched(run):
        seen.append((setting("jit"), setting("work_mem")))
        return store(run)

    monkeypatch.setattr(uploads, "_store", store_watched)
    # when it is processed
    upload_process(upload_id=upload.pk)
    # then its statements were planned without JIT (per-row look-ups over every month's
    # partition are costed past the JIT thresholds), in memory, and both are put back after
    assert seen == [("off", "256MB")]
    assert counts(upload)[3:6] == (2, 0, 0)
    assert (setting("jit"), setting("work_mem")) == before
