"""The catalog and the résumé pages.

Hiring is a contracts use-case, so the résumé's "Hire" form posts to a contracts view
(contracts → employees, never the other way round); that view re-renders the résumé
through `resume_context` when the hire is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import get_language_info

from core.models import User
from employees.filters import EmployeeFilter
from employees.hiring import HiringStatus, open_placements
from employees.models import DigitalEmployee, Industry
from employees.selectors import employee_list, employee_track_record
from employees.skills import SkillSpec, skill_get

DEFAULT_AVATAR_COLOR = "#4f46e5"
# The colour lands in an SVG fill attribute (employees/_avatar.html): accept nothing but a hex colour.
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class EmployeeCard:
    """What a template needs to show one employee, with registry labels resolved."""

    employee: DigitalEmployee
    skills: list[SkillSpec]
    industries: list[str]
    languages: list[str]
    avatar_color: str
    # The viewer's organisation's open placement of this employee, if it has one.
    hiring: HiringStatus | None = None


def _language_name(code: str) -> str:
    try:
        return str(get_language_info(code)["name"])
    except KeyError:
        return code


def _skill(key: str) -> SkillSpec:
    # A skill missing from the registry (an agent module not loaded) still shows its key.
    return skill_get(key) or SkillSpec(key=key, label=key, summary="")


def employee_card(employee: DigitalEmployee, *, hiring: HiringStatus | None = None) -> EmployeeCard:
    industry_labels = dict(Industry.choices)
    color = employee.avatar_color if _HEX_COLOR.fullmatch(employee.avatar_color or "") else None
    return EmployeeCard(
        employee=employee,
        skills=[_skill(key) for key in employee.skills],
        industries=[str(industry_labels.get(key, key)) for key in employee.industries],
        languages=[_language_name(code) for code in employee.languages],
        avatar_color=color or DEFAULT_AVATAR_COLOR,
        hiring=hiring,
    )


@login_required
def catalog(request: HttpRequest) -> HttpResponse:
    # Unbound when there is no query string, so the first visit shows the whole catalog.
    filterset = EmployeeFilter(request.GET or None, viewer=request.user)
    employees = list(filterset.qs)
    hired = open_placements(viewer=request.user, employee_ids=[employee.pk for employee in employees])
    cards = [employee_card(employee, hiring=hired.get(employee.pk)) for employee in employees]
    invalid = filterset.is_bound and not filterset.is_valid()
    # htmx filter changes get only the results (a history restore needs the whole page).
    # Invalid filters: 400 for the page, 422 for the fragment, the status base.html tells
    # htmx to swap in.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "employees/_catalog_results.html" if partial else "employees/catalog.html"
    status = (422 if partial else 400) if invalid else 200
    return render(request, template, {"filter": filterset, "cards": cards}, status=status)


def resume_context(*, viewer: User, employee: DigitalEmployee, note: str = "") -> dict[str, Any]:
    hiring = open_placements(viewer=viewer, employee_ids=[employee.pk]).get(employee.pk)
    return {
        "card": employee_card(employee, hiring=hiring),
        "employee": employee,
        "track": employee_track_record(employee=employee),
        # Already requested or working here: the page shows that placement instead of a
        # "Hire" that the database would refuse (one open placement per partner and employee).
        "can_hire": viewer.is_partner_member and employee.is_hireable and hiring is None,
        "hiring": hiring,
        "note": note,
    }


@login_required
def resume(request: HttpRequest, slug: str) -> HttpResponse:
    employee = get_object_or_404(employee_list(viewer=request.user), slug=slug)
    return render(request, "employees/resume.html", resume_context(viewer=request.user, employee=employee))
