"""The dialogue-quality suite: scripted conversations with Rinna, Kai and Mei at three
partners made for it (an English bookshop, a Japanese drugstore, an electronics
retailer), run through the public chat APIs, every turn checked against shop-floor
criteria.

The dialogues are data (agents/dialogues/*.json), the partners too (catalog CSV, offers,
policy documents under agents/dialogues/partners/), loaded through the same services the
portal's upload uses. Each turn is posted through the widget API (or, for one-message
conversations, the members' API), answered as the worker would (services.message_answer)
and read back through the API. `check_turn` then judges the reply on each criterion that
applies to it; `run_suite` returns the per-turn verdicts and timings.

Criteria:
- invented: every price, percentage and code in the reply comes from the partner's data
  (catalog prices, configured offers, document text) or the shopper's own words.
- coupon: a code in the reply is one issued for a configured offer of this placement in
  this conversation, there is at most one code per offer per conversation, and a code asked
  for again is the one given before.
- offer: the offer chosen is the one expected for what is in play (a tagged offer that fits
  the products before the catalog-wide one).
- intent: the turn was handled as what it was (greeting as a greeting, a deal as a deal).
- products: what was recommended is among the items that fit, and none that must not be.
- reference: "the second one" is the second item shown before.
- constraint: price bounds, "cheaper" and attributes respected; a discount bigger than any
  offer is declined plainly, with what does apply.
- language: the reply is in the shopper's language.
- opener: the reply does not open like an earlier reply of the conversation.
- citation: each cited document has a sentence present in the reply, and the expected one.
- escalation: handed to a person exactly when expected, with fitting wording.
- style: short, one next step, no back-office wording, Japanese joined correctly.
- draft: Mei's copy has a headline, a body and a call to action, no price or discount the
  brief did not give, does not echo the brief, names only fitting products.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from agents import dialogue, language, services
from agents.models import AgentRun, IssuedCoupon, KnowledgeDocument, Message
from contracts.models import Contract, ContractVersion, Partner, PartnerMembership, Payee, Placement
from core.currencies import minor_unit_exponent
from core.models import User
from employees.models import DigitalEmployee

# DIALOGUES_ROOT lets a held-out set written by someone else (its dialogues and partners
# folders) live outside the repository and be run the same way.
ROOT = Path(os.environ.get("DIALOGUES_ROOT") or Path(__file__).resolve().parent / "dialogues")
ORIGIN = "https://shop.dialogues.example"
CRITERIA = (
    "invented",
    "coupon",
    "offer",
    "intent",
    "products",
    "reference",
    "constraint",
    "language",
    "opener",
    "citation",
    "escalation",
    "style",
    "draft",
)
EMPLOYEES = {
    "rinna": ("Rinna", "Coupon promoter", "coupon_promoter"),
    "kai": ("Kai", "Customer-service rep", "customer_service"),
    "mei": ("Mei", "Campaign copywriter", "copywriter"),
}
TERMS = {
    "period": "monthly",
    "share": {"model": "flat", "rate": "0.05"},
    "outcome_fees": {},
    "minimum_per_period": 0,
    "cap_per_period": None,
    "attribution": {"window_days": 14, "model": "last_touch", "keys": ["conversation_id", "coupon_code"]},
    "hold_days": 30,
    "splits": [{"payee": "platform", "share": "1"}],
}


@dataclass
class Shop:
    key: str
    partner: Partner
    owner: User
    placements: dict[str, Placement]
    widgets: dict[str, Any]
    catalog: list[dict[str, Any]]


@dataclass
class TurnResult:
    dialogue: str
    employee: str
    turn: int
    say: str
    reply: str
    verdicts: dict[str, bool | None]
    latency_ms: float
    engine_ms: float
    turn_ms: float = 0.0
    failures: list[str] = field(default_factory=list)


def load_dialogues(files: list[Path] | None = None) -> list[dict[str, Any]]:
    out = []
    for path in files or sorted(ROOT.glob("*.json")):
        data = json.loads(path.read_text())
        for item in data["dialogues"]:
            out.append({**item, "partner": data["partner"]})
    return out


def _employee(key: str) -> DigitalEmployee:
    name, title, skill = EMPLOYEES[key]
    employee, _ = DigitalEmployee.objects.get_or_create(
        slug=f"dialogue-{key}",
        defaults={
            "name": name,
            "title": title,
            "persona": "Friendly and brief.",
            "resume": ".",
            "skills": [skill],
            "languages": ["en", "ja"],
            "industries": ["ecommerce", "convenience_retail"],
            "built_by": "Studio Aoi",
            "status": "published",
            "published_at": timezone.now(),
        },
    )
    return employee


def build_shop(key: str) -> Shop:
    """A partner with Rinna, Kai and Mei placed, its catalog, offers and documents loaded
    through the portal's upload services and a widget per placement."""
    folder = ROOT / "partners" / key
    spec = json.loads((folder / "partner.json").read_text())
    Payee.objects.get_or_create(slug="platform", defaults={"name": "Platform", "kind": "platform"})
    manager, _ = User.objects.get_or_create(username="dialogue-manager", defaults={"role": "account_manager"})
    partner = Partner.objects.create(
        slug=spec["slug"],
        name=spec["name"],
        industry=spec["industry"],
        currency=spec["currency"],
        timezone=spec["timezone"],
        account_manager=manager,
    )
    owner = User.objects.create(username=f"{spec['slug']}-owner", role="partner")
    PartnerMembership.objects.create(user=owner, partner=partner, role="owner")
    placements, widgets = {}, {}
    now = timezone.now()
    for employee_key in EMPLOYEES:
        placement = Placement.objects.create(
            partner=partner, employee=_employee(employee_key), status="active", requested_by=owner
        )
        contract = Contract.objects.create(placement=placement, currency=partner.currency)
        ContractVersion.objects.create(
            contract=contract,
            number=1,
            terms={**TERMS, "currency": partner.currency},
            effective_from=now.date().replace(day=1),
            status="accepted",
            created_by=manager,
            proposed_at=now,
            decided_by=manager,
            decided_at=now,
        )
        if employee_key in ("rinna", "mei"):
            services.catalog_upload(actor=owner, placement=placement, content=(folder / "catalog.csv").read_bytes())
        if employee_key == "rinna":
            for offer in spec["offers"]:
                services.offer_create(actor=owner, placement=placement, **offer)
        if employee_key in ("rinna", "kai"):
            for doc in sorted(folder.glob("*.md")):
                # The title a partner types in the portal: here the document's first heading.
                title = next((line[2:].strip() for line in doc.read_text().splitlines() if line.startswith("# ")), "")
                services.document_upload(
                    actor=owner, placement=placement, content=doc.read_bytes(), filename=doc.name, title=title
                )
        widgets[employee_key] = services.widget_configure(actor=owner, placement=placement, allowed_origins=ORIGIN)
        placements[employee_key] = placement
    catalog = list(placements["rinna"].catalog_items.values("sku", "name", "price", "tags", "description"))
    return Shop(key=key, partner=partner, owner=owner, placements=placements, widgets=widgets, catalog=catalog)


