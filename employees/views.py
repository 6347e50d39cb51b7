from django.http import HttpRequest, HttpResponse


def catalog(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


def resume(request: HttpRequest, slug: str) -> HttpResponse:
    raise NotImplementedError
