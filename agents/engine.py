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

from agents import copywriting, dialogue, language, retrieval

OFFLINE_MODEL_NAME = "haken-offline"


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


def _product_parts(line: str) -> dict[str, str]:
    parts = [part.strip() for part in line.split("|")]
    keys = ("sku", "name", "price", "reason")
    return (
        dict(zip(keys, parts + [""] * (4 - len(parts)), strict=False))
        if len(parts) >= 3
        else {"sku": "", "name": line, "price": "", "reason": ""}
    )


def _dialogue(sections: dict[str, list[str]]) -> dict[str, str]:
    out = {}
    for line in sections.get("Dialogue", []):
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def _used(history: list[BaseMessage]) -> list[str]:
    return [str(m.content) for m in history if isinstance(m, AIMessage)]


def _seed(history: list[BaseMessage]) -> int:
    return sum(1 for m in history if isinstance(m, HumanMessage))


# --- the wording of each case, English and Japanese -----------------------------------------

_SOCIAL_PREFIX = {
    ("thanks", "en"): ("You're welcome!", "My pleasure.", "Glad to help."),
    ("thanks", "ja"): ("どういたしまして。", "お役に立ててうれしいです。"),
    ("greeting", "en"): ("Hi!", "Hello!", "Hi there!"),
    ("greeting", "ja"): ("こんにちは。", "いらっしゃいませ。"),
}


def social_prefix(acts: list[str], lang: str, used: list[str], seed: int) -> str:
    for act in ("thanks", "greeting"):
        if act in acts:
            return dialogue.pick(_SOCIAL_PREFIX[(act, lang)], used, seed)
    return ""


def chat_reply(
    acts: list[str],
    lang: str,
    name: str,
    partner: str,
    used: list[str],
    seed: int,
    skill_hint: str = "",
    first: bool = False,
) -> str:
    """Greetings, thanks, goodbyes and small talk, answered as such."""
    ja = lang == "ja"
    if "goodbye" in acts:
        options = (
            ("ご来店ありがとうございました。またいつでもどうぞ！", "ありがとうございました。良い一日を！")
            if ja
            else (
                "Thanks for stopping by — have a lovely day!",
                "Take care, and come back any time!",
                "Bye for now — happy shopping!",
            )
        )
        return dialogue.pick(options, used, seed)
    if "thanks" in acts:
        options = (
            (
                "どういたしまして。ほかにお探しのものはありますか？",
                "お役に立ててうれしいです。何かあればいつでもどうぞ。",
            )
            if ja
            else (
                "You're welcome! Anything else I can help with?",
                "My pleasure — just ask if anything else comes up.",
                "Glad to help! Is there anything else you need?",
            )
        )
        return dialogue.pick(options, used, seed)
    if "smalltalk" in acts and not first:
        options = (
            (f"{partner}の{name}です。{skill_hint or 'ご用件をどうぞ。'}",)
            if ja
            else (
                f"I'm {name}, here to help at {partner}. {skill_hint or 'What can I do for you?'}",
                f"Doing well, thanks for asking! {skill_hint or 'What can I do for you?'}",
            )
        )
        return dialogue.pick(options, used, seed)
    if ja:
        return f"こんにちは、{partner}の{name}です。{skill_hint or '何をお探しですか？'}"
    opener = "Hi, I'm" if first or not used else "Hello again — I'm"
    return f"{opener} {name} from {partner}. {skill_hint or 'How can I help you today?'}"


