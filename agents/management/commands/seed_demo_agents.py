"""Demo data of the agents for the run command, through the services: Rinna's catalog, an
offer and a widget at Hoshi Mart with a conversation in which she recommends and issues a
coupon; Kai's policies for Hoshi Mart; Mei's catalog at Lumen Pictures with a draft waiting
for review. Turns are answered here with the offline engine (the worker, finding the
replies made, leaves them be). Running it again changes nothing."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand

from agents import services
from agents.models import Widget
from contracts.models import Placement
from core.models import User

RINNA_CATALOG = """sku,name,description,price,tags
ONI-SALMON,Salmon onigiri,Rice ball with grilled salmon. A classic lunch.,180,lunch;rice
ONI-TUNA,Tuna mayo onigiri,Rice ball with tuna and mayonnaise.,160,lunch;rice
BENTO-KARAAGE,Karaage bento,Fried chicken bento box with rice and pickles. Hearty lunch.,598,lunch;hot
BENTO-SABA,Grilled mackerel bento,Salted mackerel with rice and vegetables.,648,lunch;hot
NIKUMAN,Nikuman steamed bun,Hot pork bun from the steamer at the register.,160,hot;snack
FAMICHIKI,Crispy chicken,Juicy fried chicken from the hot counter.,220,hot;snack
ODEN-SET,Oden set,"Daikon, egg and fish cake in dashi. Warms you up in winter.",350,hot;winter
PUDDING,Custard pudding,Silky caramel custard pudding. A sweet treat.,210,sweet;dessert
MATCHA-ROLL,Matcha roll cake,Soft sponge with matcha cream.,280,sweet;dessert
GREEN-TEA,Green tea 500ml,Unsweetened bottled green tea.,140,drink
HOT-COFFEE,Fresh hot coffee,Freshly brewed coffee from the machine. Regular size.,120,drink;hot
"""

KAI_DOCUMENTS = {
    "Returns policy": """# Returns policy

## Returning an item
You can return unopened items within 14 days of purchase with the receipt.
Refunds go back to the original payment method.

## Food
Fresh food cannot be returned unless it is spoiled or past its date; then we refund it in full.
""",
    "Hoshi Points FAQ": """# Hoshi Points FAQ

## Earning points
You earn one Hoshi point for every 100 yen you spend. Scan the app at the register.

## Using points
Points can be used from 100 points upward; one point is one yen.

## Missing points
Points appear within 24 hours. If they are missing after that, keep your receipt and ask us.
""",
}

MEI_CATALOG = """sku,name,description,price,tags
FILM-NORTHLIGHT,Northlight,A quiet thriller set in an Arctic research station. In cinemas in spring.,1500,film;thriller
FILM-PAPER-MOON,Paper Moon Diner,A warm comedy about a diner that only opens at night.,1500,film;comedy
"""


class Command(BaseCommand):
    help = "Load demo catalogs, documents, offers, a widget and conversations (idempotent; needs seed_demo)."

    def handle(self, *args: Any, **options: Any) -> None:
        rinna = Placement.objects.filter(partner__slug="hoshi-mart", employee__slug="rinna").first()
        if rinna is None:
            self.stdout.write("Run seed_demo first.")
            return
        if Widget.objects.filter(placement=rinna).exists():
            self.stdout.write("Demo agents already loaded.")
            return
        hoshi_owner = User.objects.get(username="hoshi-owner")
        port = os.environ.get("PORT", "8000")
        services.catalog_upload(
            actor=hoshi_owner, placement=rinna, content=RINNA_CATALOG.encode(), filename="hoshi-catalog.csv"
        )
        services.offer_create(
            actor=hoshi_owner,
            placement=rinna,
            title="10% off hot snacks",
            percent_off=10,
            code_prefix="RINNA",
            tags=["hot", "snack"],
        )
        services.offer_create(
            actor=hoshi_owner,
            placement=rinna,
            title="50 yen off any lunch",
            percent_off=8,
            code_prefix="LUNCH",
            tags=["lunch"],
        )
        widget = services.widget_configure(
            actor=hoshi_owner,
            placement=rinna,
            allowed_origins=[f"http://127.0.0.1:{port}", f"http://localhost:{port}", "https://shop.hoshi-mart.example"],
        )
        started = services.conversation_start(
            placement=rinna, channel="portal", actor=hoshi_owner, text="Something hot for lunch?"
        )
        services.message_answer(message_id=started.message.pk)
        follow_up = services.message_post(
            conversation=started.conversation, actor=hoshi_owner, text="Nice. Do you have a coupon for the nikuman?"
        )
        services.message_answer(message_id=follow_up.pk)

        kai = Placement.objects.filter(partner__slug="hoshi-mart", employee__slug="kai").first()
        if kai is not None and kai.status != Placement.Status.ENDED:
            for title, body in KAI_DOCUMENTS.items():
                services.document_upload(
                    actor=hoshi_owner,
                    placement=kai,
                    content=body.encode(),
                    filename=f"{title.lower().replace(' ', '-')}.md",
                    title=title,
                )
            if kai.status == Placement.Status.ACTIVE:
                asked = services.conversation_start(
                    placement=kai, channel="portal", actor=hoshi_owner, text="Can I return fresh food?"
                )
                services.message_answer(message_id=asked.message.pk)

        mei = Placement.objects.filter(
            partner__slug="lumen", employee__slug="mei", status=Placement.Status.ACTIVE
        ).first()
        if mei is not None:
            lumen_owner = User.objects.get(username="lumen-owner")
            services.catalog_upload(
                actor=lumen_owner, placement=mei, content=MEI_CATALOG.encode(), filename="lumen-releases.csv"
            )
            brief = services.conversation_start(
                placement=mei,
                channel="portal",
                actor=lumen_owner,
                text="Write a campaign for Northlight, our thriller, for young adults who love mysteries",
            )
            services.message_answer(message_id=brief.message.pk)
        self.stdout.write(
            self.style.SUCCESS(f"Demo agents loaded. Widget key for Rinna at Hoshi Mart: {widget.publishable_key}")
        )
