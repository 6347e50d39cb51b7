"""CSV uploads of sale events: large files through the web UI (DESIGN.md §5b).

A file has the columns of the API's event fields, a header row naming them. It is stored
(`upload_create`) and processed by a Celery task (`upload_process`), set-based throughout:

1. read: the file streams into a TEMP staging table with `COPY … FROM STDIN` — every column
   as text, plus the row number (the header is row 1, as a spreadsheet numbers it). It goes
   in pieces cut at record boundaries, so the progress bar moves between them. A file that
   is not UTF-8, has no header, names unknown columns or has a row of the wrong width is
   refused as a whole and nothing is stored.
2. check: one pass types each row (a regular expression vets `occurred_at` before the cast,
   so no row can abort the statement) and notes each column's problem — the CASEs, codes and
   messages generated from `revenue/sale_rules.py`, as the API's checks are; one aggregate finds
   external_ids repeated within the file (the first valid row wins, later identical rows
   are duplicates, different ones conflicts). Every problem becomes one rejection row
   (row, column, code, reason) with the API's codes and messages.
3. store, in one transaction: ONE `INSERT … SELECT … ON CONFLICT (partner_id, external_id)
   DO NOTHING` into the key table `revenue_salekey`, storing the sales it claimed in the same
   statement, for the sales and one for the refunds, rows in the API's order (by external_id,
   byte order as Python sorts) so that a concurrent batch sharing ids waits instead of
   deadlocking. A row the insert skips exists already: the same digest is a duplicate,
   another a conflict. Refunds lock the sales they name
   (`FOR UPDATE`, in id order, as the API does) and are checked against what is left to
   refund, in file order. The upload is marked done in the same transaction, with its
   counts and rejections, and the new sales go to attribution on commit.

The digest is the API's (`ingestion.SALE_DIGEST_SQL` is `_digest` in SQL), so an event sent
through the API and again in a file is a duplicate, not a conflict.

Running the task twice is safe: a session advisory lock lets one run at a time, a status
guard (`select_for_update`) skips finished uploads, and a run that died before step 3
committed left nothing behind but its status, so the next run starts over. Inserts are
idempotent anyway (the key table and ON CONFLICT).
"""

from __future__ import annotations

import codecs
import csv
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import psycopg
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contracts.models import Partner
from contracts.selectors import membership_role
from core.db import transaction_settings
from core.errors import PermissionDenied, ValidationFailed
from core.locks import AdvisoryKey, Lock, advisory_key, lock_session_acquire, lock_session_release
from core.models import User
from core.queue import enqueue_on_commit
from core.services import audit_record
from revenue import sale_rules
from revenue.models import SaleUpload
from revenue.sale_rules import FUTURE_TOLERANCE, RejectionCode
from revenue.services.ingestion import KEYS_CLAIMED_BY_THE_STATEMENT, SALE_DIGEST_SQL, _after_ingest

logger = logging.getLogger(__name__)

# The event fields of DESIGN.md §5b, in the order a template file lists them.
UPLOAD_COLUMNS = sale_rules.SALE_FIELD_ORDER
REQUIRED_COLUMNS = sale_rules.REQUIRED_FIELDS
KEY_COLUMNS = sale_rules.SALE_OPTIONAL_KEYS

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
# Pieces of the file sent with one COPY each; progress is written between them.
PIECE_BYTES = 4 * 1024 * 1024
# The header row is looked for in the file's first bytes.
HEAD_BYTES = 64 * 1024
# Up to this many new sales are handed to attribution by id; more, by partner.
ATTRIBUTE_BY_ID_MAX = 10_000
# After inserting this many sales, revenue_sale's statistics are refreshed (see _store).
ANALYZE_AFTER_ROWS = 50_000
# One upload runs at a time: a session advisory lock on this base + the upload id.
# Shares of the progress bar: reading the file, checking it, storing it.
READ_SHARE, CHECK_SHARE = 0.10, 0.30


class UploadRefused(ValidationFailed):
    """The file as a whole cannot be read: nothing of it is stored."""


# --- reads ----------------------------------------------------------------------------


