"""Set-up shared by the agents tests: Hoshi Mart's Rinna with a catalog and an offer, Kai
with a knowledge base, Mei for copy; routers of LangChain fake chat models; a snapshot of
every row a turn could write, so negative tests can assert nothing changed."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from agents import services
from agents.llm import ModelChoice, ModelRouter
from agents.models import (
    AgentRun,
    CatalogItem,
    Conversation,
    CopyDraft,
    CouponOffer,
    IssuedCoupon,
    KnowledgeChunk,
    KnowledgeDocument,
    Message,
    Widget,
)
from core.models import AuditLog
from revenue.models import Outcome, Touchpoint
from tests.support.factories import EmployeeFactory
from tests.support.snapshot import Snapshot, db_snapshot
from tests.support.world import hire

CATALOG_CSV = b"""sku,name,description,price,tags
ONI-SALMON,Salmon onigiri,Rice ball with grilled salmon. A classic lunch.,180,lunch;rice
BENTO-KARAAGE,Karaage bento,Fried chicken bento box with rice and pickles. Hearty lunch.,598,lunch;hot
NIKUMAN,Nikuman steamed bun,Hot pork bun from the steamer at the register.,160,hot;snack
PUDDING,Custard pudding,Silky caramel custard pudding. A sweet treat.,210,sweet;dessert
GREEN-TEA,Green tea 500ml,Unsweetened bottled green tea.,140,drink
"""

RETURNS_MD = b"""# Returns policy

## Returning an item
You can return unopened items within 14 days of purchase with the receipt.
Refunds go back to the original payment method.

## Food
Fresh food cannot be returned unless it is spoiled or past its date.
"""

POINTS_MD = b"""# Hoshi Points FAQ

## Earning points
You earn one Hoshi point for every 100 yen you spend. Scan the app at the register.

## Using points
Points can be used from 100 points upward, one point is one yen.
"""

_TRACKED = (
    Conversation,
    Message,
    AgentRun,
    IssuedCoupon,
    CopyDraft,
    CatalogItem,
    KnowledgeDocument,
    KnowledgeChunk,
    CouponOffer,
    Widget,
    Touchpoint,
    Outcome,
    AuditLog,
)


def db_state() -> Snapshot:
    return db_snapshot(*_TRACKED)


def rinna_at_hoshi(world, *, offer: bool = True):
    placement = hire(world)
    services.catalog_upload(actor=world.hoshi_owner, placement=placement, content=CATALOG_CSV)
    if offer:
        services.offer_create(
            actor=world.hoshi_owner,
            placement=placement,
            title="10% off hot snacks",
            percent_off=10,
            code_prefix="RINNA",
            tags=["hot", "snack"],
        )
    return placement


def kai_at_hoshi(world):
    placement = hire(world, employee="kai")
    services.document_upload(
        actor=world.hoshi_owner, placement=placement, content=RETURNS_MD, filename="returns.md", title="Returns policy"
    )
    services.document_upload(
        actor=world.hoshi_owner, placement=placement, content=POINTS_MD, filename="points.md", title="Hoshi Points FAQ"
    )
    return placement


def mei_at_hoshi(world):
    world.mei = EmployeeFactory(slug="mei", name="Mei", title="Campaign copywriter", skills=["copywriter"])
    placement = hire(world, employee="mei")
    services.catalog_upload(actor=world.hoshi_owner, placement=placement, content=CATALOG_CSV)
    return placement


def fake(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(text) for text in replies]))


class BrokenChatModel(GenericFakeChatModel):
    """A chat model whose every call fails, as an endpoint that is down or times out."""

    def _generate(self, *args, **kwargs):
        raise TimeoutError("model endpoint timed out")


def broken() -> BrokenChatModel:
    return BrokenChatModel(messages=iter([]))


def router(small, large) -> ModelRouter:
    return ModelRouter(
        tiers={"small": ModelChoice("fake-small", "small", small), "large": ModelChoice("fake-large", "large", large)}
    )


def say(world, placement, text: str, *, conversation: Conversation | None = None, router_=None) -> Message:
    """The partner owner writes `text` in the portal; the turn runs at once (as the worker
    would); returns the reply."""
    if conversation is None:
        started = services.conversation_start(placement=placement, channel="portal", text=text, actor=world.hoshi_owner)
        message = started.message
    else:
        message = services.message_post(conversation=conversation, text=text, actor=world.hoshi_owner)
    return services.message_answer(message_id=message.pk, router=router_)
