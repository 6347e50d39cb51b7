"""The partner portal's CSV uploads of sales and refunds (DESIGN.md §5b "Large files").

Thin: the form checks that a file came, `upload_create` does the rest. The list of uploads
polls each unfinished row with htmx until it is done; the rejection report streams as CSV.
Pages are for a partner's members; an upload of another partner is a 404.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from contracts.models import Partner
from contracts.selectors import viewer_partner
from core.errors import ApplicationError, NotFound, ValidationFailed
from core.views import render_failure
from revenue.models import SaleUpload, SaleUploadRejection
from revenue.selectors.uploads import upload_get, upload_latest_with_rejections, upload_list, upload_rejections
from revenue.services.uploads import (
    MAX_UPLOAD_BYTES,
    REQUIRED_COLUMNS,
    UPLOAD_COLUMNS,
    upload_create,
    upload_progress_percent,
)

PAGE_SIZE = 25
REJECTIONS_PAGE_SIZE = 50
EXAMPLE = (
    "external_id,type,occurred_at,amount,currency,coupon_code,click_id,conversation_id,customer_ref,store_id,refund_of\n"
    "pos-8812-001,sale,2026-10-03T12:01:00+09:00,1280,JPY,RINNA-7F3K2,,,,tokyo-221,\n"
    "pos-8812-001-r,refund,2026-10-05T09:00:00+09:00,1280,JPY,,,,,,pos-8812-001\n"
)


class UploadForm(forms.Form):
    # Not required by the form: upload_create says what is missing, as for the API. The
    # browser is told it is required (and the label says so).
    file = forms.FileField(
        label="CSV file (required)", required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv", "required": True,
                                               "aria-required": "true"}),
        help_text=f"UTF-8, header row first; up to {MAX_UPLOAD_BYTES // 1024 // 1024} MB.",
    )


def _member_partner(request: HttpRequest) -> Partner:
    partner = viewer_partner(request.user)
    if partner is None:
        raise DjangoPermissionDenied("Sales uploads are for a partner's members.")
    return partner


def _upload_or_404(request: HttpRequest, upload_id: int) -> SaleUpload:
    try:
        return upload_get(viewer=request.user, upload_id=upload_id)
    except NotFound as error:
        raise Http404(error.message) from error


def _row(upload: SaleUpload) -> dict[str, Any]:
    active = upload.status in (SaleUpload.Status.QUEUED, SaleUpload.Status.PROCESSING)
    return {"upload": upload, "active": active, "percent": upload_progress_percent(upload)}


def _rejected(request: HttpRequest, partner: Partner) -> tuple[SaleUpload | None, Any]:
    """The upload whose rejected rows show inline (?rejections=<id>, else the latest with
    any), and the page of them asked for (?rpage=)."""
    chosen = request.GET.get("rejections", "")
    if chosen.isdigit():
        upload = _upload_or_404(request, int(chosen))
    else:
        upload = upload_latest_with_rejections(partner=partner)
    if upload is None or not upload.rejected:
        return upload, None
    return upload, Paginator(upload_rejections(upload=upload), REJECTIONS_PAGE_SIZE).get_page(request.GET.get("rpage"))


def _context(request: HttpRequest, partner: Partner | None, **extra: Any) -> dict[str, Any]:
    page = None
    rejected_upload, rejections = None, None
    if partner is not None:
        page = Paginator(upload_list(partner=partner), PAGE_SIZE).get_page(request.GET.get("page"))
        rejected_upload, rejections = _rejected(request, partner)
    return {
        "rejected_upload": rejected_upload,
        "rejections": rejections,
        "partner": partner,
        "page": page,
        "rows": [_row(upload) for upload in page] if page is not None else [],
        "form": form if (form := extra.pop("form", None)) is not None else UploadForm(),
        "columns": UPLOAD_COLUMNS,
        "required_columns": REQUIRED_COLUMNS,
        "example": EXAMPLE,
        **extra,
    }


@login_required
def portal_uploads(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "revenue/uploads.html", _context(request, _member_partner(request)))
    partner = viewer_partner(request.user)
    form = UploadForm(request.POST, request.FILES)
    try:
        if partner is None:
            raise DjangoPermissionDenied("Sales uploads are for a partner's members.")
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise ValidationFailed(str(errors[0]), fields={field: list(errors)})
        upload = upload_create(actor=request.user, partner=partner, file=form.cleaned_data.get("file"))
    except ApplicationError as error:
        return render_failure(request, "revenue/uploads.html", _context(request, partner, form=form), error)
    messages.success(request, f"“{upload.original_name}” is uploaded; its rows are being processed.")
    return redirect("portal-uploads")


@login_required
@require_GET
def portal_upload_row(request: HttpRequest, upload_id: int) -> HttpResponse:
    """One row of the list, for htmx to poll while the upload is processed."""
    upload = _upload_or_404(request, upload_id)
    return render(request, "revenue/upload_row.html", _row(upload))


def _report_lines(upload: SaleUpload) -> Iterator[str]:
    class Line:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Line())
    yield writer.writerow(["row", "column", "code", "reason"])
    rejections = (SaleUploadRejection.objects.filter(upload=upload).order_by("row_number", "id")
                  .values_list("row_number", "column", "code", "reason"))
    for row in rejections.iterator(chunk_size=5000):
        yield writer.writerow(row)


@login_required
@require_GET
def portal_upload_rejections(request: HttpRequest, upload_id: int) -> StreamingHttpResponse:
    """The rejected rows of an upload as CSV: row number, column, code, reason."""
    upload = _upload_or_404(request, upload_id)
    stem = upload.original_name.rsplit(".", 1)[0] or "upload"
    safe = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_." else "_" for ch in stem)[:80]
    response = StreamingHttpResponse(_report_lines(upload), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{safe}-rejections.csv"'
    return response