def upload_progress_percent(upload: SaleUpload) -> int:
    if upload.status == SaleUpload.Status.DONE:
        return 100
    if not upload.rows_total:
        return 0
    return min(99, 100 * upload.rows_done // upload.rows_total)


# --- the header -----------------------------------------------------------------------


_BOM = codecs.BOM_UTF8


def _columns_from_header(head: bytes) -> list[str]:
    """The column names of the header row (the first line), checked; `head` is the file's
    first bytes. Raises UploadRefused with what is wrong and how to fix it."""
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    if not head.strip():
        raise UploadRefused(
            _("The file is empty: it needs a header row naming the columns, then one row per sale or refund."),
            fields={"file": ["is empty"]},
        )
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRefused(
            _("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."),
            fields={"file": ["is not UTF-8 text"]},
        ) from None
    if "\x00" in text:
        raise UploadRefused(
            "The file is not CSV text (it contains NUL bytes; is it a spreadsheet?). "
            "Save it as “CSV UTF-8” and upload it again.",
            fields={"file": ["is not CSV text"]},
        )
    names = [name.strip() for name in next(csv.reader([text.rstrip("\r")]), [])]
    expected = ", ".join(UPLOAD_COLUMNS)
    unknown = [name for name in names if name not in UPLOAD_COLUMNS]
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        hint = (
            ""
            if any(name in UPLOAD_COLUMNS for name in names)
            else " The first row must be the header row naming the columns."
        )
        raise UploadRefused(
            _("Unknown column(s) in the header row: %(shown)s.%(hint)s The columns are: %(expected)s.")
            % {"shown": shown, "hint": hint, "expected": expected},
            fields={"file": [f"unknown column(s): {shown}"]},
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UploadRefused(
            _("Column(s) named twice in the header row: %(join)s.") % {"join": ", ".join(repeated)},
            fields={"file": [f"repeated column(s): {', '.join(repeated)}"]},
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise UploadRefused(
            f"Missing column(s): {', '.join(missing)}. The header row must name at least "
            f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(UPLOAD_COLUMNS[5:])}).",
            fields={"file": [f"missing column(s): {', '.join(missing)}"]},
        )
    return names


# --- creating an upload ---------------------------------------------------------------


@transaction.atomic
def upload_create(*, actor: User, partner: Partner, file: UploadedFile[bytes] | None) -> SaleUpload:
    """Store a CSV file of `partner`'s sale events and queue its processing. The header row
    is checked at once, so a file with the wrong columns is refused before it is kept."""
    if membership_role(actor, partner) is None:
        raise PermissionDenied(_("Only a member of %(name)s can upload its sales.") % {"name": partner.name})
    if file is None:
        raise ValidationFailed(_("Choose a CSV file to upload."), fields={"file": ["is required"]})
    name = (file.name or "upload.csv").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if not name.lower().endswith(".csv"):
        raise ValidationFailed(
            _("%(name)r is not a .csv file. Save the sheet as “CSV UTF-8” and upload that.") % {"name": name},
            fields={"file": ["must be a .csv file"]},
        )
    if file.size is not None and file.size > MAX_UPLOAD_BYTES:
        raise ValidationFailed(
            _("The file is over %(megabytes)s MB; split it into smaller files.")
            % {"megabytes": MAX_UPLOAD_BYTES // 1024 // 1024},
            fields={"file": ["is too large"]},
        )
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    _columns_from_header(head)
    upload = SaleUpload(partner=partner, original_name=name[:200], uploaded_by=actor)
    upload.file.save(f"{partner.pk}/{uuid.uuid4().hex}.csv", file, save=False)
    upload.save()
    audit_record(
        actor=actor,
        action="sale_upload.created",
        target=upload,
        partner_id=partner.pk,
        summary=f"Uploaded {name[:150]!r} ({file.size or 0:,} bytes) for processing",
    )
    enqueue_on_commit("revenue.tasks.upload_process_task", upload.pk)
    return upload


# --- processing -------------------------------------------------------------------------


@dataclass
class _Run:
    upload: SaleUpload
    partner: Partner
    received_at: datetime
    rows_total: int = 0

    def progress(self, fraction: float) -> None:
        """Committed at once (no transaction is open between the steps), so the portal's
        progress bar sees it."""
        done = int(self.rows_total * max(0.0, min(fraction, 0.99)))
        SaleUpload.objects.filter(pk=self.upload.pk, status=SaleUpload.Status.PROCESSING).update(
            rows_total=self.rows_total, rows_done=done
        )


def upload_lock(upload_id: int) -> AdvisoryKey:
    """The session advisory lock held while an upload is processed."""
    return advisory_key(Lock.UPLOAD, upload_id)


def upload_process(*, upload_id: int) -> SaleUpload:
    """Process an upload (see the module docstring). Safe to run twice, or at once: the
    second run finds the upload finished, or being processed, and returns it."""
    if not lock_session_acquire(upload_lock(upload_id), wait=False):
        return SaleUpload.objects.get(pk=upload_id)
    try:
        upload = _claim(upload_id)
        if upload.status != SaleUpload.Status.PROCESSING:
            return upload
        run = _Run(upload=upload, partner=upload.partner, received_at=timezone.now())
        try:
            _session_setup()
            started = time.perf_counter()
            _read(run)
            read = time.perf_counter()
            _check(run)
            checked = time.perf_counter()
            upload = _store(run)
            logger.info(
                "upload %s: %s rows; read %.2f s, check %.2f s, store %.2f s",
                upload_id,
                run.rows_total,
                read - started,
                checked - read,
                time.perf_counter() - checked,
            )
            return upload
        except UploadRefused as refused:
            return _fail(upload, refused.message)
        except OperationalError:
            raise  # transient (a lost connection, a deadlock): the task retries, the status stays
        except Exception as error:
            logger.exception("upload %s failed", upload_id)
            _fail(
                upload,
                f"Processing failed ({type(error).__name__}); nothing was stored. "
                "Try again, or contact support if it keeps failing.",
            )
            raise
        finally:
            _session_reset()
    finally:
        try:
            lock_session_release(upload_lock(upload_id))
        except DatabaseError:  # the connection is gone, and the lock with it
            logger.warning("could not release the lock of upload %s", upload_id, exc_info=True)


@transaction.atomic
def _claim(upload_id: int) -> SaleUpload:
    # Only the upload's row is locked: the partner's stays free for other writers' key checks.
    upload = SaleUpload.objects.select_for_update(of=("self",)).select_related("partner").get(pk=upload_id)
    if upload.status == SaleUpload.Status.QUEUED:
        upload.status, upload.rows_done, upload.error = SaleUpload.Status.PROCESSING, 0, ""
        upload.save(update_fields=["status", "rows_done", "error"])
    # PROCESSING here means an earlier run died (it held the lock we now hold): start over.
    return upload


def _fail(upload: SaleUpload, message: str) -> SaleUpload:
    with transaction.atomic():
        upload = SaleUpload.objects.select_for_update().get(pk=upload.pk)
        if upload.status == SaleUpload.Status.PROCESSING:
            upload.status, upload.error, upload.finished_at = SaleUpload.Status.FAILED, message, timezone.now()
            upload.rows_total = upload.rows_done = 0
            upload.save(update_fields=["status", "error", "finished_at", "rows_total", "rows_done"])
    return upload


_TEMP_TABLES = ("upload_stage", "upload_checked", "upload_problems", "upload_refunds")


def _session_setup() -> None:
    with connection.cursor() as cursor:
        for table in _TEMP_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
        # Sorts and hashes over a whole file stay in memory.
        cursor.execute("SET work_mem = '256MB'")
        # No JIT: the per-row look-ups (LATERAL probes of every month's partition) are costed
        # over PostgreSQL's JIT thresholds as soon as a file has a few thousand refunds, and
        # compiling, inlining and optimising them took 0.4–2.7 s a statement (over 60% of
        # storing a 100,000-row file) for plans that execute in milliseconds.
        cursor.execute("SET jit = off")


def _session_reset() -> None:
    if connection.connection is None:
        return
    try:
        with connection.cursor() as cursor:
            for table in _TEMP_TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
            cursor.execute("RESET work_mem")
            cursor.execute("RESET jit")
    except DatabaseError:  # in an aborted transaction (tests); the session ends with it
        logger.debug("could not drop the upload's temporary tables", exc_info=True)


# --- 1. read --------------------------------------------------------------------------


_COPY_LINE = re.compile(r"line (\d+)")


def _read(run: _Run) -> None:
    """Stream the file into upload_stage with COPY, piece by piece."""
    storage_file = run.upload.file
    size = storage_file.size or 1
    with storage_file.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
        columns = _columns_from_header(head)
        start = len(_BOM) if head.startswith(_BOM) else 0
        header_end = head.find(b"\n", start)
        rest = b"" if header_end < 0 else head[header_end + 1 :]
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE upload_stage (row_number bigint GENERATED ALWAYS AS IDENTITY (START WITH 2), "
                + ", ".join(f"{name} text" for name in UPLOAD_COLUMNS)
                + ")"
            )
        copy_sql = f"COPY upload_stage ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
        line = 2  # the file's line the next piece starts on
        read_bytes = header_end + 1
        rows_read = 0
        decoder = codecs.getincrementaldecoder("utf-8")()
        for piece in _pieces(stream, rest):
            try:
                decoder.decode(piece, final=False)
            except UnicodeDecodeError as error:
                where = line + piece.count(b"\n", 0, error.start)
                raise UploadRefused(
                    f"The file is not UTF-8 text (line {where} has bytes that are not). "
                    "Save it as “CSV UTF-8” and upload it again.",
                    fields={"file": ["is not UTF-8 text"]},
                ) from None
            if b"\x00" in piece:
                where = line + piece.count(b"\n", 0, piece.index(b"\x00"))
                raise UploadRefused(
                    _("Line %(where)s contains a NUL byte: the file is not CSV text.") % {"where": where},
                    fields={"file": ["is not CSV text"]},
                )
            _copy_piece(copy_sql, piece, line)
            newlines = piece.count(b"\n")
            line += newlines
            rows_read += newlines
            read_bytes += len(piece)
            # Rows in the whole file, estimated from the share read so far (exact at the end).
            run.rows_total = max(rows_read, int(rows_read * size / max(read_bytes, 1)))
            run.progress(READ_SHARE * read_bytes / size)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise UploadRefused(
                _(
                    "The file is not UTF-8 text (it ends inside a character). "
                    "Save it as “CSV UTF-8” and upload it again."
                ),
                fields={"file": ["is not UTF-8 text"]},
            ) from None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM upload_stage")
        run.rows_total = cursor.fetchone()[0]
    run.progress(READ_SHARE)


def _copy_piece(copy_sql: str, piece: bytes, line: int) -> None:
    try:
        # A savepoint inside an outer transaction (tests); its own transaction otherwise.
        with transaction.atomic(), connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.write(piece)
    except (DatabaseError, psycopg.Error) as error:  # COPY raises psycopg's own errors
        cause = error.__cause__ or error
        diag = getattr(cause, "diag", None)
        found = _COPY_LINE.search(getattr(diag, "context", None) or "")
        where = line + int(found.group(1)) - 1 if found else line
        detail = (getattr(diag, "message_primary", None) or str(cause)).strip()
        if "missing data for column" in detail:
            text = (
                f"Line {where} is empty."
                if (getattr(diag, "context", "") or "").endswith('""')
                else f"Line {where} has fewer fields than the header row."
            )
        elif "extra data after last expected column" in detail:
            text = f"Line {where} has more fields than the header row."
        elif "unterminated CSV quoted field" in detail:
            text = f"A quoted field starting near line {where} is never closed."
        else:
            text = f"Line {where} cannot be read as CSV: {detail}."
        raise UploadRefused(
            _("%(text)s Nothing was stored; fix the file and upload it again.") % {"text": text},
            fields={"file": [text]},
        ) from None


def _pieces(stream: IO[bytes], pending: bytes) -> Iterator[bytes]:
    """The rest of the file in pieces of about PIECE_BYTES that end at a record boundary: a
    newline outside quotes (an even number of `"` before it). Blank lines at the end go."""
    buffer = bytearray(pending)
    while True:
        chunk = stream.read(PIECE_BYTES)
        if not chunk:
            # COPY takes a last line without its line end (and in the file's own style).
            tail = bytes(buffer).rstrip(b"\r\n")
            if tail:
                yield tail
            return
        buffer += chunk
        if len(buffer) < PIECE_BYTES:
            continue
        cut = _record_end(buffer)
        if cut > 0:
            yield bytes(buffer[:cut])
            del buffer[:cut]


def _record_end(buffer: bytearray) -> int:
    """The index just after the last newline that ends a record, or 0."""
    quotes = buffer.count(b'"')
    position = buffer.rfind(b"\n")
    after = 0  # quotes from `position` to the previous candidate
    previous = len(buffer)
    while position >= 0:
        after += buffer.count(b'"', position, previous)
        if (quotes - after) % 2 == 0:
            return position + 1
        previous = position
        position = buffer.rfind(b"\n", 0, position)
    return 0


# --- 2. check -------------------------------------------------------------------------


def _text_column(name: str) -> str:
    return f"nullif(u.{name}, '') AS {name}"


# One pass over the staged rows: typed values, and per column the kind of problem (NULL when
# fine), each column's CASE generated from its rule in sale_rules. Each level is fenced
# (OFFSET 0) so that every expression is computed once per row: a flattened query would
# repeat the regular expression wherever its result is used.
_ALL_FINE = "(" + " AND ".join(f"p_{name} IS NULL" for name in UPLOAD_COLUMNS) + ")"

_CHECK = """
CREATE TEMP TABLE upload_checked AS
SELECT w.*, {all_fine} AS ok, CASE WHEN {all_fine} THEN {digest} END AS digest,
       NULL::bigint AS primary_row, NULL::boolean AS same_as_primary
FROM (
    SELECT u.row_number, u.external_id, u.type, u.currency, {keys}, nullif(u.refund_of, '') AS refund_of,
           u.at AS occurred_at, u.amount_value AS amount,
           {problems},
           CASE WHEN u.at IS NULL OR u.at < %(earliest)s OR u.at > %(latest)s THEN u.occurred_at END
               AS bad_occurred_at,
           CASE WHEN u.amount_value IS NULL THEN left(u.amount, {echo_max}) END AS bad_amount
    FROM (
        SELECT s.*, {at} AS at, {amount} AS amount_value
        FROM upload_stage s
        OFFSET 0
    ) u
    OFFSET 0
) w
"""

_DIGEST_OF_CHECKED = SALE_DIGEST_SQL.format(
    amount="w.amount",
    occurred_at="w.occurred_at",
    currency="w.currency",
    external_id="w.external_id",
    type="w.type",
    refund_of="w.refund_of",
    **{name: f"w.{name}" for name in KEY_COLUMNS},
)

# Column-level problems → rejections, a row's problems in the rules' order (`seq`): its first
# is the one the API names for the same event.
_COLUMN_PROBLEMS = """
INSERT INTO upload_problems (row_number, seq, col, code, reason)
SELECT c.row_number, v.seq, v.col, v.code, v.reason
FROM upload_checked c
CROSS JOIN LATERAL (VALUES
    {rejections}
) AS v(seq, col, code, reason)
WHERE NOT c.ok AND v.reason IS NOT NULL
"""
# The bad cells the file's messages quote (sale_rules.Problem.echo_in_file).
_ECHOES = {"type": "c.type", "occurred_at": "c.bad_occurred_at", "amount": "c.bad_amount"}
_MESSAGE_VALUES = {"currency": "c.currency", "partner_currency": "%(currency)s", "occurred_at": "c.bad_occurred_at"}

# external_ids that more than one valid row carries: the first row is the one that counts.
_REPEATS = """
WITH firsts AS (
    SELECT DISTINCT ON (external_id) external_id, row_number, digest
    FROM upload_checked
    WHERE ok AND external_id IN (SELECT external_id FROM upload_checked WHERE ok
                                 GROUP BY external_id HAVING count(*) > 1)
    ORDER BY external_id, row_number
)
UPDATE upload_checked c SET primary_row = f.row_number, same_as_primary = (c.digest = f.digest)
FROM firsts f
WHERE c.ok AND c.external_id = f.external_id AND c.row_number <> f.row_number
"""

_REPEAT_CONFLICTS = f"""
INSERT INTO upload_problems (row_number, seq, col, code, reason)
SELECT row_number, 1, 'external_id', %(conflict)s,
       {sale_rules.CONFLICT_EARLIER.sql(external_id="external_id", earlier=sale_rules.in_file_sql("primary_row"))}
FROM upload_checked WHERE primary_row IS NOT NULL AND NOT same_as_primary
"""


def _check(run: _Run) -> None:
    keys = ", ".join(_text_column(name) for name in KEY_COLUMNS)
    problems = ",\n           ".join(
        sale_rules.file_problem_sql(rule, row="u", at="u.at", amount="u.amount_value") + f" AS p_{rule.name}"
        for rule in sale_rules.SALE_FIELD_RULES
    )
    rejections = ",\n    ".join(
        sale_rules.file_rejection_sql(
            rule, seq=seq, tag=f"c.p_{rule.name}", values=_MESSAGE_VALUES, echo=_ECHOES.get(rule.name)
        )
        for seq, rule in enumerate(sale_rules.SALE_FIELD_RULES, start=1)
    )
    params: sale_rules.SqlParams = {
        **sale_rules.FILE_CHECK_PARAMS,
        "latest": timezone.now() + FUTURE_TOLERANCE,
        "currency": run.partner.currency,
    }
    # Temporary tables only; a transaction each, so that a failing statement in a test's
    # transaction rolls back to its savepoint.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _CHECK.format(
                digest=_DIGEST_OF_CHECKED,
                all_fine=_ALL_FINE,
                keys=keys,
                problems=problems,
                at=sale_rules.file_instant_sql("s.occurred_at"),
                amount=sale_rules.file_amount_sql("s.amount"),
                echo_max=sale_rules.ECHO_MAX,
            ),
            params,
        )
        cursor.execute("DROP TABLE upload_stage")
        # Temporary tables get no statistics unless asked; the joins below need them.
        cursor.execute("ANALYZE upload_checked (ok, primary_row, type, external_id)")
    run.progress(READ_SHARE + CHECK_SHARE * 0.7)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE upload_problems (row_number bigint, seq int, col text, code text, reason text)"
        )
        cursor.execute(_COLUMN_PROBLEMS.format(rejections=rejections), {"currency": run.partner.currency})
        cursor.execute(_REPEATS)
        if cursor.rowcount:
            cursor.execute(_REPEAT_CONFLICTS, {"conflict": RejectionCode.CONFLICT.value})
            cursor.execute("ANALYZE upload_checked (primary_row, same_as_primary)")
    run.progress(READ_SHARE + CHECK_SHARE)


