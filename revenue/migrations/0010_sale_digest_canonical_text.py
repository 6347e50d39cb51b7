"""Sale digests move from canonical JSON to the cheaper length-prefixed canonical text of
`revenue.services.ingestion.sale_digest`: every stored sale's digest is recomputed from its
own columns, so an event sent again after this release is still a duplicate, not a conflict.
The expression is written out here, as it stands today, so later changes to the service
cannot change what this migration did."""

from django.db import migrations

_TEXT = "coalesce(length({0}) || ':' || {0}, '~')"
_DIGEST = "encode(sha256(convert_to(" + " || '|' || ".join([
    _TEXT.format("s.external_id"), _TEXT.format("s.type"),
    "(extract(epoch FROM s.occurred_at) * 1000000)::bigint::text", "s.amount::text",
    *(_TEXT.format(f"s.{name}") for name in (
        "currency", "coupon_code", "click_id", "conversation_id", "customer_ref", "store_id")),
    _TEXT.format("(SELECT o.external_id FROM revenue_sale o WHERE o.id = s.refund_of_id)"),
]) + ", 'UTF8')), 'hex')"


class Migration(migrations.Migration):
    dependencies = [("revenue", "0009_payments")]

    operations = [
        # Going back keeps the new digests: the old code would then call a re-sent event a
        # conflict, which is why this is a one-way step in practice.
        migrations.RunSQL(f"UPDATE revenue_sale s SET content_digest = {_DIGEST}", migrations.RunSQL.noop),
    ]
