"""The three skills as LangGraph workflows (DESIGN.md §6).

Each turn: a small-tier model classifies the customer's message; deterministic tools do
what the intent needs (look up products, issue a coupon, search the knowledge base,
escalate, record a resolution, submit a draft); a large-tier model writes the reply from
what the tools found. The graphs are compiled once; each turn's context (placement,
conversation, message, model invoker) travels in the run's config."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from agents import tools
from agents.engine import OfflineChatModel
from agents.llm import Invoker
from agents.models import Conversation, Message
from agents.prompts import Label, Persona, classify_prompt, reply_prompt
from agents.retrieval import is_japanese

HISTORY_TURNS = 6


@dataclass
class TurnContext:
    conversation: Conversation
    message: Message
    persona: Persona
    invoker: Invoker
    history: list[tuple[str, str]]
    playbook: tuple[str, ...]


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


def _ctx(config: RunnableConfig) -> TurnContext:
    return config["configurable"]["turn"]


def _classify(ctx: TurnContext, text: str, labels: tuple[Label, ...], default: str) -> str:
    answer = ctx.invoker.invoke(step="route", tier="small",
                                messages=classify_prompt(ctx.persona, labels, default, text))
    words = answer.strip().strip(".\"'`* ").split()
    word = words[0].strip(".:,\"'`*").lower() if words else ""
    keys = {label.key for label in labels}
    return word if word in keys else default


_MONEY = re.compile(r"(?:[¥$€£]|\b(?:JPY|USD|EUR|GBP)\s?)(\d[\d,]*(?:\.\d+)?)|(\d[\d,]*(?:\.\d+)?)\s?(?:円|yen\b)",
                    re.IGNORECASE)
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


def _respond(ctx: TurnContext, state: TurnState, *, mode: str, instructions: str,
             sections: dict[str, list[str]]) -> str:
    messages = reply_prompt(ctx.persona, mode=mode, instructions=instructions, sections=sections,
                            history=ctx.history[-HISTORY_TURNS:], text=state["text"])
    reply = ctx.invoker.invoke(step="respond", tier="large", messages=messages)
    context = " ".join([state["text"], *(line for lines in sections.values() for line in lines)])
    if _invented_figures(reply, context):
        # A model quoted a price or a discount the partner never configured: the reply is
        # composed from the tools' results instead (the offline engine, on the same prompt).
        reply = str(OfflineChatModel().invoke(messages).content)
    return reply


def _product_lines(products: list[dict[str, Any]]) -> list[str]:
    return [f"{p['sku']} | {p['name']} | {p['price_label']} | {p['description']}" for p in products]


# --- coupon_promoter ---------------------------------------------------------------------

COUPON_PLAYBOOK = (
    "I can suggest items from our catalog and give you a coupon code for today's deals.",
    "Tell me what you are in the mood for, for example a quick lunch, a hot snack or something sweet.",
    "Coupon codes are single-use and work in store and online.",
)
COUPON_LABELS = (
    Label("coupon", "the shopper wants a deal, a discount, a coupon or a code",
          ("do you have a coupon", "any discount today", "give me a deal", "code please", "cheaper",
           "クーポン", "割引", "お得")),
    Label("recommend", "the shopper asks for a product or a suggestion of what to buy",
          ("something for lunch", "recommend a snack", "do you sell onigiri", "I want a drink", "what's good",
           "おすすめ", "お昼ご飯", "何がいい")),
    Label("chat", "greetings, thanks and anything else",
          ("hello", "thank you", "who are you", "bye", "こんにちは", "ありがとう")),
)


def _coupon_route(state: TurnState, config: RunnableConfig) -> TurnState:
    return {"intent": _classify(_ctx(config), state["text"], COUPON_LABELS, "recommend")}


def _coupon_lookup(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    found = tools.product_lookup.invoke({"placement_id": ctx.conversation.placement_id, "query": state["text"]})
    return {"products": found}


def _coupon_recommend(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    offers = [f"{o.title}" for o in ctx.conversation.placement.offers.filter(active=True)]
    reply = _respond(ctx, state, mode="recommend", sections={
        "Playbook": list(ctx.playbook), "Products": _product_lines(state["products"]), "Offers": offers},
        instructions="Recommend only the products listed below, with their names and prices as given; "
                     "do not mention any other product, price or discount. Keep it to two or three sentences.")
    return {"mode": "recommend", "reply": reply}


def _coupon_refuse(state: TurnState, config: RunnableConfig) -> TurnState:
    # Nothing in the catalog fits: say so plainly; never make a product up.
    ctx = _ctx(config)
    if is_japanese(state["text"]):
        return {"mode": "no_match", "products": [], "reply": (
            f"申し訳ありません、{ctx.persona.partner}ではそのような商品を扱っていないため、おすすめできません。"
            "ほかにお探しのものがあれば、カタログを確認しますね。")}
    return {"mode": "no_match", "products": [], "reply": (
        f"Sorry, {ctx.persona.partner} doesn't carry anything like that, so I can't recommend it. "
        "Tell me what else you're looking for and I'll check our catalog.")}


def _coupon_issue(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    hint = " ".join([state["text"], *(text for role, text in ctx.history[-HISTORY_TURNS:] if role == "assistant")])
    coupon = tools.coupon_issue.invoke({"message_id": ctx.message.pk, "hint": hint[:4000]})
    if coupon is None and is_japanese(state["text"]):
        return {"mode": "no_offer", "coupon": None, "reply": (
            f"{ctx.persona.partner}では今お得なキャンペーンがないため、クーポンはお渡しできません。商品探しならお手伝いします。")}
    if coupon is None:
        return {"mode": "no_offer", "coupon": None, "reply": (
            f"{ctx.persona.partner} has no deals running right now, so I have no coupon to give you, "
            "but I'm happy to help you find something.")}
    reply = _respond(ctx, state, mode="coupon", sections={
        "Playbook": list(ctx.playbook), "Coupon": [f"{coupon['code']} | {coupon['offer']}"]},
        instructions="Give the shopper the coupon code below exactly as written, with its offer. "
                     "Do not promise any other discount.")
    if coupon["code"] not in reply:  # the code is the point of the turn: never lose it
        label = "クーポンコード" if is_japanese(state["text"]) else "Your code"
        reply = f"{reply}\n{label}: {coupon['code']} ({coupon['offer']})"
    return {"mode": "coupon", "coupon": coupon, "reply": reply}


def _coupon_chat(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    reply = _respond(ctx, state, mode="chat", sections={"Playbook": list(ctx.playbook)},
                     instructions="Answer briefly and in character; offer to suggest products or a coupon.")
    return {"mode": "chat", "reply": reply}


def _build_coupon_promoter():
    graph = StateGraph(TurnState)
    graph.add_node("route", _coupon_route)
    graph.add_node("lookup", _coupon_lookup)
    graph.add_node("recommend", _coupon_recommend)
    graph.add_node("refuse", _coupon_refuse)
    graph.add_node("issue_coupon", _coupon_issue)
    graph.add_node("chat", _coupon_chat)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", lambda s: s["intent"],
                                {"recommend": "lookup", "coupon": "issue_coupon", "chat": "chat"})
    graph.add_conditional_edges("lookup", lambda s: "recommend" if s["products"] else "refuse",
                                {"recommend": "recommend", "refuse": "refuse"})
    for node in ("recommend", "refuse", "issue_coupon", "chat"):
        graph.add_edge(node, END)
    return graph.compile()


# --- customer_service --------------------------------------------------------------------

SERVICE_PLAYBOOK = (
    "I answer from our published policies and FAQ, and I tell you which document I used.",
    "If I can't answer from them, I'll pass you to a colleague.",
)
SERVICE_LABELS = (
    Label("resolved", "the customer confirms the answer solved their problem",
          ("yes that solved it", "that answers it thanks", "problem solved", "yes resolved", "all good now",
           "解決しました")),
    Label("human", "the customer asks for a person or to speak to staff",
          ("talk to a human", "speak to a person", "real person please", "connect me to staff",
           "担当者と話したい", "人と話したい")),
    Label("chat", "greetings, thanks and goodbyes",
          ("hello", "hi there", "thanks", "thank you", "bye", "こんにちは", "ありがとう")),
    Label("question", "a question or a problem to answer", ("how do I", "can I return", "what is", "when")),
)


def _service_route(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    intent = _classify(ctx, state["text"], SERVICE_LABELS, "question")
    if intent == "resolved" and not any(role == "assistant" for role, _ in ctx.history):
        intent = "question"  # nothing was answered yet, so nothing can be resolved
    return {"intent": intent}


def _service_search(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    return {"passages": tools.knowledge_search.invoke(
        {"placement_id": ctx.conversation.placement_id, "query": state["text"]})}


def _service_answer(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    passages = state["passages"]
    reply = _respond(ctx, state, mode="answer", sections={
        "Knowledge": [f"[{p['title']}] {p['text']}" for p in passages]},
        instructions="Answer only from the knowledge passages below and name the document you used "
                     "in the form (Source: “title”). If they do not answer the question, say so.")
    citations, seen = [], set()
    for passage in passages:
        if passage["document"] not in seen:
            seen.add(passage["document"])
            citations.append({"document": passage["document"], "title": passage["title"]})
    return {"mode": "answer", "citations": citations, "reply": reply}


def _service_escalate(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    reason = "asked for a person" if state.get("intent") == "human" else "no answer in the knowledge base"
    tools.escalate.invoke({"conversation_id": ctx.conversation.pk, "reason": reason})
    reply = _respond(ctx, state, mode="escalate", sections={},
                     instructions="Tell the customer a colleague will take over; do not guess an answer.")
    return {"mode": "escalate", "escalated": True, "reply": reply}


def _service_resolved(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    tools.resolution_confirm.invoke({"conversation_id": ctx.conversation.pk})
    reply = _respond(ctx, state, mode="resolved", sections={},
                     instructions="Thank the customer briefly; the issue is resolved.")
    return {"mode": "resolved", "resolved": True, "reply": reply}


def _service_chat(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    reply = _respond(ctx, state, mode="chat", sections={"Playbook": list(ctx.playbook)},
                     instructions="Answer briefly and politely; invite the customer's question.")
    return {"mode": "chat", "reply": reply}


def _build_customer_service():
    graph = StateGraph(TurnState)
    graph.add_node("route", _service_route)
    graph.add_node("search", _service_search)
    graph.add_node("answer", _service_answer)
    graph.add_node("escalate", _service_escalate)
    graph.add_node("resolve", _service_resolved)
    graph.add_node("chat", _service_chat)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", lambda s: s["intent"],
                                {"question": "search", "human": "escalate", "resolved": "resolve", "chat": "chat"})
    graph.add_conditional_edges("search", lambda s: "answer" if s["passages"] else "escalate",
                                {"answer": "answer", "escalate": "escalate"})
    for node in ("answer", "escalate", "resolve", "chat"):
        graph.add_edge(node, END)
    return graph.compile()


# --- copywriter --------------------------------------------------------------------------

COPY_PLAYBOOK = (
    "Send me a brief: the product or event, the audience and the tone, and I'll draft the copy.",
    "Every draft goes to your review queue; nothing is published until someone approves it.",
)
COPY_LABELS = (
    Label("brief", "a campaign brief or a request to write copy",
          ("write a tagline", "draft an email", "campaign for", "copy for our launch", "social post about")),
    Label("chat", "greetings, thanks and questions about how this works", ("hello", "thanks", "how does this work")),
)


def _copy_route(state: TurnState, config: RunnableConfig) -> TurnState:
    return {"intent": _classify(_ctx(config), state["text"], COPY_LABELS, "brief")}


def _copy_draft(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    products = tools.product_lookup.invoke({"placement_id": ctx.conversation.placement_id, "query": state["text"]})
    text = _respond(ctx, state, mode="draft", sections={
        "Playbook": list(ctx.playbook), "Products": _product_lines(products)},
        instructions="Write campaign copy for the brief (a headline, a short body and a call to action). "
                     "Mention only the products listed below, if any, and no prices or discounts.")
    submitted = tools.copy_submit.invoke({"message_id": ctx.message.pk, "text": text})
    return {"mode": "draft", "products": products, "draft": submitted["draft"],
            "reply": f"{text}\n\n(Draft sent to your review queue.)"}


def _copy_chat(state: TurnState, config: RunnableConfig) -> TurnState:
    ctx = _ctx(config)
    reply = _respond(ctx, state, mode="chat", sections={"Playbook": list(ctx.playbook)},
                     instructions="Answer briefly; invite a brief.")
    return {"mode": "chat", "reply": reply}


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
        return self.graph.invoke({"text": ctx.message.content}, config={"configurable": {"turn": ctx}})


WORKFLOWS: dict[str, Workflow] = {
    "coupon_promoter": Workflow("coupon_promoter", COUPON_PLAYBOOK, _build_coupon_promoter, []),
    "customer_service": Workflow("customer_service", SERVICE_PLAYBOOK, _build_customer_service, []),
    "copywriter": Workflow("copywriter", COPY_PLAYBOOK, _build_copywriter, []),
}
