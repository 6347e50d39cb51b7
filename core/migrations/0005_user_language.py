from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_user_time_zone"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="language",
            field=models.CharField(blank=True, default="", max_length=8),
        ),
    ]
