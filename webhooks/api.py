"""The webhook endpoints and the delivery log in the partner API. Views validate input, call
one service or selector, and render; rules live in webhooks.services."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contracts.selectors import partners_visible, viewer_partner_id
from core.api import parse_status, validated
from core.errors import PermissionDenied, ValidationFailed
from core.permissions import api_person
from webhooks import selectors, services
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint


class WebhookEndpointSerializer(serializers.ModelSerializer):
    partner = serializers.CharField(source="partner.slug")
    # Never the secret: it is shown once, when made or rotated.
    secret_hint = serializers.SerializerMethodField()

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "partner",
            "url",
            "description",
            "event_types",
            "status",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "secret_hint",
        ]

    def get_secret_hint(self, endpoint: WebhookEndpoint) -> str:
        return f"{services.SECRET_PREFIX}…{endpoint.secret[-4:]}"


class WebhookEndpointInput(serializers.Serializer):
    url = serializers.CharField(max_length=services.URL_MAX_LENGTH)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.values), allow_empty=False, max_length=len(EventType.values)
    )


class WebhookDeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.IntegerField(source="endpoint_id")
    event = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")
    replay_of = serializers.IntegerField(source="replay_of_id", allow_null=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event",
            "event_type",
            "replay_of",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_response",
            "delivered_at",
            "created_at",
        ]


_ISSUED = inline_serializer(
    "IssuedWebhookEndpoint", {"secret": serializers.CharField(), "endpoint": WebhookEndpointSerializer()}
)


class WebhookEndpointListApi(APIView):
    @extend_schema(summary="Your organisation's webhook endpoints", responses=WebhookEndpointSerializer(many=True))
    def get(self, request: Request) -> Response:
        endpoints = selectors.endpoint_list(viewer=request.user)
        return Response({"results": WebhookEndpointSerializer(endpoints, many=True).data})

    @extend_schema(
        summary="Add a webhook endpoint (partner owners); its signing secret is in this response only",
        request=WebhookEndpointInput,
        responses={201: _ISSUED},
    )
    def post(self, request: Request) -> Response:
        actor = api_person(request)
        partner_id = viewer_partner_id(actor)
        partner = partners_visible(viewer=actor).filter(pk=partner_id).first() if partner_id is not None else None
        if partner is None:
            raise PermissionDenied(_("Only a partner's owner can add its webhook endpoints."))
        data = validated(WebhookEndpointInput, request.data)
        issued = services.webhook_endpoint_create(
            actor=actor,
            partner=partner,
            url=data["url"],
            description=data["description"],
            event_types=data["event_types"],
        )
        return Response(
            {"secret": issued.secret, "endpoint": WebhookEndpointSerializer(issued.endpoint).data}, status=201
        )


class WebhookEndpointRotateApi(APIView):
    @extend_schema(
        summary="Rotate an endpoint's signing secret (partner owners); the old one also signs for a grace period",
        request=None,
        responses=_ISSUED,
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        actor = api_person(request)
        endpoint = selectors.endpoint_get(viewer=actor, endpoint_id=endpoint_id)
        issued = services.webhook_endpoint_secret_rotate(actor=actor, endpoint=endpoint)
        return Response({"secret": issued.secret, "endpoint": WebhookEndpointSerializer(issued.endpoint).data})


class WebhookEndpointDisableApi(APIView):
    @extend_schema(
        summary="Disable an endpoint: no events go to it (partner owners)",
        request=None,
        responses=WebhookEndpointSerializer,
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        actor = api_person(request)
        endpoint = selectors.endpoint_get(viewer=actor, endpoint_id=endpoint_id)
        endpoint = services.webhook_endpoint_disable(actor=actor, endpoint=endpoint)
        return Response(WebhookEndpointSerializer(endpoint).data)


class WebhookEndpointEnableApi(APIView):
    @extend_schema(
        summary="Enable an endpoint again, its failure count reset (partner owners)",
        request=None,
        responses=WebhookEndpointSerializer,
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        actor = api_person(request)
        endpoint = selectors.endpoint_get(viewer=actor, endpoint_id=endpoint_id)
        endpoint = services.webhook_endpoint_enable(actor=actor, endpoint=endpoint)
        return Response(WebhookEndpointSerializer(endpoint).data)


class DeliveryPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class WebhookDeliveryListApi(APIView):
    @extend_schema(
        summary="The delivery log, newest first",
        parameters=[
            OpenApiParameter("status", str, enum=WebhookDelivery.Status.values),
            OpenApiParameter("endpoint", int),
            OpenApiParameter("type", str, enum=EventType.values),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses=WebhookDeliverySerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        status = parse_status(request.query_params.get("status"), WebhookDelivery.Status.values)
        raw_endpoint = request.query_params.get("endpoint") or None
        if raw_endpoint is not None and not raw_endpoint.isdigit():
            raise ValidationFailed(_("endpoint must be an id."), fields={"endpoint": ["must be a whole number."]})
        event_type = request.query_params.get("type") or None
        if event_type is not None and event_type not in EventType.values:
            raise ValidationFailed(
                _("Unknown event type %(event_type)r.") % {"event_type": event_type},
                fields={"type": [f"must be one of {', '.join(EventType.values)}."]},
            )
        deliveries = selectors.delivery_list(
            viewer=request.user,
            status=status,
            endpoint_id=int(raw_endpoint) if raw_endpoint else None,
            event_type=event_type,
        )
        paginator = DeliveryPagination()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


class WebhookDeliveryReplayApi(APIView):
    @extend_schema(
        summary="Send a delivery's event again, same event id, as a new delivery (partner owners)",
        request=None,
        responses={201: WebhookDeliverySerializer},
    )
    def post(self, request: Request, delivery_id: int) -> Response:
        actor = api_person(request)
        delivery = selectors.delivery_get(viewer=actor, delivery_id=delivery_id)
        replay = services.webhook_delivery_replay(actor=actor, delivery=delivery)
        return Response(WebhookDeliverySerializer(replay).data, status=201)
