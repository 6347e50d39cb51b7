"""Request guards that belong before any view runs, the Content-Security-Policy header
on every response (settings.CONTENT_SECURITY_POLICY), and the site's own error pages also
with DEBUG on."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, get_resolver
from django.utils import translation

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
                return json_error(
                    ErrorCode.MALFORMED_REQUEST,
                    "The URL contains a character that cannot be stored (NUL or a lone surrogate).",
                    400,
                    fields={"path": ["Remove the NUL or unpaired surrogate character."]},
                )
            for name, values in request.GET.lists():
                if _UNSTORABLE.search(name) or any(_UNSTORABLE.search(value) for value in values):
                    return json_error(
                        ErrorCode.MALFORMED_REQUEST,
                        f"The query parameter {name!r} contains a character that cannot be stored "
                        "(NUL or a lone surrogate).",
                        400,
                        fields={name: ["Remove the NUL or unpaired surrogate character."]},
                    )
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


logger = logging.getLogger("django.request")


class StyledErrorPagesMiddleware:
    """With DEBUG on, Django answers a missing page or a crash with its technical pages, so a
    person trying the product in `dev.py run` sees a stack of internals instead of the page
    they would see in production. This answers them with the project's own handlers (styled
    404/500, the API's error shape under /api/) in every mode; the traceback of a crash still
    goes to the log. Without DEBUG Django calls the same handlers itself, so this stands aside."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.DEBUG:
            try:
                # An unknown URL never reaches a view (nor process_exception): look it up here.
                get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info)
            except Resolver404 as exception:
                return self._handler(404)(request, exception)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not settings.DEBUG:
            return None
        if isinstance(exception, Http404):
            return self._handler(404)(request, exception)
        if isinstance(exception, PermissionDenied):
            return None  # Django renders handler403 in every mode already
        logger.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=exception,
            extra={"status_code": 500, "request": request},
        )
        return self._handler(500)(request)

    @staticmethod
    def _handler(status: int) -> Callable[..., HttpResponse]:
        return get_resolver().resolve_error_handler(status)


class UserLanguageMiddleware:
    """A signed-in person's stored language (User.language) over the browser's: LocaleMiddleware
    has already activated the cookie's or Accept-Language's choice, before the user was known.
    Anonymous pages (sign-in, invitations, errors) keep the browser's. The API stays with the
    browser's header too: a client's Accept-Language is the contract there, not a web setting."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        chosen = getattr(user, "language", "") if getattr(user, "is_authenticated", False) else ""
        if chosen and chosen in dict(settings.LANGUAGES) and not request.path.startswith(API_PREFIX):
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        return self.get_response(request)