def recommend_reply(
    products: list[dict[str, str]], info: dict[str, str], used: list[str], seed: int, has_offer: bool
) -> str:
    lang = info.get("language", "en")
    ja = lang == "ja"
    acts = [a for a in info.get("acts", "").split(",") if a]
    lead = social_prefix(acts, lang, used, seed)
    note = info.get("note", "")
    if ja:
        opener = dialogue.pick(dialogue.OPENERS[("recommend", "ja")], used, seed)
        if note == "cheaper":
            opener = "もう少しお手頃なものならこちらです。"
        elif note == "reference":
            opener = dialogue.pick(("こちらですね。", "かしこまりました。", "はい、こちらです。"), used, seed)
        elif note == "beyond":
            opener = (
                f"ご紹介したのはこちらの{len(products)}点です。" if len(products) > 1 else "ご紹介したのはこちらです。"
            )
        items = []
        for p in products:
            line = f"{p['name']}（{p['price'].replace('JPY ', '¥')}）"
            if p.get("reason"):
                line += f"：{p['reason'].rstrip('。.')}"
            items.append(line)
        body = "。".join(items) + "。"
        quantity = info.get("quantity")
        if quantity:
            body += f"{quantity}点ですね、かしこまりました。"
        if note == "relaxed":
            body = (
                f"{info.get('relaxed', 'ご希望の条件')}に合う商品は見つかりませんでしたが、近いものはこちらです。"
                + body
            )
        step = "クーポンもお出ししましょうか？" if has_offer else "詳しく知りたい商品はありますか？"
        if note == "beyond":
            step = "どちらになさいますか？" if len(products) > 1 else "ほかにもお探ししましょうか？"
        return "".join(part for part in (lead, opener, body, step) if part)
    if note == "cheaper":
        opener = dialogue.pick(("Something easier on the wallet:", "A cheaper option:", "For less, try:"), used, seed)
    elif note == "reference":
        opener = dialogue.pick(("Good pick:", "That one:", "Sure —", "Here it is:"), used, seed)
    elif note == "beyond":
        opener = f"I showed you {len(products)}:" if len(products) > 1 else "That's the one I found:"
    else:
        opener = dialogue.pick(dialogue.OPENERS[("recommend", "en")], used, seed)
        if len(products) == 1:
            opener = dialogue.pick(("This one fits:", "I'd go for this:", "Here's the best match:"), used, seed)
    items = []
    for p in products:
        line = f"{p['name']} ({p['price']})"
        if p.get("reason"):
            line += f" — {p['reason'].rstrip('.')}"
        items.append(line)
    body = "; ".join(items) + "."
    if info.get("quantity"):
        body += f" {info['quantity']} of them — noted."
    if note == "relaxed":
        body = f"Nothing matches {info.get('relaxed', 'that exactly')}, but the closest is: " + body
    step = dialogue.pick(
        ("Want a coupon for it?", "Shall I get you a coupon code?")
        if has_offer
        else ("Want more detail on either?", "Shall I look for something else?"),
        used,
        seed,
    )
    if note == "beyond":
        step = "Which one would you like?" if len(products) > 1 else "Shall I look for more like it?"
    return " ".join(part for part in (lead, opener, body, step) if part)


def coupon_reply(coupon: list[str], info: dict[str, str], used: list[str], seed: int) -> str:
    code, title = coupon[0], coupon[1] if len(coupon) > 1 else ""
    lang = info.get("language", "en")
    declined = info.get("declined", "")
    reused = info.get("reused") == "yes"
    acts = [a for a in info.get("acts", "").split(",") if a]
    lead = social_prefix(acts, lang, used, seed)
    if lang == "ja":
        if declined:
            asked = f"{declined}の割引" if declined.endswith(("%", "％")) else declined
            body = f"{asked}はできかねますが、{title}ならご利用いただけます。クーポンコード：{code}。"
        elif reused:
            body = f"先ほどのクーポンがそのまま使えます：{code}（{title}）。"
        else:
            body = f"クーポンをどうぞ：{code}（{title}）。"
        return lead + body + "レジでお見せいただくか、オンラインで入力してください。"
    if declined:
        body = f"I can't do {declined}, but {title} applies — your code is {code}."
    elif reused:
        body = f"Your code is still {code} ({title}) — it's already yours for this visit."
    else:
        opener = dialogue.pick(dialogue.OPENERS[("coupon", "en")], used, seed)
        body = f"{opener} Here's your coupon: {code} — {title}."
    return " ".join(p for p in (lead, body, "Enter it at checkout or show it at the register.") if p)