# --- running a dialogue through the public APIs ------------------------------------------------


def _answer(message_id: int) -> float:
    """The worker's part of the turn, run here as the worker would; its time in ms."""
    started = time.perf_counter()
    services.message_answer(message_id=message_id)
    return (time.perf_counter() - started) * 1000


def run_dialogue(shop: Shop, spec: dict[str, Any], address: str) -> list[TurnResult]:
    employee = spec["employee"]
    widget = shop.widgets[employee]
    client = APIClient(REMOTE_ADDR=address)
    results: list[TurnResult] = []
    conversation_key = token = None
    conversation_id = None
    history: list[dict[str, Any]] = []
    for n, turn in enumerate(spec["turns"]):
        started = time.perf_counter()
        if spec["channel"] == "member":
            client.force_authenticate(shop.owner)
            response = client.post(
                f"/api/v1/placements/{shop.placements[employee].pk}/conversations",
                {"message": turn["say"]},
                format="json",
            )
            assert response.status_code == 201, response.content
            body = response.json()
            conversation_id, message_id = body["id"], body["message"]["id"]
            turn_ms = _answer(message_id)
            transcript = client.get(f"/api/v1/conversations/{conversation_id}").json()["messages"]
            reply = next((m for m in transcript if m["role"] == "assistant" and m["id"] > message_id), None)
        else:
            if conversation_key is None:
                response = client.post(
                    "/api/v1/widget/conversations",
                    {"key": widget.publishable_key, "message": turn["say"]},
                    format="json",
                    HTTP_ORIGIN=ORIGIN,
                )
                assert response.status_code == 201, response.content
                body = response.json()
                conversation_key, token = body["conversation"], body["token"]
                message_id = body["message"]["id"]
            else:
                response = client.post(
                    f"/api/v1/widget/conversations/{conversation_key}/messages",
                    {"key": widget.publishable_key, "token": token, "message": turn["say"]},
                    format="json",
                    HTTP_ORIGIN=ORIGIN,
                )
                assert response.status_code == 201, response.content
                message_id = response.json()["message"]["id"]
            turn_ms = _answer(message_id)
            read = client.get(
                f"/api/v1/widget/conversations/{conversation_key}/messages",
                {"key": widget.publishable_key, "token": token, "after": message_id},
                HTTP_ORIGIN=ORIGIN,
            ).json()
            reply = next((m for m in read["messages"] if m["role"] == "assistant"), None)
        latency = (time.perf_counter() - started) * 1000
        inbound = Message.objects.select_related("conversation").get(pk=message_id)
        if reply is None:  # a person has the conversation (escalated earlier): the turn went unanswered
            results.append(
                TurnResult(
                    dialogue=spec["id"],
                    employee=employee,
                    turn=n,
                    say=turn["say"],
                    reply="",
                    verdicts={c: (False if c == "intent" else None) for c in CRITERIA},
                    latency_ms=latency,
                    engine_ms=0.0,
                    turn_ms=turn_ms,
                    failures=["intent: unanswered"],
                )
            )
            continue
        engine_ms = float(sum(AgentRun.objects.filter(message=inbound).values_list("latency_ms", flat=True)))
        verdicts, failures = check_turn(shop, spec, n, turn, reply, inbound, history)
        results.append(
            TurnResult(
                dialogue=spec["id"],
                employee=employee,
                turn=n,
                say=turn["say"],
                reply=reply["content"],
                verdicts=verdicts,
                latency_ms=latency,
                engine_ms=engine_ms,
                turn_ms=turn_ms,
                failures=failures,
            )
        )
        history.append({"say": turn["say"], "reply": reply, "intent": Message.objects.get(reply_to=inbound).intent})
    return results


