"""The standard rates the platform invoices at, as data (payments.TaxRate): Japan's
consumption tax and a handful of EU VAT rates, with their real changes. valid_to is the
last day a rate was in force."""

from datetime import date
from decimal import Decimal

from django.db import migrations

RATES = [
    # Japan: 8% from 2014-04-01, 10% from 2019-10-01 (the 8% reduced rate on food is not
    # a category the platform sells).
    ("JP", "0.0800", date(2014, 4, 1), date(2019, 9, 30)),
    ("JP", "0.1000", date(2019, 10, 1), None),
    # Germany: 19%, cut to 16% for the second half of 2020.
    ("DE", "0.1900", date(2007, 1, 1), date(2020, 6, 30)),
    ("DE", "0.1600", date(2020, 7, 1), date(2020, 12, 31)),
    ("DE", "0.1900", date(2021, 1, 1), None),
    ("FR", "0.2000", date(2014, 1, 1), None),
    ("NL", "0.2100", date(2012, 10, 1), None),
    # Ireland: 23%, cut to 21% from September 2020 to February 2021.
    ("IE", "0.2300", date(2012, 1, 1), date(2020, 8, 31)),
    ("IE", "0.2100", date(2020, 9, 1), date(2021, 2, 28)),
    ("IE", "0.2300", date(2021, 3, 1), None),
]


def seed(apps, schema_editor):
    rate = apps.get_model("payments", "TaxRate")
    for jurisdiction, value, valid_from, valid_to in RATES:
        rate.objects.get_or_create(
            jurisdiction=jurisdiction,
            category="standard",
            valid_from=valid_from,
            defaults={"rate": Decimal(value), "valid_to": valid_to},
        )


def unseed(apps, schema_editor):
    rate = apps.get_model("payments", "TaxRate")
    for jurisdiction, _value, valid_from, _valid_to in RATES:
        rate.objects.filter(jurisdiction=jurisdiction, category="standard", valid_from=valid_from).delete()


class Migration(migrations.Migration):
    dependencies = [("payments", "0002_tax_and_credit_notes")]

    operations = [migrations.RunPython(seed, unseed)]
