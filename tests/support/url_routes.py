"""Every URL pattern of the project, for the tests that walk them all (CSRF, CSP, tenant
isolation): its name, its route with the <converter:parameter> placeholders, and its view."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")
# Admin patterns given as regular expressions with groups (the app index, and the catch-all
# that redirects or 404s any other path under /admin/): no walk can fill them in; the other
# admin URLs go through the same admin site.
SKIPPED_REGEX = {"admin:app_list", "admin:<unnamed (?P<url>.*)$>"}


@dataclass(frozen=True)
class Route:
    name: str
    route: str  # "/portal/placements/<int:placement_id>/", placeholders and all
    callback: Callable[..., Any]

    @property
    def params(self) -> list[tuple[str, str]]:
        """(converter, parameter) of each placeholder, in order; a bare <name> is a str."""
        return [(converter or "str", name) for converter, name in PARAMETER.findall(self.route)]

    def filled(self, value: Callable[[str, str], str]) -> str:
        """The path with each placeholder replaced by value(converter, parameter)."""
        return PARAMETER.sub(lambda m: value(m.group(1) or "str", m.group(2)), self.route)

    def filled_in_order(self, values: Sequence[str]) -> str:
        """The path with the placeholders replaced by `values`, one each, in order."""
        given = iter(values)
        return PARAMETER.sub(lambda _m: next(given), self.route)


def every_route() -> list[Route]:
    found: list[Route] = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, prefix + _text(entry.pattern), ns)
            elif isinstance(entry, URLPattern):
                name = f"{namespace}{entry.name}" if entry.name else f"{namespace}<unnamed {entry.pattern}>"
                if not isinstance(entry.pattern, RoutePattern) and entry.pattern.regex.groups:
                    assert name in SKIPPED_REGEX, f"{name}: a regex pattern no walk can fill in"
                    continue
                found.append(Route(name, "/" + prefix + _text(entry.pattern), entry.callback))

    walk(get_resolver().url_patterns, "", "")
    return found


def _text(pattern) -> str:
    if isinstance(pattern, RoutePattern):
        return str(pattern)
    return pattern.regex.pattern.lstrip("^").rstrip("$").replace("\\", "")
