"""The project's URLs plus one view that crashes, for the error-page tests (tests/core/test_web_look.py)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


urlpatterns = [
    path("crash/", crash),
    path("api/v1/crash", crash),
    path("", include("config.urls")),
]