def run_suite(dialogues: list[dict[str, Any]] | None = None) -> list[TurnResult]:
    dialogues = dialogues if dialogues is not None else load_dialogues()
    language.warm()  # as a worker does when it starts: the dictionary is loaded once per process
    shops: dict[str, Shop] = {}
    results: list[TurnResult] = []
    for n, spec in enumerate(dialogues):
        if spec["partner"] not in shops:
            shops[spec["partner"]] = build_shop(spec["partner"])
        cache.clear()  # the widget's rate limit is per minute; the suite posts faster than a person
        results.extend(run_dialogue(shops[spec["partner"]], spec, f"127.0.{n // 250}.{n % 250 + 1}"))
    return results


# --- the checks ------------------------------------------------------------------------------

_MONEY = re.compile(
    r"(?:[$¥€£]|\b(?:USD|JPY|EUR|GBP)\s?)(\d[\d,]*(?:\.\d+)?)|(\d[\d,]*(?:\.\d+)?)\s?(?:円|yen\b)", re.I
)
_PCT = re.compile(r"(\d{1,3})\s?(?:%|％|percent)", re.I)
_CODE = re.compile(r"\b([A-Z0-9]{2,12}-[23456789A-HJ-NP-Z]{6})\b")
_BACK_OFFICE = re.compile(r"(?i:review queue|draft sent|escalat|knowledge base|workflow)|\bMODE:|TASK:|###")
_DECLINE = re.compile(r"can'?t do|cannot do|can'?t offer|not able to|できかね|できません|難しい", re.I)
_UNSURE = re.compile(r"not certain|not sure|確かなこと", re.I)
_HANDOVER = re.compile(r"colleague|team member|person|担当者|スタッフ", re.I)


