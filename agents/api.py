"""The embeddable widget's API (shoppers on the partner's own site) and the partner's chat
API (its members, signed in).

Widget calls carry the placement's publishable key; they are accepted only from the
placement's allowed origins (the browser's `Origin` header), answered with the matching
CORS headers, and rate-limited per key and client address. A visitor continues a
conversation with the secret token it got when the conversation started."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from agents import selectors, services
from agents.models import Conversation, Widget
from contracts.models import Placement
from contracts.selectors import placement_get
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.throttling import SharedRateThrottle

MAX_WIDGET_BODY = 16 * 1024


class WidgetRateThrottle(SharedRateThrottle):
    """Per publishable key and client address: messages (each one a turn, which costs) at
    `AGENT_WIDGET_RATE` (default 30/min); reads — the widget polling for a reply — at
    `AGENT_WIDGET_READ_RATE` (default 240/min)."""

    scope = "widget"

    def allow_request(self, request, view) -> bool:
        self.scope = "widget" if request.method == "POST" else "widget_read"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope) or None

    def get_cache_key(self, request, view) -> str:
        # The key is whatever the caller sent: name it by its digest, so the cache key stays
        # short and printable (memcached refuses control characters and spaces).
        key = hashlib.sha256(_key_of(request).encode("utf-8", "replace")).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": f"{key}:{self.get_ident(request)}"}


def _key_of(request: Request) -> str:
    key = request.query_params.get("key")
    if key is None and request.method == "POST" and isinstance(request.data, dict):
        key = request.data.get("key")
    # A NUL cannot be in any key, and PostgreSQL refuses to even compare with it: no key.
    return key if isinstance(key, str) and "\x00" not in key else ""


def _origin(request: Request) -> str:
    origin = request.headers.get("Origin") or ""
    if not origin:
        # Browsers leave Origin off a same-origin GET (the widget on Haken's own Widget page
        # asking for its config or polling): the Referer's origin says the same there.
        referer = urlsplit(request.headers.get("Referer") or "")
        if referer.scheme in ("http", "https") and referer.netloc:
            origin = f"{referer.scheme}://{referer.netloc}"
    return origin.rstrip("/").lower()


class WidgetApiView(APIView):
    authentication_classes: list = []  # anonymous visitors; no session, so no CSRF
    permission_classes = [AllowAny]
    throttle_classes = [WidgetRateThrottle]

    def _widget(self, request: Request) -> Widget:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_WIDGET_BODY:
            raise ValidationFailed(_("The request is too large."), fields={"message": ["Too large."]})
        widget = selectors.widget_by_key(key=_key_of(request))
        origin = _origin(request)
        if not origin or origin not in widget.allowed_origins:
            raise PermissionDenied(
                (
                    _("This widget is not enabled on %(origin)s.") % {"origin": origin}
                    if origin
                    else _("This widget is not enabled on a page without an Origin.")
                ),
                fields={"origin": ["Add this site to the widget's allowed origins."]},
            )
        request.widget_allowed_origin = origin  # type: ignore[attr-defined]
        return widget

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = _origin(request)
        allowed = getattr(request, "widget_allowed_origin", None)
        if allowed is None and origin:
            widget = Widget.objects.filter(publishable_key=_key_of(request)).only("allowed_origins").first()
            allowed = origin if widget is not None and origin in widget.allowed_origins else None
        if allowed:
            response["Access-Control-Allow-Origin"] = allowed
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Content-Type"
            response["Access-Control-Max-Age"] = "600"
        response["Vary"] = "Origin"
        return response

    def options(self, request, *args, **kwargs):
        # The preflight names no key in its body; let the browser ask, the real call is checked.
        origin = _origin(request)
        response = Response(status=204)
        if origin and Widget.objects.filter(allowed_origins__contains=[origin]).exists():
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Content-Type"
            response["Access-Control-Max-Age"] = "600"
        return response


class _CouponOut(serializers.Serializer):
    code = serializers.CharField()
    offer = serializers.CharField()
    percent_off = serializers.IntegerField()


class ChatMessageSerializer(serializers.Serializer):
    """A message as the widget and the chat API show it (documentation only)."""

    id = serializers.IntegerField()
    role = serializers.ChoiceField(["user", "assistant", "staff"])
    content = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    coupon = _CouponOut(required=False, allow_null=True)
    products = serializers.ListField(child=serializers.DictField(), required=False)
    citations = serializers.ListField(child=serializers.DictField(), required=False)


def _message(**kwargs: Any) -> ChatMessageSerializer:
    return ChatMessageSerializer(**kwargs)


_START_IN = inline_serializer(
    "WidgetStart",
    {"key": serializers.CharField(help_text="The publishable key."), "message": serializers.CharField(max_length=2000)},
)
_START_OUT = inline_serializer(
    "WidgetStarted",
    {
        "conversation": serializers.CharField(),
        "token": serializers.CharField(help_text="Keep it to continue."),
        "employee": serializers.DictField(),
        "message": _message(),
    },
)
_POST_IN = inline_serializer(
    "WidgetMessage",
    {
        "key": serializers.CharField(),
        "token": serializers.CharField(),
        "message": serializers.CharField(max_length=2000),
    },
)
_POSTED = inline_serializer("MessagePosted", {"message": _message()})
_READ = inline_serializer(
    "WidgetTranscript",
    {
        "messages": _message(many=True),
        "pending": serializers.BooleanField(help_text="The employee is replying."),
        "waiting_for_human": serializers.BooleanField(help_text="The conversation was escalated to a person."),
    },
)
_READ_PARAMS = [
    OpenApiParameter("key", str, required=True),
    OpenApiParameter("token", str, required=True),
    OpenApiParameter("after", int, description="Only messages after this id."),
]
_MEMBER_IN = inline_serializer("FirstMessage", {"message": serializers.CharField(max_length=2000)})


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationFailed(_("The body must be a JSON object."), fields={"message": ["Required."]})
    return request.data


def _visitor_conversation(widget: Widget, public_id: str, token: Any) -> Conversation:
    conversation = selectors.widget_conversation(widget=widget, public_id=public_id)
    if not services.conversation_token_matches(conversation, token):
        raise NotFound(_("No such conversation."))
    return conversation


@extend_schema(
    tags=["widget"],
    summary="Start a widget conversation with its first message",
    auth=[],
    request=_START_IN,
    responses={201: _START_OUT},
)
class WidgetConversationStartApi(WidgetApiView):
    def post(self, request: Request) -> Response:
        widget = self._widget(request)
        started = services.conversation_start(
            placement=widget.placement, channel=Conversation.Channel.WIDGET, text=_body(request).get("message")
        )
        return Response(
            {
                "conversation": started.conversation.public_id,
                "token": started.visitor_token,
                "employee": {"name": widget.placement.employee.name, "title": widget.placement.employee.title},
                "message": selectors.message_public(started.message),
            },
            status=201,
        )


_CONFIG_OUT = inline_serializer(
    "WidgetConfig",
    {
        "enabled": serializers.BooleanField(help_text="Whether the launcher should show at all."),
        "reason": serializers.CharField(help_text='Why not: "placement_inactive"; empty when enabled.'),
        "employee": serializers.DictField(help_text="name and title, for the greeting and the header."),
        "partner": serializers.CharField(),
    },
)


@extend_schema(
    tags=["widget"],
    summary="Whether the widget may show on this page, and whose it is",
    auth=[],
    parameters=[OpenApiParameter("key", str, required=True)],
    responses={200: _CONFIG_OUT},
)
class WidgetConfigApi(WidgetApiView):
    """What the widget asks before it draws its launcher: an unknown key is 404, a page whose
    origin is not allowed 403 (and no CORS header, so the page cannot read even that), and a
    placement that is not active `enabled: false`. Nothing is stored; shoppers see nothing
    of any of it."""

    def get(self, request: Request) -> Response:  # a read: AGENT_WIDGET_READ_RATE
        widget = self._widget(request)
        placement = widget.placement
        active = placement.status == Placement.Status.ACTIVE
        return Response(
            {
                "enabled": active,
                "reason": "" if active else "placement_inactive",
                "employee": {"name": placement.employee.name, "title": placement.employee.title} if active else {},
                "partner": placement.partner.name if active else "",
            }
        )


class WidgetMessagesApi(WidgetApiView):
    @extend_schema(
        tags=["widget"],
        summary="Post a message in a widget conversation",
        auth=[],
        request=_POST_IN,
        responses={201: _POSTED},
    )
    def post(self, request: Request, public_id: str) -> Response:
        widget = self._widget(request)
        body = _body(request)
        conversation = _visitor_conversation(widget, public_id, body.get("token"))
        message = services.message_post(conversation=conversation, text=body.get("message"))
        return Response({"message": selectors.message_public(message)}, status=201)

    @extend_schema(
        tags=["widget"],
        summary="Read a widget conversation since a message id",
        auth=[],
        parameters=_READ_PARAMS,
        responses={200: _READ},
    )
    def get(self, request: Request, public_id: str) -> Response:
        widget = self._widget(request)
        conversation = _visitor_conversation(widget, public_id, request.query_params.get("token"))
        try:
            after = max(0, int(request.query_params.get("after", "0")))
        except ValueError:
            raise ValidationFailed(_("after must be a message id."), fields={"after": ["An integer."]}) from None
        messages = selectors.transcript(conversation=conversation, after=after)
        pending = conversation.messages.filter(role="user", status="pending").exists()
        waiting = conversation.messages.filter(role="user", status="waiting").exists()
        return Response(
            {
                "messages": [selectors.message_public(m) for m in messages],
                "pending": pending,
                "waiting_for_human": waiting,
            }
        )


# --- the partner's own chat API (signed-in members) ------------------------------------------


@extend_schema(
    tags=["agents"],
    summary="A conversation's transcript",
    responses={
        200: inline_serializer(
            "Transcript",
            {
                "id": serializers.IntegerField(),
                "conversation": serializers.CharField(),
                "placement": serializers.IntegerField(),
                "skill": serializers.CharField(),
                "channel": serializers.CharField(),
                "status": serializers.CharField(),
                "messages": _message(many=True),
            },
        )
    },
)
class ConversationDetailApi(APIView):
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(viewer=request.user, conversation_id=conversation_id)
        return Response(
            {
                "id": conversation.pk,
                "conversation": conversation.public_id,
                "placement": conversation.placement_id,
                "skill": conversation.skill,
                "channel": conversation.channel,
                "status": conversation.status,
                "messages": [selectors.message_public(m) for m in selectors.transcript(conversation=conversation)],
            }
        )


@extend_schema(
    tags=["agents"],
    summary="Start a conversation with a placement's employee",
    request=_MEMBER_IN,
    responses={
        201: inline_serializer(
            "ConversationStarted",
            {"id": serializers.IntegerField(), "conversation": serializers.CharField(), "message": _message()},
        )
    },
)
class PlacementConversationsApi(APIView):
    def post(self, request: Request, placement_id: int) -> Response:
        placement = placement_get(viewer=request.user, placement_id=placement_id)
        started = services.conversation_start(
            placement=placement,
            channel=Conversation.Channel.PORTAL,
            text=_body(request).get("message"),
            actor=request.user,
        )
        return Response(
            {
                "id": started.conversation.pk,
                "conversation": started.conversation.public_id,
                "message": selectors.message_public(started.message),
            },
            status=201,
        )
