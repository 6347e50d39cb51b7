"""Where the catalog learns whether the viewer's organisation already has an employee.

Placements belong to `contracts`, which depends on `employees` and never the other way
round; so `contracts` registers a lookup here when it loads (ContractsConfig.ready) and the
catalog and résumé ask through it. Without one registered (employees on its own), nobody
has hired anyone yet."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HiringStatus:
    """The viewer's organisation's open placement of one employee (any status but ended)."""

    status: str  # requested, approved, active, paused
    label: str  # "Requested", "Active", …
    url: str  # the placement's page in the portal


OpenPlacementLookup = Callable[[Any, Iterable[int]], dict[int, HiringStatus]]
_lookup: OpenPlacementLookup | None = None


def register_open_placement_lookup(lookup: OpenPlacementLookup) -> None:
    global _lookup
    _lookup = lookup


def open_placements(*, viewer: Any, employee_ids: Iterable[int]) -> dict[int, HiringStatus]:
    """employee id → the viewer's organisation's open placement of it; one query for all."""
    ids = list(employee_ids)
    if _lookup is None or not ids:
        return {}
    return _lookup(viewer, ids)
