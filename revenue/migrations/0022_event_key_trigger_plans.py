"""The touchpoints' and outcomes' key triggers (migrations 0019, 0020) in the form migration
0018 gave the sales' — plans that cannot go quadratic.

PL/pgSQL keeps a trigger query's plan for the session. Made for a statement of one row while
the key table was empty or small, 0019/0020's checks (a join of the statement's rows with the
key table) and releases (a DELETE … USING the old rows) kept a plan that, for a later
statement of thousands of rows, read the whole key table per row or per statement
(tests/revenue/test_event_key_trigger_plans.py: 3,000 touchpoints read 9,003,000 index
entries, one deleted touchpoint 1,889 heap rows). As in 0018, every look-up into a key table
is now a scalar subquery correlated to one row of the statement on the key's every column (a
probe of a unique index, which PostgreSQL never turns into a join), the release deletes the
rows found by their tuple ids, and the functions run with sequential and bitmap scans off.
Reverse: the functions as 0019 and 0020 created them."""

from django.db import migrations

SETTINGS = "\nSET enable_seqscan = off SET enable_bitmapscan = off"

TOUCHPOINT_CLAIM = """
CREATE OR REPLACE FUNCTION revenue_touchpoint_keys_claim() RETURNS trigger LANGUAGE plpgsql{settings} AS $$
DECLARE
    taken record;
BEGIN
    INSERT INTO revenue_touchpointkey (partner_id, kind, key, touchpoint_id, occurred_at)
    SELECT n.partner_id, n.kind, n.key, n.id, n.occurred_at FROM new_touchpoints n
     ORDER BY n.partner_id, n.kind, n.key
    ON CONFLICT (partner_id, kind, key) DO NOTHING;
{check}
    IF FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "touchpoint_key_unique"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'touchpoint_key_unique',
                  DETAIL = format('Key (partner_id, kind, key)=(%s, %s, %s) already exists.',
                                  taken.partner_id, taken.kind, taken.key);
    END IF;
    RETURN NULL;
END
$$;
"""
TOUCHPOINT_CHECK_BY_JOIN = """
    SELECT n.partner_id, n.kind, n.key INTO taken
      FROM new_touchpoints n
      JOIN revenue_touchpointkey k ON k.partner_id = n.partner_id AND k.kind = n.kind AND k.key = n.key
     WHERE k.touchpoint_id <> n.id OR k.occurred_at <> n.occurred_at
     LIMIT 1;"""
# A new touchpoint whose key another holds (or a row of the same statement claimed first):
# its own key row is not there.
TOUCHPOINT_CHECK_BY_PROBE = """
    SELECT n.partner_id, n.kind, n.key INTO taken
      FROM new_touchpoints n
     WHERE (SELECT true FROM revenue_touchpointkey k
             WHERE k.partner_id = n.partner_id AND k.kind = n.kind AND k.key = n.key
               AND k.touchpoint_id = n.id AND k.occurred_at = n.occurred_at) IS NULL
     LIMIT 1;"""

TOUCHPOINT_RELEASE = """
CREATE OR REPLACE FUNCTION revenue_touchpoint_keys_release() RETURNS trigger LANGUAGE plpgsql{settings} AS $$
BEGIN
    IF coalesce(current_setting('haken.partition_move', true), '') <> 'on' THEN
{delete}
    END IF;
    RETURN NULL;
END
$$;
"""
TOUCHPOINT_DELETE_BY_JOIN = """
        DELETE FROM revenue_touchpointkey k USING old_touchpoints o
         WHERE k.partner_id = o.partner_id AND k.kind = o.kind AND k.key = o.key AND k.touchpoint_id = o.id;"""
TOUCHPOINT_DELETE_BY_PROBE = """
        DELETE FROM revenue_touchpointkey k
         WHERE k.ctid = ANY (ARRAY(
             SELECT (SELECT s.ctid FROM revenue_touchpointkey s
                      WHERE s.partner_id = o.partner_id AND s.kind = o.kind AND s.key = o.key
                        AND s.touchpoint_id = o.id)
               FROM old_touchpoints o));"""

