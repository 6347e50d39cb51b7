"""The portal's CSV uploads page: upload, progress polled with htmx, the rejection report;
only a partner's own members, and another partner's upload is a 404."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.models import AuditLog
from revenue import tasks
from revenue.models import Sale, SaleUpload, SaleUploadRejection
from revenue.services.uploads import upload_process
from tests.support.snapshot import db_snapshot
from tests.support.web import browser, text

HEADER = "external_id,type,occurred_at,amount,currency\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def state(settings) -> dict:
    root = Path(settings.MEDIA_ROOT)
    return {
        "rows": db_snapshot(SaleUpload, SaleUploadRejection, Sale, AuditLog),
        "files": sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else [],
    }


def words(html: str) -> str:
    """The text of some HTML, tags dropped and spaces folded."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def an_upload(world, *, partner: str = "hoshi", status: str = "queued", **fields) -> SaleUpload:
    upload = SaleUpload(
        partner=getattr(world, partner),
        original_name="october.csv",
        status=status,
        uploaded_by=getattr(world, f"{partner}_owner"),
        **fields,
    )
    upload.file.save("october.csv", ContentFile(HEADER.encode()), save=True)
    return upload


def test_a_member_uploads_a_file_and_its_processing_is_queued_after_commit(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    # given Hoshi Mart's member on the uploads page, and a broker that records what is queued
    queued: list[int] = []
    monkeypatch.setattr(tasks.upload_process_task, "delay", queued.append)
    client = browser(world.hoshi_member)
    assert client.get(reverse("portal-uploads")).status_code == 200
    content = HEADER + "s-1,sale,2026-10-03T12:01:00+09:00,1280,JPY\n"
    # when they upload a CSV file
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("portal-uploads"), {"file": SimpleUploadedFile("october.csv", content.encode(), "text/csv")}
        )
    # then they are sent back to the list, the file is stored and its processing queued once
    assert (response.status_code, response["Location"]) == (302, reverse("portal-uploads"))
    upload = SaleUpload.objects.get()
    assert (upload.partner_id, upload.original_name, upload.status, upload.uploaded_by_id) == (
        world.hoshi.pk,
        "october.csv",
        "queued",
        world.hoshi_member.pk,
    )
    assert upload.file.name.startswith(f"uploads/{world.hoshi.pk}/")
    with upload.file.open("rb") as stored:
        assert stored.read() == content.encode()
    assert queued == [upload.pk]
    assert (
        AuditLog.objects.filter(
            action="sale_upload.created", target_id=str(upload.pk), partner_id=world.hoshi.pk
        ).count()
        == 1
    )
    # and the list shows it as queued, polled until done
    page = text(client.get(reverse("portal-uploads")))
    assert "“october.csv” is uploaded; its rows are being processed." in page
    assert f'hx-get="/portal/uploads/{upload.pk}/row/"' in page


def test_an_unknown_column_is_refused_on_the_page_and_nothing_is_stored(world, settings):
    client = browser(world.hoshi_owner)
    before = state(settings)
    response = client.post(
        reverse("portal-uploads"),
        {"file": SimpleUploadedFile("bad.csv", b"external_id,type,occurred_at,amount,currency,discount\n", "text/csv")},
    )
    assert response.status_code == 400
    assert "Unknown column(s) in the header row: 'discount'." in text(response)
    assert state(settings) == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("sales.xlsx", b"PK\x03\x04", "'sales.xlsx' is not a .csv file."),
        ("empty.csv", b"", "The submitted file is empty."),
    ],
)
def test_a_file_that_is_not_a_csv_is_refused(world, settings, name, content, message):
    client = browser(world.hoshi_owner)
    before = state(settings)
    response = client.post(reverse("portal-uploads"), {"file": SimpleUploadedFile(name, content)})
    assert response.status_code == 400
    assert message in text(response)
    assert state(settings) == before


def test_posting_without_a_file_asks_for_one(world, settings):
    before = state(settings)
    response = browser(world.hoshi_owner).post(reverse("portal-uploads"), {})
    assert response.status_code == 400
    assert "Choose a CSV file to upload." in text(response)
    assert state(settings) == before


def test_an_account_manager_cannot_upload_or_open_the_page(world, settings):
    client = browser(world.hoshi_manager)
    before = state(settings)
    assert client.get(reverse("portal-uploads")).status_code == 403
    response = client.post(
        reverse("portal-uploads"),
        {
            "file": SimpleUploadedFile(
                "october.csv", (HEADER + "s-1,sale,2026-10-03T12:01:00+09:00,1280,JPY\n").encode(), "text/csv"
            )
        },
    )
    assert response.status_code == 403
    assert state(settings) == before


