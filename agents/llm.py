"""Model routing by tier (DESIGN.md §6) and the price table.

Settings (from the environment, see README):

- `AGENT_MODELS`: JSON, tier → provider, e.g.
  `{"large": {"base_url": "http://127.0.0.1:11434/v1", "model": "qwen2.5:7b", "api_key_env": "OLLAMA_KEY"},
    "small": {"base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"}}`.
  Any OpenAI-compatible endpoint, through langchain-openai. A tier left out (or the whole
  setting empty) is answered by the offline engine.
- `AGENT_TIER_FALLBACK`: the fallback order of tiers, default `large,small`: when a tier's
  model keeps failing, the turn's last attempt uses the next tier in this list.
- `AGENT_MODEL_PRICES`: JSON, model → `{"input_per_1k": "0.00015", "output_per_1k": "0.0006",
  "currency": "USD"}` in major units per 1,000 tokens. The offline engine costs nothing.
- `AGENT_MODEL_TIMEOUT`: seconds per model call (default 30).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.conf import settings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from agents.engine import OFFLINE_MODEL_NAME, OfflineChatModel, estimate_tokens
from core.currencies import MINOR_UNIT_EXPONENT

TIERS = ("small", "large")


@dataclass(frozen=True)
class Price:
    input_per_1k: Decimal
    output_per_1k: Decimal
    currency: str

    def cost_minor(self, tokens_in: int, tokens_out: int) -> Decimal:
        """Cost in the currency's minor units, unrounded (Decimal)."""
        major = (Decimal(tokens_in) * self.input_per_1k + Decimal(tokens_out) * self.output_per_1k) / 1000
        return major.scaleb(MINOR_UNIT_EXPONENT[self.currency])


FREE = Price(Decimal(0), Decimal(0), "USD")


@dataclass(frozen=True)
class ModelChoice:
    name: str
    tier: str
    model: BaseChatModel
    price: Price = FREE


@dataclass(frozen=True)
class ModelRouter:
    """Which model answers each tier, and the order tiers fall back in."""

    tiers: dict[str, ModelChoice]
    fallback_order: tuple[str, ...] = ("large", "small")

    def choice(self, tier: str, *, degraded: bool = False) -> ModelChoice:
        """The model for `tier`; degraded, the model of the next tier in the fallback order
        (the last tier has none below it and keeps its own)."""
        if degraded and tier in self.fallback_order:
            order = list(self.fallback_order)
            for lower in order[order.index(tier) + 1 :]:
                if lower in self.tiers:
                    return self.tiers[lower]
        return self.tiers[tier]


class ModelFailure(Exception):
    """A model call failed (error or timeout)."""


@dataclass
class RunRecord:
    step: str
    tier: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: Decimal
    cost_currency: str
    latency_ms: int
    status: str
    error: str = ""
    attempt: int = 1


@dataclass
class Invoker:
    """Calls the routed model for one step of a workflow and remembers each call, so the
    service can store them as AgentRuns whatever happens to the turn."""

    router: ModelRouter
    degraded: bool = False
    attempt: int = 1
    runs: list[RunRecord] = field(default_factory=list)

    def invoke(self, *, step: str, tier: str, messages: Sequence[BaseMessage]) -> str:
        choice = self.router.choice(tier, degraded=self.degraded)
        started = time.perf_counter()
        try:
            answer = choice.model.invoke(list(messages))
        except Exception as error:  # any provider error or timeout
            self.runs.append(
                RunRecord(
                    step,
                    choice.tier,
                    choice.name,
                    0,
                    0,
                    Decimal(0),
                    choice.price.currency,
                    _ms(started),
                    "error",
                    f"{type(error).__name__}: {error}"[:500],
                    self.attempt,
                )
            )
            raise ModelFailure(f"{choice.name}: {type(error).__name__}: {error}") from error
        text = (answer.content if isinstance(answer.content, str) else _text_of(answer.content)).strip()
        if not text:
            self.runs.append(
                RunRecord(
                    step,
                    choice.tier,
                    choice.name,
                    0,
                    0,
                    Decimal(0),
                    choice.price.currency,
                    _ms(started),
                    "error",
                    "empty answer",
                    self.attempt,
                )
            )
            raise ModelFailure(f"{choice.name}: empty answer")
        usage: dict[str, Any] = getattr(answer, "usage_metadata", None) or {}
        tokens_in = int(usage.get("input_tokens") or sum(estimate_tokens(str(m.content)) for m in messages))
        tokens_out = int(usage.get("output_tokens") or estimate_tokens(text))
        self.runs.append(
            RunRecord(
                step,
                choice.tier,
                choice.name,
                tokens_in,
                tokens_out,
                choice.price.cost_minor(tokens_in, tokens_out),
                choice.price.currency,
                _ms(started),
                "ok",
                attempt=self.attempt,
            )
        )
        return text


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _text_of(content: list[Any]) -> str:
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)


# --- from settings ------------------------------------------------------------------------


def price_table() -> dict[str, Price]:
    table = {OFFLINE_MODEL_NAME: FREE}
    for model, entry in (settings.AGENT_MODEL_PRICES or {}).items():
        table[model] = Price(
            Decimal(str(entry["input_per_1k"])), Decimal(str(entry["output_per_1k"])), entry.get("currency", "USD")
        )
    return table


def _provider(tier: str, entry: dict[str, Any], prices: dict[str, Price]) -> ModelChoice:
    from langchain_openai import ChatOpenAI

    api_key = entry.get("api_key") or os.environ.get(entry.get("api_key_env", ""), "") or "not-needed"
    model = ChatOpenAI(
        model=entry["model"],
        base_url=entry.get("base_url"),
        api_key=api_key,
        timeout=settings.AGENT_MODEL_TIMEOUT,
        max_retries=0,
        temperature=entry.get("temperature", 0.3),
    )
    return ModelChoice(name=entry["model"], tier=tier, model=model, price=prices.get(entry["model"], FREE))


@lru_cache(maxsize=1)
def _default_router(config_key: str) -> ModelRouter:
    prices = price_table()
    configured = settings.AGENT_MODELS or {}
    offline = OfflineChatModel()
    tiers = {
        tier: (
            _provider(tier, configured[tier], prices)
            if tier in configured
            else ModelChoice(name=OFFLINE_MODEL_NAME, tier=tier, model=offline)
        )
        for tier in TIERS
    }
    return ModelRouter(tiers=tiers, fallback_order=tuple(settings.AGENT_TIER_FALLBACK))


def router_from_settings() -> ModelRouter:
    key = repr(
        (settings.AGENT_MODELS, settings.AGENT_MODEL_PRICES, settings.AGENT_TIER_FALLBACK, settings.AGENT_MODEL_TIMEOUT)
    )
    return _default_router(key)


# Tests and the benchmark may install another router (e.g. LangChain's fake chat models).
_override: ModelRouter | None = None


def router_override(router: ModelRouter | None) -> None:
    global _override
    _override = router


def current_router() -> ModelRouter:
    return _override or router_from_settings()
