"""The ledger and payment models leave the revenue app for their own apps (ledger 0001,
payments 0001); their tables stay. Statement.journal_entry now points at ledger.JournalEntry."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0001_initial'),
        ('revenue', '0013_statement_four_eyes'),
    ]

    operations = [
        # Only Django's picture of the models moves; the tables, their rows, constraints,
        # triggers and sequences stay exactly where they are (db_table keeps the names).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='journalline',
                    name='account',
                ),
                migrations.RemoveField(
                    model_name='invoice',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='invoice',
                    name='partner',
                ),
                migrations.RemoveField(
                    model_name='invoice',
                    name='payment_entry',
                ),
                migrations.RemoveField(
                    model_name='invoice',
                    name='statement',
                ),
                migrations.RemoveField(
                    model_name='webhookevent',
                    name='invoice',
                ),
                migrations.RemoveField(
                    model_name='journalentry',
                    name='posted_by',
                ),
                migrations.RemoveField(
                    model_name='journalentry',
                    name='reverses',
                ),
                migrations.RemoveField(
                    model_name='payout',
                    name='journal_entry',
                ),
                migrations.RemoveField(
                    model_name='journalline',
                    name='entry',
                ),
                migrations.AlterField(
                    model_name='statement',
                    name='journal_entry',
                    field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='statement', to='ledger.journalentry'),
                ),
                migrations.RemoveField(
                    model_name='payout',
                    name='payee',
                ),
                migrations.RemoveField(
                    model_name='payout',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='payoutitem',
                    name='payout',
                ),
                migrations.RemoveField(
                    model_name='payoutitem',
                    name='split',
                ),
                migrations.RemoveField(
                    model_name='payoutrun',
                    name='requested_by',
                ),
                migrations.RemoveField(
                    model_name='reconciliationitem',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='reconciliationrun',
                    name='requested_by',
                ),
                migrations.DeleteModel(
                    name='Account',
                ),
                migrations.DeleteModel(
                    name='Invoice',
                ),
                migrations.DeleteModel(
                    name='WebhookEvent',
                ),
                migrations.DeleteModel(
                    name='JournalLine',
                ),
                migrations.DeleteModel(
                    name='JournalEntry',
                ),
                migrations.DeleteModel(
                    name='Payout',
                ),
                migrations.DeleteModel(
                    name='PayoutItem',
                ),
                migrations.DeleteModel(
                    name='PayoutRun',
                ),
                migrations.DeleteModel(
                    name='ReconciliationItem',
                ),
                migrations.DeleteModel(
                    name='ReconciliationRun',
                ),
            ],
            database_operations=[],
        ),
    ]