def test_the_page_shows_progress_while_processing_and_stops_polling_when_done(world):
    # given an upload being processed, a quarter done
    upload = an_upload(world, status="processing", rows_total=1000, rows_done=250)
    client = browser(world.hoshi_member)
    # when the list is opened
    page = text(client.get(reverse("portal-uploads")))
    # then its row shows a progress bar and asks htmx to poll it
    row = re.search(rf'<tr id="upload-{upload.pk}"[^>]*>', page).group(0)
    assert f'hx-get="/portal/uploads/{upload.pk}/row/"' in row
    assert 'hx-trigger="every 2s"' in row
    assert 'hx-swap="outerHTML"' in row
    assert '<progress max="100" value="25"' in page
    assert "25% of about 1,000 rows" in page
    # when the row is polled after the upload is done
    SaleUpload.objects.filter(pk=upload.pk).update(
        status="done", rows_done=1000, accepted=990, duplicates=4, rejected=6
    )
    fragment = client.get(reverse("portal-upload-row", args=[upload.pk]))
    # then it is the finished row: counts, the report link, and no more polling
    body = text(fragment)
    assert fragment.status_code == 200
    assert body.startswith(f'<tr id="upload-{upload.pk}">')
    assert "hx-get" not in body and "<progress" not in body
    assert "1,000 rows: 990 accepted, 4 duplicates, 6 rejected" in words(body)
    assert f'href="/portal/uploads/{upload.pk}/rejections.csv"' in body


def test_a_failed_upload_shows_its_error(world):
    an_upload(world, status="failed", error="Line 3 has more fields than the header row.")
    page = text(browser(world.hoshi_owner).get(reverse("portal-uploads")))
    assert "Line 3 has more fields than the header row." in page
    assert "<progress" not in page


def test_a_processed_file_shows_its_counts_on_the_page(world):
    # given a processed upload with one rejected row
    client = browser(world.hoshi_owner)
    client.post(
        reverse("portal-uploads"),
        {
            "file": SimpleUploadedFile(
                "october.csv",
                (
                    HEADER + "s-1,sale,2026-10-03T12:01:00+09:00,1280,JPY\ns-2,sale,2026-10-03T12:01:00+09:00,-1,JPY\n"
                ).encode(),
                "text/csv",
            )
        },
    )
    upload = upload_process(upload_id=SaleUpload.objects.get().pk)
    # when the list is opened, then it shows what happened to the rows
    page = text(client.get(reverse("portal-uploads")))
    assert "2 rows: 1 accepted, 0 duplicates, 1 rejected" in words(page)
    assert f'href="/portal/uploads/{upload.pk}/rejections.csv"' in page


def test_another_partner_can_neither_see_nor_download_an_upload(world):
    # given a processed upload of Hoshi Mart with a rejected row
    upload = an_upload(world, status="done", rows_total=1, rows_done=1, rejected=1)
    SaleUploadRejection.objects.create(upload=upload, row_number=2, column="amount", code="invalid", reason="x")
    # when Wayfarer's owner (or an account manager) looks for it
    for outsider in (world.wayfarer_owner, world.hoshi_manager):
        client = browser(outsider)
        # then it is not found
        assert client.get(reverse("portal-upload-row", args=[upload.pk])).status_code == 404
        assert client.get(reverse("portal-upload-rejections", args=[upload.pk])).status_code == 404
    # and Wayfarer's list does not show it
    page = text(browser(world.wayfarer_owner).get(reverse("portal-uploads")))
    assert "october.csv" not in page and "No uploads yet." in page
    # while Hoshi Mart's member sees and downloads it
    client = browser(world.hoshi_member)
    assert "october.csv" in text(client.get(reverse("portal-uploads")))
    response = client.get(reverse("portal-upload-rejections", args=[upload.pk]))
    assert b"".join(response.streaming_content).decode() == "row,column,code,reason\r\n2,amount,invalid,x\r\n"


def test_rejected_rows_are_listed_on_the_page_fifty_at_a_time_beside_the_download(world):
    # given a processed upload of Hoshi Mart with 51 rejected rows
    upload = an_upload(world, status="done", rows_total=60, rows_done=60, accepted=9, rejected=51)
    SaleUploadRejection.objects.bulk_create(
        SaleUploadRejection(
            upload=upload,
            row_number=n + 1,
            column="amount",
            code="invalid",
            reason=f"amount must be a positive whole number; got -{n}.",
        )
        for n in range(1, 52)
    )
    client = browser(world.hoshi_member)
    # when the uploads page is opened, then the latest upload's rejections show inline, 50 of them
    response = client.get(reverse("portal-uploads"))
    page = text(response)
    assert response.context["rejected_upload"] == upload
    rows = list(response.context["rejections"])
    assert (len(rows), rows[0].row_number, rows[-1].row_number) == (50, 2, 51)
    assert "Rejected rows of “october.csv”" in page
    assert "amount must be a positive whole number; got -1." in page
    assert "51 rows rejected; the others were kept." in words(page)
    assert f'href="/portal/uploads/{upload.pk}/rejections.csv"' in page
    assert f"?rejections={upload.pk}&amp;rpage=2#rejections" in response.content.decode()
    # when the next page is asked for, then the last rejection is there
    response = client.get(reverse("portal-uploads"), {"rejections": upload.pk, "rpage": 2})
    assert [r.row_number for r in response.context["rejections"]] == [52]
    # and another partner cannot name it
    assert browser(world.wayfarer_owner).get(reverse("portal-uploads"), {"rejections": upload.pk}).status_code == 404


def test_the_file_field_is_marked_required(world):
    page = text(browser(world.hoshi_owner).get(reverse("portal-uploads")))
    field = re.search(r'<input type="file"[^>]*>', page).group(0)
    assert " required" in field and 'aria-required="true"' in field
    assert "CSV file (required)" in page
