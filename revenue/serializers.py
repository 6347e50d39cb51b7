"""Serializers that DESCRIBE the ingestion endpoints in the OpenAPI schema (DESIGN.md §5b).

They are not used to validate batches: a 1,000-event batch is validated in plain Python by
revenue.services.ingestion, which is many times faster and reports a result per event.
"""

from __future__ import annotations

from rest_framework import serializers

from revenue.models import Outcome, Sale, Touchpoint
from revenue.sale_rules import MAX_AMOUNT, MAX_KEY_LENGTH, RejectionCode

MAX_BATCH = 1000


def _key(help_text: str, *, required: bool = False) -> serializers.CharField:
    if required:
        return serializers.CharField(max_length=MAX_KEY_LENGTH, help_text=help_text)
    return serializers.CharField(max_length=MAX_KEY_LENGTH, required=False, allow_null=True, help_text=help_text)


class SaleEventSerializer(serializers.Serializer):
    external_id = _key("Your id for this event: the idempotency key, unique per partner.", required=True)
    type = serializers.ChoiceField(
        choices=Sale.Type.choices, help_text="sale, or refund (which names its sale in refund_of)."
    )
    occurred_at = serializers.DateTimeField(
        help_text="ISO 8601 with a UTC offset; it decides the period (in your time zone)."
    )
    amount = serializers.IntegerField(
        min_value=1,
        max_value=MAX_AMOUNT,
        help_text="A positive integer in the currency's minor unit (1280 JPY is ¥1,280; 1280 USD is $12.80).",
    )
    currency = serializers.CharField(
        min_length=3, max_length=3, help_text="ISO 4217; must be your organisation's currency."
    )
    coupon_code = _key("The coupon redeemed, if any.")
    click_id = _key("The tracked link's click id, if any.")
    conversation_id = _key("The conversation that led to the sale, if any.")
    customer_ref = _key("A hashed customer reference, if any (never personal data in clear).")
    store_id = _key("The store or channel, if any.")
    refund_of = _key(
        "Refunds only: the external_id of the sale refunded (sent earlier, or earlier in "
        "this batch). Partial refunds are allowed; together they never exceed the sale."
    )


class SalesBatchSerializer(serializers.Serializer):
    events = SaleEventSerializer(many=True, max_length=MAX_BATCH)


class TouchpointInputSerializer(serializers.Serializer):
    placement = serializers.IntegerField(help_text="The id of one of your placements.")
    kind = serializers.ChoiceField(choices=Touchpoint.Kind.choices)
    key = _key("The coupon code, click id or conversation id; unique per kind.", required=True)
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with a UTC offset.")


class TouchpointBatchSerializer(serializers.Serializer):
    touchpoints = TouchpointInputSerializer(many=True, max_length=MAX_BATCH)


class OutcomeInputSerializer(serializers.Serializer):
    placement = serializers.IntegerField(help_text="The id of one of your placements.")
    kind = serializers.ChoiceField(choices=Outcome.Kind.choices)
    external_id = _key("Your id for this outcome; unique per placement and kind.", required=True)
    occurred_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601 with a UTC offset; required unless withdrawn is true."
    )
    withdrawn = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true withdraws an outcome sent earlier: it stops counting.",
    )


class OutcomeBatchSerializer(serializers.Serializer):
    outcomes = OutcomeInputSerializer(many=True, max_length=MAX_BATCH)


class RejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The position of the item in the batch, from 0.")
    external_id = serializers.CharField(
        allow_null=True, help_text="The item's external_id (the key, for touchpoints), as sent."
    )
    code = serializers.ChoiceField(choices=[code.value for code in RejectionCode])
    message = serializers.CharField()


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Items stored by this request.")
    duplicates = serializers.IntegerField(help_text="Items already stored with the same content.")
    rejected = RejectionSerializer(many=True, help_text="Items not stored, in batch order.")


class IngestErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class IngestErrorSerializer(serializers.Serializer):
    error = IngestErrorDetailSerializer()
