"""The three skills as LangGraph workflows (DESIGN.md §6).

Each turn: a small-tier model classifies the customer's message; deterministic tools do
what the intent needs (look up products, issue a coupon, search the knowledge base,
escalate, record a resolution, submit a draft); a large-tier model writes the reply from
what the tools found. The graphs are compiled once; each turn's context (placement,
conversation, message, model invoker) travels in the run's config."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from rapidfuzz.distance import Levenshtein

from agents import copywriting, dialogue, language, retrieval, selectors, semantics, tools
from agents.dialogue import DialogueState, Understanding
from agents.engine import OfflineChatModel
from agents.llm import Invoker
from agents.models import CatalogItem, Conversation, KnowledgeChunk, Message
from agents.prompts import Label, Persona, classify_prompt, reply_prompt
from core.currencies import format_money, minor_unit_exponent

HISTORY_TURNS = 6
logger = logging.getLogger(__name__)


@dataclass
class TurnContext:
    conversation: Conversation
    message: Message
    persona: Persona
    invoker: Invoker
    history: list[tuple[str, str]]
    playbook: tuple[str, ...]
    state: DialogueState | None = None
    understanding: Understanding | None = None
    manager_ms: float = 0.0


class TurnState(TypedDict, total=False):
    text: str
    intent: str
    mode: str
    products: list[dict[str, Any]]
    coupon: dict[str, Any] | None
    passages: list[dict[str, Any]]
    citations: list[dict[str, Any]]
    draft: int | None
    escalated: bool
    resolved: bool
    reply: str
    confidence: float


def _ctx(config: RunnableConfig) -> TurnContext:
    return config["configurable"]["turn"]


def _classify(ctx: TurnContext, text: str, labels: tuple[Label, ...], default: str) -> str:
    answer = ctx.invoker.invoke(
        step="route", tier="small", messages=classify_prompt(ctx.persona, labels, default, text)
    )
    words = answer.strip().strip(".\"'`* ").split()
    word = words[0].strip(".:,\"'`*").lower() if words else ""
    keys = {label.key for label in labels}
    return word if word in keys else default


_MONEY = re.compile(
    r"(?:[¥$€£]|\b(?:JPY|USD|EUR|GBP)\s?)(\d[\d,]*(?:\.\d+)?)|(\d[\d,]*(?:\.\d+)?)\s?(?:円|yen\b)", re.IGNORECASE
)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?(?:%|percent\b)", re.IGNORECASE)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _figures(text: str, pattern: re.Pattern[str]) -> set[Decimal]:
    out = set()
    for match in pattern.finditer(text):
        raw = next(group for group in match.groups() if group) if match.groups() else match.group(0)
        out.add(Decimal(raw.replace(",", "")).normalize())
    return out


def _invented_figures(reply: str, context: str) -> bool:
    """Whether the reply quotes a price or a discount that nothing in the prompt carries."""
    known = {Decimal(n.replace(",", "")).normalize() for n in _NUMBER.findall(context)}
    return bool((_figures(reply, _MONEY) | _figures(reply, _PERCENT)) - known)


def _respond(
    ctx: TurnContext, state: TurnState, *, mode: str, instructions: str, sections: dict[str, list[str]]
) -> str:
    messages = reply_prompt(
        ctx.persona,
        mode=mode,
        instructions=instructions,
        sections=sections,
        history=ctx.history[-HISTORY_TURNS:],
        text=state["text"],
    )
    reply = ctx.invoker.invoke(step="respond", tier="large", messages=messages)
    context = " ".join([state["text"], *(line for lines in sections.values() for line in lines)])
    if _invented_figures(reply, context):
        # A model quoted a price or a discount the partner never configured: the reply is
        # composed from the tools' results instead (the offline engine, on the same prompt).
        reply = str(OfflineChatModel().invoke(messages).content)
    return reply


def _product_lines(products: list[dict[str, Any]]) -> list[str]:
    return [f"{p['sku']} | {p['name']} | {p['price_label']} | {p.get('reason') or p['description']}" for p in products]


def _u(ctx: TurnContext) -> Understanding:
    assert ctx.understanding is not None
    return ctx.understanding


def _dialogue_lines(ctx: TurnContext, **extra: Any) -> list[str]:
    """The dialogue manager's view of the turn, for the model that writes the reply."""
    u = _u(ctx)
    lines = [f"language: {u.language}", f"acts: {','.join(u.acts)}"]
    if u.constraints.describe():
        lines.append(f"constraints: {'; '.join(u.constraints.describe())}")
    if u.constraints.quantity:
        lines.append(f"quantity: {u.constraints.quantity}")
    lines.extend(f"{key}: {value}" for key, value in extra.items() if value not in (None, "", False))
    return lines


_LANGUAGE_RULE = {"en": "Reply in English.", "ja": "日本語で答えてください (reply in Japanese)."}


def _instructions(ctx: TurnContext, text: str) -> str:
    lang = _u(ctx).language
    return (
        f"{text} {_LANGUAGE_RULE.get(lang, '')} Keep it short (two or three sentences), do not start the way "
        "an earlier reply started, and end with one clear next step."
    )


def _remember(
    ctx: TurnContext, *, shown: list[dict[str, Any]] | None = None, topic: str | None = None, open_question: str = ""
) -> None:
    state = ctx.state
    assert state is not None
    if shown:
        state.shown = [{k: p[k] for k in ("sku", "name", "price", "price_label", "tags")} for p in shown]
        if len(state.shown) > 1:
            state.listed = state.shown
        state.focus = state.shown[0]
        if topic is not None:
            state.topic = topic[:300]
    state.open_question = open_question
    state.language = _u(ctx).language


def _lookup(ctx: TurnContext, *, relax: bool = False, exclude: list[str] | None = None) -> list[dict[str, Any]]:
    """The items that fit the request: by its words, and by meaning when the words alone
    find nothing that fits well; of the kind named first, when the request names one."""
    found = _lookup_any(ctx, relax=relax, exclude=exclude)
    return _of_kind_named(ctx, found, relax=relax, exclude=exclude)


def _of_kind_named(
    ctx: TurnContext, found: list[dict[str, Any]], *, relax: bool = False, exclude: list[str] | None = None
) -> list[dict[str, Any]]:
    """A request that names a kind of product ("a sunscreen that doesn't leave a white cast",
    "do you sell cycling shoes?"): the items of that kind — the word in their name or tags, or
    (English, a request rather than "do you sell …?") a tag of the catalog near it in meaning
    (sunscreen → sun) — before items that merely share other words (a cleanser that is white,
    one that removes sunscreen); none of that kind in a shop asked whether it sells it: nothing,
    so the reply says so."""
    u = _u(ctx)
    c = u.constraints
    # The message's own words (its prepositions and relative clauses mark where the thing is
    # named), the price bounds taken out ("a sunscreen cheaper than $25").
    own = dialogue.parse_constraints(ctx.message.content, 0)[1]
    bound_only = (
        u.follow_up
        and (c.price_max is not None or c.price_min is not None)
        and not language.word_groups(u.own_query)
        and ctx.state is not None
        and bool(ctx.state.topic)
    )
    # "cheaper than 20?" after bike lights: lights within the bound — a comparison is with the
    # kind of the items shown (their first tag), however the shopper put the topic ("my
    # sneakers keep slipping"); "what is there under 1000?" opens the whole catalog again.
    shown_kinds: set[str] = set()
    if bound_only and ctx.state is not None:
        own = ctx.state.topic
        if _COMPARED.search(ctx.message.content):
            shown_kinds = {p["tags"][0] for p in ctx.state.shown if p.get("tags")}
    elif u.follow_up or u.referenced or c.order or c.attributes or not u.query:
        return found
    vocabulary = tools.vocabulary(ctx.conversation.placement_id)
    head = retrieval.head_word(own, vocabulary)
    japanese = language.is_japanese(own)
    if (not head or head in retrieval._NOT_THE_THING or len(head) < (2 if japanese else 3)) and not shown_kinds:
        return found
    if not japanese and not bound_only:
        # The thing asked for follows a determiner or a verb of wanting ("a sunscreen", "any
        # gloves", "do you sell cycling shoes"), within three words.
        words = re.findall(r"[\w'-]+", own.lower())
        at = next((k for k, w in enumerate(words) if head in retrieval.terms(w)), None)
        if at is None or (at > 1 and not (set(words[max(0, at - 3) : at]) & _DETERMINERS)):
            return found  # "… so the thorns don't hurt my hands": the hands are not what is wanted
    items = selectors.placement_catalog(ctx.conversation.placement_id, tools.MEANING_CATALOG_LIMIT + 1)
    if len(items) > tools.MEANING_CATALOG_LIMIT:
        return found
    stock = "stock" in u.acts
    if japanese:
        # 日本酒 asked for: the items tagged 日本酒 (not 芋焼酎, whose blurb says おすすめ), else
        # named so (日本酒グラス carries the word in its name only as a modifier).
        named = {i["sku"] for i in items if head in i["tags"]} or {i["sku"] for i in items if head in i["name"]}
    else:
        named = {i["sku"] for i in items if head in retrieval.terms(f"{i['name']} {' '.join(i['tags'])}")}
    if not named and not shown_kinds and not japanese and not stock and semantics.available():
        tags = sorted({t for i in items for t in i["tags"]})
        if tags:
            sims = semantics.similarities(head, tags)
            best = max(sims)
            if best >= KIND_TAG_MIN:
                near = {t for t, sim in zip(tags, sims, strict=True) if sim >= best - 0.02}
                named = {i["sku"] for i in items if near & set(i["tags"])}
    if shown_kinds:
        named = {i["sku"] for i in items if shown_kinds & set(i["tags"])}
    if not named:
        if stock and head not in vocabulary and not japanese:
            # "do you sell cycling shoes?" in a shop with no shoes: the gloves that are for cycling
            # too are not the answer.
            return []
        return found
    kind = [p for p in found if p["sku"] in named]
    logger.debug("kind %r named %s, found %s", head, sorted(named), [(p["sku"], p.get("coverage")) for p in found])
    if (
        found
        and found[0].get("meant")
        and found[0]["sku"] not in named
        and not stock
        and not _WANTS_AN_ITEM.search(ctx.message.content)
    ):
        # A problem told, not an item asked for ("the water in my tank feels too cold for my
        # tetras"): the things it is about are no kind wanted; the item that stands out in
        # meaning answers it (the heater, not the cat's water fountain).
        return found
    if kind:
        return kind
    if (
        found
        and not shown_kinds
        and found[0].get("coverage", 0.0) >= MEANING_OVER_WORDS
        and head not in retrieval.terms(f"{found[0]['name']} {' '.join(found[0]['tags'])} {found[0]['description']}")
    ):
        # The words found an item that covers the request though it never says the kind's word
        # (a bookshop does not call its novels "books"): that item.
        return found
    price_max = c.price_max
    if c.cheaper_than is not None:
        price_max = min(price_max if price_max is not None else c.cheaper_than - 1, c.cheaper_than - 1)
    pool = [
        i
        for i in items
        if i["sku"] in named
        and i["sku"] not in (exclude or [])
        and (relax or price_max is None or i["price"] <= price_max)
        and (relax or c.price_min is None or i["price"] >= c.price_min)
        and (c.age is None or dialogue.age_fits(c.age, i["description"]))
    ]
    if not pool:
        # None of the kind within the bounds: nothing, after a topic of that kind ("cheaper than
        # 20?" after bike lights); else, of what the words found, only what speaks of the kind at
        # all (a Harry Potter "book" for a children's book; not an inner tube for a bike light).
        if bound_only:
            return []
        return [p for p in found if head in retrieval.terms(f"{p['name']} {' '.join(p['tags'])} {p['description']}")]
    if c.age is not None:
        age = c.age
        pool.sort(key=lambda i: _age_order(age, i))
    if japanese and u.query:
        # The kind's items in the order of how much of the request each speaks to (the catalog's
        # order says nothing about fit).
        covers = retrieval.coverage_of(
            u.query, [retrieval.terms(f"{i['name']} {' '.join(i['tags'])} {i['description']}") for i in pool]
        )
        pool = [i for _, i in sorted(zip(covers, pool, strict=True), key=lambda pair: -pair[0])]
    if not japanese and semantics.available():
        # The kind's items in the order of how near each is to the whole request; instead of
        # what the words found only when nearer than those (a book about space and black holes
        # is the cosmos book, though the only item named "book" is a picture book).
        request = u.own_query or u.query
        sims = semantics.similarities(request, [f"{i['name']}: {i['description']}" for i in pool])
        order = sorted(range(len(pool)), key=lambda k: -sims[k])
        pool = [pool[k] for k in order]
        if found:
            theirs = semantics.similarities(request, [f"{p['name']}: {p['description']}" for p in found])
            if max(theirs) >= sims[order[0]]:
                return found
    wanted = set(retrieval.terms(u.query))
    kind = []
    for i in pool[:3]:
        sentences = language.sentences(i["description"]) or ("",)
        reason = max(sentences, key=lambda x: (len(wanted & set(retrieval.terms(x))), -sentences.index(x)))
        kind.append(
            {
                "sku": i["sku"],
                "name": i["name"],
                "price": i["price"],
                "currency": i["currency"],
                "price_label": format_money(i["price"], i["currency"]),
                "description": i["description"],
                "reason": reason[:160],
                "tags": list(i["tags"]),
                "score": 1.0,
                "coverage": 0.7,
            }
        )
    return kind