def _numbers(text: str) -> set[Decimal]:
    return {Decimal(n.replace(",", "")).normalize() for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}


def _known_figures(shop: Shop, employee: str, say_all: str) -> set[Decimal]:
    placement = shop.placements[employee]
    exponent = minor_unit_exponent(shop.partner.currency)
    known = set(_numbers(say_all))
    for item in shop.catalog:
        known.add((Decimal(item["price"]) / (Decimal(10) ** exponent)).normalize())
        known |= _numbers(item["name"] + " " + item["description"])
    for doc in KnowledgeDocument.objects.filter(placement=placement):
        known |= _numbers(doc.body)
    for offer in shop.placements["rinna"].offers.all():
        known.add(Decimal(offer.percent_off))
        known |= _numbers(offer.title)
    return known


def _product_skus(reply: dict[str, Any]) -> list[str]:
    return [p["sku"] for p in reply.get("products") or []]


def check_turn(
    shop: Shop,
    spec: dict[str, Any],
    n: int,
    turn: dict[str, Any],
    reply: dict[str, Any],
    inbound: Message,
    history: list[dict[str, Any]],
) -> tuple[dict[str, bool | None], list[str]]:
    expect = turn.get("expect", {})
    text = reply["content"]
    employee = spec["employee"]
    out: dict[str, bool | None] = dict.fromkeys(CRITERIA)
    why: list[str] = []

    def verdict(criterion: str, ok: bool, reason: str) -> None:
        out[criterion] = ok if out[criterion] is None else (out[criterion] and ok)
        if not ok:
            why.append(f"{criterion}: {reason}")

    said = " ".join(t["say"] for t in spec["turns"][: n + 1])
    stored = Message.objects.get(reply_to=inbound)
    conversation = inbound.conversation
    conversation.refresh_from_db()

    # nothing invented
    known = _known_figures(shop, employee, said)
    figures = {Decimal(next(g for g in m.groups() if g).replace(",", "")).normalize() for m in _MONEY.finditer(text)}
    figures |= {Decimal(m.group(1)).normalize() for m in _PCT.finditer(text)}
    invented = figures - known
    skus = {item["sku"] for item in shop.catalog}
    verdict(
        "invented",
        not invented and set(_product_skus(reply)) <= skus,
        f"figures {sorted(map(str, invented))} or products outside the catalog",
    )

    # coupons
    codes = set(_CODE.findall(text))
    issued = {c.code: c for c in IssuedCoupon.objects.filter(conversation=conversation).select_related("offer")}
    configured = {o.pk: o for o in shop.placements[employee].offers.all()}
    per_offer = [c.offer_id for c in issued.values()]
    ok = all(
        code in issued and issued[code].offer_id in configured and code.startswith(issued[code].offer.code_prefix + "-")
        for code in codes
    )
    ok = ok and len(per_offer) == len(set(per_offer))
    if codes or expect.get("coupon_prefix") or issued:
        verdict("coupon", ok, f"codes {sorted(codes)} not issued for a configured offer, or two per offer")
    if expect.get("coupon_prefix"):
        verdict(
            "offer",
            any(code.startswith(expect["coupon_prefix"] + "-") for code in codes),
            f"expected a {expect['coupon_prefix']} code",
        )
    if expect.get("same_code"):
        earlier = set().union(*(set(_CODE.findall(h["reply"]["content"])) for h in history)) if history else set()
        verdict("coupon", bool(codes) and codes <= earlier, "the code given again is not the one given before")

    # intent
    if "intent" in expect:
        wanted = expect["intent"] if isinstance(expect["intent"], list) else [expect["intent"]]
        verdict("intent", stored.intent in wanted, f"handled as {stored.intent}, expected {wanted}")
    for phrase in expect.get("not", []):
        verdict("intent", phrase not in text, f"says {phrase!r}")

    # products
    shown = _product_skus(reply)
    if expect.get("products"):
        verdict(
            "products",
            bool(shown) and shown[0] in expect["products"] and len(shown) <= 3,
            f"showed {shown}, expected first among {expect['products']}",
        )
    if expect.get("products_none"):
        verdict("products", not set(shown) & set(expect["products_none"]), f"showed {shown}")

    # references
    if "reference" in expect:
        before = next((h["reply"].get("products") for h in reversed(history) if h["reply"].get("products")), [])
        index = expect["reference"]
        target = before[index]["sku"] if before and -len(before) <= index < len(before) else None
        verdict(
            "reference",
            target is not None
            and (shown[:1] == [target] or (any(p["sku"] == target and p["name"] in text for p in before))),
            f"expected {target}, showed {shown}",
        )
    if "pick" in expect:
        # "the cheaper one", "高い方": the cheapest (priciest) of the items shown before.
        before = next(
            (h["reply"]["products"] for h in reversed(history) if len(h["reply"].get("products") or []) > 1), []
        )
        if not before:
            # One item was shown: "the cheapest" is the cheapest of its kind (its first tag).
            last: list[dict[str, Any]] = next(
                (h["reply"]["products"] for h in reversed(history) if h["reply"].get("products")), []
            )
            tags: list[str] = next(
                (item["tags"] for item in shop.catalog if last and item["sku"] == last[0]["sku"]), []
            )
            kind = tags[0] if tags else None
            before = [item for item in shop.catalog if kind in item["tags"]] if kind else []
        prices_before = [p["price"] for p in before]
        extreme: int | None = None
        if prices_before:
            extreme = min(prices_before) if expect["pick"] == "cheapest" else max(prices_before)
        target = next((p["sku"] for p in before if p["price"] == extreme), None) if before else None
        verdict(
            "reference",
            target is not None
            and (
                shown[:1] == [target] or (not shown and any(p["sku"] == target and p["name"] in text for p in before))
            ),
            f"expected the {expect['pick']} shown ({target}), showed {shown}",
        )

    # constraints
    prices = {item["sku"]: item["price"] for item in shop.catalog}
    exponent = minor_unit_exponent(shop.partner.currency)
    if "price_max" in expect:
        limit = Decimal(str(expect["price_max"])) * (Decimal(10) ** exponent)
        verdict("constraint", bool(shown) and all(prices[s] <= limit for s in shown), f"{shown} over the limit")
    if "price_min" in expect:
        limit = Decimal(str(expect["price_min"])) * (Decimal(10) ** exponent)
        verdict("constraint", bool(shown) and all(prices[s] >= limit for s in shown), f"{shown} under the floor")
    if expect.get("cheaper"):
        before = next((h["reply"].get("products") for h in reversed(history) if h["reply"].get("products")), [])
        low = before[0]["price"] if before else None
        verdict(
            "constraint",
            (bool(shown) and low is not None and all(prices[s] < low for s in shown))
            or (not shown and stored.intent == "no_match"),
            f"{shown} not cheaper than {low}",
        )
    if expect.get("declined"):
        verdict("constraint", bool(_DECLINE.search(text)) and bool(codes), "a bigger discount not declined plainly")

    # language
    lang = "ja" if language.is_japanese(turn["say"]) else "en"
    body = re.sub(r"[「“(（][^」”)）]*[」”)）]", "", text)
    for item in shop.catalog:  # product names are the partner's, in whatever script
        body = body.replace(item["name"], "")
    verdict("language", language.is_japanese(body) == (lang == "ja"), f"reply not in {lang}")

    # openers
    if history:
        mine = dialogue.first_words(text)
        earlier = [dialogue.first_words(h["reply"]["content"]) for h in history]
        verdict("opener", mine not in earlier, f"opens like an earlier reply: {mine!r}")

    # citations
    citations = [c["title"] for c in reply.get("citations") or []]
    if citations or expect.get("cite"):
        documents = {d.title: d for d in KnowledgeDocument.objects.filter(placement=shop.placements[employee])}
        for title in citations:
            doc = documents.get(title)
            sentences = language.sentences(doc.body) if doc else ()
            verdict(
                "citation",
                any(s.lstrip("#").strip() in text for s in sentences if len(s.lstrip("#").strip()) > 8),
                f"cites {title!r} without using it",
            )
        if expect.get("cite"):
            verdict("citation", expect["cite"] in citations, f"expected {expect['cite']!r}, cited {citations}")
    for phrase in expect.get("has_any", []) and [expect.get("has_any")]:
        verdict(
            "citation" if expect.get("cite") else "intent",
            any(p in text for p in phrase),
            f"none of {phrase} in the reply",
        )
    # A question of several parts ("how much is shipping and how long does it take?") wants
    # every part answered.
    for phrase in expect.get("has_all", []):
        verdict("citation" if expect.get("cite") else "intent", phrase in text, f"{phrase!r} not in the reply")

    # escalation
    escalated_now = stored.intent == "escalate"
    if "escalate" in expect or escalated_now:
        wanted = bool(expect.get("escalate"))
        verdict(
            "escalation",
            escalated_now == wanted and (conversation.status == "escalated") == wanted,
            f"escalated={escalated_now}, expected {wanted}",
        )
        if escalated_now:
            verdict(
                "escalation",
                bool(_HANDOVER.search(text)) and not _UNSURE.search(text),
                "hand-over wording does not fit",
            )

    # style
    draft = stored.intent == "draft"
    limit = 700 if draft else (190 if lang == "ja" else 400)
    verdict("style", len(text) <= limit, f"{len(text)} characters")
    verdict("style", text.count("?") + text.count("？") <= 1, "more than one question")
    verdict("style", "。、" not in text, "joins sentences with 。、")
    if conversation.channel == "widget":
        verdict("style", not _BACK_OFFICE.search(text), "back-office wording to a shopper")

    # Mei's drafts
    if expect.get("draft"):
        draft_text = inbound.copy_draft.text if hasattr(inbound, "copy_draft") else ""
        ja = language.is_japanese(turn["say"])
        labels = ("見出し：", "本文：", "行動喚起：") if ja else ("Headline:", "Body:", "Call to action:")
        verdict("draft", all(label in draft_text for label in labels), "lacks a headline, body or call to action")
        brief_figures = _numbers(turn["say"])
        money = {
            Decimal(next(g for g in m.groups() if g).replace(",", "")).normalize() for m in _MONEY.finditer(draft_text)
        }
        pct = {Decimal(m.group(1)).normalize() for m in _PCT.finditer(draft_text)}
        verdict(
            "draft", money <= brief_figures and pct <= brief_figures, "a price or a discount the brief did not give"
        )
        catalog_names = [item["name"] for item in shop.catalog]
        verdict("draft", not _echoes(turn["say"], draft_text, names=catalog_names), "echoes the brief")
        body = next(
            (line.split("：" if ja else ":", 1)[1] for line in draft_text.splitlines() if line.startswith(labels[1])),
            "",
        )
        pasted = _pasted_share(body, [item["description"] for item in shop.catalog], catalog_names)
        verdict("draft", pasted < 0.75, f"the body is mostly a catalog description ({pasted:.0%})")
        missing = [
            item["sku"]
            for item in shop.catalog
            if _brief_names(turn["say"], item["name"]) and _fold(_core(item["name"])) not in _fold(draft_text)
        ]
        verdict("draft", not missing, f"leaves out {missing}, which the brief names")
        cut = [s for s in language.sentences(body) if _cut_off(s, ja)]
        verdict("draft", not cut, f"a sentence cut off: {cut[:1]}")
        repeated = [
            f
            for f in sorted(_figure_tokens(turn["say"]))
            if len(re.findall(rf"(?<![\w.,]){re.escape(f)}(?!\d)", body)) > 1
        ]
        verdict("draft", not repeated, f"the brief's figure {repeated} said more than once")
        names = [item for item in shop.catalog if item["name"] in draft_text]
        allowed = set(expect.get("products", []))
        verdict(
            "draft",
            bool(names) and all(item["sku"] in allowed for item in names),
            f"names {[i['sku'] for i in names]}, expected among {sorted(allowed)}",
        )
    return out, why


