"""Reads of CSV uploads, scoped to the viewer's own partner."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from contracts.models import Partner
from contracts.selectors import viewer_partner_id
from core.errors import NotFound
from revenue.models import SaleUpload, SaleUploadRejection


def upload_list(*, partner: Partner) -> QuerySet[SaleUpload]:
    return SaleUpload.objects.filter(partner=partner).select_related("uploaded_by")


def upload_get(*, viewer: Any, upload_id: int) -> SaleUpload:
    """One upload of the viewer's own partner; anyone else's is simply not found."""
    partner_id = viewer_partner_id(viewer)
    upload = None
    if partner_id is not None and partner_id > 0:
        upload = SaleUpload.objects.filter(pk=upload_id, partner_id=partner_id).first()
    if upload is None:
        raise NotFound(_("No upload %(upload_id)s.") % {"upload_id": upload_id})
    return upload


def upload_rejections(*, upload: SaleUpload) -> QuerySet[SaleUploadRejection]:
    return SaleUploadRejection.objects.filter(upload=upload).order_by("row_number", "id")


def upload_latest_with_rejections(*, partner: Partner) -> SaleUpload | None:
    return (
        SaleUpload.objects.filter(partner=partner, status=SaleUpload.Status.DONE, rejected__gt=0)
        .order_by("-created_at", "-id")
        .first()
    )