_COMPARED = re.compile(
    r"\b(cheaper|less expensive|less pricey|lower[- ]priced|more affordable)\b|(もっと|より)(安|お手頃)", re.I
)
_DETERMINERS = frozenset(
    [
        "a",
        "an",
        "the",
        "any",
        "some",
        "your",
        "sell",
        "carry",
        "stock",
        "need",
        "want",
        "what",
        "which",
        "recommend",
        "buy",
        "get",
        "got",
        "have",
        "of",
        "cheap",
        "good",
        "best",
        "new",
        "looking",
    ]
)
KIND_TAG_MIN = 0.6  # measured: sunscreen → sun 0.67, shoes → gloves 0.57, perfume → lips 0.41


def _age_order(age: int, item: Mapping[str, Any]) -> tuple[bool, bool]:
    """Items whose stated ages leave the child out last; items made for that age (ages stated,
    or a child's item by its own name or tags: kids, children) before those for anyone."""
    description = item.get("description", "")
    made_for_child = dialogue.states_age(description) or bool(
        _CHILD_ITEM.search(f"{item.get('name', '')} {' '.join(item.get('tags', []))}")
    )
    fits = dialogue.age_fits(age, description) and (age < ADULT_AGE or not made_for_child)
    return (not fits, not made_for_child)


_CHILD_ITEM = re.compile(
    r"\b(kids?|kid's|kids'|child|children|children's|junior|toddler|youth|baby)\b|子ども|子供|キッズ|幼児|ジュニア",
    re.I,
)
ADULT_AGE = 13


def _lookup_any(ctx: TurnContext, *, relax: bool = False, exclude: list[str] | None = None) -> list[dict[str, Any]]:
    kept = _widen(ctx, _lookup_by_words(ctx, relax=relax, exclude=exclude))
    u = _u(ctx)
    c = u.constraints
    if c.order:
        # "the cheapest one", "一番高いの": the extreme of the items of that kind (sharing the
        # tags of the one in focus), alone.
        focus = ([ctx.state.focus] if ctx.state.focus else ctx.state.shown[:1]) if ctx.state and u.follow_up else []
        tags = [t for p in focus for t in p.get("tags", [])[:1]]  # its kind: the first tag
        if tags:
            same = tools.product_lookup.invoke(
                {"placement_id": ctx.conversation.placement_id, "query": " ".join(tags), "limit": 10}
            )
            kept = [p for p in same if set(p["tags"]) & set(tags)] or kept
        if kept:
            return [sorted(kept, key=lambda p: p["price"], reverse=c.order == "priciest")[0]]
    if "stock" in u.acts or c.attributes or u.follow_up or not u.own_query or exclude:
        return kept
    # A need described in words the catalog does not use: the item nearest in meaning, when
    # one clearly stands out and the words found nothing that covers the request as well.
    if max((p.get("coverage", 0.0) for p in kept), default=0.0) >= MEANING_OVER_WORDS:
        return kept
    price_max = c.price_max if c.cheaper_than is None else min(c.price_max or c.cheaper_than, c.cheaper_than - 1)
    words_first = None
    if not kept and _WANTS_AN_ITEM.search(ctx.message.content):
        # The item the words rank first though they cover too little of the request to show it
        # alone ("struggling to switch off at night, anything that could help?": the sleep blend,
        # for its "restful night"); if the meaning ranks it first too, the two agree.
        weak = tools.product_lookup.invoke(
            {
                "placement_id": ctx.conversation.placement_id,
                "query": u.own_query[:2000],
                "price_max": None if relax else price_max,
                "price_min": None if relax else c.price_min,
            }
        )
        words_first = weak[0]["sku"] if weak else None
    meant = tools.product_by_meaning(
        ctx.conversation.placement_id,
        u.own_query,
        price_max=None if relax else price_max,
        price_min=None if relax else c.price_min,
        words_first=words_first,
    )
    if not meant or (kept and meant[0]["sku"] == kept[0]["sku"]):
        return kept
    chosen = {m["sku"] for m in meant}
    for m in meant:
        m["meant"] = True
    # An item the words found that the meaning puts nearly as near as its best pick leads: the
    # words and the meaning agree on it ("keep my tea hot": the tea cosy, which keeps a pot warm,
    # before the glass teapot that is merely about tea).
    near = semantics.need_scores(
        u.own_query, [(p["name"], f"{p['description']} ({', '.join(p['tags'])})") for p in kept]
    )
    agreed = [
        p
        for p, (sim, _) in sorted(zip(kept, near, strict=True), key=lambda pair: -pair[1][0])
        if sim >= meant[0]["score"] - tools.MEANING_MARGIN
    ]
    for p, (sim, _) in zip(kept, near, strict=True):
        if p in agreed:
            p["meant"], p["coverage"] = True, round(max(p.get("coverage", 0.0), sim), 3)
    first = {p["sku"] for p in agreed}
    return (
        agreed
        + [m for m in meant if m["sku"] not in first]
        + [p for p in kept if p["sku"] not in chosen and p["sku"] not in first]
    )


