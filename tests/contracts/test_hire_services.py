from contracts.models import ContractVersion, Placement, PlacementTransition
from core.models import AuditLog
from tests.support.world import hire


def test_hire_to_active_through_services(world):
    # given a partner owner and a published employee
    # when the whole journey runs
    placement = hire(world)
    # then the placement is active under version 1, with every step on record
    assert placement.status == Placement.Status.ACTIVE
    version = placement.contract.versions.get()
    assert (version.number, version.status) == (1, ContractVersion.Status.ACCEPTED)
    assert list(PlacementTransition.objects.filter(placement=placement).values_list("from_status", "to_status")) == [
        ("", "requested"),
        ("requested", "approved"),
        ("approved", "active"),
    ]
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == [
        "placement.requested",
        "placement.approved",
        "contract.drafted",
        "contract.proposed",
        "contract.accepted",
        "placement.activated",
    ]
