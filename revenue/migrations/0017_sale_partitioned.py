"""revenue_sale partitioned by month on `period` (issue 16; docs/scaling.md has the plan).

The existing table is converted in place, in this migration's one transaction: a partitioned
table is created beside it, a partition per month from the oldest stored period to three
months ahead plus a DEFAULT partition (a sale of a month without a partition lands there and
never fails; the beat task revenue.tasks.sale_partitions_ensure moves such rows into their
month's partition), every row is copied, the old table dropped, and the indexes, checks,
foreign keys and triggers recreated on the new one. It holds an exclusive lock on the sales
for as long as the copy and the index builds take (not measured on a large table): run it in
a quiet hour.

What partitioning changes, and why:

* Primary key (id, partner_id, period). A partitioned table's unique keys must contain the
  partition column, and for Citus the distribution column (partner_id); `id` first so a
  look-up by id (how attribution and the ORM find a sale) stays one probe per partition.
  Django still treats `id` as the primary key; the sequence keeps it unique.
* (partner, external_id) — ingestion's idempotency key — cannot be unique across partitions,
  so it lives in revenue_salekey (PRIMARY KEY (partner_id, external_id) → sale_id, period).
  Ingestion claims keys there and inserts the sales it claimed in the same statement; a
  statement-level AFTER INSERT trigger on revenue_sale writes the keys of sales stored any
  other way (the ORM, the admin, COPY, tests) and refuses a sale whose key another holds
  (unique_violation "sale_external_id_unique", as before); an AFTER DELETE trigger removes
  deleted sales' keys; a BEFORE UPDATE trigger refuses changing id, partner, external_id or
  period (the key would point at the wrong partition).
* Foreign keys that named a sale by id (Sale.refund_of, Inquiry.sale, SaleExclusion.sale)
  now reference revenue_salekey (partner_id, sale_id) — still enforced by the database, with
  the partner in the key (Citus colocation), without carrying the sale's period in every
  referencing row. SaleExclusion gains partner_id for it (backfilled from the sale). A sale
  cannot be deleted while one of them names it: its key cannot go.
* fillfactor 80 (migration 0007) is a per-partition setting now: each partition is created
  with it.

Going back is not supported: the reverse raises (restore from a backup taken before).
"""

from django.db import migrations, models
import django.db.models.deletion

