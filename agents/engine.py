"""The built-in offline engine (DESIGN.md §6): a retrieval-based responder exposed as a
LangChain chat model, so the same workflows run with no model endpoint configured.

It reads the prompt layout of agents.prompts. To classify, it ranks the labels' descriptions
and examples against the customer's words. To reply, it composes from what the workflow
put in the prompt — the products found, the coupon issued, the knowledge passages, the
employee's playbook — choosing sentences by their overlap with the customer's question. It
never adds a product, a price, a code or a fact that is not in the prompt."""

from __future__ import annotations

import math
import re
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from agents import retrieval

OFFLINE_MODEL_NAME = "haken-offline"
_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")


def estimate_tokens(text: str) -> int:
    """About four characters a token, as for English with common tokenizers."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _sections(system: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    headers: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in system.splitlines():
        if line.startswith("### "):
            current = sections.setdefault(line[4:].strip(), [])
        elif current is not None and line.startswith("- "):
            current.append(line[2:].strip())
        elif current is None and ":" in line and line.split(":", 1)[0].isupper():
            key, value = line.split(":", 1)
            headers[key.strip()] = value.strip()
    return headers, sections


def _name(system: str) -> str:
    match = re.match(r"You are ([^,.]+)", system)
    return match.group(1) if match else "your assistant"


def _partner(system: str) -> str:
    match = re.match(r"You are [^,]+, [^.]*? at ([^.]+)\.", system)
    return match.group(1) if match else "us"


def classify(text: str, labels: list[str], default: str) -> str:
    candidates = []
    for line in labels:
        key, _, rest = line.partition(":")
        candidates.append((key.strip(), rest.replace("| examples:", " ")))
    best = retrieval.rank(text, candidates, limit=1, minimum=0.15)
    return str(best[0][0]) if best else default


def _best_sentences(question: str, passages: list[str], *, limit: int = 2) -> tuple[list[str], list[str]]:
    """The sentences of the passages that best answer the question, and their sources."""
    candidates: list[tuple[object, str]] = []
    for passage in passages:
        source, _, body = passage.partition("] ")
        source = source.lstrip("[")
        for sentence in _SENTENCE.split(body):
            if sentence.strip():
                candidates.append(((source, sentence.strip()), sentence))
    ranked = retrieval.rank(question, candidates, limit=limit)
    if not ranked and candidates:
        ranked = [(candidates[0][0], 0.0)]
    sentences = [pair[0][1] for pair in ranked]  # type: ignore[index]
    sources: list[str] = []
    for pair in ranked:
        source = pair[0][0]  # type: ignore[index]
        if source not in sources:
            sources.append(source)
    return sentences, sources


def _product_line(line: str) -> str:
    parts = [part.strip() for part in line.split("|")]
    if len(parts) >= 4:
        _sku, name, price, description = parts[:4]
        short = _SENTENCE.split(description)[0].rstrip(".") if description else ""
        return f"{name} ({price}){' — ' + short if short else ''}"
    return line


def reply(system: str, history: list[BaseMessage]) -> str:
    headers, sections = _sections(system)
    mode = headers.get("MODE", "chat")
    question = next((str(m.content) for m in reversed(history) if isinstance(m, HumanMessage)), "")
    name, partner = _name(system), _partner(system)
    playbook = sections.get("Playbook", [])
    if retrieval.is_japanese(question) and mode in _JAPANESE:
        return _JAPANESE[mode](question, sections, name, partner)
    if mode == "recommend":
        products = sections.get("Products", [])
        picks = "; ".join(_product_line(line) for line in products[:3])
        text = f"Good choice asking! For that, I'd suggest: {picks}."
        if sections.get("Offers"):
            text += " Ask me for a coupon and I'll give you a code for today's deal."
        return text
    if mode == "coupon":
        coupon = sections.get("Coupon", [""])[0]
        code, _, offer = (part.strip() for part in coupon.partition("|"))
        return (f"Here's your coupon: {code} — {offer}. Show the code at the register or enter it "
                "at checkout. Enjoy!")
    if mode == "answer":
        sentences, sources = _best_sentences(question, sections.get("Knowledge", []))
        cited = ", ".join(f"“{source}”" for source in sources)
        return f"{' '.join(sentences)} (Source: {cited}.) Did that answer your question?"
    if mode == "escalate":
        return (f"I'm not certain about that, so I've passed your question to a colleague at {partner}. "
                "They will get back to you here.")
    if mode == "resolved":
        return "Glad that's sorted! If anything else comes up, just write here."
    if mode == "draft":
        return _draft(question, sections)
    # chat: the playbook line closest to what was said, in the persona's voice
    best = retrieval.rank(question, [(line, line) for line in playbook], limit=1)
    opener = f"Hi, I'm {name} from {partner}."
    return f"{opener} {best[0][0]}" if best else f"{opener} How can I help you today?"


def _ja_recommend(question: str, sections: dict[str, list[str]], name: str, partner: str) -> str:
    picks = "、".join(_product_line(line) for line in sections.get("Products", [])[:3])
    text = f"ありがとうございます！おすすめは {picks} です。"
    return text + ("クーポンが欲しいときは言ってくださいね。" if sections.get("Offers") else "")


def _ja_coupon(question: str, sections: dict[str, list[str]], name: str, partner: str) -> str:
    code, _, offer = (part.strip() for part in sections.get("Coupon", [""])[0].partition("|"))
    return f"クーポンをどうぞ：{code}（{offer}）。レジでお見せいただくか、オンラインで入力してください。"


def _ja_answer(question: str, sections: dict[str, list[str]], name: str, partner: str) -> str:
    sentences, sources = _best_sentences(question, sections.get("Knowledge", []))
    cited = "、".join(f"「{source}」" for source in sources)
    return f"{''.join(sentences)}（出典：{cited}）これで解決しましたか？"


_JAPANESE = {
    "recommend": _ja_recommend,
    "coupon": _ja_coupon,
    "answer": _ja_answer,
    "escalate": lambda q, s, name, partner: (f"確かなことが言えないため、{partner}の担当者に引き継ぎました。"
                                             "こちらでご連絡します。"),
    "resolved": lambda q, s, name, partner: "解決してよかったです！また何かあれば、ここに書いてください。",
    "chat": lambda q, s, name, partner: f"こんにちは、{partner}の{name}です。何をお探しですか？",
}


def _draft(brief: str, sections: dict[str, list[str]]) -> str:
    products = [_product_line(line) for line in sections.get("Products", [])[:3]]
    focus = products[0] if products else brief.strip().rstrip(".")
    key_terms = [t for t in retrieval.terms(brief) if len(t) > 3][:3]
    angle = " ".join(key_terms) if key_terms else "this season"
    return "\n".join([
        f"Headline: {focus.split(' (')[0]} — made for {angle}.",
        f"Body: {brief.strip().rstrip('.')}. {('Featuring ' + '; '.join(products) + '.') if products else ''}".strip(),
        "Call to action: Find it in store today.",
    ])


class OfflineChatModel(BaseChatModel):
    """The offline engine as a LangChain chat model."""

    model_name: str = OFFLINE_MODEL_NAME

    @property
    def _llm_type(self) -> str:
        return "haken-offline-retrieval"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        system = next((str(m.content) for m in messages if isinstance(m, SystemMessage)), "")
        dialogue = [m for m in messages if not isinstance(m, SystemMessage)]
        headers, sections = _sections(system)
        if headers.get("TASK") == "classify":
            question = str(dialogue[-1].content) if dialogue else ""
            text = classify(question, sections.get("Labels", []), headers.get("DEFAULT", ""))
        else:
            text = reply(system, dialogue)
        tokens_in = sum(estimate_tokens(str(m.content)) for m in messages)
        tokens_out = estimate_tokens(text)
        message = AIMessage(content=text, usage_metadata={
            "input_tokens": tokens_in, "output_tokens": tokens_out, "total_tokens": tokens_in + tokens_out})
        return ChatResult(generations=[ChatGeneration(message=message)])