def _echoes(brief: str, draft: str, n: int = 5, names: list[str] | tuple[str, ...] = ()) -> bool:
    """Whether the draft copies a run of n words (or 12 characters of Japanese) of the brief.
    The catalog's product names are the catalog's words, not the brief's, and a run that
    carries a figure is a fact the brief gives for the copy to state (an offer, a date, a
    threshold), so neither counts."""
    for name in sorted(names, key=len, reverse=True):
        for form in {name, _core(name)}:
            brief = re.sub(re.escape(form), " | ", brief, flags=re.I)
            draft = re.sub(re.escape(form), " | ", draft, flags=re.I)
    # A clause of the brief with a figure is a fact for the copy to state (an offer, a date,
    # a threshold): stating it is not echoing it.
    brief = " | ".join(c for c in re.split(r"[。、.;,:！？!?]\s*", brief) if not re.search(r"\d", c))
    if language.is_japanese(brief):
        compact = re.sub(r"\s", "", brief)
        windows = (compact[i : i + 12] for i in range(max(0, len(compact) - 11)))
        return any(w in draft for w in windows if "|" not in w and not re.search(r"\d", w))
    words = re.findall(r"[\w'|]+", brief.lower())
    draft_words = " ".join(re.findall(r"[\w'|]+", draft.lower()))
    runs = (words[i : i + n] for i in range(max(0, len(words) - n + 1)))
    return any(
        " ".join(run) in draft_words for run in runs if "|" not in run and not any(re.search(r"\d", w) for w in run)
    )