OUTCOME_CLAIM = """
CREATE OR REPLACE FUNCTION revenue_outcome_keys_claim() RETURNS trigger LANGUAGE plpgsql{settings} AS $$
DECLARE
    taken record;
BEGIN
    INSERT INTO revenue_outcomekey (partner_id, placement_id, kind, external_id, outcome_id, period)
    SELECT n.partner_id, n.placement_id, n.kind, n.external_id, n.id, n.period FROM new_outcomes n
     ORDER BY n.partner_id, n.placement_id, n.kind, n.external_id
    ON CONFLICT (partner_id, placement_id, kind, external_id) DO NOTHING;
{check}
    IF FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "outcome_unique"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'outcome_unique',
                  DETAIL = format('Key (placement_id, kind, external_id)=(%s, %s, %s) already exists.',
                                  taken.placement_id, taken.kind, taken.external_id);
    END IF;
    RETURN NULL;
END
$$;
"""
OUTCOME_CHECK_BY_JOIN = """
    SELECT n.placement_id, n.kind, n.external_id INTO taken
      FROM new_outcomes n
      JOIN revenue_outcomekey k ON k.partner_id = n.partner_id AND k.placement_id = n.placement_id
                               AND k.kind = n.kind AND k.external_id = n.external_id
     WHERE k.outcome_id <> n.id OR k.period <> n.period
     LIMIT 1;"""
OUTCOME_CHECK_BY_PROBE = """
    SELECT n.placement_id, n.kind, n.external_id INTO taken
      FROM new_outcomes n
     WHERE (SELECT true FROM revenue_outcomekey k
             WHERE k.partner_id = n.partner_id AND k.placement_id = n.placement_id
               AND k.kind = n.kind AND k.external_id = n.external_id
               AND k.outcome_id = n.id AND k.period = n.period) IS NULL
     LIMIT 1;"""

OUTCOME_RELEASE = """
CREATE OR REPLACE FUNCTION revenue_outcome_keys_release() RETURNS trigger LANGUAGE plpgsql{settings} AS $$
BEGIN
    IF coalesce(current_setting('haken.partition_move', true), '') <> 'on' THEN
{delete}
    END IF;
    RETURN NULL;
END
$$;
"""
OUTCOME_DELETE_BY_JOIN = """
        DELETE FROM revenue_outcomekey k USING old_outcomes o
         WHERE k.partner_id = o.partner_id AND k.placement_id = o.placement_id AND k.kind = o.kind
           AND k.external_id = o.external_id AND k.outcome_id = o.id;"""
OUTCOME_DELETE_BY_PROBE = """
        DELETE FROM revenue_outcomekey k
         WHERE k.ctid = ANY (ARRAY(
             SELECT (SELECT s.ctid FROM revenue_outcomekey s
                      WHERE s.partner_id = o.partner_id AND s.placement_id = o.placement_id
                        AND s.kind = o.kind AND s.external_id = o.external_id AND s.outcome_id = o.id)
               FROM old_outcomes o));"""

FORWARD = (
    TOUCHPOINT_CLAIM.format(settings=SETTINGS, check=TOUCHPOINT_CHECK_BY_PROBE)
    + TOUCHPOINT_RELEASE.format(settings=SETTINGS, delete=TOUCHPOINT_DELETE_BY_PROBE)
    + OUTCOME_CLAIM.format(settings=SETTINGS, check=OUTCOME_CHECK_BY_PROBE)
    + OUTCOME_RELEASE.format(settings=SETTINGS, delete=OUTCOME_DELETE_BY_PROBE)
)
REVERSE = (
    TOUCHPOINT_CLAIM.format(settings="", check=TOUCHPOINT_CHECK_BY_JOIN)
    + TOUCHPOINT_RELEASE.format(settings="", delete=TOUCHPOINT_DELETE_BY_JOIN)
    + OUTCOME_CLAIM.format(settings="", check=OUTCOME_CHECK_BY_JOIN)
    + OUTCOME_RELEASE.format(settings="", delete=OUTCOME_DELETE_BY_JOIN)
)


class Migration(migrations.Migration):
    dependencies = [("revenue", "0021_sale_keys_claimed_in_statement")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
