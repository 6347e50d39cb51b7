"""The sales' key triggers (migration 0017) with plans that cannot go quadratic (issue 16).

What went wrong: PL/pgSQL keeps each query's plan for the session, and these queries have no
parameters, so the plan made at a trigger's first firing in a session serves every later
firing until something invalidates it (a TRUNCATE, an ANALYZE of the key table, DDL) —
whatever the size of the later statements or of the key table. That plan is made for the
first firing's transition table (its row count is known exactly) and for the key table as it
was then. Made for one new sale while revenue_salekey was (nearly) empty, the conflict check

    SELECT … FROM new_sales n JOIN revenue_salekey k
        ON k.partner_id = n.partner_id AND k.external_id = n.external_id
     WHERE k.sale_id <> n.id OR k.period <> n.period LIMIT 1

was planned as a nested loop probing salekey_sale_unique (partner_id, sale_id) on partner_id
alone, external_id a filter: both indexes cost the same on an empty table, and `sale_id <> …`
cannot be an index condition. Kept for a later statement of N sales of one partner, every new
sale read every key of its partner: N × (keys of the partner) index entries, quadratic in the
statement (measured: 10,000 sales of one partner 12.0 s, the next 10,000 24.3 s; the same
statement planned afresh 0.2 s). Whether a run met it depended on what fired first in the
session and on whether anything (an ANALYZE of the key table, by autovacuum or a service)
invalidated the plan in between. With the key table analyzed while small, the same check was
planned as a hash join over a sequential scan of the whole key table, every statement reading
every key; the release trigger's DELETE, planned for a delete of thousands, kept that shape
for a later delete of one (both measured in tests/revenue/test_sale_key_trigger_plans.py),
ledger migration 0002's hazard.

The fix: every look-up into the key table is correlated to one row of the statement and names
all the columns of that row's key, so whichever plan is kept it is a probe of a unique index,
one entry per row — the form of ledger migration 0002's guards:

* the claim's check asks for each new sale whether its own key row exists (partner,
  external_id, sale id, month all equal) in a scalar subquery, which PostgreSQL never turns
  into a join. It finds what 0017's join found (after the claim every new sale's key has a
  row: claimed now, or held before), and either unique index, (partner_id, external_id) or
  (partner_id, sale_id), is probed on its whole key;
* the release finds each deleted sale's key row the same way and deletes the rows found by
  their tuple ids (a TID scan);
* both functions run with sequential scans off (as ledger 0002's do), so a plan made while
  the key table looked empty cannot scan it instead, and bitmap scans off, so each probe is a
  plain index scan.

A first version kept 0017's join shape as NOT EXISTS with hash and merge joins off too: made
for one sale, its plan rescanned an unqualified index of the key table for every new sale (the
nested loop's inner side, picked as the cheapest path when the planner counts one outer row),
still quadratic. The scalar subquery leaves the planner no join to choose.

The claim itself (INSERT … ON CONFLICT DO NOTHING from the sorted transition table) has no
join and is unchanged. Reverse: the functions exactly as migration 0017 created them.
"""

from django.db import migrations

CLAIM_CHECK_BODY = """
BEGIN
    INSERT INTO revenue_salekey (partner_id, external_id, sale_id, period)
    SELECT n.partner_id, n.external_id, n.id, n.period FROM new_sales n
     ORDER BY n.partner_id, n.external_id
    ON CONFLICT (partner_id, external_id) DO NOTHING;
    -- A new sale whose key is held by another sale (or month), or was claimed by a sale of
    -- the same statement before it: its own key row is not there. A scalar subquery per new
    -- sale (never made a join) on the key's every column: a probe of a unique index.
    SELECT n.partner_id, n.external_id INTO taken
      FROM new_sales n
     WHERE (SELECT true FROM revenue_salekey k
             WHERE k.partner_id = n.partner_id AND k.external_id = n.external_id
               AND k.sale_id = n.id AND k.period = n.period) IS NULL
     LIMIT 1;
"""

CLAIM_0017_BODY = """
BEGIN
    INSERT INTO revenue_salekey (partner_id, external_id, sale_id, period)
    SELECT n.partner_id, n.external_id, n.id, n.period FROM new_sales n
     ORDER BY n.partner_id, n.external_id
    ON CONFLICT (partner_id, external_id) DO NOTHING;
    SELECT n.partner_id, n.external_id INTO taken
      FROM new_sales n
      JOIN revenue_salekey k ON k.partner_id = n.partner_id AND k.external_id = n.external_id
     WHERE k.sale_id <> n.id OR k.period <> n.period
     LIMIT 1;
"""

CLAIM_FUNCTION = """
CREATE OR REPLACE FUNCTION revenue_sale_keys_claim() RETURNS trigger LANGUAGE plpgsql{settings} AS $$
DECLARE
    taken record;
{body}
    IF FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "sale_external_id_unique"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'sale_external_id_unique',
                  DETAIL = format('Key (partner_id, external_id)=(%s, %s) already exists.',
                                  taken.partner_id, taken.external_id);
    END IF;
    RETURN NULL;
END
$$;
"""

RELEASE_FUNCTION = """
CREATE OR REPLACE FUNCTION revenue_sale_keys_release() RETURNS trigger LANGUAGE plpgsql{settings} AS $$
BEGIN
    IF coalesce(current_setting('haken.sale_partition_move', true), '') <> 'on' THEN
{delete}
    END IF;
    RETURN NULL;
END
$$;
"""

RELEASE_0017_DELETE = """
        DELETE FROM revenue_salekey k USING old_sales o
         WHERE k.partner_id = o.partner_id AND k.external_id = o.external_id AND k.sale_id = o.id;"""

# Each deleted sale's key row found by a scalar subquery on its key (a unique index probe),
# then deleted by its tuple id (a TID scan): no join whose plan could read the whole table.
RELEASE_BY_PROBE_DELETE = """
        DELETE FROM revenue_salekey k
         WHERE k.ctid = ANY (ARRAY(
             SELECT (SELECT s.ctid FROM revenue_salekey s
                      WHERE s.partner_id = o.partner_id AND s.external_id = o.external_id
                        AND s.sale_id = o.id)
               FROM old_sales o));"""

# In force while the functions run, and so when their plans are made: no sequential scan
# (ledger 0002's guard), and no bitmap scan, which only adds work to a one-row probe (its
# check of a million sales took 5.3 s against 3.8 s as plain index scans).
PROBE_SETTINGS = "\nSET enable_seqscan = off SET enable_bitmapscan = off"

FORWARD = CLAIM_FUNCTION.format(settings=PROBE_SETTINGS, body=CLAIM_CHECK_BODY) + RELEASE_FUNCTION.format(
    settings=PROBE_SETTINGS, delete=RELEASE_BY_PROBE_DELETE
)
# CREATE OR REPLACE without a SET clause drops the functions' setting too.
REVERSE = CLAIM_FUNCTION.format(settings="", body=CLAIM_0017_BODY) + RELEASE_FUNCTION.format(
    settings="", delete=RELEASE_0017_DELETE
)


class Migration(migrations.Migration):
    dependencies = [("revenue", "0017_sale_partitioned")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
