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

from contracts.models import Partner, Placement


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
