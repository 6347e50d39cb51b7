"""`manage.py settle --period YYYY-MM` settles in-process, under the same lock."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from revenue.models import SettlementRun, Statement
from tests.support.revenue import at, backdate, sale, touch
from tests.support.world import hire


def test_settle_command_writes_the_periods_statements(world):
    placement = backdate(hire(world))
    touch(placement, "coupon", "C1", at(10, 1, 9))
    sale(world.hoshi, at(10, 2), 2_000_000, coupon_code="C1")
    out = StringIO()
    call_command("settle", "--period", "2026-10", stdout=out)
    assert out.getvalue().strip() == (
        "2026-10: 1 sales attributed, 1 statements written over 1 contracts (1 statements for the period)."
    )
    statement = Statement.objects.get()
    # 8% of 1,000,000 + 5% of 1,000,000 = 130,000: under the 300,000 minimum
    assert (statement.period.isoformat(), statement.net, statement.wage) == ("2026-10-01", 2_000_000, 300_000)
    assert SettlementRun.objects.get().trigger == "command"


@pytest.mark.parametrize("period", ["2026-13", "October", "2026/10"])
def test_settle_command_refuses_a_malformed_period(world, period):
    with pytest.raises(CommandError, match="--period must look like 2026-10"):
        call_command("settle", "--period", period)
    assert (SettlementRun.objects.count(), Statement.objects.count()) == (0, 0)
