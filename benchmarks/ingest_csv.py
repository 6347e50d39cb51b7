"""CSV upload processing against a raw PostgreSQL COPY of the same file, in one run.

    python3 dev.py bench ingest_csv [--rows 1000000]

Generates a CSV of N sale events (5% refunds of earlier rows, 70% of sales carrying a
coupon, click or conversation key), then measures on the same database, same file:

- raw COPY of the file into a table of revenue_sale's shape: its columns, indexes, checks
  and fill factor, the columns a file does not carry filled by defaults — first without
  foreign keys (`LIKE revenue_sale INCLUDING ALL`), then with revenue_sale's foreign keys
  and the partner and upload columns set as the upload sets them: the same rows into the
  same table, which is the baseline the target is measured against;
- `upload_process` on the file (in-process, no broker needed): stream into a staging table,
  validate in SQL, insert into revenue_sale, record the outcome.

Then the same file once more: every row a duplicate, nothing stored (shown, not measured).

Target (issue "Revenue engine"): upload processing ≥ 50% of the raw COPY's rows/s.
Uses its own database (haken_bench in .data/bench) and rebuilds the data each run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The uploads' copies of the file go to a folder of the run's own, removed at the end.
os.environ["DJANGO_MEDIA_ROOT"] = tempfile.mkdtemp(prefix="haken-bench-media-")

import django

django.setup()

from django.core.files import File  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from benchmarks.fixtures import build_placements, reset_revenue_tables  # noqa: E402
from benchmarks.processes import timed  # noqa: E402
from contracts.models import Partner, PartnerMembership  # noqa: E402
from core.models import User  # noqa: E402
from revenue.models import Sale, SaleUpload  # noqa: E402
from revenue.services.uploads import UPLOAD_COLUMNS, upload_create, upload_process  # noqa: E402

COLUMNS = ", ".join(UPLOAD_COLUMNS)
MEDIA = os.environ["DJANGO_MEDIA_ROOT"]

# Row g: every 20th row refunds one of the 18 rows before it (always a sale, at most one
# refund each); sales two seconds apart through October (Tokyo), 300 stores interleaved.
GENERATE = """
COPY (
    SELECT 'pos-' || g %% 300 || '-' || g AS external_id,
           CASE WHEN r THEN 'refund' ELSE 'sale' END AS type,
           CASE WHEN g %% 10 = 3
                THEN to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                ELSE to_char(at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD"T"HH24:MI:SS') || '+09:00' END AS occurred_at,
           CASE WHEN r THEN 100 ELSE 100 + (g * 7919) %% 50000 END AS amount,
           'JPY' AS currency,
           CASE WHEN NOT r AND g %% 10 < 7 AND g %% 3 = 0 THEN 'CPN-' || (g * 104729) %% 1000000 END AS coupon_code,
           CASE WHEN NOT r AND g %% 10 < 7 AND g %% 3 = 1 THEN 'CLK-' || (g * 104729) %% 1000000 END AS click_id,
           CASE WHEN NOT r AND g %% 10 < 7 AND g %% 3 = 2 THEN 'CNV-' || (g * 104729) %% 1000000 END AS conversation_id,
           CASE WHEN NOT r THEN 'c' || g %% 5000 END AS customer_ref,
           CASE WHEN NOT r THEN 'store-' || g %% 300 END AS store_id,
           CASE WHEN r THEN 'pos-' || t %% 300 || '-' || t END AS refund_of
    FROM generate_series(0::bigint, %(last)s) g
    CROSS JOIN LATERAL (SELECT g %% 20 = 19 AS r, g - 1 - (g * 7) %% 18 AS t) k
    CROSS JOIN LATERAL (SELECT timestamptz '2026-10-01 00:00+09'
                               + (CASE WHEN r THEN t ELSE g END) * interval '2 seconds'
                               + CASE WHEN r THEN interval '1 day' ELSE interval '0' END AS at) w
    ORDER BY g
) TO STDOUT WITH (FORMAT csv, HEADER true)
"""


def checkpoint() -> None:
    """Start each measurement with no dirty pages from the last one to write."""
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def generate(path: Path, rows: int) -> None:
    sql = GENERATE % {"last": rows - 1}
    with connection.cursor() as cursor, open(path, "wb") as out, cursor.copy(sql) as copy:
        for data in copy:
            out.write(data)


def scratch_table(partner_id: int, *, upload_id: int | None) -> None:
    """bench_copy: revenue_sale's columns, indexes, checks and fill factor; defaults for the
    columns a file does not carry; refund_of as text, since a raw COPY cannot resolve it to
    the sale's id. With an upload: revenue_sale's foreign keys too, and its upload column set."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (LIKE revenue_sale INCLUDING ALL) WITH (fillfactor = 80)")
        cursor.execute("ALTER TABLE bench_copy ADD COLUMN refund_of text, DROP CONSTRAINT sale_refund_names_its_sale")
        cursor.execute(
            f"ALTER TABLE bench_copy ALTER partner_id SET DEFAULT {int(partner_id)}, "
            "ALTER period SET DEFAULT '2026-10-01', ALTER content_digest SET DEFAULT '', "
            "ALTER received_at SET DEFAULT now(), ALTER attribution SET DEFAULT 'pending', "
            "ALTER attributed_key SET DEFAULT '', ALTER attribution_note SET DEFAULT ''"
        )
        if upload_id is not None:
            cursor.execute(f"ALTER TABLE bench_copy ALTER upload_id SET DEFAULT {int(upload_id)}")
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'revenue_sale'::regclass AND contype = 'f' ORDER BY conname"
            )
            for name, definition in cursor.fetchall():
                cursor.execute(f'ALTER TABLE bench_copy ADD CONSTRAINT "bench_{name}" {definition}')


