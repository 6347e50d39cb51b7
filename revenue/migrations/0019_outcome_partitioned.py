"""revenue_outcome partitioned by month on `period`, with the partner in it (issue 16;
docs/scaling.md).

The method of 0017 (the sales), applied to outcomes:

* revenue_outcome gains partner_id (backfilled from its placement): Citus distributes by it,
  so every key must contain it.
* The table is converted in place, in this migration's one transaction: a partitioned table
  (RANGE on `period`, the month of occurred_at in the partner's zone, never changed) beside
  it, a partition per month from the oldest stored period (or a year back) to three months
  ahead plus DEFAULT, every row copied, the old table dropped, indexes, checks and foreign
  keys recreated. revenue.services.partitions creates the months after that (beat).
* Primary key (id, partner_id, period); Django still treats `id` as the primary key, which
  the sequence keeps unique.
* The idempotency key (placement, kind, external_id) cannot be unique across partitions
  without the period (the same outcome sent again with a time in another month must still
  be found), so it lives in revenue_outcomekey, PRIMARY KEY (partner_id, placement_id, kind,
  external_id) → outcome_id, period. Ingestion claims keys there in the statement that
  inserts the outcomes; a statement-level AFTER INSERT trigger claims the keys of outcomes
  stored any other way (the ORM, tests) and refuses a key another outcome holds with
  unique_violation "outcome_unique", as the unique index did; AFTER DELETE releases keys;
  BEFORE UPDATE refuses changing id, partner, placement, kind, external_id or period.
* Nothing references outcomes by foreign key.

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
BEGIN
    CREATE TABLE revenue_outcomekey (
        partner_id bigint NOT NULL,
        placement_id bigint NOT NULL,
        kind varchar(20) NOT NULL,
        external_id varchar(128) NOT NULL,
        outcome_id bigint NOT NULL,
        period date NOT NULL,
        CONSTRAINT revenue_outcomekey_pkey PRIMARY KEY (partner_id, placement_id, kind, external_id),
        CONSTRAINT outcomekey_outcome_unique UNIQUE (partner_id, outcome_id)
    );
    INSERT INTO revenue_outcomekey (partner_id, placement_id, kind, external_id, outcome_id, period)
    SELECT partner_id, placement_id, kind, external_id, id, period FROM revenue_outcome
     ORDER BY partner_id, placement_id, kind, external_id;

    next_id := nextval(pg_get_serial_sequence('revenue_outcome', 'id'));
    SELECT date_trunc('month', least(min(period), current_date - interval '12 months'))::date,
           date_trunc('month', greatest(max(period), current_date))::date
      INTO first_month, last_month
      FROM revenue_outcome;
    ALTER TABLE revenue_outcome RENAME TO revenue_outcome_unpartitioned;
    ALTER TABLE revenue_outcome_unpartitioned ALTER COLUMN id DROP IDENTITY;

    CREATE SEQUENCE revenue_outcome_id_seq;
    PERFORM setval('revenue_outcome_id_seq', next_id, false);
    CREATE TABLE revenue_outcome (
        id bigint NOT NULL DEFAULT nextval('revenue_outcome_id_seq'),
        kind varchar(20) NOT NULL,
        external_id varchar(128) NOT NULL,
        occurred_at timestamptz NOT NULL,
        period date NOT NULL,
        withdrawn_at timestamptz,
        created_at timestamptz NOT NULL,
        placement_id bigint NOT NULL,
        statement_id bigint,
        reversal_statement_id bigint,
        partner_id bigint NOT NULL,
        CONSTRAINT outcome_kind_valid CHECK (kind IN ('resolution', 'delivered_work')),
        CONSTRAINT outcome_reversal_of_settled_withdrawal CHECK (
            reversal_statement_id IS NULL OR (statement_id IS NOT NULL AND withdrawn_at IS NOT NULL))
    ) PARTITION BY RANGE (period);
    ALTER SEQUENCE revenue_outcome_id_seq OWNED BY revenue_outcome.id;

    CREATE TABLE revenue_outcome_default PARTITION OF revenue_outcome DEFAULT;
    month := first_month;
    WHILE month <= last_month + interval '3 months' LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF revenue_outcome FOR VALUES FROM (%L) TO (%L)',
            'revenue_outcome_' || to_char(month, '"y"YYYY"m"MM'), month, (month + interval '1 month')::date);
        month := (month + interval '1 month')::date;
    END LOOP;

    INSERT INTO revenue_outcome (
        id, kind, external_id, occurred_at, period, withdrawn_at, created_at, placement_id, statement_id,
        reversal_statement_id, partner_id)
    SELECT id, kind, external_id, occurred_at, period, withdrawn_at, created_at, placement_id, statement_id,
           reversal_statement_id, partner_id
      FROM revenue_outcome_unpartitioned;
    DROP TABLE revenue_outcome_unpartitioned;
END
$convert$;

ALTER TABLE revenue_outcome ADD CONSTRAINT revenue_outcome_pkey PRIMARY KEY (id, partner_id, period);
-- Settlement reads a contract's outcomes by its placement, up to the period it settles.
CREATE INDEX outcome_placement_period ON revenue_outcome (placement_id, period);
CREATE INDEX outcome_statement ON revenue_outcome (statement_id) WHERE statement_id IS NOT NULL;
CREATE INDEX outcome_reversal_statement ON revenue_outcome (reversal_statement_id)
    WHERE reversal_statement_id IS NOT NULL;
ALTER TABLE revenue_outcome
    ADD CONSTRAINT revenue_outcome_partner_id_fk_contracts_partner_id
        FOREIGN KEY (partner_id) REFERENCES contracts_partner (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT revenue_outcome_placement_id_d0246f09_fk_contracts_placement_id
        FOREIGN KEY (placement_id) REFERENCES contracts_placement (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT revenue_outcome_statement_id_4c104cba_fk_revenue_statement_id
        FOREIGN KEY (statement_id) REFERENCES revenue_statement (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT revenue_outcome_reversal_statement_i_51aa96b0_fk_revenue_s
        FOREIGN KEY (reversal_statement_id) REFERENCES revenue_statement (id) DEFERRABLE INITIALLY DEFERRED;

-- Outcomes stored without claiming their keys first (the ORM, tests): their keys are claimed
-- now, once per statement and set-based; a key another outcome holds is refused as the unique
-- index did. Outcomes whose keys ingestion claimed pass.
CREATE FUNCTION revenue_outcome_keys_claim() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    taken record;
BEGIN
    INSERT INTO revenue_outcomekey (partner_id, placement_id, kind, external_id, outcome_id, period)
    SELECT n.partner_id, n.placement_id, n.kind, n.external_id, n.id, n.period FROM new_outcomes n
     ORDER BY n.partner_id, n.placement_id, n.kind, n.external_id
    ON CONFLICT (partner_id, placement_id, kind, external_id) DO NOTHING;
    SELECT n.placement_id, n.kind, n.external_id INTO taken
      FROM new_outcomes n
      JOIN revenue_outcomekey k ON k.partner_id = n.partner_id AND k.placement_id = n.placement_id
                               AND k.kind = n.kind AND k.external_id = n.external_id
     WHERE k.outcome_id <> n.id OR k.period <> n.period
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "outcome_unique"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'outcome_unique',
                  DETAIL = format('Key (placement_id, kind, external_id)=(%s, %s, %s) already exists.',
                                  taken.placement_id, taken.kind, taken.external_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER outcome_keys_claim AFTER INSERT ON revenue_outcome
    REFERENCING NEW TABLE AS new_outcomes FOR EACH STATEMENT EXECUTE FUNCTION revenue_outcome_keys_claim();

-- Deleted outcomes give their keys back. The partition service's moves name the partitions
-- (no trigger of the parent fires) and set haken.partition_move as well.
CREATE FUNCTION revenue_outcome_keys_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('haken.partition_move', true), '') <> 'on' THEN
        DELETE FROM revenue_outcomekey k USING old_outcomes o
         WHERE k.partner_id = o.partner_id AND k.placement_id = o.placement_id AND k.kind = o.kind
           AND k.external_id = o.external_id AND k.outcome_id = o.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER outcome_keys_release AFTER DELETE ON revenue_outcome
    REFERENCING OLD TABLE AS old_outcomes FOR EACH STATEMENT EXECUTE FUNCTION revenue_outcome_keys_release();

CREATE FUNCTION revenue_outcome_key_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an outcome''s id, partner, placement, kind, external_id and period never change (outcome %)',
        OLD.id USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER outcome_key_fixed
    BEFORE UPDATE OF id, partner_id, placement_id, kind, external_id, period ON revenue_outcome
    FOR EACH ROW WHEN (NEW.id <> OLD.id OR NEW.partner_id <> OLD.partner_id OR NEW.placement_id <> OLD.placement_id
                       OR NEW.kind <> OLD.kind OR NEW.external_id <> OLD.external_id OR NEW.period <> OLD.period)
    EXECUTE FUNCTION revenue_outcome_key_fixed();

ANALYZE revenue_outcomekey;
ANALYZE revenue_outcome;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0006_pending_notification"),
        ("revenue", "0018_sale_key_trigger_plans"),
    ]

    operations = [
        migrations.AddField(
            model_name="outcome",
            name="partner",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="contracts.partner",
            ),
        ),
        migrations.RunSQL(
            "UPDATE revenue_outcome o SET partner_id = p.partner_id FROM contracts_placement p "
            "WHERE p.id = o.placement_id",
            migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="outcome",
            name="partner",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="contracts.partner"
            ),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, reverse_sql=None)],
            state_operations=[
                migrations.CreateModel(
                    name="OutcomeKey",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "partner_id",
                                "placement_id",
                                "kind",
                                "external_id",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("partner_id", models.BigIntegerField()),
                        ("placement_id", models.BigIntegerField()),
                        ("kind", models.CharField(max_length=20)),
                        ("external_id", models.CharField(max_length=128)),
                        ("outcome_id", models.BigIntegerField()),
                        ("period", models.DateField()),
                    ],
                ),
                migrations.AddConstraint(
                    model_name="outcomekey",
                    constraint=models.UniqueConstraint(
                        fields=("partner_id", "outcome_id"), name="outcomekey_outcome_unique"
                    ),
                ),
                migrations.RemoveConstraint(model_name="outcome", name="outcome_unique"),
            ],
        ),
    ]
