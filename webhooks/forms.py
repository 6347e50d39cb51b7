"""Input forms of the portal's webhooks page: the shape of what was typed only; whether it
is allowed is for webhooks.services to say, so the page and the API answer alike."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from webhooks.models import EventType, WebhookDelivery


class EndpointCreateForm(forms.Form):
    url = forms.CharField(
        max_length=500, label=_("URL"), help_text=_("Where to POST events, e.g. https://example.com/haken")
    )
    description = forms.CharField(max_length=200, required=False, label=_("Description"))
    event_types = forms.MultipleChoiceField(
        label=_("Events"), widget=forms.CheckboxSelectMultiple, choices=EventType.choices
    )


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", _("Any status")), *WebhookDelivery.Status.choices])
