"""The prompts the workflows send, in one plain layout every model can read:

    <persona line>
    TASK: classify | reply
    MODE: recommend | coupon | answer | escalate | resolved | draft | chat
    <instructions in prose>
    ### Labels / Playbook / Products / Coupon / Knowledge / Brief
    - one item per line

A hosted model reads the prose; the offline engine (agents.engine) reads the sections.
Both see exactly the same text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage


@dataclass(frozen=True)
class Persona:
    name: str
    title: str
    partner: str
    persona: str
    currency: str


@dataclass(frozen=True)
class Label:
    key: str
    description: str
    examples: tuple[str, ...]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _section(title: str, lines: Iterable[str]) -> str:
    # One item a line: a passage or a description that spans lines is joined up.
    body = "\n".join(f"- {_one_line(line)}" for line in lines)
    return f"### {title}\n{body}" if body else ""


def classify_prompt(persona: Persona, labels: Sequence[Label], default: str, text: str) -> list[BaseMessage]:
    system = "\n".join(
        [
            f"You are {persona.name}, {persona.title} at {persona.partner}.",
            "TASK: classify",
            f"DEFAULT: {default}",
            "Read the customer's message and answer with exactly one label from the list below "
            "(only the label, nothing else). If none fits, answer with the default label.",
            _section(
                "Labels",
                (f"{label.key}: {label.description} | examples: {'; '.join(label.examples)}" for label in labels),
            ),
        ]
    )
    return [SystemMessage(system), HumanMessage(text)]


def reply_prompt(
    persona: Persona,
    *,
    mode: str,
    instructions: str,
    sections: dict[str, Iterable[str]],
    history: Sequence[tuple[str, str]],
    text: str,
) -> list[BaseMessage]:
    parts = [
        f"You are {persona.name}, {persona.title} at {persona.partner}. {persona.persona}",
        "TASK: reply",
        f"MODE: {mode}",
        instructions,
    ]
    parts.extend(section for title, lines in sections.items() if (section := _section(title, lines)))
    messages: list[BaseMessage] = [SystemMessage("\n".join(parts))]
    for role, content in history:
        messages.append(HumanMessage(content) if role == "user" else AIMessage(content))
    messages.append(HumanMessage(text))
    return messages