def _widen(ctx: TurnContext, kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item found for a request that names a kind of thing ("a bouquet for my mother's
    birthday"): the other items of its kind (its first tag) that speak to the request too, so
    the shopper has a choice of two or three, as on a shop floor."""
    u = _u(ctx)
    c = u.constraints
    bounded = c.price_max is not None or c.price_min is not None or c.cheaper_than is not None
    if len(kept) != 1 or bounded or c.attributes or c.order or u.follow_up or not kept[0].get("tags"):
        return kept
    if c.age is not None and _age_order(c.age, kept[0]) == (False, False):
        return kept  # the kids' bike for a 5-year-old: the adults' bikes are no choice
    kind = kept[0]["tags"][0]
    asked = {t for t in retrieval.terms(u.query) if not t.startswith(("~", "@"))}
    if not asked & set(retrieval.terms(kind)):
        return kept  # the request does not name the kind ("a quiet mouse for the office" names mice)
    same = tools.product_lookup.invoke(
        {"placement_id": ctx.conversation.placement_id, "query": kind[:2000], "limit": 6}
    )
    others = [p for p in same if p["sku"] != kept[0]["sku"] and kind in p["tags"]]
    for p in others:
        p["coverage"] = kept[0].get("coverage", 0.5)
    return kept + others[:2]


def _lookup_by_words(
    ctx: TurnContext, *, relax: bool = False, exclude: list[str] | None = None
) -> list[dict[str, Any]]:
    u = _u(ctx)
    c = u.constraints
    price_max = c.price_max
    if c.cheaper_than is not None:
        price_max = min(price_max if price_max is not None else c.cheaper_than - 1, c.cheaper_than - 1)
    args: dict[str, Any] = {
        "placement_id": ctx.conversation.placement_id,
        "query": u.query[:2000] or "",
        "must_have": c.attributes,
        "exclude": exclude or [],
    }
    if not relax:
        args.update(price_max=price_max, price_min=c.price_min)
    found = tools.product_lookup.invoke(args)
    if not found and not relax and _budget_is_the_request(ctx):
        # 「3000円以内でちょっとしたプレゼントになるもの」, "anything nice for a gift under $20?": a
        # thing of any kind for a purpose the shop has no word for; the budget is what narrows.
        args.update(query="")
        found = tools.product_lookup.invoke(args)
        for p in found:
            p["coverage"] = PRODUCT_COVERAGE_MIN
        return found
    if not found and u.follow_up and c.attributes and c.cheaper_than is None and u.own_query:
        # Not a narrowing of the previous topic after all ("ひやけどめは？" after masks): a new request.
        u.query, u.follow_up, c.attributes = u.own_query, False, []
        args.update(query=u.query[:2000], must_have=[])
        found = tools.product_lookup.invoke(args)
    if not found or not retrieval.terms(u.query):
        return found
    # Only what speaks to most of what was asked: "blue car tyres" is not a blue shirt.
    docs = [retrieval.terms(f"{p['name']} {' '.join(p['tags'])} {p['description']}") for p in found]
    total = selectors.placement_stock(ctx.conversation.placement_id).items
    # Words the shop never uses ("a gift for a book lover") do not count against an item,
    # unless it is the very thing asked for ("blue car tyres": no tyres, no match).
    vocabulary = tools.vocabulary(ctx.conversation.placement_id)
    head = retrieval.head_word(u.own_query or u.query, vocabulary)
    unknown = (
        frozenset(
            g[0]
            for g in language.word_groups(u.query)
            if not (g[1] & vocabulary) and not (g[2] and g[2] <= vocabulary) and g[0] != head
        )
        if head in vocabulary or not head
        else frozenset()
    )
    kept = []
    # The head weighs double only when other words qualify it from another phrase.
    boost = head if head in vocabulary and retrieval.has_qualifier(u.own_query or u.query) else ""
    covers = retrieval.coverage_of(u.query, docs, total=total, ignore=unknown, head=boost)
    for p, cover in zip(found, covers, strict=True):
        p["coverage"] = round(cover, 3)
        if cover >= PRODUCT_COVERAGE_MIN or c.attributes or u.follow_up:
            kept.append(p)
    if (c.cheaper_than is not None or c.order) and u.follow_up and ctx.state is not None and ctx.state.topic:
        # "A cheaper one" is one of the same kind: items whose name or tags carry the topic's
        # words, when there are any, rather than one whose description merely mentions it.
        topic = {g[0] for g in language.word_groups(ctx.state.topic)}
        same_kind = [
            p for p in kept if topic & {g[0] for g in language.word_groups(f"{p['name']} {' '.join(p['tags'])}")}
        ]
        kept = same_kind or kept
    if language.is_japanese(u.query):
        # 万年筆 asked for: 万年筆用インク is ink for a fountain pen, not one; an item whose name
        # carries the word only as a modifier (〜用, 〜向け, 〜専用) goes after those it names.
        asked = [g[0] for g in language.word_groups(u.own_query or u.query) if language.is_japanese(g[0])]
        kept.sort(key=lambda p: any(re.search(f"{re.escape(w)}(用|向け|専用)", p["name"]) for w in asked))
    if c.age is not None:
        # "for a 5 year old": items whose stated ages leave the child out go after the rest,
        # and items made for that age (their ages stated) before those for anyone; when some
        # are made for a child of that age, those alone (not the adults' bikes beside the kids').
        age = c.age
        kept.sort(
            key=lambda p: (not dialogue.age_fits(age, p["description"]), not dialogue.states_age(p["description"]))
        )
        if age < ADULT_AGE:
            # Of a kind that has an item made for the child's age (the kids' bike), the others of
            # that kind (the adults' bikes) are no choice; other kinds stay.
            made = [p for p in kept if _age_order(age, p) == (False, False)]
            kinds = {p["tags"][0] for p in made if p.get("tags")}
            kept = [p for p in kept if p in made or not (p.get("tags") and p["tags"][0] in kinds)]
        fitting = [p for p in kept if dialogue.age_fits(age, p["description"])]
        kept = fitting or kept  # a picture book for ages 4 to 7 is no book for an 11-year-old
    return kept


PRODUCT_COVERAGE_MIN = 0.34

# A request for a thing of no kind named: "something", "anything", 何か, 〜もの.
_ANY_THING = re.compile(r"\b(?:something|anything)\b|何か|なにか|もの(?:は|が|を|って|で|、|$)")


def _budget_is_the_request(ctx: TurnContext) -> bool:
    """Whether a request within a price bound asks for a thing of any kind (its other words are
    none the shop uses: a purpose such as a present), so the items within the bound answer it."""
    u = _u(ctx)
    c = u.constraints
    if c.price_max is None or c.attributes or u.follow_up or c.cheaper_than is not None:
        return False
    if not _ANY_THING.search(ctx.message.content):
        return False
    vocabulary = tools.vocabulary(ctx.conversation.placement_id)
    return not any(g[1] & vocabulary or (g[2] and g[2] <= vocabulary) for g in language.word_groups(u.own_query))


MEANING_OVER_WORDS = 0.75  # words that cover less of the request than this yield to a clear match in meaning


def _knowledge_candidates(ctx: TurnContext, query: str) -> list[dict[str, Any]]:
    """The passages to read for a question: all of a partner's passages when they are few
    (a question worded unlike the documents shares no word with its answer), else those
    the lexical index finds."""
    placement_id = ctx.conversation.placement_id
    chunks = list(
        KnowledgeChunk.objects.filter(placement_id=placement_id)
        .select_related("document")
        .order_by("document_id", "ordinal")[: READ_ALL_PASSAGES_UP_TO + 1]
    )
    if len(chunks) > READ_ALL_PASSAGES_UP_TO:
        return tools.knowledge_search.invoke({"placement_id": placement_id, "query": query[:2000], "limit": 10})
    return [
        {"document": c.document_id, "title": c.document.title, "chunk": c.pk, "heading": c.heading, "text": c.text}
        for c in chunks
    ]


READ_ALL_PASSAGES_UP_TO = 80  # each sentence is embedded once per process: ~10 ms each, the first time


def _phrasal_verbs(question: str) -> frozenset[str]:
    """The verbs of an English question read with a particle ("send it back", "pick up"):
    their partner words are looked for as the phrase, though the verb alone is the partner's
    too ("send us a photo" is no "send back")."""
    tokens = re.findall(r"[a-z']+", question.lower())
    out = set()
    for i, token in enumerate(tokens):
        if token in _PARTICLES:
            for before in reversed(tokens[max(0, i - 3) : i]):
                if before not in language.EN_STOPWORDS:
                    out.add(language._en_term(before))
                    break
    return frozenset(out)


def _aliases(
    question: str, groups: list[tuple[str, frozenset[str], frozenset[str], bool]], targets: set[str]
) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """Partner words that mean what a shopper's word means ("send back" → return, "deliver" →
    ship, "fix" → repair): for each English word of the question that none of the partner's
    sentences uses, the words of those sentences nearest in meaning (MiniLM), a phrasal verb
    read whole; and the particles so read ("back"), which are no words of their own."""
    phrasal: dict[str, str] = {}
    tokens = re.findall(r"[a-z']+", question.lower())
    for i, token in enumerate(tokens):
        if token in _PARTICLES:
            # The verb (or noun) the particle belongs to: the nearest word before it that is
            # not a pronoun or an article ("send it back", "get my money back").
            for before in reversed(tokens[max(0, i - 3) : i]):
                if before not in language.EN_STOPWORDS:
                    phrasal[language._en_term(before)] = f"{before} {token}"
                    break
    words = sorted(t for t in targets if t.isascii() and t.isalpha() and len(t) >= 3 and t not in language.EN_STOPWORDS)
    out: dict[str, frozenset[str]] = {}
    particles: set[str] = set()
    for word, _alternatives, _kanji, proper in groups:
        if not word.isascii() or word in _PARTICLES or word in _ORDINAL_WORDS or proper:
            continue  # a name (Tolkien, Osaka) means itself; "second" is no synonym of "first"
        phrase = phrasal.get(word, word)
        near = {
            (w, sim >= ALIAS_STRONG, sim >= ALIAS_SAME_ACTION)
            for w, sim in semantics.nearest(
                phrase, [w for w in words if w != word], minimum=ALIAS_MIN_SIMILARITY, limit=3
            )
            # Near-homographs (fee, free) sit close in the model for their spelling, not their
            # meaning; a word's own forms (deliver, delivery) are fine.
            if not _spelling_only(w, word)
        }
        if near and phrase != word:
            particles.add(phrase.split()[-1])
        if near:
            out[word] = frozenset(w for w, _, _ in near)
            strong = frozenset(w for w, is_strong, _ in near if is_strong)
            same = frozenset(w for w, _, is_same in near if is_same)
            if same:
                out[f"{word}!!"] = same  # so close it may stand for the action asked
            if strong:
                out[f"{word}!"] = strong  # the close ones, which alone can stand for the thing asked
    return out, frozenset(particles)


ALIAS_MIN_SIMILARITY = 0.44
ALIAS_STRONG = 0.52  # an alias this close may stand for the very thing asked (the head word)
ALIAS_SENTENCE_MIN = 0.3
ALIAS_SAME_ACTION = 0.6  # an alias this close may stand for the action the shop is asked to do


def _spelling_only(candidate: str, word: str) -> bool:
    """Whether two words are close in the model for their spelling rather than their meaning:
    near-homographs (fee, free) and compounds of a word (water, waterproof). A word's own
    forms (deliver, delivery) are not."""
    short, long_ = sorted((candidate, word), key=len)
    if long_.startswith(short):
        return len(long_) - len(short) > 3
    return Levenshtein.distance(candidate, word) <= 2


_ORDINAL_WORDS = frozenset(["first", "second", "third", "last", "next", "one", "two", "three"])
_PARTICLES = frozenset(["back", "up", "out", "off", "over", "down", "away"])  # read with their verb


def _answer_sentences(
    ctx: TurnContext, query: str, *, asked: frozenset[str] | None = None
) -> tuple[list[dict[str, Any]], float]:
    """The sentences of the partner's documents that answer the question, scored; and the
    confidence that they do. `asked`: the kinds of fact a part of the question asks (else the
    message's own); a question of several parts is answered part by part.

    Three signals, so a question worded unlike the documents is still answered and one they
    do not cover is still handed over: how much of the question's weight a sentence carries
    (its words, their synonyms and readings, and for English words the partner's words
    nearest in meaning), whether it states the kind of fact asked for (a time, a duration,
    an amount), and how close the whole sentence is in meaning (MiniLM, English)."""
    if asked is None:
        parts = _question_parts(ctx.message.content, query)
        if parts:
            return _answer_parts(ctx, parts)
    passages = _knowledge_candidates(ctx, query)
    if not passages:
        return [], 0.0
    query_terms = retrieval.terms(query)
    # A Japanese compound is a kind of its last part (食パン is a パン): a sentence that names that
    # kind as a word of its own (パンは鮮度を保つため…, not 米粉パンは…) speaks to it. (Not for
    # products: 頭痛薬 is no 目薬.)
    kinds_of = {
        g[0]: frozenset([f"={head}"]) for g in language.word_groups(query) if (head := language.compound_head(g[0]))
    }
    candidates = []
    for p in passages:
        context = retrieval.terms(f"{p['title']} {p['heading']}")
        for sentence in language.sentences(p["text"]):
            terms = retrieval.terms(sentence)
            if kinds_of:
                terms = terms + [f"={g[0]}" for g in language.word_groups(sentence)]
            candidates.append((p, sentence, terms, context))
    if not candidates:
        return [], 0.0
    total = len(candidates)
    meaning = semantics.similarities(query, [f"{p['heading']}: {sentence}" for p, sentence, _, _ in candidates])
    groups = language.word_groups(query)
    # Partner words for the shopper's words, from the sentences nearest in meaning.
    nearest = sorted(range(total), key=lambda i: -meaning[i])[:6] if any(meaning) else []
    targets = {t for i in nearest for t in candidates[i][2] + candidates[i][3]}
    # Words the nearest sentences themselves do not use (a heading's word is not an answer's).
    said = {t for i in nearest for t in candidates[i][2]}
    aliases, particles = (
        _aliases(query, [g for g in groups if not (g[1] & said) or g[0] in _phrasal_verbs(query)], targets)
        if nearest
        else ({}, frozenset())
    )
    if _HOW_MUCH.search(ctx.message.content):
        # "How much do you charge for …?": the amount asked is the kind of fact, the verb no word
        # to find ("free of charge" in a sentence about damaged items does not answer it). A
        # noun stays the thing asked ("is there a restocking fee?", "the delivery charge").
        particles = particles | {g[0] for g in groups if g[0] in _AMOUNT_VERBS}
    if "day" in language.answer_kinds(ctx.message.content):
        # "I need it by tomorrow", 今日中に: the day is the kind of fact asked (当日, "next business
        # day"), no word a sentence must repeat.
        particles = particles | {g[0] for g in groups if language.asks_for_day(g[0])}
    if "place" in (asked if asked is not None else language.answer_kinds(ctx.message.content)):
        # "can you send an order to Hawaii?": where is asked; the order is only what is sent
        # ("email us your order number" does not answer it).
        particles = particles | {g[0] for g in groups if g[0] in _SENT_THINGS}
    # "… is that possible?": the frame of the question, not what it is about; so is "if I change
    # my mind" (the shopper's reason, not a word of the policy).
    particles = particles | {g[0] for g in groups if g[0] in _FRAME_WORDS}
    if _CHANGED_MIND.search(ctx.message.content):
        particles = particles | {"change", "mind"}
    idf = retrieval.idf_weights(
        query_terms, [terms + context for _, _, terms, context in candidates], total=max(total * 2, len(candidates))
    )
    phrasal = frozenset(w for w in _phrasal_verbs(query) if w in aliases)
    # Coverage by the sentence itself, its heading and title helping at a lesser weight.
    known = tools.vocabulary(ctx.conversation.placement_id) | targets

    meant = {w: aliases.get(w, frozenset()) | kinds_of.get(w, frozenset()) for w in {*aliases, *kinds_of}}

    def cover_of(documents: list[list[str]], *, by_meaning: bool = True) -> list[float]:
        return retrieval.coverage_of(
            query,
            documents,
            total=total * 2,
            aliases=meant if by_meaning else (kinds_of or None),
            ignore=particles,
            known=known,
            phrasal=phrasal,
        )

    own_cover = cover_of([terms for _, _, terms, _ in candidates])
    with_context = cover_of([terms + context for _, _, terms, context in candidates])
    if aliases:
        # A word matched only by meaning counts in full where the whole sentence is near the
        # question in meaning too, and half elsewhere ("a restocking fee" is no payment rule).
        own_plain = cover_of([terms for _, _, terms, _ in candidates], by_meaning=False)
        context_plain = cover_of([terms + context for _, _, terms, context in candidates], by_meaning=False)
        for i, sim in enumerate(meaning):
            if sim < ALIAS_SENTENCE_MIN:
                own_cover[i] = (own_cover[i] + own_plain[i]) / 2
                with_context[i] = (with_context[i] + context_plain[i]) / 2
    # The thing an English question asks about ("bike fitting", "a restocking fee"): a sentence
    # that does not speak to it does not answer, however much else it shares.
    head = retrieval.head_word(query)
    head_group = next((g for g in groups if g[0] == head), None)
    if head in _GENERIC_HEADS:
        # "what's your return policy?": the policy is the returns; "policy" need not be said.
        head_group = None
        particles = particles | {g[0] for g in groups if g[0] in _GENERIC_HEADS}
    # The kind of fact asked for, from the shopper's own words ("how much" is no search term).
    own_kinds = asked if asked is not None else language.answer_kinds(ctx.message.content)
    # A follow-up asks its own kind ("and how long will it take?" after "what does it cost to
    # ship a keyboard?" wants a duration, no longer an amount): the topic's kinds only stand in
    # when the message asks none.
    kinds = own_kinds or language.answer_kinds(query)
    if "damage" not in own_kinds:
        kinds = kinds - {"damage"}  # the damage told before is not what a new question asks about
    if "damage" in kinds:
        # "the bag of litter showed up ripped open": whatever arrived damaged, the sentence on
        # damaged items ("if an item arrives damaged …") is about it; the item need not be named.
        head_group = None
    if "place" in kinds and head in _SENT_THINGS:
        # "do you send orders up to Vancouver?": where is asked; "orders" is only what is sent.
        head_group = None
    if "amount" in kinds and head in _AMOUNT_WORDS:
        head_group = None  # "how much do you charge for delivery?": the amount is asked, delivery is the thing
    # "Do you price match …?", "can you fix …?": what the shop is asked to do must be answered
    # too, as much as the thing it is done to.
    asked_to = _ASKED_TO.search(query)
    verb = language._en_term(asked_to.group(1).lower()) if asked_to else ""
    verb_group = next((g for g in groups if g[0] == verb and g[0] not in _GENERAL_VERBS), None)
    ja_asked = language.requested_action(ctx.message.content) if not asked_to else ""
    if ja_asked:
        # 「引き出しが壊れたら直してもらえますか」: the repair asked for must be answered, not only
        # the damage told ("初期不良の場合は当店が負担いたします" does not say it is repaired).
        verb_group = next((g for g in groups if g[0] == ja_asked and g[0] not in particles), None)
    # (What the shop is asked to do is met only by a word for the same action: "tune" sits
    # near "guitar" (0.56) and "buy" near "trade" (0.55), but neither is that action; "fix" →
    # repair is 0.63, "deliver" → ship 0.63.)
    musts = [
        (g, aliases.get(f"{g[0]}{'!!' if g is verb_group and g is not head_group else '!'}", frozenset()))
        for g in (head_group, verb_group)
        if g is not None and g[0] not in particles
    ]

    def answers_what_is_asked(words: set[str], sentence: str = "") -> bool:
        # Its word, synonym, reading or all its kanji (お金 in 返金), or a close alias. A
        # Japanese request is answered too by a sentence that says the shop takes it on
        # (のしをつけてもらえますか — 「のしは無料で承ります」).
        accepted = bool(ja_asked) and bool(_JA_ACCEPTS.search(sentence))
        return all(
            language.group_matched(g, words) or (strong & words) or (accepted and g is verb_group)
            for g, strong in musts
        )

    size = len([g for g in groups if g[0] not in particles]) or 1
    scored = []
    kind_unstated: set[str] = set()
    for (p, sentence, terms, context), a, b, sim in zip(candidates, own_cover, with_context, meaning, strict=True):
        lexical = max(a, 0.85 * b)
        if kinds:
            # The kind of fact asked for counts as one more word of the question.
            states = bool(kinds & language.kinds_in(sentence))
            lexical = (lexical * size + (1.0 if states else 0.0)) / (size + 1)
            if "damage" in kinds and verb_group is None and "damage" in language.kinds_in(sentence):
                # Damage told and a policy on damage: that is the answer, however the shopper
                # named the item and how it came ("the harness came with a broken buckle"). A
                # service asked for ("can you fix the cracked screen?") must still be answered.
                lexical = max(lexical, DAMAGE_ANSWERS)
        if not answers_what_is_asked(set(terms + context), sentence) or (
            head_group is not None and _names_only_as_modifier(head_group[0], sentence, query)
        ):
            lexical = min(lexical, HEAD_MISSING_CAP)
        close = min(1.0, max(0.0, (sim - 0.3) / 0.4))
        cover = max(lexical, (lexical + close) / 2, close if sim >= SEMANTIC_ALONE else 0.0)
        # Ties go to the sentence stating the kind of fact asked, then to the closest in meaning.
        states = bool(kinds & language.kinds_in(sentence))
        if (
            head_group is not None
            and kinds & FACT_KINDS
            and not states
            and not language.group_matched(head_group, set(terms + context))
            and not aliases.get(f"{head_group[0]}!!", frozenset()) & set(terms + context)
        ):
            # The thing asked met only by a word near it in meaning (not one so close it means the
            # same, ≥ 0.6: fix → repair), and the fact asked not stated: "how long is the
            # warranty?" is not answered by "our luthier repairs guitars" (warranty ~ repair
            # 0.54), though "how long until I get my money back?" is by "we refund … within 5
            # working days". (Nor is it made an answer by a sentence
            # beside it that states the fact of the near thing: "most repairs take 5 to 10 days".)
            cover = min(cover, HEAD_MISSING_CAP)
            kind_unstated.add(sentence)
        closeness = sim + retrieval.score(query_terms, terms + context, idf=idf) / 10 + (1.0 if states else 0.0)
        # Near-equals keep the documents' order (a policy states its main rule first).
        scored.append((round(cover, 2), round(closeness, 1), p, sentence, terms))
    # Equals in cover: the general rule before an option beside it ("express delivery … is
    # available at checkout"), then the sentence using more of the shopper's own words ("how
    # long does it take?" → "standard delivery takes …"), then the closer in meaning.
    shopper_words = _own_words(ctx.message.content)
    scored.sort(key=lambda row: (-row[0], bool(_OPTION.search(row[3])), -len(shopper_words & set(row[4])), -row[1]))
    # Where each sentence stands in its document: a policy states its general rule first.
    position = {(p["chunk"], sentence): i for i, (p, sentence, _, _) in enumerate(candidates)}
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "answer %r aliases=%s kinds=%s head=%r: %s",
            query,
            {k: sorted(v) for k, v in aliases.items()},
            sorted(kinds),
            head,
            [(row[0], row[1], row[3][:50]) for row in scored[:3]],
        )
    best_cover, _, best_passage, best_sentence, best_terms = scored[0]
    chosen = [{"document": best_passage["document"], "title": best_passage["title"], "sentence": best_sentence}]
    # A second sentence of the same document when, together, they carry clearly more of the
    # question ("my gears keep slipping, can you fix that?": the workshop repairs; a service
    # includes gears).
    best_pair = None
    if _EXCEPTION.search(best_sentence):
        # The sentence found states an exception or a condition ("engraved items can't be
        # returned", "orders over $35 ship free"): the general rule of the same document comes
        # first ("unopened products can be returned within 14 days", "standard shipping costs
        # $4.95") — a sentence that is no exception, speaks to a word of the question the
        # exception speaks to too (return, ship) and states the kind of fact asked.
        asked_terms = set(query_terms)
        for _cover, own, p, sentence, terms in scored[1:8]:
            if p["document"] != best_passage["document"] or _EXCEPTION.search(sentence) or own <= 0:
                continue
            shared = set(terms) & set(best_terms)
            # (By the question's own word, or by the kind of fact asked where the shopper said
            # "delivery charge" and the documents say "ship".)
            if not (shared & asked_terms or (kinds and shared)):
                continue
            if kinds and not kinds & language.kinds_in(sentence):
                continue
            # (And it answers what is asked: 「直してもらえますか」 is no question of who pays
            # for a defect on arrival.)
            if not answers_what_is_asked(set(terms) | set(retrieval.terms(f"{p['title']} {p['heading']}")), sentence):
                continue
            chosen.insert(0, {"document": p["document"], "title": p["title"], "sentence": sentence})
            return _every_kind_stated(ctx, chosen, scored, kinds, position), best_cover
    # The fact that goes with it, from the same passage: "we ship to the United Kingdom with
    # Royal Mail" says how, "delivery to the UK costs $18 and takes 10 to 14 working days" says
    # what it costs and how long; a shopper asking whether they can have it wants both.
    if not (language.kinds_in(best_sentence) & {"amount", "duration"}):
        for cover, _own, p, sentence, _terms in scored[1:6]:
            if (
                p is best_passage
                and cover >= dialogue.ESCALATE_BELOW
                and language.kinds_in(sentence) & {"amount", "duration"}
                and not _EXCEPTION.search(sentence)
            ):
                best_pair = (best_cover, p, sentence)
                break

    for _cover, own, p, sentence, terms in scored[1:5]:
        if best_pair is not None and best_pair[1] is best_passage:
            break
        if p["document"] != best_passage["document"] or sentence == best_sentence or own <= 0:
            continue
        together = cover_of([best_terms + terms])[0]
        if not answers_what_is_asked(set(best_terms + terms), f"{best_sentence} {sentence}") or (
            head_group is not None and _names_only_as_modifier(head_group[0], f"{best_sentence} {sentence}", query)
        ):
            together = min(together, HEAD_MISSING_CAP)
        if best_sentence in kind_unstated:
            together = min(together, HEAD_MISSING_CAP)
        if together >= best_cover + 0.1 and (best_pair is None or together > best_pair[0]):
            best_pair = (together, p, sentence)
    if best_pair is None and _CONDITIONAL.search(best_sentence):
        # "If a teapot arrives broken, send us a photo." says what to do; the passage's next
        # sentence ("we will send a new one") says what the shop then does: both answer.
        passage = language.sentences(best_passage["text"])
        at = passage.index(best_sentence) if best_sentence in passage else -1
        following = passage[at + 1] if 0 <= at < len(passage) - 1 else ""
        if following and not following.lstrip().startswith("#") and not _CONDITIONAL.search(following):
            best_pair = (best_cover, best_passage, following)
    if best_pair is not None:
        together, p, sentence = best_pair
        chosen.append({"document": p["document"], "title": p["title"], "sentence": sentence})
        best_cover = max(best_cover, together)
    return _every_kind_stated(ctx, chosen, scored, kinds, position), best_cover


FACT_KINDS = frozenset(["clock", "duration", "amount"])
# Where a question of several parts turns to its next part: "…to Texas and how long does it
# take?", 「送料はいくらで、何日くらいで届きますか」, "…? And when …".
_PART_BREAK = re.compile(
    r",?\s+and\s+(?=(?:how|what|when|where|which|is|are|do|does|can|could|will|would)\b)|"
    r"(?<=[?？])\s*|(?<=[でてし])、",
    re.I,
)


def _own_words(message: str) -> set[str]:
    """The shopper's own words, with the verbs a search leaves out as too common ("how long
    will it take?": take), to tell apart sentences the question's terms score alike."""
    # (Whole words: a single kanji shared, 開 of 開く and 開封, says nothing.)
    return {g[0] for g in language.word_groups(message)} | {
        language._en_term(w) for w in re.findall(r"[a-z]{3,}", message.lower())
    }


def _question_parts(message: str, query: str) -> list[tuple[str, frozenset[str]]]:
    """The parts of a question that ask different kinds of fact ("how much is shipping to Texas
    and how long does it take?": an amount, then a duration), each with the words to read it
    by and its kinds; none when the question asks one thing. A part with no words of its own
    ("how long does it take?") is about what the part before it names."""
    said = [part for part in _PART_BREAK.split(message) if part and part.strip()]
    words = [part for part in _PART_BREAK.split(query) if part and part.strip()]
    if len(said) < 2:
        return []
    if len(words) != len(said):
        words = said  # the understanding rewrote the question: read each part as said
    parts: list[tuple[str, frozenset[str]]] = []
    for text, query_part in zip(said, words, strict=True):
        kinds = language.answer_kinds(text)
        if not kinds & FACT_KINDS:
            return []  # a part that asks no fact of its own: one question, said at length
        if parts and all(g[0] in _KIND_WORDS or g[0] in _GENERAL_VERBS for g in language.word_groups(query_part)):
            query_part = f"{parts[0][0]} {query_part}"
        parts.append((query_part, kinds))
    if len({kinds & FACT_KINDS for _, kinds in parts}) < 2:
        return []
    return parts


def _answer_parts(ctx: TurnContext, parts: list[tuple[str, frozenset[str]]]) -> tuple[list[dict[str, Any]], float]:
    """Each part answered on its own, its best sentences first: the sentences of the parts the
    documents answer, with the least of their confidences; when none is answered, the most
    confident part (to hand over)."""
    results = [_answer_sentences(ctx, query, asked=kinds) for query, kinds in parts]
    answered = [r for r in results if r[0] and r[1] >= dialogue.ESCALATE_BELOW]
    if not answered:
        return max(results, key=lambda r: r[1])
    # Each part's best sentence first, so that every part is answered within the reply's length;
    # then said in the order the parts were asked.
    picked: list[tuple[int, int, dict[str, Any]]] = []
    for rank in range(MOST_SENTENCES):
        for part, (sentences, _cover) in enumerate(answered):
            if rank < len(sentences) and sentences[rank]["sentence"] not in {c["sentence"] for *_, c in picked}:
                picked.append((part, rank, sentences[rank]))
    chosen = [c for *_, c in sorted(picked[:MOST_SENTENCES], key=lambda row: (row[0], row[1]))]
    return chosen, min(cover for _, cover in answered)


KIND_COMPLETES_MIN = 0.25  # a sentence this near the question may add the fact asked; it alone would not answer
MOST_SENTENCES = 3


def _every_kind_stated(
    ctx: TurnContext,
    chosen: list[dict[str, Any]],
    scored: list[tuple[Any, ...]],
    kinds: frozenset[str],
    position: Mapping[tuple[int, str], int],
) -> list[dict[str, Any]]:
    """Every kind of fact asked is stated: "how much is shipping to Texas and how long does it
    take?" wants an amount and a duration, "what time do you close on Sundays?" a time of day
    (not only "we are closed on Mondays"). For each kind asked that the sentences chosen do
    not state, the best sentence of the same document that states it joins them; and a
    follow-up that asks a kind the previous answer did not state ("and how long will it take
    to get here?") gets the new sentence, not the one just said again. Of the sentences that
    state the kind, the one sharing most of the shopper's own words comes first ("how long will
    it take" → "standard delivery takes 3 to 6 business days"), then the general rule before an
    option or a surcharge ("express delivery … is available at checkout for $24"), then the
    nearer to the question, then the earlier in the document (a policy states its rule first)."""
    wanted = kinds & FACT_KINDS
    stated = frozenset().union(*(language.kinds_in(c["sentence"]) for c in chosen))
    missing = sorted(wanted - stated)
    if not missing:
        return chosen
    document = chosen[0]["document"]
    said = {c["sentence"] for c in chosen}
    own = _own_words(ctx.message.content)
    added = []
    for kind in missing:
        stating = [
            row
            for row in scored[1:12]
            if row[0] >= KIND_COMPLETES_MIN
            and row[2]["document"] == document
            and row[3] not in said
            and kind in language.kinds_in(row[3])
        ]
        if not stating:
            continue
        _cover, _closeness, p, sentence, _terms = min(
            stating,
            key=lambda row: (
                -len(own & set(row[4])),
                bool(_OPTION.search(row[3])),
                -round(row[0], 1),
                position[(row[2]["chunk"], row[3])],
            ),
        )
        added.append({"document": p["document"], "title": p["title"], "sentence": sentence})
        said.add(sentence)
    if not added:
        return chosen
    last_reply = next((text for role, text in reversed(ctx.history) if role == "assistant"), "")
    kept = [c for c in chosen if c["sentence"] not in last_reply]
    return (kept + added)[:MOST_SENTENCES]


def _names_only_as_modifier(head: str, sentence: str, question: str) -> bool:
    """Whether an English sentence names the thing asked about only to qualify a kind of goods
    ("do you do full grooming?" — "grooming products cannot be returned" is about products,
    not grooming), when the question does not ask about those goods themselves."""
    if not head.isascii() or language.is_goods_condition(head):
        return False  # "unused items": a condition is a modifier by nature
    tokens = re.findall(r"[a-z]+", sentence.lower())
    at = [i for i, token in enumerate(tokens) if language._en_term(token) == head]
    if not at or not all(i + 1 < len(tokens) and tokens[i + 1] in _GOODS for i in at):
        return False
    asked = set(re.findall(r"[a-z]+", question.lower()))
    return not any(tokens[i + 1] in asked for i in at)


# Words for goods that another noun only qualifies ("grooming products", "gift items"): the
# general names of merchandise, in English (a Japanese compound is one word to Sudachi).
_GOODS = frozenset(
    ["products", "product", "items", "item", "supplies", "goods", "accessories", "merchandise", "equipment"]
)


# A sentence that opens on a condition ("If an item arrives damaged, …", 割れて届いた場合は、…).
_CONDITIONAL = re.compile(r"^\s*(if|when|should)\b|場合(は|には|も)|(たら|れば)、", re.IGNORECASE)


# An exception or a condition to a rule, in the partner's words.
_EXCEPTION = re.compile(
    r"\b(cannot|can't|can not|won't|will not|aren't|are not|isn't|is not|unless|except|excluding)\b|\bonly if\b|"
    r"\b(over|above|from) [$¥€£]\s?\d|\bfree\b|"
    r"できません|できかねます|除き|除く|以外|無料|対象外|いたしません|しません|\d[\d,]*\s?円以上",
    re.IGNORECASE,
)


# An option or a surcharge beside a rule ("express delivery is available at checkout for $24",
# 「離島へのお届けは別途2,200円」), which a shopper asking the plain question is not after.
_OPTION = re.compile(
    r"\bavailable at checkout\b|\bfor an? (extra|additional)\b|\boptional\b|\bsurcharge\b|別途|追加料金", re.I
)
# The shop saying it takes a request on, whatever the request: 承ります, 受け付けております, 対応いたします.
_JA_ACCEPTS = re.compile(r"承[りるっ]|受け?付け|対応(?:して|いた|し|可能)|可能です")
_ASKED_TO = re.compile(
    r"\b(?:do|can|could|will|would)\s+(?:you|u|ya|someone|somebody|anyone|anybody)(?:\s+guys|\s+there)?\s+"
    r"(?:also\s+|even\s+|still\s+|come\s+and\s+|come\s+to\s+)?([a-z]+)",
    re.I,
)
_GENERIC_HEADS = frozenset(
    ["policy", "rule", "term", "condition", "info", "information", "detail", "procedure", "process", "option"]
)
_SENT_THINGS = frozenset(["order", "package", "parcel", "item", "stuff", "thing", "purchase", "delivery"])
_AMOUNT_WORDS = frozenset(["charge", "cost", "price", "fee", "pay", "much", "spend"])
_AMOUNT_VERBS = frozenset(["charge", "cost", "pay", "spend"])
# The frame of a question, not what it is about: "… is that possible?", "is it easy to park?",
# and the polite frames of Japanese (〜は可能でしょうか, 〜ても大丈夫ですか, 〜てもよろしいですか,
# お願いできますか, 伺っても…), which a policy words as a plain statement (承ります, 定休日です).
_CHANGED_MIND = re.compile(r"\bchanged? (my|our|his|her|their) minds?\b", re.I)
_FRAME_WORDS = frozenset(
    [
        "possible",
        "able",
        "doable",
        "easy",
        "可能",
        "大丈夫",
        "宜しい",
        "構う",
        "願う",
        "願い",
        "伺う",
        "教える",
        "知らせる",
    ]
)
_HOW_MUCH = re.compile(r"\bhow much (do|does|will|would|did|is it to|to)\b", re.I)
_GENERAL_VERBS = frozenset(
    ["do", "have", "get", "give", "make", "take", "tell", "help", "offer", "sell", "let", "send", "charge", "cost"]
)
SEMANTIC_ALONE = 0.6  # a sentence this close in meaning answers even with no word in common
HEAD_MISSING_CAP = 0.4  # below the hand-over threshold
DAMAGE_ANSWERS = 0.6  # clear of the hand-over threshold; a sentence carrying the question's words too still wins


def _citations(chosen: list[dict[str, Any]], reply: str) -> list[dict[str, Any]]:
    """The documents whose sentences the reply actually carries (a model that paraphrased
    them all is taken to have used what it was given)."""
    used = [c for c in chosen if c["sentence"] in reply] or chosen
    citations, seen = [], set()
    for c in used:
        if c["document"] not in seen:
            seen.add(c["document"])
            citations.append({"document": c["document"], "title": c["title"]})
    return citations


# --- coupon_promoter ---------------------------------------------------------------------

COUPON_PLAYBOOK = (
    "I can suggest items from our catalog and give you a coupon code for today's deals.",
    "Tell me what you are looking for, and I'll pick the two or three that fit best.",
    "Coupon codes work in store and online.",
)
COUPON_LABELS = (
    Label(
        "coupon",
        "the shopper wants a deal, a discount, a coupon or a code",
        ("do you have a coupon", "any discount today", "give me a deal", "code please", "クーポン", "割引", "お得"),
    ),
    Label(
        "recommend",
        "the shopper asks for a product or a suggestion of what to buy",
        (
            "something for lunch",
            "recommend a snack",
            "do you sell onigiri",
            "I want a drink",
            "what's good",
            "おすすめ",
            "お昼ご飯",
            "何がいい",
        ),
    ),
    Label(
        "chat",
        "greetings, thanks and anything else",
        ("hello", "thank you", "who are you", "bye", "こんにちは", "ありがとう"),
    ),
)


def _coupon_route(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    label = _classify(ctx, state["text"], COUPON_LABELS, "recommend")
    u = _u(ctx)
    after_answer = bool(ctx.state and ctx.state.open_question == "confirm" and ctx.state.topic)
    accepted_check = bool(
        ctx.state
        and ctx.state.open_question == "check"
        and _YES_ONLY(state["text"])
        and not {"deny", "thanks", "goodbye"} & set(u.acts)
    )
    if "human" in u.acts or accepted_check:
        intent = "escalate"  # a person asked for, or the colleague offered to check a fact accepted
    elif after_answer and _about_the_topic(u.query, state["text"]):
        intent = "recommend"  # "and how much is it?" after a policy answer: about that policy
    elif "discount" in u.acts:
        intent = "coupon"
    elif u.about and u.about != "ask?":
        intent = "recommend"  # a follow-up about the item in focus: its facts or its siblings
    elif u.referenced and ("product" not in u.acts or u.pronoun):
        intent = "recommend"
    elif "product" in u.acts or "question" in u.acts or u.follow_up:
        # A Japanese request names no deal unless its words do: the classifier's character
        # pairs meet 割 in お湯割り and 水割り as in 割引.
        deal = label == "coupon" and not (u.language == "ja" and "discount" not in u.acts)
        intent = "coupon" if deal and not u.follow_up and u.constraints.price_max is None else "recommend"
    elif u.social:
        intent = "chat"
    else:
        intent = label
    if (
        ctx.state
        and ctx.state.open_question == "relax"
        and ("deny" not in u.acts)
        and intent == "chat"
        and _YES_ONLY(state["text"])
        and not {"thanks", "goodbye"} & set(u.acts)  # "great, thanks!" closes; it asks for no more
    ):
        intent = "recommend"
    return {"intent": intent}


def _YES_ONLY(text: str) -> bool:
    return bool(dialogue._YES.search(text))


def _coupon_recommend(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    u = _u(ctx)
    dm = ctx.state
    assert dm is not None
    offers = [f"{o.title}" for o in selectors.placement_offers(ctx.conversation.placement_id)]
    note = ""
    if (
        dm.open_question == "confirm"
        and dm.topic
        and _about_the_topic(u.query, state["text"])
        and selectors.placement_stock(ctx.conversation.placement_id).documents
    ):
        # "how long will that take?" after "we ship to Canada …": the same policy, the fact now asked.
        on_topic, on_cover = _answer_sentences(ctx, dm.topic)
        if on_topic and on_cover >= dialogue.ESCALATE_BELOW:
            u.query = dm.topic
            return _answer(ctx, state, on_topic, on_cover)
    if u.about and (about := _about_focus(ctx, state)) is not None:
        return about
    if u.referenced and ("product" not in u.acts or (u.pronoun and "question" in u.acts)) and not u.follow_up:
        # "the second one", "that one": the item already shown, with what we know of it.
        skus = [p["sku"] for p in u.referenced]
        found = [
            p
            for p in tools.product_lookup.invoke(
                {
                    "placement_id": ctx.conversation.placement_id,
                    "query": " ".join(p["name"] for p in u.referenced),
                    "limit": 10,
                }
            )
            if p["sku"] in skus
        ] or []
        found = found or [_as_product(ctx, p) for p in u.referenced]
        if u.query:  # a question about the item: the sentence of its listing that speaks to it
            for p in found:
                sentences = language.sentences(p.get("description", ""))
                asked = set(retrieval.terms(u.query))
                best = max(sentences, key=lambda x: len(asked & set(retrieval.terms(x))), default="")
                if best and asked & set(retrieval.terms(best)):
                    p["reason"] = best
        note = "beyond" if u.beyond else "reference"
        if not u.beyond and found:
            dm.focus = {k: found[0][k] for k in ("sku", "name", "price", "price_label", "tags") if k in found[0]}
        confidence = 0.9
    else:
        relax = dm.open_question == "relax" and not u.query
        if relax:
            u.query = dm.topic
        _compared_with_named(ctx)
        found = _lookup(ctx, relax=relax)
        confidence = max((p.get("coverage", 0.8) for p in found), default=0.0)
        if u.constraints.cheaper_than is not None:
            note = "cheaper"
    knowledge: list[dict[str, Any]] = []
    cover = 0.0
    own_words = language.word_groups(u.own_query)
    documents = selectors.placement_stock(ctx.conversation.placement_id).documents
    if "question" in u.acts and "stock" not in u.acts and own_words and documents:
        # A policy question in the shopper's own words ("and can I pick it up today?"); a
        # refinement of the products shown ("is there anything cheaper?") is none.
        knowledge, cover = _answer_sentences(ctx, u.own_query)
    if knowledge and cover >= max(confidence, 0.55) and not (found and _WANTS_AN_ITEM.search(state["text"])):
        # (A request for an item that the catalog answers is no policy question: "anything for dry
        # skin?" is the barrier cream, not "all our products are tested on sensitive skin".)
        return _answer(ctx, state, knowledge, cover)
    if not found:
        bounded = (
            any(v is not None for v in (u.constraints.price_max, u.constraints.price_min, u.constraints.cheaper_than))
            or u.constraints.attributes
        )
        if bounded and (u.query or u.follow_up):
            return _nothing_within(ctx, state)
        if knowledge and cover >= dialogue.ESCALATE_BELOW and not _WANTS_AN_ITEM.search(state["text"]):
            # No item fits and the documents answer well enough for Kai: a policy question
            # asked of Rinna (今日注文したらいつ届きますか) is answered as he would, not handed over.
            return _answer(ctx, state, knowledge, cover)
        if "question" in u.acts and knowledge and cover >= 0.2 and not _WANTS_AN_ITEM.search(state["text"]):
            return _escalate(ctx, state, "no answer in the knowledge base", "unknown")
        return _refuse(ctx, state)
    found = _best(found)
    _remember(
        ctx, shown=found if note != "reference" else None, topic=u.query, open_question="coupon" if offers else ""
    )
    reply = _recommendation(ctx, state, found, note=note, offers=offers)
    return {"mode": "recommend", "products": found, "reply": reply, "confidence": round(confidence, 2)}


# A product family: the name without its attribute words (a colour or size in brackets, a
# measure, a size letter or word), so "Trailhead daypack 20L (black)" and "(navy)" are siblings.
_FAMILY_NOISE = re.compile(
    r"[（(][^)）]*[)）]|\d+(?:\.\d+)?\s*(?:mm|cm|m|l|ml|g|kg|inch|in|oz)\b|"
    r"\b(?:xs|s|m|l|xl|xxl|small|medium|large|mini|regular)\b",
    re.I,
)
_MEASURE = re.compile(r"(\d+(?:\.\d+)?)\s*(mm|cm|m|ml|l|g|kg|inch|in)\b", re.I)
_MEASURE_SCALE = {"mm": 0.1, "cm": 1, "m": 100, "inch": 2.54, "in": 2.54, "ml": 1, "l": 1000, "g": 1, "kg": 1000}
_SIZE_WORDS = {"xs": 0, "mini": 0, "s": 1, "small": 1, "m": 2, "medium": 2, "regular": 2, "l": 3, "large": 3}
_SIZE_WORDS |= {"xl": 4, "xxl": 5}
_SIZE_WORD = re.compile(r"\b(" + "|".join(_SIZE_WORDS) + r")\b", re.I)


def _family(name: str) -> str:
    return " ".join(_FAMILY_NOISE.sub(" ", name.lower()).split())


def _sizes(items: Sequence[Mapping[str, Any]]) -> list[float] | None:
    """The items' sizes on one scale, to order siblings: the measures in their names, else the
    size words in them, else the measures in their descriptions — the first that every item
    has (a size word and a measure in centimetres are not compared); None if none does."""

    def measure(text: str) -> float | None:
        m = _MEASURE.search(text)
        return float(m.group(1)) * _MEASURE_SCALE[m.group(2).lower()] if m else None

    def word(text: str) -> float | None:
        m = _SIZE_WORD.search(text)
        return float(_SIZE_WORDS[m.group(1).lower()]) if m else None

    for read in (lambda i: measure(i["name"]), lambda i: word(i["name"]), lambda i: measure(i["description"])):
        values = [read(i) for i in items]
        if all(v is not None for v in values):
            return [v for v in values if v is not None]
    return None


def _listing(item: Mapping[str, Any]) -> str:
    return f"{item['description']} {' '.join(item['tags'])}"


def _asked_terms(item: Mapping[str, Any], question: str) -> set[str]:
    """The words of a question about an item that ask something of it: its own name's words
    only say which item (「布団の打ち直しもやってますか」 asks about re-stuffing, not the duvet)."""
    return set(retrieval.terms(question)) - set(retrieval.terms(item["name"]))


def _answering(items: Sequence[dict[str, Any]], question: str) -> dict[str, Any] | None:
    """Of the items just listed, the one whose listing alone speaks to the question ("does it
    do up with velcro?" after a watch and a kids' shoe is about the shoe), else None."""
    asked = set(retrieval.terms(question))
    speaking = [i for i in items if asked & set(retrieval.terms(f"{i['name']} {_listing(i)}"))]
    return speaking[0] if len(speaking) == 1 else None


def _fact(item: Mapping[str, Any], question: str, *, named_only: bool = False) -> str:
    """The sentence of an item's listing that answers a question about it, or "". With
    `named_only`, words of the item's own name do not count as an answer's words."""
    sentences = [x for x in language.sentences(item["description"]) if x.strip()]
    if not sentences:
        return ""
    asked = _asked_terms(item, question) if named_only else set(retrieval.terms(question))
    overlap = [len(asked & set(retrieval.terms(x))) for x in sentences]
    if max(overlap) > 0:
        return sentences[overlap.index(max(overlap))]
    if question and not language.is_japanese(question) and semantics.available():
        # "how heavy is it?" and "Weighs 2.6 kg." share no word, only a meaning.
        sims = semantics.similarities(question, sentences)
        if max(sims) >= FACT_SIMILARITY_MIN:
            return sentences[sims.index(max(sims))]
    return ""


FACT_SIMILARITY_MIN = 0.35


def _listed(item: Mapping[str, Any], reason: str) -> dict[str, Any]:
    return {
        "sku": item["sku"],
        "name": item["name"],
        "price": item["price"],
        "currency": item["currency"],
        "price_label": format_money(item["price"], item["currency"]),
        "description": item["description"],
        "reason": (reason or (language.sentences(item["description"]) or ("",))[0])[:160],
        "tags": list(item["tags"]),
        "score": 1.0,
        "coverage": 0.8,
    }


def _about_focus(ctx: TurnContext, state: TurnState) -> TurnState | None:
    """A follow-up about the item in focus, answered from the catalog, not by a new search:
    a question about it from its listing ("the catalog doesn't say" when the listing is
    silent), a step up in price within its kind, or its siblings in another colour, for women
    or men, smaller or larger. None when the follow-up is not about it after all."""
    u = _u(ctx)
    dm = ctx.state
    if dm is None or not dm.shown:
        return None
    items = selectors.placement_catalog(ctx.conversation.placement_id, tools.MEANING_CATALOG_LIMIT + 1)
    if len(items) > tools.MEANING_CATALOG_LIMIT:
        return None
    by_sku = {i["sku"]: i for i in items}
    pointed = u.referenced[0] if u.referenced else (dm.focus or dm.shown[0])
    focus = by_sku.get(pointed["sku"])
    if focus is None:
        return None
    question = u.own_query
    if u.about in ("ask", "ask?") and not u.referenced and len(dm.shown) > 1:
        # "it" after a list of several: the one item whose listing speaks to the question.
        shown = [by_sku[p["sku"]] for p in dm.shown if p["sku"] in by_sku]
        focus = _answering(shown, question) or focus
    picks: list[Mapping[str, Any]] = []
    if u.about == "up":
        kind = focus["tags"][0] if focus["tags"] else None
        shared = set(focus["tags"])
        above = [i for i in items if kind in i["tags"] and i["price"] > focus["price"]] if kind else []
        above.sort(key=lambda i: (-len(shared & set(i["tags"])), i["price"]))
        families: set[str] = set()
        for i in above:
            if _family(i["name"]) not in families:
                families.add(_family(i["name"]))
                picks.append(i)
        if not picks:
            return _top_of_range(ctx, focus)
        picks = picks[:2]
    elif u.about in ("colour", "women", "men", "smaller", "larger") or (u.about == "ask" and u.constraints.attributes):
        # The family of the item in focus first, then of the other items shown.
        order = [focus] + [by_sku[p["sku"]] for p in dm.shown if p["sku"] in by_sku and p["sku"] != focus["sku"]]
        for base in order:
            family = [i for i in items if _family(i["name"]) == _family(base["name"])]
            picks = _siblings(u, base, family)
            if picks:
                break
        if not picks and u.about != "ask":
            return None
    if not picks and u.about == "ask?" and u.language != "ja" and _documents_answer(ctx, question):
        return None  # "can I return it?" after an item: the returns policy answers
    if not picks and u.about in ("ask", "ask?"):
        # A Japanese question that names no pointer (それ, この…) is about the item only when its
        # listing answers words other than the item's name; else it is a question of its own.
        fact = _fact(focus, question, named_only=u.about == "ask?")
        if not fact and u.about == "ask" and u.referenced and not u.pronoun and _documents_answer(ctx, question):
            return None  # "the first one — can you ship it to Canada?": its listing is silent, the policy is not
        if not fact:
            return None if u.about == "ask?" else _unstated(ctx, focus)
        return _show(ctx, state, [_listed(focus, fact)], note="reference", remember=False)
    if not picks:
        return None
    return _show(ctx, state, [_listed(i, _fact(i, question)) for i in picks[:3]], note="")


def _documents_answer(ctx: TurnContext, question: str) -> bool:
    if not question or not selectors.placement_stock(ctx.conversation.placement_id).documents:
        return False
    _, cover = _answer_sentences(ctx, question)
    return cover >= POLICY_OVER_LISTING


POLICY_OVER_LISTING = 0.55  # as sure as a policy answer that outranks the catalog's items


def _compared_with_named(ctx: TurnContext) -> None:
    """ "Anything less pricey than the Summit roll-top?" names an item not shown: cheaper than
    that item, among the items of its kind (its first tag), not a search for its name."""
    u = _u(ctx)
    dm = ctx.state
    if u.constraints.cheaper_than is None or dm is None:
        return
    items = selectors.placement_catalog(ctx.conversation.placement_id, tools.MEANING_CATALOG_LIMIT + 1)
    if len(items) > tools.MEANING_CATALOG_LIMIT:
        return
    named = [i for i in dialogue._named(u.own_query, items) if i["tags"]]
    if len(named) != 1:
        return
    item = named[0]
    u.constraints.cheaper_than = item["price"]
    u.query, u.own_query, u.follow_up = item["tags"][0], "", True
    u.constraints.attributes = []  # its name's words name it, they narrow nothing
    dm.focus = {"sku": item["sku"], "name": item["name"], "price": item["price"], "tags": list(item["tags"])}


def _siblings(
    u: Understanding, base: Mapping[str, Any], family: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    others = [i for i in family if i["sku"] != base["sku"]]
    if not others:
        return []
    if u.about == "colour":
        return others
    if u.about in ("women", "men"):
        wanted = dialogue._FOR_WOMEN if u.about == "women" else dialogue._FOR_MEN
        return [i for i in family if wanted.search(f"{i['name']} {' '.join(i['tags'])}")]
    if u.about in ("smaller", "larger"):
        sizes = _sizes([base, *others])
        if sizes is None:
            return []
        size, smaller = sizes[0], u.about == "smaller"
        sized = [(s, i) for s, i in zip(sizes[1:], others, strict=True) if (s < size if smaller else s > size)]
        sized.sort(key=lambda pair: -pair[0] if smaller else pair[0])
        return [i for _, i in sized]
    # "does it come in black?": a sibling that carries the word the item in focus lacks.
    words = set(u.constraints.attributes)
    if words & set(retrieval.terms(f"{base['name']} {' '.join(base['tags'])}")):
        return []
    return [i for i in others if words & set(retrieval.terms(f"{i['name']} {' '.join(i['tags'])}"))]


def _show(
    ctx: TurnContext, state: TurnState, products: list[dict[str, Any]], *, note: str, remember: bool = True
) -> TurnState:
    dm = ctx.state
    assert dm is not None
    offers = [f"{o.title}" for o in selectors.placement_offers(ctx.conversation.placement_id)]
    if remember:
        _remember(ctx, shown=products, topic=dm.topic, open_question="coupon" if offers else "")
    else:
        _remember(ctx, open_question="coupon" if offers else "")
        dm.focus = {k: products[0][k] for k in ("sku", "name", "price", "price_label", "tags")}
    reply = _recommendation(ctx, state, products, note=note, offers=offers)
    return {"mode": "recommend", "products": products, "reply": reply, "confidence": 0.85}


def _recommendation(
    ctx: TurnContext, state: TurnState, products: list[dict[str, Any]], *, note: str, offers: list[str]
) -> str:
    """The reply recommending `products` (and nothing else), whichever engine words it."""
    return _respond(
        ctx,
        state,
        mode="recommend",
        sections={
            "Dialogue": _dialogue_lines(ctx, note=note),
            "Playbook": list(ctx.playbook),
            "Products": _product_lines(products),
            "Offers": offers,
        },
        instructions=_instructions(
            ctx,
            "Recommend only the products listed below, with their names and prices as "
            "given and the reason given for each; do not mention any other product, "
            "price or discount.",
        ),
    )


def _unstated(ctx: TurnContext, focus: Mapping[str, Any]) -> TurnState:
    """A question about an item that its listing does not answer: said so, not guessed, with
    a colleague offered to check ("yes" hands the conversation over)."""
    _remember(ctx, open_question="check")
    name = focus["name"]
    if _u(ctx).language == "ja":
        text = f"{name}について、カタログには記載がありません。担当者に確認させましょうか？"
    else:
        text = f"Our catalog doesn't say that about the {name}. Shall I ask a colleague to check?"
    return {"mode": "recommend", "products": [_listed(focus, "")], "reply": text, "confidence": 0.6}


def _top_of_range(ctx: TurnContext, focus: Mapping[str, Any]) -> TurnState:
    _remember(ctx, open_question="relax")
    name = focus["name"]
    if _u(ctx).language == "ja":
        text = f"{name}がこの種類ではいちばん上のモデルです。ほかの商品もお探ししましょうか？"
    else:
        text = f"The {name} is already the top of our range for that. Shall I look at something else?"
    return {"mode": "recommend", "products": [_listed(focus, "")], "reply": text, "confidence": 0.8}


# A request for an item ("do you have something for wrinkles?", "I'm looking for …"): when
# nothing fits, that is said plainly; it is no question for a colleague.
_WANTS_AN_ITEM = re.compile(
    r"\b(something|anything)\s+(for|to|that|under|below|with|so)\b|\blooking for\b|\bi (need|want|'m after|am after)\b|"
    r"\bdo you (have|sell|carry|stock|got) (any|a|an|some)\b|\bhave you got (any|a|an|some)\b|"
    # "what do you have for walking a dog?", "what would you suggest?", "what should I feed her?"
    r"\bwhat (do|have|did) (you|ya|u) (have|got|stock|carry|sell)\b|\bwhat (have|'ve) you got\b|"
    r"\bwhat (would|do|can|could) you (suggest|recommend)\b|"
    r"\bwhat (should|would|could|can|do) (i|we) (buy|get|feed|use)\b|"
    r"を探して|が欲しい|がほしい|おすすめ|何をそろえ|何を買え",
    re.I,
)


def _as_product(ctx: TurnContext, shown: dict[str, Any]) -> dict[str, Any]:
    item = CatalogItem.objects.filter(placement_id=ctx.conversation.placement_id, sku=shown["sku"]).first()
    description = item.description if item else ""
    return {
        **shown,
        "currency": item.currency if item else "",
        "description": description,
        "reason": (language.sentences(description) or ("",))[0],
    }


def _best(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two picks, three only when the third is nearly as good as the first."""
    if len(found) <= 2:
        return found
    top = found[0].get("score") or 1
    return found[:3] if (found[2].get("score") or 0) >= top * 0.85 else found[:2]


def _nothing_within(ctx: TurnContext, state: TurnState) -> TurnState:
    u = _u(ctx)
    _remember(ctx, open_question="relax")
    if ctx.state is not None:
        ctx.state.topic = u.query[:300] or ctx.state.topic
    cheaper = u.constraints.cheaper_than is not None
    if u.language == "ja":
        text = (
            "それより安いものは今のところございません。ほかの商品もお探ししましょうか？"
            if cheaper
            else "ご希望の条件に合う商品が見つかりませんでした。条件を外して探しましょうか？"
        )
    else:
        text = (
            "That's already our most affordable option for that. Shall I look at something else?"
            if cheaper
            else "I couldn't find anything that fits within that limit. Shall I look without it?"
        )
    return {"mode": "no_match", "products": [], "reply": text, "confidence": 0.8}


def _refuse(ctx: TurnContext, state: TurnState) -> TurnState:
    # Nothing in the catalog fits: say so plainly; never make a product up.
    _remember(ctx)
    used = [text for role, text in ctx.history if role == "assistant"]
    partner = ctx.persona.partner
    if _u(ctx).language == "ja":
        options = (
            f"申し訳ありません、{partner}ではそのような商品を扱っていないため、おすすめできません。"
            "ほかにお探しのものがあれば、カタログを確認しますね。",
            f"あいにく{partner}では取り扱いがございません。別の商品でしたらお探しします。",
        )
    else:
        options = (
            f"Sorry, {partner} doesn't carry anything like that, so I can't recommend it. "
            "Tell me what else you're looking for and I'll check our catalog.",
            f"I'm afraid that isn't something we stock at {partner}. What else can I look up for you?",
        )
    return {"mode": "no_match", "products": [], "confidence": 0.8, "reply": dialogue.pick(options, used)}


def _coupon_refuse(state: TurnState, config: RunnableConfig) -> TurnState:
    return _refuse(_ctx(config), state)


def _coupon_issue(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    u = _u(ctx)
    dm = ctx.state
    assert dm is not None
    products: list[dict[str, Any]] = []
    if "product" in u.acts and u.query:
        products = _best(_lookup(ctx))
    in_play = products or u.referenced or dm.shown
    tags = sorted({t for p in in_play for t in p.get("tags", [])})
    hint = " ".join([state["text"], dm.topic])
    coupon = tools.coupon_issue.invoke({"message_id": ctx.message.pk, "hint": hint[:4000], "tags": tags})
    if coupon is None:
        _remember(ctx, shown=products or None, topic=u.query)
        if u.language == "ja":
            return {
                "mode": "no_offer",
                "coupon": None,
                "confidence": 0.9,
                "reply": (
                    f"{ctx.persona.partner}では今お得なキャンペーンがないため、クーポンはお渡しできません。"
                    "商品探しならお手伝いします。"
                ),
            }
        return {
            "mode": "no_offer",
            "coupon": None,
            "confidence": 0.9,
            "reply": (
                f"{ctx.persona.partner} has no deals running right now, so I have no coupon to give you, "
                "but I'm happy to help you find something."
            ),
        }
    asked = u.constraints.percent
    declined = asked if asked and asked > coupon["percent_off"] else None
    dm.offer = {
        "offer": coupon["offer_id"],
        "code": coupon["code"],
        "title": coupon["offer"],
        "percent_off": coupon["percent_off"],
    }
    _remember(ctx, shown=products or None, topic=u.query if products else None)
    reply = _respond(
        ctx,
        state,
        mode="coupon",
        sections={
            "Dialogue": _dialogue_lines(
                ctx,
                declined=(u.constraints.percent_words or f"{declined}%") if declined else None,
                reused="yes" if coupon.get("reused") else "",
            ),
            "Playbook": list(ctx.playbook),
            "Coupon": [f"{coupon['code']} | {coupon['offer']} | {coupon['percent_off']}"],
        },
        instructions=_instructions(
            ctx,
            "Give the shopper the coupon code below exactly as written, with its offer. "
            "Do not promise any other discount; if the shopper asked for a bigger one "
            "(declined), say plainly you can't do that, and what does apply.",
        ),
    )
    if coupon["code"] not in reply:  # the code is the point of the turn: never lose it
        label = "クーポンコード" if u.language == "ja" else "Your code"
        reply = f"{reply}\n{label}: {coupon['code']} ({coupon['offer']})"
    return {"mode": "coupon", "coupon": coupon, "products": products, "reply": reply, "confidence": 1.0}


def _social(ctx: TurnContext, state: TurnState, hint: str) -> TurnState:
    u = _u(ctx)
    _remember(ctx, open_question=ctx.state.open_question if ctx.state and "thanks" not in u.acts else "")
    reply = _respond(
        ctx,
        state,
        mode="chat",
        sections={
            "Dialogue": _dialogue_lines(ctx, hint=hint, handover="pending" if _handed_over(ctx) else ""),
            "Playbook": list(ctx.playbook),
        },
        instructions=_instructions(
            ctx,
            "Answer the greeting, thanks, goodbye or small talk as such, briefly and in "
            "character; a thank-you is not a new conversation. If a hand-over is pending, say "
            "a colleague has the question and will reply here.",
        ),
    )
    return {"mode": "chat", "reply": reply, "confidence": 0.95}


def _coupon_chat(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    ja = _u(ctx).language == "ja"
    hint = (
        "お探しの商品やクーポンのことなら、お気軽にどうぞ。"
        if ja
        else "Tell me what you're looking for, or ask me for today's deal."
    )
    return _social(ctx, state, hint)


def _coupon_escalate(state: TurnState, config: RunnableConfig) -> TurnState:
    return _escalate(_ctx(config), state, "asked for a person", "human")


def _build_coupon_promoter():
    graph = StateGraph(TurnState)
    graph.add_node("route", _coupon_route)
    graph.add_node("recommend", _coupon_recommend)
    graph.add_node("issue_coupon", _coupon_issue)
    graph.add_node("chat", _coupon_chat)
    graph.add_node("escalate", _coupon_escalate)
    graph.add_edge(START, "route")
    graph.add_conditional_edges(
        "route",
        lambda s: s["intent"],
        {"recommend": "recommend", "coupon": "issue_coupon", "chat": "chat", "escalate": "escalate"},
    )
    for node in ("recommend", "issue_coupon", "chat", "escalate"):
        graph.add_edge(node, END)
    return graph.compile()


# --- customer_service --------------------------------------------------------------------

SERVICE_PLAYBOOK = (
    "I answer from our published policies and FAQ, and I tell you which document I used.",
    "If I can't answer from them, I'll pass you to a colleague.",
)
SERVICE_LABELS = (
    Label(
        "resolved",
        "the customer confirms the answer solved their problem",
        (
            "yes that solved it",
            "that answers it thanks",
            "problem solved",
            "yes resolved",
            "all good now",
            "解決しました",
        ),
    ),
    Label(
        "human",
        "the customer asks for a person or to speak to staff",
        (
            "talk to a human",
            "speak to a person",
            "real person please",
            "connect me to staff",
            "担当者と話したい",
            "人と話したい",
        ),
    ),
    Label(
        "chat",
        "greetings, thanks and goodbyes",
        ("hello", "hi there", "thanks", "thank you", "bye", "こんにちは", "ありがとう"),
    ),
    Label("question", "a question or a problem to answer", ("how do I", "can I return", "what is", "when")),
)


# Words that ask for the kind of fact ("how long", "how much would that cost", 何日, いくら),
# not about a thing: a question made only of them asks about the topic in hand.
_KIND_WORDS = frozenset(
    [
        "long",
        "much",
        "cost",
        "price",
        "fee",
        "charge",
        "take",
        "soon",
        "fast",
        "quick",
        "quickly",
        "time",
        "day",
        "何日",
        "掛かる",
        "以内",
        "いくら",
        "料金",
        "値段",
        "何時",
        "時間",
        "日数",
        "費用",
        "何円",
        # "roughly how long would that take?", "how much extra is that?": how the kind is asked
        "roughly",
        "approximately",
        "usually",
        "typically",
        "extra",
        "大体",
        "凡そ",
    ]
)


def _about_the_topic(query: str, text: str) -> bool:
    """Whether a question asks only for a kind of fact, naming nothing of its own ("and how
    much is it?", "how long will that take?", 「それはいくらですか」): a follow-up on the topic."""
    if not language.answer_kinds(text):
        return False
    return all(g[0] in _KIND_WORDS for g in language.word_groups(query))


def _service_route(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    label = _classify(ctx, state["text"], SERVICE_LABELS, "question")
    u = _u(ctx)
    answered = any(role == "assistant" for role, _ in ctx.history)
    substantive = [t for t in retrieval.terms(u.query) if not t.isdigit()]
    if ctx.state and ctx.state.topic and _about_the_topic(u.query, state["text"]):
        # "how long would it take?", "いくらですか": a question about the topic in hand.
        u.query = ""
        substantive = ["(topic)"]
    if "human" in u.acts:
        intent = "human"
    elif "resolved" in u.acts and answered and not substantive:
        intent = "resolved"
    elif substantive:
        intent = "question"
    elif u.social:
        intent = "chat"
    else:
        intent = label
    if intent == "resolved" and not answered:
        intent = "question"  # nothing was answered yet, so nothing can be resolved
    return {"intent": intent}


def _answer(ctx: TurnContext, state: TurnState, chosen: list[dict[str, Any]], cover: float) -> TurnState:
    reply = _respond(
        ctx,
        state,
        mode="answer",
        sections={"Dialogue": _dialogue_lines(ctx), "Knowledge": [f"[{c['title']}] {c['sentence']}" for c in chosen]},
        instructions=_instructions(
            ctx,
            "Answer only from the knowledge sentences below, quoting the sentence you "
            "use, and name the document in the form (Source: “title”). If they do not "
            "answer the question, say so.",
        ),
    )
    _remember(ctx, open_question="confirm")
    if ctx.state is not None and _u(ctx).query:
        ctx.state.topic = _u(ctx).query[:300]
    return {"mode": "answer", "citations": _citations(chosen, reply), "reply": reply, "confidence": round(cover, 2)}


def _service_search(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    u = _u(ctx)
    topic = ctx.state.topic if ctx.state else ""
    # A question with no words of its own ("how long would it take?") asks about the topic.
    if topic and _about_the_topic(u.query, state["text"]):
        u.query = ""  # 「それはいくらですか」: the topic's sentences, for the kind of fact now asked
    chosen, cover = _answer_sentences(ctx, u.query or topic or state["text"])
    if cover < dialogue.ESCALATE_BELOW and topic and u.query:
        # A follow-up question ("where does the money go?" after one about refunds): the
        # earlier question's topic helps read it.
        again, again_cover = _answer_sentences(ctx, f"{topic} {u.query}")
        # Only when the sentence found also speaks to a word of the new question itself, or
        # the question is a short one about the same matter ("do I need to bring anything?",
        # "is it free?"): a question naming new things ("do you do gift vouchers?") is new.
        vocabulary = tools.vocabulary(ctx.conversation.placement_id)
        words = language.word_groups(u.query)
        own = [g for g in words if g[1] & vocabulary]
        said = set(retrieval.terms(again[0]["sentence"])) if again else set()
        # (A single Japanese noun is a new subject: 日曜日もやってますか is no follow-up on postage.)
        short = len(words) <= 1 and not any(g[3] or language.is_ja_noun(g[0]) for g in words)
        # (A thing the partner never names, "candle making classes", is a new subject.)
        head = retrieval.head_word(u.query)
        new_subject = bool(head) and not any(g[0] == head for g in own)
        if again_cover > cover and (short or (any(language.group_matched(g, said) for g in own) and not new_subject)):
            chosen, cover = again, again_cover
    return {"passages": chosen, "confidence": round(cover, 2)}


def _service_answer(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    return _answer(ctx, state, state["passages"], state.get("confidence", 0.0))


def _handed_over(ctx: TurnContext) -> bool:
    """Whether the conversation was handed to a colleague earlier (who has not answered yet:
    otherwise the employee would not be answering)."""
    return ctx.conversation.status == Conversation.Status.ESCALATED


def _escalate(ctx: TurnContext, state: TurnState, reason: str, kind: str) -> TurnState:
    again = _handed_over(ctx)
    tools.escalate.invoke({"conversation_id": ctx.conversation.pk, "reason": reason})
    reply = _respond(
        ctx,
        state,
        mode="escalate",
        sections={"Dialogue": _dialogue_lines(ctx, reason=kind, again="yes" if again else "")},
        instructions=_instructions(
            ctx,
            "Tell the customer a colleague will pick this up here; do not "
            "guess an answer and do not say you are unsure.",
        ),
    )
    _remember(ctx)
    if ctx.state is not None and _u(ctx).query and kind != "human":
        ctx.state.topic = _u(ctx).query[:300]  # "how much would that cost?" asks about the question handed over
    return {
        "mode": "escalate",
        "escalated": True,
        "reply": reply,
        "confidence": 0.9 if kind == "human" else round(state.get("confidence", 0.0), 2),
    }


def _service_escalate(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    if state.get("intent") == "human":
        return _escalate(ctx, state, "asked for a person", "human")
    return _escalate(ctx, state, "no answer in the knowledge base", "unknown")


def _service_resolved(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    tools.resolution_confirm.invoke({"conversation_id": ctx.conversation.pk})
    reply = _respond(
        ctx,
        state,
        mode="resolved",
        sections={"Dialogue": _dialogue_lines(ctx)},
        instructions=_instructions(ctx, "Thank the customer briefly; the issue is resolved."),
    )
    _remember(ctx)
    return {"mode": "resolved", "resolved": True, "reply": reply, "confidence": 0.95}


def _service_chat(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    ja = _u(ctx).language == "ja"
    hint = (
        "ご質問をどうぞ。規定やFAQからお答えします。"
        if ja
        else "What can I help you with? I answer from our policies and FAQ."
    )
    return _social(ctx, state, hint)


def _answerable(state: TurnState) -> str:
    return "answer" if state["passages"] and state.get("confidence", 0.0) >= dialogue.ESCALATE_BELOW else "escalate"


def _build_customer_service():
    graph = StateGraph(TurnState)
    graph.add_node("route", _service_route)
    graph.add_node("search", _service_search)
    graph.add_node("answer", _service_answer)
    graph.add_node("escalate", _service_escalate)
    graph.add_node("resolve", _service_resolved)
    graph.add_node("chat", _service_chat)
    graph.add_edge(START, "route")
    graph.add_conditional_edges(
        "route",
        lambda s: s["intent"],
        {"question": "search", "human": "escalate", "resolved": "resolve", "chat": "chat"},
    )
    graph.add_conditional_edges("search", _answerable, {"answer": "answer", "escalate": "escalate"})
    for node in ("answer", "escalate", "resolve", "chat"):
        graph.add_edge(node, END)
    return graph.compile()


# --- copywriter --------------------------------------------------------------------------

COPY_PLAYBOOK = (
    "Send me a brief: the product or event, the audience and the tone, and I'll draft the copy.",
    "Every draft goes to your review queue; nothing is published until someone approves it.",
)
COPY_LABELS = (
    Label(
        "brief",
        "a campaign brief or a request to write copy",
        ("write a tagline", "draft an email", "campaign for", "copy for our launch", "social post about"),
    ),
    Label("chat", "greetings, thanks and questions about how this works", ("hello", "thanks", "how does this work")),
)


def _copy_route(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    label = _classify(ctx, state["text"], COPY_LABELS, "brief")
    u = _u(ctx)
    substantive = [t for t in retrieval.terms(u.query) if not t.isdigit()]
    intent = "chat" if u.social and not substantive else label
    # A brief is never a greeting: "Hi Mei! Need a caption …", "Back-to-work campaign …".
    if intent == "chat" and copywriting.is_brief(state["text"]):
        intent = "brief"
    return {"intent": intent}


def _copy_draft(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    found = tools.product_lookup.invoke({"placement_id": ctx.conversation.placement_id, "query": state["text"][:2000]})
    # The brief's own products: a second one only when it fits nearly as well as the first.
    products = [p for p in found[:2] if p["score"] >= found[0]["score"] * 0.75] if found else []
    products = _brief_products(ctx, state["text"], products)
    tone, length = copywriting.tone_of(state["text"]), copywriting.length_of(state["text"])
    text = _respond(
        ctx,
        state,
        mode="draft",
        sections={
            "Dialogue": [f"language: {_u(ctx).language}", f"tone: {tone}", f"length: {length}"],
            "Playbook": list(ctx.playbook),
            "Products": _product_lines(products),
            # Every sentence of each product's description the draft may use (its facts).
            "Facts": [f"{p['name']} | {fact}" for p in products for fact in p.get("facts", ())],
        },
        instructions="Write campaign copy for the brief: a line 'Headline: …', a line 'Body: …' and a line "
        "'Call to action: …', in the brief's tone and length. Use only the products listed below and "
        "their facts; no price or discount unless the brief states one; do not repeat the brief.",
    )
    submitted = tools.copy_submit.invoke({"message_id": ctx.message.pk, "text": text})
    # The review queue is the partner's back office: a visitor on the widget never hears of it.
    note = "\n\n(Draft sent to your review queue.)" if ctx.conversation.channel == "portal" else ""
    _remember(ctx)
    return {
        "mode": "draft",
        "products": products,
        "draft": submitted["draft"],
        "reply": f"{text}{note}",
        "confidence": 0.8 if products else 0.5,
    }


def _core_name(name: str) -> str:
    """An item's name without its parenthesis ("Commuter helmet (grey)" → "commuter helmet"),
    folded, spaces out of Japanese."""
    core = re.sub(r"\s*[(（][^)）]*[)）]\s*", " ", name).strip().casefold()
    return re.sub(r"\s+", "", core) if language.is_japanese(core) else re.sub(r"\s+", " ", core)


def _ja_unsized(name: str) -> str:
    """A Japanese name without its trailing size or count (「無洗米あきたこまち 2kg」 →
    「無洗米あきたこまち」), as a brief names it; only a part with a figure is left off."""
    parts = name.casefold().split()
    while len(parts) > 1 and re.search(r"\d", parts[-1]):
        parts.pop()
    return "".join(parts)


def _named_in(brief: str, name: str) -> bool:
    """Whether a brief names an item: its name, or (English) its first words ("the Daily UV
    fluid" for "Daily UV fluid SPF 50")."""
    core = _core_name(name)
    if language.is_japanese(core):
        compact = re.sub(r"\s+", "", brief.casefold())
        return any(len(form) >= 3 and form in compact for form in (core, _ja_unsized(name)))
    text = " " + re.sub(r"\s+", " ", re.sub(r"[^\w' -]", " ", brief.casefold())) + " "
    if f" {core} " in text:
        return True
    words = core.split()
    if len(words) > 3 and len(" ".join(words[:3])) >= 8 and f" {' '.join(words[:3])} " in text:
        return True
    # Named in short ("the candle trio" for "Candle gift trio", "the vitamin C serum"): two words
    # of three or more letters, and at least two thirds of the name's such words, in the brief.
    own = [w for w in words if len(w) >= 3]
    said = [w for w in own if f" {w} " in text]
    return len(said) >= 2 and 3 * len(said) >= 2 * len(own)


_BUNDLE_ASKED = re.compile(r"\b(sets?|bundles?|gift box(es)?|kits?|hampers?)\b|セット|詰め合わせ|ギフトボックス", re.I)


def _brief_products(ctx: TurnContext, brief: str, products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The products a draft is about: those the brief names, and only those, when it names any
    (not the gift set that contains the serum, not another item to pair it with); else those
    found for it, less a set that merely contains one of them. Each with a sentence of its own
    description that states no figure the brief did not give (精米歩合40% is no discount, but a
    reviewer should not have to ask)."""
    items = selectors.placement_catalog(ctx.conversation.placement_id, 500)
    named = [i for i in items if _named_in(brief, i["name"])]
    # "Retinol night serum" named, not the longer name that contains it.
    named = [i for i in named if not any(o is not i and _core_name(i["name"]) in _core_name(o["name"]) for o in named)]
    # An item named in short only by words of an item named in full is not named ("essential
    # oil" of "the Sleep blend essential oil" does not name the Eucalyptus essential oil).
    folded = " " + re.sub(r"\s+", " ", re.sub(r"[^\w' -]", " ", brief.casefold())) + " "
    compact = re.sub(r"\s+", "", brief.casefold())
    full = [
        i
        for i in named
        if f" {_core_name(i['name'])} " in folded
        or _core_name(i["name"]) in compact
        or (language.is_japanese(i["name"]) and _ja_unsized(i["name"]) in compact)
    ]
    if full:
        words = {w for i in full for w in _core_name(i["name"]).split()}
        named = [i for i in named if i in full or not set(_core_name(i["name"]).split()) & set(folded.split()) <= words]
    # In the order the brief names them.
    named.sort(key=lambda i: _named_at(brief, i["name"]))
    if named:
        by_sku = {p["sku"]: p for p in products}
        chosen = []
        for i in named[:3]:
            chosen.append(
                by_sku.get(i["sku"])
                or {
                    "sku": i["sku"],
                    "name": i["name"],
                    "price": i["price"],
                    "currency": i["currency"],
                    "price_label": format_money(i["price"], i["currency"]),
                    "description": i["description"],
                    "reason": (language.sentences(i["description"]) or ("",))[0][:160],
                    "tags": list(i["tags"]),
                    "score": 1.0,
                }
            )
        products = chosen
    elif not _BUNDLE_ASKED.search(brief):
        names = [_core_name(i["name"]) for i in items]
        products = [
            p
            for p in products
            if not _BUNDLE_ASKED.search(p["name"])
            and not any(n and n != _core_name(p["name"]) and n in p["description"].casefold() for n in names)
        ] or products[:1]
    figures = set(re.findall(r"\d+", brief))
    for p in products:
        sentences = language.sentences(p.get("description", "")) or ()
        plain = [x for x in sentences if set(re.findall(r"\d+(?=\s?[%％])", x)) <= figures]
        if plain and (p.get("reason") or "") not in plain:
            p["reason"] = plain[0][:160]
        p["facts"] = plain
    return products


def _named_at(brief: str, name: str) -> int:
    """Where a brief first names an item (its first word of three or more letters), for order."""
    core = _core_name(name)
    text = re.sub(r"\s+", "", brief.casefold()) if language.is_japanese(core) else brief.casefold()
    forms = [core, _ja_unsized(name)] if language.is_japanese(core) else [core, *core.split()]
    if language.is_japanese(core):
        spots = [text.find(w) for w in forms if len(w) >= 3 and w in text]
    else:
        found = [re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text) for w in forms if len(w) >= 3]
        spots = [m.start() for m in found if m]
    return min(spots) if spots else len(text)


def _copy_chat(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    ja = _u(ctx).language == "ja"
    hint = (
        "商品・対象・トーンを書いたブリーフを送ってください。"
        if ja
        else "Send me a brief (product, audience, tone) and I'll draft the copy."
    )
    return _social(ctx, state, hint)


def _build_copywriter():
    graph = StateGraph(TurnState)
    graph.add_node("route", _copy_route)
    graph.add_node("draft", _copy_draft)
    graph.add_node("chat", _copy_chat)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", lambda s: s["intent"], {"brief": "draft", "chat": "chat"})
    graph.add_edge("draft", END)
    graph.add_edge("chat", END)
    return graph.compile()


@dataclass(frozen=True)
class Workflow:
    skill: str
    playbook: tuple[str, ...]
    build: Any
    _graph: list[Any]

    @property
    def graph(self):
        if not self._graph:
            self._graph.append(self.build())
        return self._graph[0]

    def run(self, ctx: TurnContext) -> TurnState:
        """One turn: the dialogue manager reads the message against the conversation's
        state, the graph acts on it, and the new state is set on the conversation, which the
        caller stores with the reply (a failed try leaves the state as it was)."""
        started = time.perf_counter()
        conversation = ctx.conversation
        ctx.state = DialogueState.load(conversation.dialogue)
        vocabulary = tools.vocabulary(conversation.placement_id)
        ctx.understanding = dialogue.understand(
            ctx.message.content,
            ctx.state,
            exponent=minor_unit_exponent(ctx.persona.currency),
            vocabulary=vocabulary,
            skill=self.skill,
        )
        ctx.manager_ms = (time.perf_counter() - started) * 1000
        result = self.graph.invoke({"text": ctx.message.content}, config={"configurable": {"turn": ctx}})
        ctx.state.turns += 1
        conversation.dialogue = ctx.state.dump()
        return result


WORKFLOWS: dict[str, Workflow] = {
    "coupon_promoter": Workflow("coupon_promoter", COUPON_PLAYBOOK, _build_coupon_promoter, []),
    "customer_service": Workflow("customer_service", SERVICE_PLAYBOOK, _build_customer_service, []),
    "copywriter": Workflow("copywriter", COPY_PLAYBOOK, _build_copywriter, []),
}
