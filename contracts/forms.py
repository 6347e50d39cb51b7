"""Input forms of the partner portal and the manager console.

They check only the shape of what was typed (a date is a date, JSON is JSON); whether
the input is allowed — a reason is required, terms make sense, the person may act — is
for contracts.services to say, so the web UI and the API give the same answers.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django import forms

from contracts.models import Partner, PartnerMembership, Placement
from core.currencies import CURRENCY_CHOICES
from core.models import User
from employees.models import Industry


def parse_json_field(raw: str) -> Any:
    """JSON typed into a textarea, or a form error saying where it breaks."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise forms.ValidationError(
            "This is not valid JSON: %(problem)s at line %(line)s, column %(column)s.",
            code="invalid_json",
            params={"problem": error.msg, "line": error.lineno, "column": error.colno},
        ) from error

class NoteForm(forms.Form):
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
        label="Note for the account manager (optional)",
    )


class ReasonForm(forms.Form):
    # Not required here: services decide which actions need a reason and say so.
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=80, label="Key name",
                           help_text="Something that tells keys apart, e.g. “POS export”.")


class TermsForm(forms.Form):
    """The terms textarea alone: what the htmx "Check terms" button posts."""

    terms = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false"}),
                            label="Terms (JSON)")

    def clean_terms(self) -> Any:
        return parse_json_field(self.cleaned_data["terms"])


class ContractVersionForm(TermsForm):
    effective_from = forms.DateField(
        label="Takes effect from", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The first day of a month: contract terms change at period starts.",
    )
    field_order = ["effective_from", "terms"]

    @classmethod
    def initial_for(cls, *, effective_from: date, terms: dict[str, Any]) -> ContractVersionForm:
        return cls(initial={"effective_from": effective_from, "terms": json.dumps(terms, indent=2)})


class PlacementStatusFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Placement.Status.choices], label="Status"
    )


class PartnerFilterForm(forms.Form):
    partner = forms.ModelChoiceField(
        required=False, queryset=Partner.objects.none(), to_field_name="slug",
        empty_label="All partners", label="Partner",
    )

    def __init__(self, *args: Any, partners: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the partners the viewer may see are choices: a slug outside that set is
        # refused like any unknown one.
        self.fields["partner"].queryset = partners


# --- partner organisations, invitations ----------------------------------------------------


def service_errors_onto(form: forms.Form, fields: dict[str, list[str]]) -> None:
    """A service's per-field refusal shown beside the fields of the form that sent them
    (a field the form does not have goes on top)."""
    for name, errors in fields.items():
        for error in errors:
            form.add_error(name if name in form.fields else None, error)


class PartnerCreateForm(forms.Form):
    name = forms.CharField(max_length=120, label="Organisation name")
    slug = forms.SlugField(max_length=64, label="Short name",
                           help_text="Lower-case letters, digits and hyphens, e.g. “corner-shop”. It cannot change.")
    industry = forms.ChoiceField(choices=Industry.choices)
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, help_text="Sales are reported and invoiced in it.")
    timezone = forms.CharField(max_length=64, initial="UTC", label="Time zone",
                               help_text="An IANA zone such as Asia/Tokyo: each month is cut at its midnight.")
    account_manager = forms.ModelChoiceField(queryset=User.objects.none(), required=False,
                                             to_field_name="username", empty_label="Nobody yet")
    owner_email = forms.EmailField(label="Owner's e-mail", help_text="They get a link to set up their account.")
    owner_name = forms.CharField(max_length=150, required=False, label="Owner's name")

    def __init__(self, *args: Any, managers: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if managers is None:
            # An account manager manages what they create: no choice to make.
            del self.fields["account_manager"]
        else:
            self.fields["account_manager"].queryset = managers


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    name = forms.CharField(max_length=150, required=False, label="Name (optional)")
    role = forms.ChoiceField(choices=PartnerMembership.Role.choices, initial=PartnerMembership.Role.MEMBER)


class InvitationAcceptForm(forms.Form):
    username = forms.CharField(max_length=150, label="User name",
                               help_text="Letters, digits and @ . + - _ only; you sign in with it.")
    password = forms.CharField(widget=forms.PasswordInput, strip=False, label="Password", max_length=512)
    password_again = forms.CharField(widget=forms.PasswordInput, strip=False, label="Password again", max_length=512)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("password") and cleaned.get("password_again") and \
                cleaned["password"] != cleaned["password_again"]:
            self.add_error("password_again", "The two passwords differ.")
        return cleaned
