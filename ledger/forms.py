"""Input forms of the ledger's pages: only the shape (dates); the selector says what is allowed."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class AccountStatementForm(forms.Form):
    start = forms.DateField(label=_("From"), input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"}))
