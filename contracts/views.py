from django.http import HttpRequest, HttpResponse


def portal_home(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


def portal_placement(request: HttpRequest, placement_id: int) -> HttpResponse:
    raise NotImplementedError


def console_home(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


def console_placement(request: HttpRequest, placement_id: int) -> HttpResponse:
    raise NotImplementedError
