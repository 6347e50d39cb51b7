"""The run command's demo agents: made through the services, shown in the portal, and
loading them twice changes nothing."""

from io import StringIO

from django.core.management import call_command

from agents.models import Conversation, CopyDraft, IssuedCoupon, KnowledgeDocument, Widget
from core.models import AuditLog
from tests.support.snapshot import db_snapshot


def test_demo_agents_are_loaded_through_the_services_and_idempotent(db):
    for command in ("seed_demo", "seed_demo_revenue", "seed_demo_agents"):
        call_command(command, stdout=StringIO())
    rinna_widget = Widget.objects.get(placement__partner__slug="hoshi-mart", placement__employee__slug="rinna")
    assert rinna_widget.allowed_origins == [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "https://shop.hoshi-mart.example",
    ]
    conversation = Conversation.objects.get(placement=rinna_widget.placement)
    assert list(conversation.messages.values_list("role", "intent")) == [
        ("user", "recommend"),
        ("assistant", "recommend"),
        ("user", "coupon"),
        ("assistant", "coupon"),
    ]
    coupon = IssuedCoupon.objects.get()
    assert coupon.code.startswith("RINNA-") and coupon.offer.title == "10% off hot snacks"
    assert sorted(KnowledgeDocument.objects.values_list("placement__employee__slug", "title")) == [
        ("kai", "Hoshi Points FAQ"),
        ("kai", "Returns policy"),
    ]
    assert CopyDraft.objects.get().status == "pending"
    assert AuditLog.objects.filter(action="catalog.upload").count() == 2
    before = db_snapshot()
    out = StringIO()
    call_command("seed_demo_agents", stdout=out)
    assert out.getvalue() == "Demo agents already loaded.\n"
    assert db_snapshot() == before