# --- 3. store ---------------------------------------------------------------------------


_INSERT_COLUMNS = """
    partner_id, external_id, type, occurred_at, amount, currency, coupon_code, click_id,
    conversation_id, customer_ref, store_id, refund_of_id, period, content_digest, received_at,
    upload_id, attribution, attributed_key, attribution_note
"""

# Keys first (as the API's ingestion.py: the idempotency key is unique in revenue_salekey, not
# in the partitioned revenue_sale): the key insert claims each new key with the sale's id and
# month, in external_id order, and only the claimed rows become sales, in the same statement.
_SALES_INSERT = f"""
WITH claimed AS (
    INSERT INTO revenue_salekey (partner_id, external_id, sale_id, period)
    SELECT %(partner)s, k.external_id, nextval('revenue_sale_id_seq'), k.period
    FROM (SELECT c.external_id, date_trunc('month', c.occurred_at AT TIME ZONE %(zone)s)::date AS period
          FROM upload_checked c
          WHERE c.ok AND c.primary_row IS NULL AND c.type = 'sale'
          ORDER BY c.external_id COLLATE "C") k
    ON CONFLICT (partner_id, external_id) DO NOTHING
    RETURNING sale_id, external_id, period
), inserted AS (
    INSERT INTO revenue_sale (id, {_INSERT_COLUMNS})
    SELECT k.sale_id, %(partner)s, c.external_id, 'sale', c.occurred_at, c.amount, c.currency, c.coupon_code,
           c.click_id, c.conversation_id, c.customer_ref, c.store_id, NULL, k.period, c.digest, %(received_at)s,
           %(upload)s, 'pending', '', ''
    FROM claimed k
    JOIN upload_checked c ON c.external_id = k.external_id AND c.ok AND c.primary_row IS NULL AND c.type = 'sale'
    RETURNING id
)
SELECT count(*), CASE WHEN count(*) <= %(by_id_max)s THEN array_agg(id) END FROM inserted
"""

