"""Keyset ("cursor") pagination for statement lists.

DRF's CursorPagination positions its cursor on the first ordering field alone and skips
ties by an offset; statements share their period by the thousand, so every page would
re-read the whole period before it. Here the cursor carries the full sort key — period
and contract, unique together (statement_contract_period) — and a page is one range
condition on it: constant work per page, and a statement written or approved meanwhile
never makes a row repeat or vanish from the pages that follow.

The order is the list's own (newest period first, then contract), so clients that read
the first page as the whole list before keep seeing the same rows first.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from core.errors import ValidationFailed

FORWARD, BACKWARD = "n", "p"


@dataclass(frozen=True)
class Position:
    period: date
    contract_id: int
    direction: str  # FORWARD: the rows after this key; BACKWARD: the rows before it


def _cursor_invalid(detail: str) -> ValidationFailed:
    return ValidationFailed(
        "The cursor is not valid: use the `next` or `previous` link of an earlier page as it is.",
        fields={"cursor": [detail]},
    )


def cursor_encode(position: Position) -> str:
    raw = json.dumps([position.direction, position.period.isoformat(), position.contract_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> Position:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        direction, period, contract_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if direction not in (FORWARD, BACKWARD) or isinstance(contract_id, bool) or not isinstance(contract_id, int):
            raise ValueError("unexpected cursor content")
        if not 0 <= contract_id < 2**63:
            raise ValueError("contract out of range")
        return Position(period=date.fromisoformat(period), contract_id=contract_id, direction=direction)
    except (binascii.Error, UnicodeError, ValueError, TypeError) as error:
        raise _cursor_invalid("is not a cursor this API issued.") from error


class StatementCursorPagination(BasePagination):
    """Pages of statements ordered by period (newest first), then contract."""

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    page_size = 100
    max_page_size = 500

    def _page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationFailed(
                _("page_size must be a whole number from 1 to %(max_page_size)s; got %(raw)r.")
                % {"max_page_size": self.max_page_size, "raw": raw},
                fields={"page_size": [f"must be between 1 and {self.max_page_size}."]},
            )
        return size

    @staticmethod
    def _after(position: Position) -> Q:
        return Q(period__lt=position.period) | Q(period=position.period, contract_id__gt=position.contract_id)

    @staticmethod
    def _before(position: Position) -> Q:
        return Q(period__gt=position.period) | Q(period=position.period, contract_id__lt=position.contract_id)

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list[Any]:
        self.request = request
        size = self._page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        position = cursor_decode(raw) if raw else None
        forward = queryset.order_by("-period", "contract_id")
        if position is None or position.direction == FORWARD:
            rows = list((forward.filter(self._after(position)) if position else forward)[: size + 1])
            self.has_next = len(rows) > size
            rows = rows[:size]
            self.has_previous = bool(rows) and forward.filter(self._before(self._key(rows[0]))).exists()
        else:
            backward = queryset.order_by("period", "-contract_id").filter(self._before(position))
            rows = list(backward[: size + 1])
            self.has_previous = len(rows) > size
            rows = rows[:size][::-1]
            self.has_next = bool(rows) and forward.filter(self._after(self._key(rows[-1]))).exists()
        if not rows and position is not None:
            # An empty page past either end (its rows since removed): link back to the rows
            # on the other side of the cursor, the cursor's own key included.
            self._edge = position
            if position.direction == FORWARD:
                self.has_previous = forward.filter(self._before(self._edge_key(+1))).exists()
            else:
                self.has_next = forward.filter(self._after(self._edge_key(-1))).exists()
        self.rows = rows
        return rows

    def _edge_key(self, step: int, direction: str = FORWARD) -> Position:
        return Position(self._edge.period, self._edge.contract_id + step, direction)

    @staticmethod
    def _key(statement: Any, direction: str = FORWARD) -> Position:
        return Position(period=statement.period, contract_id=statement.contract_id, direction=direction)

    def _link(self, position: Position) -> str:
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, cursor_encode(position))

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        if self.rows:
            return self._link(self._key(self.rows[-1], FORWARD))
        return self._link(self._edge_key(-1, FORWARD))

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if self.rows:
            return self._link(self._key(self.rows[0], BACKWARD))
        return self._link(self._edge_key(+1, BACKWARD))

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The next page (older periods), or null on the last page.",
                },
                "previous": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The page before this one, or null on the first page.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where the page starts: the `next` or `previous` link's cursor, as given.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Statements per page, 1 to {self.max_page_size} (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
