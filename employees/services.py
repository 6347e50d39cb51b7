from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import InvalidTransition, ValidationFailed
from core.models import User
from core.services import audit_record
from employees.models import DigitalEmployee, Industry
from employees.skills import skill_get


def employee_validate(*, skills: list[str], industries: list[str], languages: list[str]) -> None:
    fields: dict[str, list[str]] = {}
    unknown_skills = [key for key in skills if skill_get(key) is None]
    if not skills:
        fields["skills"] = ["An employee needs at least one skill."]
    elif unknown_skills:
        fields["skills"] = [f"Unknown skill(s): {', '.join(unknown_skills)}."]
    unknown_industries = [key for key in industries if key not in Industry.values]
    if unknown_industries:
        fields["industries"] = [f"Unknown industry(ies): {', '.join(unknown_industries)}."]
    if not languages:
        fields["languages"] = ["An employee needs at least one language."]
    if fields:
        raise ValidationFailed(_("The employee's profile is not valid."), fields=fields)


@transaction.atomic
def employee_create(
    *,
    actor: User | None,
    slug: str,
    name: str,
    title: str,
    persona: str,
    resume: str,
    skills: list[str],
    languages: list[str],
    industries: list[str],
    built_by: str,
    avatar_color: str = "#4f46e5",
) -> DigitalEmployee:
    employee_validate(skills=skills, industries=industries, languages=languages)
    if DigitalEmployee.objects.filter(slug=slug).exists():
        raise ValidationFailed(_("An employee with slug %(slug)r exists.") % {"slug": slug}, fields={"slug": ["taken"]})
    employee = DigitalEmployee.objects.create(
        slug=slug,
        name=name,
        title=title,
        persona=persona,
        resume=resume,
        skills=skills,
        languages=languages,
        industries=industries,
        built_by=built_by,
        avatar_color=avatar_color,
    )
    audit_record(
        actor=actor, action="employee.created", target=employee, summary=f"Created {employee.name} ({employee.title})"
    )
    return employee


@transaction.atomic
def employee_publish(*, actor: User | None, employee: DigitalEmployee) -> DigitalEmployee:
    employee = DigitalEmployee.objects.select_for_update().get(pk=employee.pk)
    if employee.status != DigitalEmployee.Status.DRAFT:
        raise InvalidTransition(
            _("Only a draft can be published; %(name)s is %(status)s.")
            % {"name": employee.name, "status": employee.status}
        )
    employee.status = DigitalEmployee.Status.PUBLISHED
    employee.published_at = timezone.now()
    employee.save(update_fields=["status", "published_at", "updated_at"])
    audit_record(
        actor=actor,
        action="employee.published",
        target=employee,
        summary=f"Published {employee.name}",
        changes={"status": ["draft", "published"]},
    )
    return employee


@transaction.atomic
def employee_retire(*, actor: User | None, employee: DigitalEmployee) -> DigitalEmployee:
    employee = DigitalEmployee.objects.select_for_update().get(pk=employee.pk)
    if employee.status == DigitalEmployee.Status.RETIRED:
        raise InvalidTransition(_("%(name)s is already retired.") % {"name": employee.name})
    before = employee.status
    employee.status = DigitalEmployee.Status.RETIRED
    employee.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action="employee.retired",
        target=employee,
        summary=f"Retired {employee.name}",
        changes={"status": [before, "retired"]},
    )
    return employee