# A stored sale by the partner's external_id: the key table's primary key, then the one
# partition holding the sale (the key carries its month). `{ref}` names the external_id.
_STORED = (
    "revenue_salekey k JOIN revenue_sale x ON x.id = k.sale_id AND x.partner_id = k.partner_id "
    "AND x.period = k.period WHERE k.partner_id = %(partner)s AND k.external_id = {ref}"
)

# Rows the insert skipped were stored before (rows stored by this insert carry its upload and
# time): the same digest is a duplicate, another digest a conflict. Lookups into revenue_sale
# go through its unique index from the file's side (LATERAL), whatever its statistics say
# just after a large load.
_SALES_SKIPPED = """
WITH stored AS (
    SELECT c.row_number, c.external_id, s.content_digest = c.digest AS same
    FROM upload_checked c
    CROSS JOIN LATERAL (
        SELECT x.content_digest, x.upload_id, x.received_at FROM {stored}
        OFFSET 0
    ) s
    WHERE c.ok AND c.primary_row IS NULL AND c.type = 'sale'
      AND NOT (s.upload_id IS NOT DISTINCT FROM %(upload)s AND s.received_at = %(received_at)s)
), conflicts AS (
    INSERT INTO upload_problems (row_number, seq, col, code, reason)
    SELECT row_number, 1, 'external_id', %(conflict)s, {conflict_message}
    FROM stored WHERE NOT same
)
SELECT count(*) FILTER (WHERE same) FROM stored
""".replace("{stored}", _STORED.format(ref="c.external_id"))


