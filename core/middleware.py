"""Request guards that belong before any view runs, and the Content-Security-Policy header
on every response (settings.CONTENT_SECURITY_POLICY)."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.api import API_PREFIX, json_error
from core.errors import ErrorCode

# PostgreSQL text cannot hold a NUL character (psycopg refuses the query outright), and a lone
# surrogate cannot be encoded to UTF-8: neither can name anything stored, so a request whose URL
# carries one is malformed before any view looks it up.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class ApiUrlGuardMiddleware:
    """Under /api/, a path or query parameter with a character no stored value can contain is
    `400 malformed_request` in the error shape, instead of a database error (500) in whichever
    view filters by it (`?status=`, `?skill=`, `/sales/<external_id>/…`, widget ids and tokens)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            if _UNSTORABLE.search(request.path):
                return json_error(ErrorCode.MALFORMED_REQUEST,
                                  "The URL contains a character that cannot be stored (NUL or a lone surrogate).",
                                  400, fields={"path": ["Remove the NUL or unpaired surrogate character."]})
            for name, values in request.GET.lists():
                if _UNSTORABLE.search(name) or any(_UNSTORABLE.search(value) for value in values):
                    return json_error(
                        ErrorCode.MALFORMED_REQUEST,
                        f"The query parameter {name!r} contains a character that cannot be stored "
                        "(NUL or a lone surrogate).",
                        400, fields={name: ["Remove the NUL or unpaired surrogate character."]})
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response.headers:
            response.headers["Content-Security-Policy"] = policy
        return response
