"""The payment models, moved out of the revenue app with their tables (revenue_invoice,
revenue_payout, ...): state only, no data moves."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


LEDGER_MODELS = ("account", "journalentry", "journalline")
PAYMENT_MODELS = ("invoice", "webhookevent", "payoutrun", "payout", "payoutitem", "reconciliationrun",
                  "reconciliationitem")


def _content_types_follow(apps, schema_editor):
    """A database that already has content types (and so permissions and admin log rows)
    for these models under `revenue` keeps them, relabelled to the new apps."""
    content_type = apps.get_model("contenttypes", "ContentType")
    for app_label, models_ in (("ledger", LEDGER_MODELS), ("payments", PAYMENT_MODELS)):
        taken = set(content_type.objects.filter(app_label=app_label).values_list("model", flat=True))
        content_type.objects.filter(app_label="revenue", model__in=[m for m in models_ if m not in taken]).update(
            app_label=app_label)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('contracts', '0005_invitation'),
        ('ledger', '0001_initial'),
        ('revenue', '0014_ledger_and_payments_apps'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Only Django's picture of the models moves; the tables, their rows, constraints,
        # triggers and sequences stay exactly where they are (db_table keeps the names).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Invoice',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('provider', models.CharField(max_length=16)),
                        ('currency', models.CharField(choices=[('AED', 'AED'), ('AFN', 'AFN'), ('ALL', 'ALL'), ('AMD', 'AMD'), ('ANG', 'ANG'), ('AOA', 'AOA'), ('ARS', 'ARS'), ('AUD', 'AUD'), ('AWG', 'AWG'), ('AZN', 'AZN'), ('BAM', 'BAM'), ('BBD', 'BBD'), ('BDT', 'BDT'), ('BGN', 'BGN'), ('BHD', 'BHD'), ('BIF', 'BIF'), ('BMD', 'BMD'), ('BND', 'BND'), ('BOB', 'BOB'), ('BRL', 'BRL'), ('BSD', 'BSD'), ('BTN', 'BTN'), ('BWP', 'BWP'), ('BYN', 'BYN'), ('BZD', 'BZD'), ('CAD', 'CAD'), ('CDF', 'CDF'), ('CHF', 'CHF'), ('CLP', 'CLP'), ('CNY', 'CNY'), ('COP', 'COP'), ('CRC', 'CRC'), ('CUP', 'CUP'), ('CVE', 'CVE'), ('CZK', 'CZK'), ('DJF', 'DJF'), ('DKK', 'DKK'), ('DOP', 'DOP'), ('DZD', 'DZD'), ('EGP', 'EGP'), ('ERN', 'ERN'), ('ETB', 'ETB'), ('EUR', 'EUR'), ('FJD', 'FJD'), ('FKP', 'FKP'), ('GBP', 'GBP'), ('GEL', 'GEL'), ('GHS', 'GHS'), ('GIP', 'GIP'), ('GMD', 'GMD'), ('GNF', 'GNF'), ('GTQ', 'GTQ'), ('GYD', 'GYD'), ('HKD', 'HKD'), ('HNL', 'HNL'), ('HTG', 'HTG'), ('HUF', 'HUF'), ('IDR', 'IDR'), ('ILS', 'ILS'), ('INR', 'INR'), ('IQD', 'IQD'), ('IRR', 'IRR'), ('ISK', 'ISK'), ('JMD', 'JMD'), ('JOD', 'JOD'), ('JPY', 'JPY'), ('KES', 'KES'), ('KGS', 'KGS'), ('KHR', 'KHR'), ('KMF', 'KMF'), ('KPW', 'KPW'), ('KRW', 'KRW'), ('KWD', 'KWD'), ('KYD', 'KYD'), ('KZT', 'KZT'), ('LAK', 'LAK'), ('LBP', 'LBP'), ('LKR', 'LKR'), ('LRD', 'LRD'), ('LSL', 'LSL'), ('LYD', 'LYD'), ('MAD', 'MAD'), ('MDL', 'MDL'), ('MGA', 'MGA'), ('MKD', 'MKD'), ('MMK', 'MMK'), ('MNT', 'MNT'), ('MOP', 'MOP'), ('MRU', 'MRU'), ('MUR', 'MUR'), ('MVR', 'MVR'), ('MWK', 'MWK'), ('MXN', 'MXN'), ('MYR', 'MYR'), ('MZN', 'MZN'), ('NAD', 'NAD'), ('NGN', 'NGN'), ('NIO', 'NIO'), ('NOK', 'NOK'), ('NPR', 'NPR'), ('NZD', 'NZD'), ('OMR', 'OMR'), ('PAB', 'PAB'), ('PEN', 'PEN'), ('PGK', 'PGK'), ('PHP', 'PHP'), ('PKR', 'PKR'), ('PLN', 'PLN'), ('PYG', 'PYG'), ('QAR', 'QAR'), ('RON', 'RON'), ('RSD', 'RSD'), ('RUB', 'RUB'), ('RWF', 'RWF'), ('SAR', 'SAR'), ('SBD', 'SBD'), ('SCR', 'SCR'), ('SDG', 'SDG'), ('SEK', 'SEK'), ('SGD', 'SGD'), ('SHP', 'SHP'), ('SLE', 'SLE'), ('SOS', 'SOS'), ('SRD', 'SRD'), ('SSP', 'SSP'), ('STN', 'STN'), ('SVC', 'SVC'), ('SYP', 'SYP'), ('SZL', 'SZL'), ('THB', 'THB'), ('TJS', 'TJS'), ('TMT', 'TMT'), ('TND', 'TND'), ('TOP', 'TOP'), ('TRY', 'TRY'), ('TTD', 'TTD'), ('TWD', 'TWD'), ('TZS', 'TZS'), ('UAH', 'UAH'), ('UGX', 'UGX'), ('USD', 'USD'), ('UYU', 'UYU'), ('UZS', 'UZS'), ('VES', 'VES'), ('VND', 'VND'), ('VUV', 'VUV'), ('WST', 'WST'), ('XAF', 'XAF'), ('XCD', 'XCD'), ('XOF', 'XOF'), ('XPF', 'XPF'), ('YER', 'YER'), ('ZAR', 'ZAR'), ('ZMW', 'ZMW'), ('ZWG', 'ZWG')], max_length=3)),
                        ('amount', models.BigIntegerField()),
                        ('status', models.CharField(choices=[('draft', 'Being issued'), ('open', 'Open'), ('payment_failed', 'Payment failed'), ('paid', 'Paid'), ('void', 'Void')], default='draft', max_length=16)),
                        ('idempotency_key', models.CharField(max_length=200, unique=True)),
                        ('provider_invoice_id', models.CharField(blank=True, default='', max_length=64)),
                        ('number', models.CharField(blank=True, default='', max_length=64)),
                        ('hosted_url', models.CharField(blank=True, default='', max_length=500)),
                        ('failure_message', models.CharField(blank=True, default='', max_length=300)),
                        ('issue_error', models.CharField(blank=True, default='', max_length=300)),
                        ('issue_attempt', models.PositiveIntegerField(default=1)),
                        ('issued_at', models.DateTimeField(blank=True, null=True)),
                        ('paid_at', models.DateTimeField(blank=True, null=True)),
                        ('failed_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('partner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='contracts.partner')),
                        ('payment_entry', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='invoice_payment', to='ledger.journalentry')),
                        ('statement', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='invoice', to='revenue.statement')),
                    ],
                    options={
                        'db_table': 'revenue_invoice',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='Payout',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('provider', models.CharField(max_length=16)),
                        ('destination', models.CharField(blank=True, default='', max_length=64)),
                        ('currency', models.CharField(choices=[('AED', 'AED'), ('AFN', 'AFN'), ('ALL', 'ALL'), ('AMD', 'AMD'), ('ANG', 'ANG'), ('AOA', 'AOA'), ('ARS', 'ARS'), ('AUD', 'AUD'), ('AWG', 'AWG'), ('AZN', 'AZN'), ('BAM', 'BAM'), ('BBD', 'BBD'), ('BDT', 'BDT'), ('BGN', 'BGN'), ('BHD', 'BHD'), ('BIF', 'BIF'), ('BMD', 'BMD'), ('BND', 'BND'), ('BOB', 'BOB'), ('BRL', 'BRL'), ('BSD', 'BSD'), ('BTN', 'BTN'), ('BWP', 'BWP'), ('BYN', 'BYN'), ('BZD', 'BZD'), ('CAD', 'CAD'), ('CDF', 'CDF'), ('CHF', 'CHF'), ('CLP', 'CLP'), ('CNY', 'CNY'), ('COP', 'COP'), ('CRC', 'CRC'), ('CUP', 'CUP'), ('CVE', 'CVE'), ('CZK', 'CZK'), ('DJF', 'DJF'), ('DKK', 'DKK'), ('DOP', 'DOP'), ('DZD', 'DZD'), ('EGP', 'EGP'), ('ERN', 'ERN'), ('ETB', 'ETB'), ('EUR', 'EUR'), ('FJD', 'FJD'), ('FKP', 'FKP'), ('GBP', 'GBP'), ('GEL', 'GEL'), ('GHS', 'GHS'), ('GIP', 'GIP'), ('GMD', 'GMD'), ('GNF', 'GNF'), ('GTQ', 'GTQ'), ('GYD', 'GYD'), ('HKD', 'HKD'), ('HNL', 'HNL'), ('HTG', 'HTG'), ('HUF', 'HUF'), ('IDR', 'IDR'), ('ILS', 'ILS'), ('INR', 'INR'), ('IQD', 'IQD'), ('IRR', 'IRR'), ('ISK', 'ISK'), ('JMD', 'JMD'), ('JOD', 'JOD'), ('JPY', 'JPY'), ('KES', 'KES'), ('KGS', 'KGS'), ('KHR', 'KHR'), ('KMF', 'KMF'), ('KPW', 'KPW'), ('KRW', 'KRW'), ('KWD', 'KWD'), ('KYD', 'KYD'), ('KZT', 'KZT'), ('LAK', 'LAK'), ('LBP', 'LBP'), ('LKR', 'LKR'), ('LRD', 'LRD'), ('LSL', 'LSL'), ('LYD', 'LYD'), ('MAD', 'MAD'), ('MDL', 'MDL'), ('MGA', 'MGA'), ('MKD', 'MKD'), ('MMK', 'MMK'), ('MNT', 'MNT'), ('MOP', 'MOP'), ('MRU', 'MRU'), ('MUR', 'MUR'), ('MVR', 'MVR'), ('MWK', 'MWK'), ('MXN', 'MXN'), ('MYR', 'MYR'), ('MZN', 'MZN'), ('NAD', 'NAD'), ('NGN', 'NGN'), ('NIO', 'NIO'), ('NOK', 'NOK'), ('NPR', 'NPR'), ('NZD', 'NZD'), ('OMR', 'OMR'), ('PAB', 'PAB'), ('PEN', 'PEN'), ('PGK', 'PGK'), ('PHP', 'PHP'), ('PKR', 'PKR'), ('PLN', 'PLN'), ('PYG', 'PYG'), ('QAR', 'QAR'), ('RON', 'RON'), ('RSD', 'RSD'), ('RUB', 'RUB'), ('RWF', 'RWF'), ('SAR', 'SAR'), ('SBD', 'SBD'), ('SCR', 'SCR'), ('SDG', 'SDG'), ('SEK', 'SEK'), ('SGD', 'SGD'), ('SHP', 'SHP'), ('SLE', 'SLE'), ('SOS', 'SOS'), ('SRD', 'SRD'), ('SSP', 'SSP'), ('STN', 'STN'), ('SVC', 'SVC'), ('SYP', 'SYP'), ('SZL', 'SZL'), ('THB', 'THB'), ('TJS', 'TJS'), ('TMT', 'TMT'), ('TND', 'TND'), ('TOP', 'TOP'), ('TRY', 'TRY'), ('TTD', 'TTD'), ('TWD', 'TWD'), ('TZS', 'TZS'), ('UAH', 'UAH'), ('UGX', 'UGX'), ('USD', 'USD'), ('UYU', 'UYU'), ('UZS', 'UZS'), ('VES', 'VES'), ('VND', 'VND'), ('VUV', 'VUV'), ('WST', 'WST'), ('XAF', 'XAF'), ('XCD', 'XCD'), ('XOF', 'XOF'), ('XPF', 'XPF'), ('YER', 'YER'), ('ZAR', 'ZAR'), ('ZMW', 'ZMW'), ('ZWG', 'ZWG')], max_length=3)),
                        ('amount', models.BigIntegerField()),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('failed', 'Failed (will retry)')], default='pending', max_length=16)),
                        ('attempt', models.PositiveIntegerField(default=1)),
                        ('provider_transfer_id', models.CharField(blank=True, default='', max_length=64)),
                        ('failure_message', models.CharField(blank=True, default='', max_length=300)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('journal_entry', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='payout', to='ledger.journalentry')),
                        ('payee', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='contracts.payee')),
                    ],
                    options={
                        'db_table': 'revenue_payout',
                        'ordering': ['run_id', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='PayoutItem',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('amount', models.BigIntegerField()),
                        ('payout', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='items', to='payments.payout')),
                        ('split', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='payout_item', to='revenue.statementsplit')),
                    ],
                    options={
                        'db_table': 'revenue_payoutitem',
                        'ordering': ['payout_id', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='PayoutRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=16)),
                        ('as_of', models.DateTimeField(help_text='Money collected before this, less each hold, is due.')),
                        ('trigger', models.CharField(default='console', max_length=16)),
                        ('payouts_total', models.IntegerField(default=0)),
                        ('payouts_done', models.IntegerField(default=0)),
                        ('payouts_sent', models.IntegerField(default=0)),
                        ('payouts_failed', models.IntegerField(default=0)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('error', models.TextField(blank=True)),
                        ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'revenue_payoutrun',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.AddField(
                    model_name='payout',
                    name='run',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='payouts', to='payments.payoutrun'),
                ),
                migrations.CreateModel(
                    name='ReconciliationRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='running', max_length=16)),
                        ('invoices_checked', models.IntegerField(default=0)),
                        ('transfers_checked', models.IntegerField(default=0)),
                        ('mismatches', models.IntegerField(default=0)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('error', models.TextField(blank=True)),
                        ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'revenue_reconciliationrun',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='ReconciliationItem',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(max_length=40)),
                        ('reference', models.CharField(max_length=120)),
                        ('expected', models.CharField(blank=True, default='', max_length=120)),
                        ('actual', models.CharField(blank=True, default='', max_length=120)),
                        ('message', models.CharField(max_length=300)),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='payments.reconciliationrun')),
                    ],
                    options={
                        'db_table': 'revenue_reconciliationitem',
                        'ordering': ['run_id', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='WebhookEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('provider', models.CharField(max_length=16)),
                        ('event_id', models.CharField(max_length=100)),
                        ('type', models.CharField(max_length=100)),
                        ('created', models.BigIntegerField(help_text="The event's own time (Unix seconds).")),
                        ('payload', models.JSONField()),
                        ('outcome', models.CharField(choices=[('processed', 'Processed'), ('ignored', 'Ignored'), ('rejected', 'Rejected')], max_length=16)),
                        ('message', models.CharField(blank=True, default='', max_length=300)),
                        ('received_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('invoice', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='events', to='payments.invoice')),
                    ],
                    options={
                        'db_table': 'revenue_webhookevent',
                        'ordering': ['-received_at', '-id'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='invoice',
                    constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='invoice_amount_positive'),
                ),
                migrations.AddConstraint(
                    model_name='invoice',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['draft', 'open', 'payment_failed', 'paid', 'void'])), name='invoice_status_valid'),
                ),
                migrations.AddConstraint(
                    model_name='invoice',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'paid'), ('payment_entry__isnull', False), ('paid_at__isnull', False)), models.Q(models.Q(('status', 'paid'), _negated=True), ('payment_entry__isnull', True)), _connector='OR'), name='invoice_paid_has_entry'),
                ),
                migrations.AddConstraint(
                    model_name='invoice',
                    constraint=models.UniqueConstraint(condition=models.Q(('provider_invoice_id', ''), _negated=True), fields=('provider', 'provider_invoice_id'), name='invoice_provider_id_unique'),
                ),
                migrations.AddConstraint(
                    model_name='payoutitem',
                    constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='payout_item_positive'),
                ),
                migrations.AddConstraint(
                    model_name='payoutrun',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['queued', 'running', 'done', 'failed'])), name='payout_run_status_valid'),
                ),
                migrations.AddConstraint(
                    model_name='payout',
                    constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='payout_amount_positive'),
                ),
                migrations.AddConstraint(
                    model_name='payout',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'sent', 'failed'])), name='payout_status_valid'),
                ),
                migrations.AddConstraint(
                    model_name='payout',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'sent'), ('journal_entry__isnull', False)), models.Q(models.Q(('status', 'sent'), _negated=True), ('journal_entry__isnull', True)), _connector='OR'), name='payout_sent_has_entry'),
                ),
                migrations.AddConstraint(
                    model_name='payout',
                    constraint=models.UniqueConstraint(condition=models.Q(('provider_transfer_id', ''), _negated=True), fields=('provider', 'provider_transfer_id'), name='payout_transfer_unique'),
                ),
                migrations.AddConstraint(
                    model_name='webhookevent',
                    constraint=models.UniqueConstraint(fields=('provider', 'event_id'), name='webhook_event_once'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(_content_types_follow, migrations.RunPython.noop),
    ]