def raw_copy(path: Path) -> int:
    with transaction.atomic(), connection.cursor() as cursor, open(path, "rb") as source:
        with cursor.copy(f"COPY bench_copy ({COLUMNS}) FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            while data := source.read(1 << 20):
                copy.write(data)
        cursor.execute("SELECT count(*) FROM bench_copy")
        return cursor.fetchone()[0]


def member() -> tuple[Partner, User]:
    _placement, partner_id = build_placements(1)[0]
    partner = Partner.objects.get(pk=partner_id)
    user, _ = User.objects.get_or_create(username="bench-uploader", defaults={"role": "partner"})
    PartnerMembership.objects.get_or_create(user=user, defaults={"partner": partner, "role": "owner"})
    return partner, user


def main() -> None:
    try:
        run()
    finally:
        shutil.rmtree(MEDIA, ignore_errors=True)


def run() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print(f"CSV upload: {args.rows:,} rows (machine: {os.cpu_count()} cores)")
    reset_revenue_tables()
    partner, user = member()
    folder = Path(tempfile.mkdtemp(prefix="haken-bench-csv-"))
    try:
        measure(args.rows, partner, user, folder / "sales.csv")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(rows: int, partner: Partner, user: User, path: Path) -> None:
    timed("generate the CSV (not measured against the target)", lambda: generate(path, rows))
    print(f"  file: {path.stat().st_size / 1e6:,.1f} MB")

    with open(path, "rb") as source:
        upload = upload_create(actor=user, partner=partner, file=File(source, name="sales.csv"))
    baselines = {}
    for label, upload_id in (
        ("LIKE revenue_sale INCLUDING ALL, no foreign keys", None),
        ("revenue_sale's shape, its foreign keys, partner + upload set", upload.pk),
    ):
        scratch_table(partner.pk, upload_id=upload_id)
        checkpoint()
        seconds, copied = timed(f"baseline: raw COPY into {label}", lambda: raw_copy(path))
        assert copied == rows, copied
        baselines[upload_id is not None] = seconds
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy")

    checkpoint()
    seconds, upload = timed(
        "upload_process: COPY to staging, checks in SQL, INSERT … ON CONFLICT",
        lambda: upload_process(upload_id=upload.pk),
    )
    assert upload.status == SaleUpload.Status.DONE, upload.error
    stored = Sale.objects.filter(upload=upload).count()
    print(
        f"  accepted {upload.accepted:,}, duplicates {upload.duplicates:,}, rejected {upload.rejected:,}; "
        f"stored {stored:,}"
    )
    assert (upload.accepted, upload.duplicates, upload.rejected, stored) == (rows, 0, 0, rows)
    with open(path, "rb") as source:
        again = upload_create(actor=user, partner=partner, file=File(source, name="sales.csv"))
    checkpoint()
    _, again = timed(
        "the same file again (every row a duplicate; not measured)", lambda: upload_process(upload_id=again.pk)
    )
    assert (again.accepted, again.duplicates, again.rejected) == (0, rows, 0)

    print()
    copy_plain, copy_fk = rows / baselines[False], rows / baselines[True]
    rate = rows / seconds
    print(f"  raw COPY, no foreign keys                 {copy_plain:12,.0f} rows/s")
    print(f"  raw COPY, same table shape and values     {copy_fk:12,.0f} rows/s")
    print(f"  upload_process                            {rate:12,.0f} rows/s")
    print(f"  ratio to raw COPY of the same rows into the same shape: {rate / copy_fk:6.1%}   (target ≥ 50%)")
    print(f"  ratio to raw COPY without foreign keys:                 {rate / copy_plain:6.1%}")


if __name__ == "__main__":
    main()
