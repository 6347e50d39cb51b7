"""revenue_touchpoint partitioned by month on `occurred_at` (issue 16; docs/scaling.md).

The method of 0017 (the sales), applied to touchpoints:

* The table is converted in place, in this migration's one transaction: a partitioned table
  (RANGE on occurred_at, a partition a month from UTC midnight of its first day, plus
  DEFAULT) beside it, every row copied, the old table dropped, indexes, checks and foreign
  keys recreated; revenue.services.partitions creates the months after that (beat). The
  partition key is the touch's own instant, not a month column: attribution looks a
  touchpoint up for a sale within the attribution window before it, an instant range that
  prunes to the months it spans.
* Primary key (id, partner_id, occurred_at); Django still treats `id` as the primary key,
  which the sequence keeps unique.
* The key (partner, kind, key) cannot be unique across partitions without the month (a key
  sent again with another time must still be found), so it lives in revenue_touchpointkey,
  PRIMARY KEY (partner_id, kind, key) → touchpoint_id, occurred_at, UNIQUE (partner_id,
  touchpoint_id). Ingestion claims keys there in the statement that inserts the
  touchpoints; a statement-level AFTER INSERT trigger claims the keys of touchpoints stored
  any other way (the ORM, bulk_create in benchmarks, tests) and refuses a key another holds
  with unique_violation "touchpoint_key_unique", as the unique index did; AFTER DELETE
  releases keys; BEFORE UPDATE refuses changing id, partner, kind, key or occurred_at.
* Foreign keys naming a touchpoint (revenue_sale.touchpoint_id, agents_issuedcoupon.touchpoint_id)
  reference revenue_touchpointkey (partner_id, touchpoint_id), still enforced by the database;
  agents_issuedcoupon gained partner_id for it (agents 0003, backfilled from the touchpoint).

Going back is not supported: the reverse raises (restore from a backup taken before).
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = r"""
DO $convert$
DECLARE
    next_id bigint;
    first_month date;
    last_month date;
    month date;
    fk record;
