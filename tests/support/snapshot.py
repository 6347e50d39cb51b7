"""One way to say "nothing changed": a snapshot of every row (every field) of some models.

    before = db_snapshot(Placement, Contract, AuditLog)
    response = client.post(...)              # refused
    assert db_snapshot(Placement, Contract, AuditLog) == before

`db_snapshot()` with no models takes every model of the project's own apps;
`ignore=["app.Model.field"]` leaves out a field a request may change legitimately. A snapshot is
a dict {model label: {pk: {field: value}}}; `snapshot["Sale"]` finds "revenue.Sale" too.
On a failed comparison pytest prints, per model, the rows added, removed and the fields
changed, not two large dictionaries (tests/fixtures/snapshot.py hooks the report).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.db import models as db_models

PROJECT_APPS = ("core", "employees", "contracts", "revenue", "ledger", "payments", "agents")


def project_models() -> list[type[db_models.Model]]:
    return [model for model in apps.get_models() if model._meta.app_label in PROJECT_APPS]


class Snapshot(dict):
    """{model label: {pk: {field: value}}}."""

    def __missing__(self, key: str) -> dict[Any, dict[str, Any]]:
        # By model name alone, when one model of the snapshot has it: snapshot["Sale"].
        found = [label for label in self if label.rpartition(".")[2] == key]
        if len(found) != 1:
            raise KeyError(key)
        return self[found[0]]

    def diff(self, other: Snapshot) -> list[str]:
        """What changed from this snapshot (before) to `other` (now), one line per row or field."""
        lines: list[str] = []
        for label in sorted(set(self) | set(other)):
            mine, theirs = self.get(label), other.get(label)
            if mine == theirs:
                continue
            mine, theirs = mine or {}, theirs or {}
            for pk in sorted(set(theirs) - set(mine), key=repr):
                lines.append(f"{label} pk={pk!r} added: {theirs[pk]!r}")
            for pk in sorted(set(mine) - set(theirs), key=repr):
                lines.append(f"{label} pk={pk!r} removed: {mine[pk]!r}")
            for pk in sorted(set(mine) & set(theirs), key=repr):
                changed = {
                    field: (mine[pk].get(field), theirs[pk].get(field))
                    for field in set(mine[pk]) | set(theirs[pk])
                    if mine[pk].get(field) != theirs[pk].get(field)
                }
                for field, (was, now) in sorted(changed.items()):
                    lines.append(f"{label} pk={pk!r} {field}: {was!r} -> {now!r}")
        return lines


def db_snapshot(*models: type[db_models.Model], ignore: Iterable[str] = ()) -> Snapshot:
    """Every row, every field, of `models` (default: every model of the project's apps).

    `ignore` names fields a request may change legitimately and the snapshot leaves out,
    as "app.Model.field" (e.g. "contracts.PartnerApiKey.last_used_at": every use of a key)."""
    chosen: list[type[db_models.Model]] = list(models or project_models())
    ignored = set(ignore)
    snapshot = Snapshot()
    unknown = ignored - {f"{m._meta.label}.{f.name}" for m in chosen for f in m._meta.concrete_fields}
    if unknown:
        raise ValueError(f"db_snapshot(ignore=...) names no field of the models: {sorted(unknown)}")
    for model in chosen:
        # A composite primary key (the revenue roll-up's) is no column: its parts key the row.
        key = [field.attname for field in getattr(model._meta.pk, "fields", [model._meta.pk])]
        fields = [
            field.attname for field in model._meta.concrete_fields if f"{model._meta.label}.{field.name}" not in ignored
        ]
        snapshot[model._meta.label] = {
            (row[key[0]] if len(key) == 1 else tuple(row[name] for name in key)): row
            for row in model._default_manager.values(*{*fields, *key})
        }
    return snapshot
