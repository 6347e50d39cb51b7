"""Demo data for the run command: three employees, three partners and placements in every
state. Everything goes through the services, so the audit trail is the real one.
Running it again changes nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from contracts import services
from contracts.models import Partner, Payee
from contracts.selectors import next_period_start, partner_today, period_start
from core.models import User
from core.services import user_language_set
from employees import services as employee_services

DEMO_PASSWORD = "demo-pass-2026"

EMPLOYEES: list[dict[str, Any]] = [
    {
        "slug": "rinna",
        "name": "Rinna",
        "title": "Coupon promoter",
        "avatar_color": "#db2777",
        "skills": ["coupon_promoter"],
        "languages": ["ja", "en"],
        "industries": ["convenience_retail", "ecommerce"],
        "built_by": "Studio Aoi",
        "persona": "Bright, quick and a little playful. Keeps recommendations short, always "
        "mentions the deal first, never pushes a shopper who says no.",
        "resume": "Ran in-store coupon campaigns for convenience-store chains: seasonal bento, "
        "hot snacks at the register, limited-edition sweets. Knows which offers move "
        "people from the app into the store.",
    },
    {
        "slug": "kai",
        "name": "Kai",
        "title": "Customer-service rep",
        "avatar_color": "#0891b2",
        "skills": ["customer_service"],
        "languages": ["en", "ja"],
        "industries": ["travel", "convenience_retail", "streaming"],
        "built_by": "Studio Aoi",
        "persona": "Calm, precise and warm. Quotes the policy it relies on, and hands over to a "
        "human the moment it is unsure.",
        "resume": "Resolved booking changes, refunds and membership questions from the "
        "partner's own policies, with a citation for every answer.",
    },
    {
        "slug": "mei",
        "name": "Mei",
        "title": "Campaign copywriter",
        "avatar_color": "#7c3aed",
        "skills": ["copywriter"],
        "languages": ["en", "ja"],
        "industries": ["film_media", "streaming", "travel"],
        "built_by": "Studio Aoi",
        "persona": "Vivid but disciplined: writes to the brief, offers three variants, and explains the angle of each.",
        "resume": "Wrote launch campaigns for film releases and streaming premieres: "
        "taglines, e-mail sequences and social posts, each approved by a human.",
    },
    {
        "slug": "sora",
        "name": "Sora",
        "title": "Travel concierge (in training)",
        "avatar_color": "#16a34a",
        "skills": ["customer_service", "coupon_promoter"],
        "languages": ["en"],
        "industries": ["travel", "hospitality"],
        "built_by": "Studio Aoi",
        "persona": "Friendly planner.",
        "resume": "Not yet published: still learning the ropes.",
        "publish": False,
    },
]

PEOPLE = [
    ("admin", User.Role.STAFF, "Ada", "Admin"),
    ("am-sato", User.Role.ACCOUNT_MANAGER, "Yui", "Sato"),
    ("am-okafor", User.Role.ACCOUNT_MANAGER, "Chidi", "Okafor"),
    ("finance-ito", User.Role.FINANCE, "Ken", "Ito"),
    # A second pair of eyes: money above FOUR_EYES_THRESHOLD is approved by someone else.
    ("finance-mori", User.Role.FINANCE, "Emi", "Mori"),
    ("hoshi-owner", User.Role.PARTNER, "Haruto", "Hoshino"),
    ("hoshi-clerk", User.Role.PARTNER, "Aiko", "Mori"),
    ("wayfarer-owner", User.Role.PARTNER, "Grace", "Lee"),
    ("lumen-owner", User.Role.PARTNER, "Marco", "Bellini"),
]

PARTNERS = [
    ("hoshi-mart", "Hoshi Mart", "convenience_retail", "JPY", "Asia/Tokyo", "am-sato"),
    ("wayfarer", "Wayfarer Travel", "travel", "USD", "America/New_York", "am-sato"),
    ("lumen", "Lumen Pictures", "film_media", "USD", "America/Los_Angeles", "am-okafor"),
]

SPLITS = [{"payee": "platform", "share": "0.70"}, {"payee": "studio-aoi", "share": "0.30"}]
ATTRIBUTION = {"window_days": 14, "model": "last_touch", "keys": ["conversation_id", "click_id", "coupon_code"]}


def _terms(currency: str, share: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "currency": currency,
        "period": "monthly",
        "share": share,
        "attribution": ATTRIBUTION,
        "hold_days": 30,
        "splits": SPLITS,
        **extra,
    }


class Command(BaseCommand):
    help = "Load the demo catalog, partners, people and placements (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if Partner.objects.filter(slug="hoshi-mart").exists():
            self.stdout.write("Demo data already loaded.")
            return
        with transaction.atomic():
            self._load()
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))

    def _load(self) -> None:
        people: dict[str, User] = {}
        for username, role, first, last in PEOPLE:
            user = User(
                username=username,
                role=role,
                first_name=first,
                last_name=last,
                email=f"{username}@haken.example",
                is_staff=role == User.Role.STAFF,
                is_superuser=role == User.Role.STAFF,
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
            people[username] = user
        admin = people["admin"]

        services.payee_create(actor=admin, slug="platform", name="Haken platform", kind=Payee.Kind.PLATFORM)
        services.payee_create(actor=admin, slug="studio-aoi", name="Studio Aoi", kind=Payee.Kind.STUDIO)
        services.payee_create(actor=admin, slug="kumo-resellers", name="Kumo Resellers", kind=Payee.Kind.RESELLER)

        employees = {}
        for spec in EMPLOYEES:
            spec = dict(spec)
            publish = spec.pop("publish", True)
            employee = employee_services.employee_create(actor=admin, **spec)
            if publish:
                employee = employee_services.employee_publish(actor=admin, employee=employee)
            employees[employee.slug] = employee

        partners = {}
        for slug, name, industry, currency, zone, manager in PARTNERS:
            partners[slug] = services.partner_create(
                actor=admin,
                slug=slug,
                name=name,
                industry=industry,
                currency=currency,
                timezone_name=zone,
                account_manager=people[manager],
            )
        services.partner_member_add(
            actor=admin, partner=partners["hoshi-mart"], user=people["hoshi-owner"], role="owner"
        )
        services.partner_member_add(
            actor=admin, partner=partners["hoshi-mart"], user=people["hoshi-clerk"], role="member"
        )
        services.partner_member_add(
            actor=admin, partner=partners["wayfarer"], user=people["wayfarer-owner"], role="owner"
        )
        services.partner_member_add(actor=admin, partner=partners["lumen"], user=people["lumen-owner"], role="owner")
        # Hoshi Mart's people read the portal in Japanese (their own choice, as the menu stores it).
        for username in ("hoshi-owner", "hoshi-clerk"):
            user_language_set(actor=people[username], language="ja")

        sato, okafor = people["am-sato"], people["am-okafor"]
        hoshi_owner, wayfarer_owner, lumen_owner = (
            people["hoshi-owner"],
            people["wayfarer-owner"],
            people["lumen-owner"],
        )

        def contracted(
            owner: User, manager: User, employee: str, terms: dict[str, Any], note: str, *, accept: bool = True
        ):
            placement = services.placement_request(actor=owner, employee=employees[employee], note=note)
            services.placement_approve(actor=manager, placement=placement, reason="Good fit")
            placement.refresh_from_db()
            start = period_start(partner_today(partner=placement.partner))
            version = services.contract_version_draft(
                actor=manager, placement=placement, terms=terms, effective_from=start
            )
            services.contract_version_propose(actor=manager, version=version)
            if accept:
                services.contract_version_accept(actor=owner, version=version)
            placement.refresh_from_db()
            return placement

        # Hoshi Mart × Rinna: active on DESIGN.md's graduated contract with a minimum wage.
        contracted(
            hoshi_owner,
            sato,
            "rinna",
            _terms(
                "JPY",
                {"model": "graduated", "tiers": [{"up_to": 1000000, "rate": "0.08"}, {"up_to": None, "rate": "0.05"}]},
                outcome_fees={},
                minimum_per_period=300000,
                cap_per_period=None,
            ),
            "Coupon campaign for autumn bento and hot snacks across 40 Tokyo stores.",
        )
        # Hoshi Mart × Kai: a request waiting for the account manager.
        services.placement_request(
            actor=hoshi_owner,
            employee=employees["kai"],
            note="Answer store-hours and lost-and-found questions in the app.",
        )
        # Wayfarer × Kai: approved, terms sent, waiting for the partner's decision.
        contracted(
            wayfarer_owner,
            sato,
            "kai",
            _terms(
                "USD",
                {"model": "flat", "rate": "0.12"},
                outcome_fees={"resolution": 150},
                minimum_per_period=50000,
                cap_per_period=2000000,
            ),
            "Handle booking-change questions after hours.",
            accept=False,
        )
        # Wayfarer × Rinna: active, then paused for the off-season.
        paused = contracted(
            wayfarer_owner,
            sato,
            "rinna",
            _terms("USD", {"model": "flat", "rate": "0.10"}),
            "Promote weekend getaway deals.",
        )
        services.placement_pause(actor=sato, placement=paused, reason="Off-season: campaign on hold")
        # Lumen × Mei: active, with an amendment to volume tiers proposed from next month.
        lumen_mei = contracted(
            lumen_owner,
            okafor,
            "mei",
            _terms("USD", {"model": "flat", "rate": "0.06"}, outcome_fees={"delivered_work": 25000}),
            "Launch copy for the spring slate.",
        )
        amendment = services.contract_version_draft(
            actor=okafor,
            placement=lumen_mei,
            terms=_terms(
                "USD",
                {"model": "volume", "tiers": [{"up_to": 5000000, "rate": "0.06"}, {"up_to": None, "rate": "0.08"}]},
                outcome_fees={"delivered_work": 25000},
            ),
            effective_from=next_period_start(partner_today(partner=lumen_mei.partner)),
        )
        services.contract_version_propose(actor=okafor, version=amendment)
        # Lumen × Kai: declined.
        declined = services.placement_request(
            actor=lumen_owner, employee=employees["kai"], note="Fan questions about premieres?"
        )
        services.placement_decline(
            actor=okafor, placement=declined, reason="Lumen's fan support is handled by its agency; revisit in Q3."
        )