def _conflict_message(external_id: str) -> str:
    return sale_rules.CONFLICT_STORED.sql(external_id=external_id)


_REFUNDS_STAGE = """
CREATE TEMP TABLE upload_refunds AS
SELECT c.row_number, c.external_id, c.refund_of, c.occurred_at, c.amount, c.currency, c.coupon_code,
       c.click_id, c.conversation_id, c.customer_ref, c.store_id, c.digest,
       NULL::bigint AS sale_id, NULL::text AS sale_type, NULL::text AS sale_currency,
       NULL::timestamptz AS sale_occurred_at, NULL::bigint AS sale_amount, NULL::boolean AS sale_new,
       NULL::bigint AS sale_row,
       NULL::bigint AS remaining, NULL::bigint AS left_to_refund, NULL::text AS outcome
FROM upload_checked c
WHERE c.ok AND c.primary_row IS NULL AND c.type = 'refund'
"""

# Lookups into revenue_sale probe its unique index once per row of the file (LATERAL … OFFSET
# 0 keeps the planner from turning them into a join it might misjudge just after a large
# load), and their results join back to the staged rows by row number.
_STORED_BY_EXTERNAL_ID = """
WITH found AS MATERIALIZED (
    SELECT r.row_number, s.content_digest
    FROM upload_refunds r
    CROSS JOIN LATERAL (SELECT x.content_digest FROM {stored} OFFSET 0) s
    WHERE {scope}
)
UPDATE upload_refunds r SET outcome = CASE WHEN f.content_digest = r.digest THEN 'duplicate' ELSE 'conflict' END
FROM found f WHERE r.row_number = f.row_number
""".replace("{stored}", _STORED.format(ref="r.external_id"))

