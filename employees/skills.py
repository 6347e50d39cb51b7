"""The skill registry the catalog reads.

`employees` owns the registry; `agents` fills it at start-up (agents → employees), so the
catalog can list and validate skills without importing any workflow code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SkillSpec:
    key: str
    label: str
    summary: str
    # Outcome kinds this skill produces and a contract may price (DESIGN.md §5a).
    outcome_kinds: tuple[str, ...] = ()
    # Where the skill's workflow lives ("module:name"), resolved by the app that runs it
    # (agents), so the catalog never imports workflow code.
    workflow: str = ""


_REGISTRY: dict[str, SkillSpec] = {}


def skill_register(spec: SkillSpec) -> None:
    existing = _REGISTRY.get(spec.key)
    if existing is not None and existing != spec:
        raise ValueError(f"skill {spec.key!r} is already registered differently")
    _REGISTRY[spec.key] = spec


def skills_all() -> list[SkillSpec]:
    return sorted(_REGISTRY.values(), key=lambda spec: spec.key)


def skill_get(key: str) -> SkillSpec | None:
    return _REGISTRY.get(key)


def skill_choices() -> list[tuple[str, str]]:
    return [(spec.key, spec.label) for spec in skills_all()]


def outcome_kinds_all() -> set[str]:
    return {kind for spec in _REGISTRY.values() for kind in spec.outcome_kinds}
