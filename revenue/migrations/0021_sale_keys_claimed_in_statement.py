"""The key-claiming trigger stands aside for a statement that claimed its sales' keys itself
(issue 16: HTTP ingestion's cost per batch).

Ingestion inserts a batch's sales in one statement that first claims their keys in
revenue_salekey (`INSERT … ON CONFLICT DO NOTHING RETURNING`) and stores only the sales it
claimed, each with the id and month its key was claimed for (ingestion._SALE_INSERT). For that
statement sale_keys_claim's work is all redundant: its claim finds every key taken and its
check finds every key the sale's own — two more index probes per sale, about a quarter of the
statement's time in a 1,000-event batch. Ingestion now runs that statement with the
transaction-local setting haken.sale_keys_claimed = on (set and put back around it by
core.db.transaction_settings), and the trigger returns at once under it, as
sale_keys_release does under haken.sale_partition_move. Every other insert (the ORM, the
admin, COPY, a raw load) is checked as before.

Reverse: the function as migration 0018 made it.
"""

from importlib import import_module

from django.db import migrations

_0018 = import_module("revenue.migrations.0018_sale_key_trigger_plans")

CLAIMED_BY_THE_STATEMENT = """
BEGIN
    -- The statement claimed these sales' keys itself (ingestion): nothing left to claim or check.
    IF coalesce(current_setting('haken.sale_keys_claimed', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
""" + _0018.CLAIM_CHECK_BODY.removeprefix("\nBEGIN\n")

FORWARD = _0018.CLAIM_FUNCTION.format(settings=_0018.PROBE_SETTINGS, body=CLAIMED_BY_THE_STATEMENT)
REVERSE = _0018.CLAIM_FUNCTION.format(settings=_0018.PROBE_SETTINGS, body=_0018.CLAIM_CHECK_BODY)


class Migration(migrations.Migration):
    dependencies = [("revenue", "0020_touchpoint_partitioned")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