# As the API: a refund stored before is a duplicate (same digest) or a conflict, unchecked.
_REFUNDS_STORED = _STORED_BY_EXTERNAL_ID.format(scope="true")

# Lock the sales being refunded (in id order, as the API does, so concurrent batches queue
# rather than deadlock), then read them and what their stored refunds already took.
_REFUND_TARGETS_LOCK = """
SELECT count(*) FROM (
    SELECT s.id FROM revenue_sale s
    WHERE s.id IN (SELECT x.id FROM (SELECT DISTINCT refund_of FROM upload_refunds WHERE outcome IS NULL) n
                   CROSS JOIN LATERAL (SELECT x.id FROM {stored} OFFSET 0) x)
    ORDER BY s.id FOR UPDATE
) locked
""".replace("{stored}", _STORED.format(ref="n.refund_of"))

_REFUND_TARGETS = """
WITH found AS MATERIALIZED (
    SELECT r.row_number, s.id, s.type, s.currency, s.occurred_at, s.amount,
           s.amount - coalesce((SELECT sum(x.amount) FROM revenue_sale x WHERE x.refund_of_id = s.id), 0)
               AS remaining,
           (s.upload_id IS NOT DISTINCT FROM %(upload)s AND s.received_at = %(received_at)s) AS new
    FROM upload_refunds r
    CROSS JOIN LATERAL (SELECT x.* FROM {stored} OFFSET 0) s
    WHERE r.outcome IS NULL
)
UPDATE upload_refunds r
SET sale_id = f.id, sale_type = f.type, sale_currency = f.currency, sale_occurred_at = f.occurred_at,
    sale_amount = f.amount, remaining = f.remaining, sale_new = f.new
FROM found f WHERE r.row_number = f.row_number
""".replace("{stored}", _STORED.format(ref="r.refund_of"))

# A sale this upload has just stored may be refunded only by a later row (as in the API).
_REFUND_SALE_ROWS = """
UPDATE upload_refunds r SET sale_row = c.row_number
FROM upload_checked c
WHERE r.sale_new AND c.ok AND c.primary_row IS NULL AND c.external_id = r.refund_of
"""

# The API's checks, in its order; the first that fails is the refund's rejection.
_REFUND_CHECKS = """
UPDATE upload_refunds r SET outcome = CASE
    WHEN r.refund_of IN (SELECT o.external_id FROM upload_refunds o) THEN 'refund_of_refund'
    WHEN r.sale_id IS NULL THEN 'unknown_sale'
    WHEN r.sale_row > r.row_number THEN 'sale_later'
    WHEN r.sale_type <> 'sale' THEN 'refund_of_refund'
    WHEN r.sale_currency <> r.currency THEN 'currency_mismatch'
    WHEN r.occurred_at < r.sale_occurred_at THEN 'before_sale'
END
WHERE r.outcome IS NULL
"""

