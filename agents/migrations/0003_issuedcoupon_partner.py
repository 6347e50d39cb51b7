"""An issued coupon names its touchpoint by (partner_id, touchpoint_id): revenue_touchpoint is
partitioned by month (revenue 0020), and the foreign key goes to its key table
revenue_touchpointkey (partner_id, touchpoint_id), created there. This adds the partner
(backfilled from the touchpoint) and drops the foreign key on the id alone."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0002_dialogue_state"),
        ("contracts", "0006_pending_notification"),
        ("revenue", "0019_outcome_partitioned"),
    ]

    operations = [
        migrations.AddField(
            model_name="issuedcoupon",
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
            "UPDATE agents_issuedcoupon c SET partner_id = t.partner_id FROM revenue_touchpoint t "
            "WHERE t.id = c.touchpoint_id",
            migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="issuedcoupon",
            name="partner",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="contracts.partner"
            ),
        ),
        migrations.AlterField(
            model_name="issuedcoupon",
            name="touchpoint",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="revenue.touchpoint",
            ),
        ),
    ]
