"""The catalog's filter form."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet

from core.models import User
from employees.models import DigitalEmployee, Industry
from employees.selectors import employee_list
from employees.skills import skill_choices


class EmployeeFilter(django_filters.FilterSet):
    # Choices are read when the form is built: the registry is filled at start-up by
    # agents, after this module may already have been imported.
    skill = django_filters.ChoiceFilter(label="Skill", choices=skill_choices, empty_label="Any skill")
    industry = django_filters.ChoiceFilter(label="Industry", choices=Industry.choices, empty_label="Any industry")

    class Meta:
        model = DigitalEmployee
        fields: list[str] = []

    def __init__(self, data: Any = None, *, viewer: User, **kwargs: Any) -> None:
        self.viewer = viewer
        super().__init__(data, queryset=employee_list(viewer=viewer), **kwargs)

    def filter_queryset(self, queryset: QuerySet[DigitalEmployee]) -> QuerySet[DigitalEmployee]:
        # The selector owns who sees which employees and how skills and industries match;
        # this FilterSet only validates the choices and draws the form.
        cleaned = self.form.cleaned_data
        return employee_list(
            viewer=self.viewer,
            skill=cleaned.get("skill") or None,
            industry=cleaned.get("industry") or None,
        )