# What is left of each sale goes to its refunds in file order; the first refund that does not
# fit is refused (and takes nothing), then the rest are looked at again.
_REFUND_EXCEEDS = """
UPDATE upload_refunds r SET outcome = 'exceeds', left_to_refund = f.left_to_refund
FROM (
    SELECT DISTINCT ON (sale_id) row_number, remaining - (running - amount) AS left_to_refund
    FROM (SELECT row_number, sale_id, amount, remaining,
                 sum(amount) OVER (PARTITION BY sale_id ORDER BY row_number) AS running
          FROM upload_refunds WHERE outcome IS NULL) w
    WHERE running > remaining
    ORDER BY sale_id, row_number
) f
WHERE r.row_number = f.row_number
"""

_REFUNDS_INSERT = f"""
WITH claimed AS (
    INSERT INTO revenue_salekey (partner_id, external_id, sale_id, period)
    SELECT %(partner)s, k.external_id, nextval('revenue_sale_id_seq'), k.period
    FROM (SELECT r.external_id, date_trunc('month', r.occurred_at AT TIME ZONE %(zone)s)::date AS period
          FROM upload_refunds r
          WHERE r.outcome IS NULL
          ORDER BY r.external_id COLLATE "C") k
    ON CONFLICT (partner_id, external_id) DO NOTHING
    RETURNING sale_id, external_id, period
), inserted AS (
    INSERT INTO revenue_sale (id, {_INSERT_COLUMNS})
    SELECT k.sale_id, %(partner)s, r.external_id, 'refund', r.occurred_at, r.amount, r.currency, r.coupon_code,
           r.click_id, r.conversation_id, r.customer_ref, r.store_id, r.sale_id, k.period, r.digest,
           %(received_at)s, %(upload)s, 'pending', '', ''
    FROM claimed k JOIN upload_refunds r ON r.external_id = k.external_id AND r.outcome IS NULL
    RETURNING external_id
)
UPDATE upload_refunds r SET outcome = 'accepted' FROM inserted i WHERE r.external_id = i.external_id
"""

# A refund the insert skipped was stored by a concurrent batch after the check above.
_REFUNDS_RACED = _STORED_BY_EXTERNAL_ID.format(scope="r.outcome IS NULL")


def _refund_problem(outcome: str, problem: sale_rules.Problem, **values: str) -> str:
    return (
        f"({sale_rules.sql_literal(outcome)}, {sale_rules.sql_literal(problem.field)}, "
        f"{sale_rules.sql_literal(problem.code)}, {problem.sql(**values)})"
    )


_REFUND_PROBLEMS = """
INSERT INTO upload_problems (row_number, seq, col, code, reason)
SELECT r.row_number, 1, v.col, v.code, v.reason
FROM upload_refunds r
CROSS JOIN LATERAL (SELECT * FROM (VALUES
    {problems}
) AS m(outcome, col, code, reason) WHERE m.outcome = r.outcome) v
""".format(
    problems=",\n    ".join(
        [
            _refund_problem("conflict", sale_rules.CONFLICT_STORED, external_id="r.external_id"),
            _refund_problem("refund_of_refund", sale_rules.REFUND_OF_REFUND, refund_of="r.refund_of"),
            _refund_problem("unknown_sale", sale_rules.UNKNOWN_SALE, refund_of="r.refund_of", later="''"),
            _refund_problem(
                "sale_later",
                sale_rules.UNKNOWN_SALE,
                refund_of="r.refund_of",
                later=sale_rules.later_in_file_sql("r.sale_row"),
            ),
            _refund_problem(
                "currency_mismatch",
                sale_rules.REFUND_CURRENCY,
                refund_of="r.refund_of",
                sale_currency="r.sale_currency",
            ),
            _refund_problem("before_sale", sale_rules.BEFORE_SALE, refund_of="r.refund_of"),
            _refund_problem(
                "exceeds",
                sale_rules.REFUND_EXCEEDS,
                amount="r.amount",
                refund_of="r.refund_of",
                left_to_refund="r.left_to_refund",
                sale_amount="r.sale_amount",
            ),
        ]
    )
)

# Later identical copies of a row share its fate: rejected with it, else duplicates.
_FOLLOWER_PROBLEMS = """
INSERT INTO upload_problems (row_number, seq, col, code, reason)
SELECT c.row_number, p.seq, p.col, p.code, p.reason
FROM upload_checked c JOIN upload_problems p ON p.row_number = c.primary_row
WHERE c.same_as_primary
"""

_REJECTIONS_INSERT = """
INSERT INTO revenue_saleuploadrejection (upload_id, row_number, "column", code, reason)
SELECT %(upload)s, row_number, col, code, left(reason, 300) FROM upload_problems ORDER BY row_number, seq
"""