def answer_reply(knowledge: list[str], info: dict[str, str], used: list[str], seed: int) -> str:
    lang = info.get("language", "en")
    sentences, sources = [], []
    for line in knowledge:
        source, _, body = line.partition("] ")
        source = source.lstrip("[")
        sentences.append(body.strip())
        if source not in sources:
            sources.append(source)
    acts = [a for a in info.get("acts", "").split(",") if a]
    lead = social_prefix(acts, lang, used, seed)
    if not lead and dialogue.first_words(" ".join(sentences)) in {dialogue.first_words(u) for u in used}:
        # The same passage again: say so differently rather than open as before.
        lead = dialogue.pick(dialogue.OPENERS[("answer", lang)], used, seed)
    if lang == "ja":
        cited = "、".join(f"「{s}」" for s in sources)
        step = dialogue.pick(("これで解決しましたか？", "ほかにご不明な点はありますか？"), used, seed)
        return f"{lead}{language.join(sentences, 'ja')}（出典：{cited}）{step}"
    cited = ", ".join(f"“{s}”" for s in sources)
    step = dialogue.pick(("Did that answer your question?", "Does that help?", "Is there anything else?"), used, seed)
    return " ".join(p for p in (lead, language.join(sentences, "en"), f"(Source: {cited}.)", step) if p)


def escalate_reply(info: dict[str, str], partner: str) -> str:
    lang = info.get("language", "en")
    reason = info.get("reason", "unknown")
    acts = [a for a in info.get("acts", "").split(",") if a]
    if info.get("again") == "yes":  # a colleague already has the conversation
        if lang == "ja":
            return "その点も担当者にお伝えしました。こちらでご連絡しますので、少々お待ちください。"
        if reason == "human":
            return f"A colleague at {partner} already has this conversation and will reply here shortly."
        return f"I've added that for my colleague at {partner}, who will pick this up here too."
    if lang == "ja":
        if reason == "human":
            return f"かしこまりました。{partner}の担当者に引き継ぎましたので、こちらでご連絡します。"
        return f"その点は資料に記載がないため、{partner}の担当者に引き継ぎました。こちらでご連絡します。"
    if reason == "human":
        return f"Of course — I've passed this to a colleague at {partner}, who will pick this up here shortly."
    lead = "You're welcome! " if "thanks" in acts else ""
    return (
        f"{lead}That isn't covered in our documents, so I've passed your question to a colleague at {partner}; "
        "a colleague will pick this up here."
    )


def resolved_reply(info: dict[str, str], used: list[str], seed: int) -> str:
    if info.get("language") == "ja":
        return "解決してよかったです！また何かあれば、ここに書いてください。"
    return dialogue.pick(
        (
            "Glad that's sorted! If anything else comes up, just write here.",
            "Great — happy I could help. Write any time if something else comes up.",
        ),
        used,
        seed,
    )


def reply(system: str, history: list[BaseMessage]) -> str:
    headers, sections = _sections(system)
    mode = headers.get("MODE", "chat")
    question = next((str(m.content) for m in reversed(history) if isinstance(m, HumanMessage)), "")
    name, partner = _name(system), _partner(system)
    info = _dialogue(sections)
    info.setdefault("language", language.language_of(question))
    prior = history[:-1] if history and isinstance(history[-1], HumanMessage) else history
    used, seed = _used(prior), _seed(prior)
    acts = [a for a in info.get("acts", "").split(",") if a]
    if mode == "recommend":
        products = [_product_parts(line) for line in sections.get("Products", [])]
        return recommend_reply(products, info, used, seed, bool(sections.get("Offers")))
    if mode == "coupon":
        coupon = [part.strip() for part in sections.get("Coupon", [""])[0].split("|")]
        return coupon_reply(coupon, info, used, seed)
    if mode == "answer":
        return answer_reply(sections.get("Knowledge", []), info, used, seed)
    if mode == "escalate":
        return escalate_reply(info, partner)
    if mode == "resolved":
        return resolved_reply(info, used, seed)
    if mode == "draft":
        return copywriting.draft(question, sections)
    hint = info.get("hint", "")
    text = chat_reply(acts or ["greeting"], info["language"], name, partner, used, seed, hint, first=not prior)
    if info.get("handover") == "pending" and "goodbye" not in acts:
        # The shopper's question is with a colleague: say so, rather than start afresh.
        text += (
            "担当者がご質問を確認し、こちらでご連絡します。"
            if info["language"] == "ja"
            else " A colleague has your question and will reply here."
        )
    return text


class OfflineChatModel(BaseChatModel):
    """The offline engine as a LangChain chat model."""

    model_name: str = OFFLINE_MODEL_NAME

    @property
    def _llm_type(self) -> str:
        return "haken-offline-retrieval"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
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
        message = AIMessage(
            content=text,
            usage_metadata={
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
