"""The run command's demo data: loaded through the services, and loading it twice
changes nothing."""

from io import StringIO

from django.core.management import call_command

from contracts.models import ContractVersion, Placement
from revenue.models import Sale, Statement
from tests.support.snapshot import db_snapshot


def test_demo_data_covers_every_state_and_is_idempotent(db):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo_revenue", stdout=StringIO())
    assert sorted(Placement.objects.values_list("partner__slug", "employee__slug", "status")) == [
        ("hoshi-mart", "kai", "requested"),
        ("hoshi-mart", "rinna", "active"),
        ("lumen", "kai", "ended"),
        ("lumen", "mei", "active"),
        ("wayfarer", "kai", "approved"),
        ("wayfarer", "rinna", "paused"),
    ]
    assert sorted(ContractVersion.objects.values_list("status", flat=True)) == [
        "accepted",
        "accepted",
        "accepted",
        "proposed",
        "proposed",
    ]
    assert (
        Sale.objects.filter(type="sale", attribution="attributed").count(),
        Sale.objects.filter(type="sale", attribution="unattributed").count(),
    ) == (720, 180)
    hoshi = Statement.objects.get(contract__placement__partner__slug="hoshi-mart")
    # 691,200 of attributed sales less a 600 refund; 8% of it is under the 300,000 minimum
    assert (hoshi.status, hoshi.net, hoshi.wage) == ("draft", 690_600, 300_000)
    lumen = Statement.objects.get(contract__placement__partner__slug="lumen")
    assert lumen.wage == 75_000  # three delivered works at 25,000
    before = db_snapshot()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo_revenue", stdout=out)
    assert out.getvalue() == "Demo data already loaded.\nDemo revenue already loaded.\n"
    assert db_snapshot() == before