def _core(name: str) -> str:
    return re.sub(r"\s*[(（][^)）]*[)）]", "", name).strip() or name


def _fold(text: str) -> str:
    return re.sub(r"\s+", "" if language.is_japanese(text) else " ", text.casefold())


def _brief_names(brief: str, name: str) -> bool:
    """Whether a brief names an item by its name (without a parenthesis such as a colour)."""
    core = _fold(_core(name))
    if language.is_japanese(core):
        return core.replace(" ", "") in re.sub(r"\s+", "", brief.casefold())
    return f" {core} " in " " + re.sub(r"[^\w'& -]+", " ", _fold(brief)) + " "


def _pasted_share(body: str, descriptions: list[str], names: list[str]) -> float:
    """The share of a draft's body (words, or characters of Japanese) that lies in runs it
    shares with one catalog description (5 words, 10 characters): near 1 when the body is the
    description pasted; the product's own name is not counted either way."""
    for name in sorted(names, key=len, reverse=True):
        body = body.replace(name, " ")
    ja = language.is_japanese(body)
    units = list(re.sub(r"[\s「」、。！？]", "", body)) if ja else re.findall(r"[\w'-]+", body.lower())
    if not units:
        return 0.0
    size = 10 if ja else 5
    best = 0
    for description in descriptions:
        own = (
            re.sub(r"[\s「」、。！？]", "", description)
            if ja
            else " ".join(re.findall(r"[\w'-]+", description.lower()))
        )
        covered = [False] * len(units)
        for i in range(len(units) - size + 1):
            window = "".join(units[i : i + size]) if ja else " ".join(units[i : i + size])
            if window in own:
                covered[i : i + size] = [True] * size
        best = max(best, sum(covered))
    return best / len(units)