# Every partition is created WITH (fillfactor = 80) (migration 0007's reason).
FORWARD = r"""
DO $convert$
DECLARE
    next_id bigint;
    first_month date;
    last_month date;
    month date;
    fk record;
BEGIN
    -- Foreign keys into the sales go: they are recreated below against the key table.
    FOR fk IN
        SELECT conname, conrelid::regclass AS tbl FROM pg_constraint
         WHERE confrelid = 'revenue_sale'::regclass AND contype = 'f'
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
    END LOOP;

    -- The key table, filled from the stored sales.
    CREATE TABLE revenue_salekey (
        partner_id bigint NOT NULL,
        external_id varchar(128) NOT NULL,
        sale_id bigint NOT NULL,
        period date NOT NULL,
        CONSTRAINT revenue_salekey_pkey PRIMARY KEY (partner_id, external_id),
        CONSTRAINT salekey_sale_unique UNIQUE (partner_id, sale_id)
    );
    INSERT INTO revenue_salekey (partner_id, external_id, sale_id, period)
    SELECT partner_id, external_id, id, period FROM revenue_sale ORDER BY partner_id, external_id;

    -- Ids carry on where the identity column stopped (its sequence goes with the old table).
    next_id := nextval(pg_get_serial_sequence('revenue_sale', 'id'));
    SELECT date_trunc('month', least(min(period), current_date - interval '12 months'))::date,
           date_trunc('month', greatest(max(period), current_date))::date
      INTO first_month, last_month
      FROM revenue_sale;
    ALTER TABLE revenue_sale RENAME TO revenue_sale_unpartitioned;
    ALTER TABLE revenue_sale_unpartitioned ALTER COLUMN id DROP IDENTITY;

    CREATE SEQUENCE revenue_sale_id_seq;
    PERFORM setval('revenue_sale_id_seq', next_id, false);
    CREATE TABLE revenue_sale (
        id bigint NOT NULL DEFAULT nextval('revenue_sale_id_seq'),
        external_id varchar(128) NOT NULL,
        type varchar(8) NOT NULL,
        occurred_at timestamptz NOT NULL,
        amount bigint NOT NULL,
        currency varchar(3) NOT NULL,
        coupon_code varchar(128),
        click_id varchar(128),
        conversation_id varchar(128),
        customer_ref varchar(128),
        store_id varchar(128),
        period date NOT NULL,
        content_digest varchar(64) NOT NULL,
        received_at timestamptz NOT NULL,
        attribution varchar(16) NOT NULL,
        attributed_key varchar(20) NOT NULL,
        attribution_note varchar(300) NOT NULL,
        partner_id bigint NOT NULL,
        placement_id bigint,
        refund_of_id bigint,
        upload_id bigint,
        statement_id bigint,
        touchpoint_id bigint,
        CONSTRAINT sale_amount_positive CHECK (amount > 0),
        CONSTRAINT sale_refund_names_its_sale CHECK (
            (type = 'sale' AND refund_of_id IS NULL) OR (type = 'refund' AND refund_of_id IS NOT NULL))
    ) PARTITION BY RANGE (period);
    ALTER SEQUENCE revenue_sale_id_seq OWNED BY revenue_sale.id;

    CREATE TABLE revenue_sale_default PARTITION OF revenue_sale DEFAULT WITH (fillfactor = 80);
    month := first_month;
    WHILE month <= last_month + interval '3 months' LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF revenue_sale FOR VALUES FROM (%L) TO (%L) WITH (fillfactor = 80)',
            'revenue_sale_' || to_char(month, '"y"YYYY"m"MM'), month, (month + interval '1 month')::date);
        month := (month + interval '1 month')::date;
    END LOOP;

    INSERT INTO revenue_sale (
        id, external_id, type, occurred_at, amount, currency, coupon_code, click_id, conversation_id,
        customer_ref, store_id, period, content_digest, received_at, attribution, attributed_key,
        attribution_note, partner_id, placement_id, refund_of_id, upload_id, statement_id, touchpoint_id)
    SELECT id, external_id, type, occurred_at, amount, currency, coupon_code, click_id, conversation_id,
           customer_ref, store_id, period, content_digest, received_at, attribution, attributed_key,
           attribution_note, partner_id, placement_id, refund_of_id, upload_id, statement_id, touchpoint_id
      FROM revenue_sale_unpartitioned;
    DROP TABLE revenue_sale_unpartitioned;
END
$convert$;

ALTER TABLE revenue_sale ADD CONSTRAINT revenue_sale_pkey PRIMARY KEY (id, partner_id, period);
CREATE INDEX sale_placement_period ON revenue_sale (placement_id, period) WHERE placement_id IS NOT NULL;
CREATE INDEX sale_refund_of ON revenue_sale (refund_of_id) WHERE refund_of_id IS NOT NULL;
CREATE INDEX sale_statement ON revenue_sale (statement_id) WHERE statement_id IS NOT NULL;
CREATE INDEX sale_upload ON revenue_sale (upload_id) WHERE upload_id IS NOT NULL;
CREATE INDEX sale_partner_period_recent ON revenue_sale (partner_id, period, occurred_at DESC, id DESC);
CREATE INDEX sale_attributed_month ON revenue_sale (partner_id, period) INCLUDE (amount, currency)
    WHERE placement_id IS NOT NULL AND type = 'sale';
CREATE INDEX sale_coupon_code ON revenue_sale (partner_id, coupon_code) WHERE coupon_code IS NOT NULL;
CREATE INDEX sale_click_id ON revenue_sale (partner_id, click_id) WHERE click_id IS NOT NULL;
CREATE INDEX sale_conversation_id ON revenue_sale (partner_id, conversation_id) WHERE conversation_id IS NOT NULL;

ALTER TABLE revenue_sale
    ADD CONSTRAINT revenue_sale_partner_id_96241768_fk_contracts_partner_id
        FOREIGN KEY (partner_id) REFERENCES contracts_partner (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT revenue_sale_placement_id_22985e8b_fk_contracts_placement_id
        FOREIGN KEY (placement_id) REFERENCES contracts_placement (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT revenue_sale_statement_id_a27bd6f4_fk_revenue_statement_id
        FOREIGN KEY (statement_id) REFERENCES revenue_statement (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT revenue_sale_touchpoint_id_7529f8fc_fk_revenue_touchpoint_id
        FOREIGN KEY (touchpoint_id) REFERENCES revenue_touchpoint (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT revenue_sale_upload_id_ba281903_fk_revenue_saleupload_id
        FOREIGN KEY (upload_id) REFERENCES revenue_saleupload (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT sale_refund_of_fk_salekey
        FOREIGN KEY (partner_id, refund_of_id) REFERENCES revenue_salekey (partner_id, sale_id)
        DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE revenue_inquiry ADD CONSTRAINT inquiry_sale_fk_salekey
    FOREIGN KEY (partner_id, sale_id) REFERENCES revenue_salekey (partner_id, sale_id)
    DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE revenue_saleexclusion ADD CONSTRAINT saleexclusion_sale_fk_salekey
    FOREIGN KEY (partner_id, sale_id) REFERENCES revenue_salekey (partner_id, sale_id)
    DEFERRABLE INITIALLY DEFERRED;

-- Sales stored without claiming their keys first (the ORM, the admin, COPY): their keys are
-- claimed now, once per statement and set-based; a key another sale holds (or two sales of
-- the statement share) is refused as the unique index did. Sales whose keys were claimed for
-- them (ingestion) pass. Per statement, not per row: a row trigger writing keys one by one
-- made a statement of many new sales slow down as it grew.
CREATE FUNCTION revenue_sale_keys_claim() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    taken record;
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
    IF FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "sale_external_id_unique"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'sale_external_id_unique',
                  DETAIL = format('Key (partner_id, external_id)=(%s, %s) already exists.',
                                  taken.partner_id, taken.external_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER sale_keys_claim AFTER INSERT ON revenue_sale
    REFERENCING NEW TABLE AS new_sales FOR EACH STATEMENT EXECUTE FUNCTION revenue_sale_keys_claim();

-- Deleted sales give their keys back. The partition service's moves (delete from the DEFAULT
-- partition, insert into the month's new one) name the partition, which fires no trigger of
-- the parent; haken.sale_partition_move says so too, should one ever go through the parent.
CREATE FUNCTION revenue_sale_keys_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('haken.sale_partition_move', true), '') <> 'on' THEN
        DELETE FROM revenue_salekey k USING old_sales o
         WHERE k.partner_id = o.partner_id AND k.external_id = o.external_id AND k.sale_id = o.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER sale_keys_release AFTER DELETE ON revenue_sale
    REFERENCING OLD TABLE AS old_sales FOR EACH STATEMENT EXECUTE FUNCTION revenue_sale_keys_release();

CREATE FUNCTION revenue_sale_key_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a sale''s id, partner, external_id and period never change (sale %)', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER sale_key_fixed BEFORE UPDATE OF id, partner_id, external_id, period ON revenue_sale
    FOR EACH ROW WHEN (NEW.id <> OLD.id OR NEW.partner_id <> OLD.partner_id
                       OR NEW.external_id <> OLD.external_id OR NEW.period <> OLD.period)
    EXECUTE FUNCTION revenue_sale_key_fixed();

-- Statistics now, the empty partitions' included: a table never analyzed is planned as if it
-- held ten pages, and twenty such partitions add up to parallel plans for empty months.
ANALYZE revenue_salekey;
ANALYZE revenue_sale;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0006_pending_notification"),
        ("revenue", "0016_sale_monthly_rollup"),
    ]

    operations = [
        migrations.AddField(
            model_name="saleexclusion",
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
            "UPDATE revenue_saleexclusion x SET partner_id = s.partner_id FROM revenue_sale s WHERE s.id = x.sale_id",
            migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="saleexclusion",
            name="partner",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="contracts.partner"
            ),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, reverse_sql=None)],
            state_operations=[
                migrations.CreateModel(
                    name="SaleKey",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "partner_id",
                                "external_id",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("partner_id", models.BigIntegerField()),
                        ("external_id", models.CharField(max_length=128)),
                        ("sale_id", models.BigIntegerField()),
                        ("period", models.DateField()),
                    ],
                ),
                migrations.AddConstraint(
                    model_name="salekey",
                    constraint=models.UniqueConstraint(fields=("partner_id", "sale_id"), name="salekey_sale_unique"),
                ),
                migrations.RemoveConstraint(model_name="sale", name="sale_external_id_unique"),
                migrations.AlterField(
                    model_name="inquiry",
                    name="sale",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="revenue.sale",
                    ),
                ),
                migrations.AlterField(
                    model_name="sale",
                    name="refund_of",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="refunds",
                        to="revenue.sale",
                    ),
                ),
                migrations.AlterField(
                    model_name="saleexclusion",
                    name="sale",
                    field=models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="exclusion",
                        to="revenue.sale",
                    ),
                ),
            ],
        ),
    ]
