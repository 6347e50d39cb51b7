from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from core.models import User
from employees.models import DigitalEmployee


def employee_list(*, viewer: User | None, skill: str | None = None,
                  industry: str | None = None) -> QuerySet[DigitalEmployee]:
    """The catalog as `viewer` may see it: partners see published employees only; the
    platform's own staff also see drafts and retired ones."""
    employees = DigitalEmployee.objects.all()
    if viewer is None or viewer.is_partner_member:
        employees = employees.filter(status=DigitalEmployee.Status.PUBLISHED)
    if skill:
        employees = employees.filter(skills__contains=[skill])
    if industry:
        employees = employees.filter(industries__contains=[industry])
    return employees.order_by("name")


@dataclass(frozen=True)
class TrackRecord:
    placements_total: int
    placements_active: int
    partners_served: int
    # None until the revenue engine measures them: shown as "not yet available", never 0.
    attributed_revenue: int | None = None
    annualised_wage: int | None = None


def employee_track_record(*, employee: DigitalEmployee) -> TrackRecord:
    # Read through the reverse relation so employees need not import contracts.
    figures = employee.placements.exclude(status="requested").aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status="active")),
        partners=Count("partner", distinct=True),
    )
    return TrackRecord(
        placements_total=figures["total"],
        placements_active=figures["active"],
        partners_served=figures["partners"],
    )
