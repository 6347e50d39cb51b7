"""The standard tax rates of a migrated database (the data of migration payments 0003), put
back where a transactional test's flush emptied the table."""

from __future__ import annotations

import importlib

from django.apps import apps

from payments.models import TaxRate

_RATES_MIGRATION = importlib.import_module("payments.migrations.0003_tax_rates")


def tax_rates_ensure() -> None:
    if not TaxRate.objects.exists():
        _RATES_MIGRATION.seed(apps, None)
