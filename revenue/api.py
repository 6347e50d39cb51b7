"""The partner integration API for reported data (DESIGN.md §5b): sales and refunds,
touchpoints, outcomes. A public contract: keep it stable.

Each view checks the envelope, finds the caller's own partner and calls one service; the
service validates every item and answers per item. Callers are a partner's systems
(`Authorization: Bearer <API key>`) or its signed-in members; platform staff are refused,
since they report nothing on a partner's behalf.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contracts.models import Partner
from contracts.selectors import viewer_partner_id
from core.errors import ApplicationError, ErrorCode, PermissionDenied, ValidationFailed
from revenue.serializers import (
    MAX_BATCH,
    IngestErrorSerializer,
    IngestResultSerializer,
    OutcomeBatchSerializer,
    SalesBatchSerializer,
    TouchpointBatchSerializer,
)
from revenue.services.ingestion import IngestResult, outcomes_ingest, sales_ingest, touchpoints_ingest
from revenue.throttling import IngestRateThrottle

# A full batch of the longest events is about 1.5 MB; anything far larger is refused unread.
MAX_BODY_BYTES = 10 * 1024 * 1024


class PayloadTooLarge(ApplicationError):
    """413: too many items in one request, or too large a body."""

    status = 413

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[assignment]


def _caller_partner(request: Request) -> Partner:
    partner_id = viewer_partner_id(request.user)
    if partner_id is None or partner_id < 0:
        raise PermissionDenied("Only a partner's systems (API key) and members report sales, "
                               "touchpoints and outcomes.")
    api_key = getattr(request.user, "api_key", None)
    if api_key is not None:
        return api_key.partner  # loaded with the key by the authentication
    return Partner.objects.get(pk=partner_id)


def _batch(request: Request, name: str) -> list[Any]:
    """The envelope {"<name>": [ … up to 1,000 items … ]}."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body is over {MAX_BODY_BYTES} bytes.", code=ErrorCode.REQUEST_TOO_LARGE)
    data = request.data
    if not isinstance(data, dict):
        raise ValidationFailed(f'The body must be a JSON object: {{"{name}": [...]}}.',
                               fields={name: ["This field is required."]})
    unknown = sorted(key for key in data if key != name)
    if unknown:
        raise ValidationFailed(f"Unknown field(s) in the request body: {', '.join(unknown)}.",
                               fields={key: ["Unknown field."] for key in unknown})
    if name not in data:
        raise ValidationFailed(f"{name} is required.", fields={name: ["This field is required."]})
    items = data[name]
    if not isinstance(items, list):
        raise ValidationFailed(f"{name} must be a list.", fields={name: ["Expected a list of items."]})
    if len(items) > MAX_BATCH:
        raise PayloadTooLarge(f"{len(items)} {name} in one request; send at most {MAX_BATCH} per request.",
                              code=ErrorCode.TOO_MANY_EVENTS)
    return items


def _answer(result: IngestResult) -> Response:
    return Response(result.as_dict())


_ERRORS = {
    400: OpenApiResponse(IngestErrorSerializer, description="Malformed envelope (code malformed_request "
                         "or invalid)."),
    401: OpenApiResponse(IngestErrorSerializer, description="Missing, wrong or revoked API key."),
    403: OpenApiResponse(IngestErrorSerializer, description="The caller does not act for a partner."),
    413: OpenApiResponse(IngestErrorSerializer, description="Over 1,000 items (too_many_events) or a body "
                         "over 10 MB (request_too_large)."),
    429: OpenApiResponse(IngestErrorSerializer, description="Too many requests; retry after the number "
                         "of seconds in the Retry-After header."),
    503: OpenApiResponse(IngestErrorSerializer, description="The database failed under the request "
                         "(code service_unavailable): nothing of the batch was stored; send the same batch "
                         "again after the number of seconds in the Retry-After header."),
}
_RESULT = OpenApiResponse(
    IngestResultSerializer,
    description="One result per item: counts of accepted and duplicate items, and each rejected item "
                "with its index and a stable code. Valid items are stored even when others are rejected.",
)


class SalesIngestApi(APIView):
    throttle_classes = [IngestRateThrottle]

    @extend_schema(
        tags=["ingestion"],
        summary="Report sales and refunds (up to 1,000 events)",
        description=(
            "Idempotent per `external_id`: the same event again is a duplicate (no change); "
            "the same `external_id` with different content is rejected (`conflict`). Rejection "
            "codes: invalid, unknown_field, unknown_currency, currency_mismatch, conflict, "
            "unknown_sale, refund_exceeds_sale."
        ),
        request=SalesBatchSerializer,
        responses={200: _RESULT, **_ERRORS},
        examples=[OpenApiExample("A sale and its refund", request_only=True, value={"events": [
            {"external_id": "pos-8812-001", "type": "sale", "occurred_at": "2026-10-03T12:01:00+09:00",
             "amount": 1280, "currency": "JPY", "coupon_code": "RINNA-7F3K2", "store_id": "tokyo-221"},
            {"external_id": "pos-8812-001-r", "type": "refund", "refund_of": "pos-8812-001",
             "occurred_at": "2026-10-05T09:00:00+09:00", "amount": 1280, "currency": "JPY"},
        ]})],
    )
    def post(self, request: Request) -> Response:
        partner = _caller_partner(request)
        return _answer(sales_ingest(partner=partner, events=_batch(request, "events")))


class TouchpointsIngestApi(APIView):
    throttle_classes = [IngestRateThrottle]

    @extend_schema(
        tags=["ingestion"],
        summary="Report your own touchpoints: tracked clicks, conversation ids, coupons",
        description=(
            "Unique per kind and key: the same touchpoint again is a duplicate, the same key "
            "with other content a `conflict`. Rejection codes: invalid, unknown_field, "
            "unknown_placement, placement_inactive, conflict."
        ),
        request=TouchpointBatchSerializer,
        responses={200: _RESULT, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        partner = _caller_partner(request)
        return _answer(touchpoints_ingest(partner=partner, touchpoints=_batch(request, "touchpoints")))


class OutcomesIngestApi(APIView):
    throttle_classes = [IngestRateThrottle]

    @extend_schema(
        tags=["ingestion"],
        summary="Confirm outcomes (resolutions, delivered works), or withdraw them",
        description=(
            "Unique per placement, kind and external_id. `\"withdrawn\": true` withdraws an "
            "outcome sent earlier. Rejection codes: invalid, unknown_field, unknown_placement, "
            "placement_inactive, conflict, unknown_outcome."
        ),
        request=OutcomeBatchSerializer,
        responses={200: _RESULT, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        partner = _caller_partner(request)
        return _answer(outcomes_ingest(partner=partner, outcomes=_batch(request, "outcomes")))