BEGIN
    -- Foreign keys into the touchpoints go: they are recreated below against the key table
    -- (a partitioned table's, once: its partitions' copies go with it).
    FOR fk IN
        SELECT conname, conrelid::regclass AS tbl FROM pg_constraint
         WHERE confrelid = 'revenue_touchpoint'::regclass AND contype = 'f' AND conparentid = 0
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
    END LOOP;

    CREATE TABLE revenue_touchpointkey (
        partner_id bigint NOT NULL,
        kind varchar(16) NOT NULL,
        key varchar(128) NOT NULL,
        touchpoint_id bigint NOT NULL,
        occurred_at timestamptz NOT NULL,
        CONSTRAINT revenue_touchpointkey_pkey PRIMARY KEY (partner_id, kind, key),
        CONSTRAINT touchpointkey_touchpoint_unique UNIQUE (partner_id, touchpoint_id)
    );
    INSERT INTO revenue_touchpointkey (partner_id, kind, key, touchpoint_id, occurred_at)
    SELECT partner_id, kind, key, id, occurred_at FROM revenue_touchpoint ORDER BY partner_id, kind, key;

    next_id := nextval(pg_get_serial_sequence('revenue_touchpoint', 'id'));
    SELECT date_trunc('month', least(min(occurred_at AT TIME ZONE 'UTC'), current_date - interval '12 months'))::date,
           date_trunc('month', greatest(max(occurred_at AT TIME ZONE 'UTC'), current_date))::date
      INTO first_month, last_month
      FROM revenue_touchpoint;
    ALTER TABLE revenue_touchpoint RENAME TO revenue_touchpoint_unpartitioned;
    ALTER TABLE revenue_touchpoint_unpartitioned ALTER COLUMN id DROP IDENTITY;

    CREATE SEQUENCE revenue_touchpoint_id_seq;
    PERFORM setval('revenue_touchpoint_id_seq', next_id, false);
    CREATE TABLE revenue_touchpoint (
        id bigint NOT NULL DEFAULT nextval('revenue_touchpoint_id_seq'),
        kind varchar(16) NOT NULL,
        key varchar(128) NOT NULL,
        occurred_at timestamptz NOT NULL,
        source varchar(16) NOT NULL,
        created_at timestamptz NOT NULL,
        partner_id bigint NOT NULL,
        placement_id bigint NOT NULL,
        CONSTRAINT touchpoint_kind_valid CHECK (kind IN ('coupon', 'click', 'conversation'))
    ) PARTITION BY RANGE (occurred_at);
    ALTER SEQUENCE revenue_touchpoint_id_seq OWNED BY revenue_touchpoint.id;

    CREATE TABLE revenue_touchpoint_default PARTITION OF revenue_touchpoint DEFAULT;
    month := first_month;
    WHILE month <= last_month + interval '3 months' LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF revenue_touchpoint FOR VALUES FROM (%L) TO (%L)',
            'revenue_touchpoint_' || to_char(month, '"y"YYYY"m"MM'),
            month::timestamp AT TIME ZONE 'UTC', (month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
        month := (month + interval '1 month')::date;
    END LOOP;

    INSERT INTO revenue_touchpoint (id, kind, key, occurred_at, source, created_at, partner_id, placement_id)
    SELECT id, kind, key, occurred_at, source, created_at, partner_id, placement_id
      FROM revenue_touchpoint_unpartitioned;
    DROP TABLE revenue_touchpoint_unpartitioned;
END
$convert$;

ALTER TABLE revenue_touchpoint ADD CONSTRAINT revenue_touchpoint_pkey PRIMARY KEY (id, partner_id, occurred_at);
-- Attribution finds a sale's touchpoints by key (within the window's months); settlement a
-- contract's by its placement.
CREATE INDEX touchpoint_key ON revenue_touchpoint (partner_id, kind, key);
CREATE INDEX touchpoint_placement ON revenue_touchpoint (placement_id);
ALTER TABLE revenue_touchpoint
    ADD CONSTRAINT revenue_touchpoint_partner_id_652d1e43_fk_contracts_partner_id
        FOREIGN KEY (partner_id) REFERENCES contracts_partner (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT revenue_touchpoint_placement_id_35980087_fk_contracts
        FOREIGN KEY (placement_id) REFERENCES contracts_placement (id) DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE revenue_sale ADD CONSTRAINT sale_touchpoint_fk_touchpointkey
    FOREIGN KEY (partner_id, touchpoint_id) REFERENCES revenue_touchpointkey (partner_id, touchpoint_id)
    DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE agents_issuedcoupon ADD CONSTRAINT issuedcoupon_touchpoint_fk_touchpointkey
    FOREIGN KEY (partner_id, touchpoint_id) REFERENCES revenue_touchpointkey (partner_id, touchpoint_id)
    DEFERRABLE INITIALLY DEFERRED;

-- Touchpoints stored without claiming their keys first (the ORM, bulk_create, tests): their
-- keys are claimed now, once per statement and set-based; a key another touchpoint holds (or
-- two of the statement share) is refused as the unique index did. Touchpoints whose keys
-- ingestion claimed pass.
CREATE FUNCTION revenue_touchpoint_keys_claim() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    taken record;
BEGIN
    INSERT INTO revenue_touchpointkey (partner_id, kind, key, touchpoint_id, occurred_at)
    SELECT n.partner_id, n.kind, n.key, n.id, n.occurred_at FROM new_touchpoints n
     ORDER BY n.partner_id, n.kind, n.key
    ON CONFLICT (partner_id, kind, key) DO NOTHING;
    SELECT n.partner_id, n.kind, n.key INTO taken
      FROM new_touchpoints n
      JOIN revenue_touchpointkey k ON k.partner_id = n.partner_id AND k.kind = n.kind AND k.key = n.key
     WHERE k.touchpoint_id <> n.id OR k.occurred_at <> n.occurred_at
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "touchpoint_key_unique"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'touchpoint_key_unique',
                  DETAIL = format('Key (partner_id, kind, key)=(%s, %s, %s) already exists.',
                                  taken.partner_id, taken.kind, taken.key);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER touchpoint_keys_claim AFTER INSERT ON revenue_touchpoint
    REFERENCING NEW TABLE AS new_touchpoints FOR EACH STATEMENT EXECUTE FUNCTION revenue_touchpoint_keys_claim();

-- Deleted touchpoints give their keys back, unless a sale or an issued coupon names one (their
-- foreign keys refuse it, so the touchpoint cannot be deleted either). The partition
-- service's moves name the partitions (no trigger of the parent fires) and set
-- haken.partition_move as well.
CREATE FUNCTION revenue_touchpoint_keys_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('haken.partition_move', true), '') <> 'on' THEN
        DELETE FROM revenue_touchpointkey k USING old_touchpoints o
         WHERE k.partner_id = o.partner_id AND k.kind = o.kind AND k.key = o.key AND k.touchpoint_id = o.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER touchpoint_keys_release AFTER DELETE ON revenue_touchpoint
    REFERENCING OLD TABLE AS old_touchpoints FOR EACH STATEMENT EXECUTE FUNCTION revenue_touchpoint_keys_release();

CREATE FUNCTION revenue_touchpoint_key_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a touchpoint''s id, partner, kind, key and occurred_at never change (touchpoint %)', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER touchpoint_key_fixed BEFORE UPDATE OF id, partner_id, kind, key, occurred_at ON revenue_touchpoint
    FOR EACH ROW WHEN (NEW.id <> OLD.id OR NEW.partner_id <> OLD.partner_id OR NEW.kind <> OLD.kind
                       OR NEW.key <> OLD.key OR NEW.occurred_at <> OLD.occurred_at)
    EXECUTE FUNCTION revenue_touchpoint_key_fixed();

ANALYZE revenue_touchpointkey;
ANALYZE revenue_touchpoint;
"""


class Migration(migrations.Migration):
    dependencies = [
        # agents_issuedcoupon.partner_id, for the coupons' foreign key into the key table.
        ("agents", "0003_issuedcoupon_partner"),
        ("contracts", "0006_pending_notification"),
        ("revenue", "0019_outcome_partitioned"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, reverse_sql=None)],
            state_operations=[
                migrations.CreateModel(
                    name="TouchpointKey",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "partner_id",
                                "kind",
                                "key",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("partner_id", models.BigIntegerField()),
                        ("kind", models.CharField(max_length=16)),
                        ("key", models.CharField(max_length=128)),
                        ("touchpoint_id", models.BigIntegerField()),
                        ("occurred_at", models.DateTimeField()),
                    ],
                ),
                migrations.AddConstraint(
                    model_name="touchpointkey",
                    constraint=models.UniqueConstraint(
                        fields=("partner_id", "touchpoint_id"), name="touchpointkey_touchpoint_unique"
                    ),
                ),
                migrations.RemoveConstraint(model_name="touchpoint", name="touchpoint_key_unique"),
                migrations.AlterField(
                    model_name="sale",
                    name="touchpoint",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="revenue.touchpoint",
                    ),
                ),
            ],
        ),
    ]
