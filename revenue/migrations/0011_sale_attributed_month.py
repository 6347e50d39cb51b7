"""The partner's revenue chart (attributed sales per month) read from an index alone.

Found by the mixed load test (benchmarks/load_mixed.py): at 10M stored sales the chart's
sum was a parallel sequential scan of the whole table (6.6 s cold, 2.5 s warm), which also
took both cores from every other page (portal/revenue p95 24 s under load, the other pages
8–12 s). With this index: an index-only scan of the partner's attributed sales of the
months shown (1.0 s cold, 0.4 s warm for 530,000 sales; p95 2.4 s). Attributed sales are
exactly those with a placement (attribution writes both together), so a partial index on
(partner, period) of sales with a placement, carrying amount and currency, answers the
chart by an index-only scan. It changes no update's HOT-ness: its columns and predicate
are set at insert or already indexed (placement), and pending sales are not in it.

Built CONCURRENTLY (hence a non-atomic migration): revenue_sale takes writes all the time,
and a plain CREATE INDEX would block ingestion for as long as it reads the whole table."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("revenue", "0010_sale_digest_canonical_text")]

    operations = [
        AddIndexConcurrently(
            model_name="sale",
            index=models.Index(fields=["partner", "period"], include=["amount", "currency"],
                               condition=models.Q(placement__isnull=False, type="sale"),
                               name="sale_attributed_month"),
        ),
    ]
