"""The one DRF exception handler: every API error leaves in the same shape."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import ApplicationError, ErrorCode, ValidationFailed

logger = logging.getLogger(__name__)


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail → {"path.to.field": ["message", ...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            # DRF's ListField reports item errors as {index: errors}: render them as
            # "events[3].amount", the same path notation as ListSerializer and terms_validate.
            named = f"{prefix}.{key}" if prefix else str(key)
            path = f"{prefix}[{key}]" if isinstance(key, int) else named
            out.update(_flatten(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                out.update(_flatten(item, f"{prefix}[{index}]"))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


_DRF_CODES: list[tuple[type[drf.APIException], ErrorCode]] = [
    (drf.ParseError, ErrorCode.MALFORMED_REQUEST),
    (drf.NotAuthenticated, ErrorCode.NOT_AUTHENTICATED),
    (drf.AuthenticationFailed, ErrorCode.NOT_AUTHENTICATED),
    (drf.PermissionDenied, ErrorCode.PERMISSION_DENIED),
    (drf.NotFound, ErrorCode.NOT_FOUND),
    (drf.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
    (drf.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (drf.Throttled, ErrorCode.THROTTLED),
]


# How long a client is asked to wait after the database failed under it.
DATABASE_RETRY_AFTER_SECONDS = 5


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database went away under the request (a dropped connection, a restart, a
        # failover), or gave up on it (a deadlock, a serialization failure). The request's
        # transaction did not commit, so nothing of it is stored: the same request again is
        # safe and will most likely succeed.
        logger.warning(
            "database unavailable during %s", context.get("request") and context["request"].path, exc_info=True
        )
        set_rollback()
        body = {
            "error": {
                "code": str(ErrorCode.SERVICE_UNAVAILABLE),
                "message": "The database is unavailable for a moment; nothing of this request was "
                "stored. Send it again.",
                "fields": {},
            }
        }
        return Response(body, status=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})
    if isinstance(exc, Http404):
        exc = drf.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = drf.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if not isinstance(exc, drf.APIException):
        return None  # a real bug: let Django log it and answer 500

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]

    if isinstance(exc, drf.ValidationError):
        fields = _flatten(exc.detail) or {"non_field_errors": ["The input is not valid."]}
        first = next(iter(fields.items()))
        message = f"{first[0]}: {first[1][0]}" if first[0] != "non_field_errors" else first[1][0]
        body = {"error": {"code": str(ErrorCode.INVALID), "message": message, "fields": fields}}
    else:
        code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), ErrorCode.INVALID)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if isinstance(exc, drf.ParseError):
            detail = f"The request body is not valid JSON: {detail}"
        body = {"error": {"code": str(code), "message": str(detail), "fields": {}}}
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


# --- Django's own error pages, for requests under /api/ ----------------------------------------
# A URL no API route matches (say /api/v1/placements/abc, whose id is not a number), a
# request Django itself refuses, and an unhandled error never reach a DRF view, so Django
# answers them with its error handlers (config.urls). Under /api/ they answer in the same
# error shape as everything else; elsewhere the site's own HTML pages.

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def json_error(code: ErrorCode, message: str, status: int, fields: dict[str, list[str]] | None = None) -> JsonResponse:
    """The error shape for answers made outside DRF (Django's handlers, middleware)."""
    return JsonResponse({"error": {"code": str(code), "message": message, "fields": fields or {}}}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return json_error(ErrorCode.INVALID, "Bad request.", 400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return json_error(ErrorCode.PERMISSION_DENIED, "You do not have permission to perform this action.", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return json_error(ErrorCode.NOT_FOUND, f"No API endpoint at {request.path}.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return json_error(ErrorCode.SERVER_ERROR, "Something went wrong on our side; it has been logged.", 500)
    return defaults.server_error(request)


def parse_status(raw: str | None, allowed: list[str]) -> str | None:
    """A status filter: one of `allowed`, or none. A mistyped one must not look like "there are none"."""
    if not raw:
        return None
    if raw not in allowed:
        raise ValidationFailed(
            _("Unknown status %(raw)r.") % {"raw": raw},
            fields={"status": [f"must be one of {', '.join(allowed)}; got {raw!r}."]},
        )
    return raw


def validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    """`data` checked by `serializer_class`; a refusal raises DRF's ValidationError, which the
    exception handler renders in the error shape."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
