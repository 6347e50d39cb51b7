from django.db import migrations

# Leave a fifth of each page free so the attribution pass can rewrite a sale in place
# (a HOT update: no new index entries) instead of moving it; see Sale.Meta.indexes.
SQL = "ALTER TABLE revenue_sale SET (fillfactor = 80);"
REVERSE = "ALTER TABLE revenue_sale RESET (fillfactor);"


class Migration(migrations.Migration):
    dependencies = [("revenue", "0006_sale_indexes")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