def _store(run: _Run) -> SaleUpload:
    base: sale_rules.SqlParams = {
        "partner": run.partner.pk,
        "upload": run.upload.pk,
        "received_at": run.received_at,
        "zone": run.partner.timezone,
        "conflict": RejectionCode.CONFLICT.value,
    }
    with transaction.atomic():
        upload = SaleUpload.objects.select_for_update().get(pk=run.upload.pk)
        if upload.status != SaleUpload.Status.PROCESSING:
            return upload
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE type = 'sale'), count(*) FILTER (WHERE type = 'refund') "
                "FROM upload_checked WHERE ok AND primary_row IS NULL"
            )
            sale_rows, refund_rows = cursor.fetchone()
            # Sales: one INSERT; the rows it skipped are duplicates or conflicts.
            # The statement claims its sales' keys itself: the key trigger stands aside (0021).
            with transaction_settings(cursor, **KEYS_CLAIMED_BY_THE_STATEMENT):
                cursor.execute(_SALES_INSERT, {**base, "by_id_max": ATTRIBUTE_BY_ID_MAX})
                sales_inserted, sale_ids = cursor.fetchone()
            if sales_inserted >= ANALYZE_AFTER_ROWS:
                # Statistics that count the rows just stored (this transaction's own rows count
                # for its ANALYZE). Without them, an autovacuum ANALYZE that ran during the
                # insert — it cannot see these rows — can leave the planner believing the
                # table empty, and plan the lookups below and the foreign-key checks at commit
                # (refund_of → sale) as scans of the whole table, once per row.
                cursor.execute("ANALYZE revenue_salekey")
                cursor.execute("ANALYZE revenue_sale (partner_id, period, refund_of_id, upload_id)")
            duplicates = 0
            if sales_inserted < sale_rows:
                cursor.execute(_SALES_SKIPPED.format(conflict_message=_conflict_message("stored.external_id")), base)
                duplicates += cursor.fetchone()[0]
            # Refunds: locked targets, the API's checks, one INSERT.
            refunds_inserted = 0
            if refund_rows:
                refunds_inserted, refund_duplicates = _store_refunds(cursor, base)
                duplicates += refund_duplicates
            # Identical repeats of a row in the file: rejected with it, else duplicates.
            cursor.execute("SELECT count(*) FROM upload_checked WHERE same_as_primary")
            if cursor.fetchone()[0]:
                cursor.execute("ANALYZE upload_problems")
                cursor.execute(_FOLLOWER_PROBLEMS)
                cursor.execute(
                    "SELECT count(*) FROM upload_checked c WHERE c.same_as_primary AND c.primary_row "
                    "NOT IN (SELECT p.row_number FROM upload_problems p)"
                )
                duplicates += cursor.fetchone()[0]
            cursor.execute(_REJECTIONS_INSERT, base)
            cursor.execute("SELECT count(DISTINCT row_number) FROM upload_problems")
            rejected = cursor.fetchone()[0]
        accepted = sales_inserted + refunds_inserted
        if accepted + duplicates + rejected != run.rows_total:
            logger.error(
                "upload %s: %s accepted + %s duplicates + %s rejected != %s rows",
                upload.pk,
                accepted,
                duplicates,
                rejected,
                run.rows_total,
            )
        upload.status, upload.finished_at = SaleUpload.Status.DONE, timezone.now()
        upload.rows_total = upload.rows_done = run.rows_total
        upload.accepted, upload.duplicates, upload.rejected = accepted, duplicates, rejected
        upload.save(
            update_fields=["status", "finished_at", "rows_total", "rows_done", "accepted", "duplicates", "rejected"]
        )
        if sales_inserted:
            # Refunds follow their sale's attribution; only new sales need attributing. Very
            # many go by partner: attribution then finds its pending sales itself.
            _after_ingest(run.partner.pk, sorted(sale_ids) if sale_ids is not None else None)
    return upload


def _store_refunds(cursor: Any, base: sale_rules.SqlParams) -> tuple[int, int]:
    cursor.execute(_REFUNDS_STAGE)
    # A few refunds per hundred rows: indexes are cheap here, and keep every join back to
    # them a lookup whatever the planner estimates.
    cursor.execute("CREATE INDEX ON upload_refunds (row_number)")
    cursor.execute("CREATE INDEX ON upload_refunds (external_id)")
    cursor.execute("ANALYZE upload_refunds")
    cursor.execute(_REFUNDS_STORED, base)
    cursor.execute(_REFUND_TARGETS_LOCK, base)
    cursor.execute(_REFUND_TARGETS, base)
    cursor.execute("ANALYZE upload_refunds")
    cursor.execute(_REFUND_SALE_ROWS)
    cursor.execute(_REFUND_CHECKS)
    while True:
        cursor.execute(_REFUND_EXCEEDS)
        if not cursor.rowcount:
            break
    with transaction_settings(cursor, **KEYS_CLAIMED_BY_THE_STATEMENT):
        cursor.execute(_REFUNDS_INSERT, base)
    cursor.execute(_REFUNDS_RACED, base)
    cursor.execute(_REFUND_PROBLEMS)
    cursor.execute(
        "SELECT count(*) FILTER (WHERE outcome = 'accepted'), count(*) FILTER (WHERE outcome = 'duplicate') "
        "FROM upload_refunds"
    )
    inserted, duplicates = cursor.fetchone()
    return inserted, duplicates