_FUNCTION_END = re.compile(
    r"\b(?:a|an|the|and|or|of|to|with|for|in|on|at|by|from|your|our|is|are|that|which|when|but|as)[.!?]?$", re.I
)


def _cut_off(sentence: str, ja: bool) -> bool:
    """A sentence left unfinished: no closing mark, or it stops on a particle or a function word."""
    s = sentence.strip().rstrip("」）)\"'")
    if ja:
        return not s.endswith(("。", "！", "？", "!", "?")) or bool(re.search(r"[はがをにのでとやへ][。！？]$", s))
    return not s.endswith((".", "!", "?")) or bool(_FUNCTION_END.search(s))


def _figure_tokens(text: str) -> set[str]:
    """The brief's money and percentage figures as written ("20", "10000")."""
    out = {next(g for g in m.groups() if g) for m in _MONEY.finditer(text)}
    out |= {m.group(1) for m in _PCT.finditer(text)}
    return out


def summary(results: list[TurnResult]) -> dict[str, tuple[int, int]]:
    """criterion → (passed, applicable)."""
    table = {}
    for criterion in CRITERIA:
        applicable = [r.verdicts[criterion] for r in results if r.verdicts[criterion] is not None]
        table[criterion] = (sum(1 for v in applicable if v), len(applicable))
    return table


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]
