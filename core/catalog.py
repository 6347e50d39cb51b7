"""The translation catalogue without GNU gettext: extraction, merge and compilation in pure
Python (Babel), so `dev.py` and the tests work on a machine with only Python.

- `extract()` reads every msgid the source uses: templates through Django's own `templatize`
  (what `makemessages` feeds to xgettext), Python files through Babel's extractor with
  Django's keywords.
- `catalogue_update()` merges those into `locale/<lang>/LC_MESSAGES/django.po`, keeping the
  translations already there and the glossary comment at the top (`dev.py messages`).
- `catalogue_compile()` writes the `.mo` files Django reads (`dev.py run|test`); they are
  build output, not committed (.gitignore).

Nothing here imports Django's settings at import time: dev.py calls it before Django starts.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
DOMAIN = "django"
# Where the source that reaches people lives. Tests, migrations and the virtualenv never do.
PYTHON_FOLDERS = ("config", "core", "employees", "contracts", "webhooks", "ledger", "revenue", "payments", "agents")
SKIPPED_PARTS = {"migrations", "tests", "__pycache__", ".venv", "node_modules"}
# Django's keywords (makemessages), in Babel's spec: argument positions, "c" for the context.
KEYWORDS: dict[str, Any] = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}

Message = tuple[str | tuple[str, str], str | None, str]  # (msgid or (singular, plural), context, where)


def template_files(root: Path = ROOT) -> list[Path]:
    folders = [root / "templates", *sorted(root.glob("*/templates"))]
    return sorted(
        path
        for folder in folders
        if folder.is_dir() and not SKIPPED_PARTS & set(folder.relative_to(root).parts)
        for path in folder.rglob("*")
        if path.suffix in {".html", ".txt"}
    )


def python_files(root: Path = ROOT) -> list[Path]:
    return sorted(
        path
        for folder in PYTHON_FOLDERS
        for path in (root / folder).rglob("*.py")
        if not SKIPPED_PARTS & set(path.relative_to(root).parts)
    )


def _from_python_source(source: str, where: str) -> Iterator[Message]:
    from babel.messages.extract import extract

    for lineno, message, _comments, context in extract(
        "python", io.BytesIO(source.encode("utf-8")), keywords=KEYWORDS, options={"encoding": "utf-8"}
    ):
        if isinstance(message, tuple):
            singular, plural = message[0], message[1]
            if singular:
                yield (singular, plural), context, f"{where}:{lineno}"
        elif message:
            yield message, context, f"{where}:{lineno}"


def extract(root: Path = ROOT) -> list[Message]:
    """Every translatable message in the templates and the Python source, in file order."""
    from django.utils.translation.template import templatize

    found: list[Message] = []
    for path in template_files(root):
        # templatize turns the template into Python-like text whose gettext calls carry the
        # template's msgids ({% translate %}, {% blocktranslate %} with %(name)s, plurals,
        # contexts) exactly as makemessages extracts them.
        code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
        # Its filler keeps the template's indentation, which Python's tokenizer would read
        # as blocks; line numbers stay as they are.
        code = "\n".join(line.lstrip() for line in code.splitlines())
        found.extend(_from_python_source(code, str(path.relative_to(root))))
    for path in python_files(root):
        found.extend(_from_python_source(path.read_text(encoding="utf-8"), str(path.relative_to(root))))
    return found


def po_path(language: str, root: Path = ROOT) -> Path:
    return root / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalogue_update(language: str, root: Path = ROOT) -> tuple[int, int]:
    """Merge the source's messages into the language's .po. Returns (messages, untranslated).
    Messages gone from the source are dropped (Babel keeps them as obsolete `#~` entries only
    in memory); a new one arrives with an empty msgstr for a person to translate."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    template = Catalog(domain=DOMAIN, project="Haken", fuzzy=False)
    for message, context, where in extract(root):
        filename, _, line = where.rpartition(":")
        template.add(message, context=context, locations=[(filename, int(line))])
    path = po_path(language, root)
    if path.exists():
        with path.open("rb") as handle:
            catalogue = read_po(handle, locale=language, domain=DOMAIN)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        catalogue = Catalog(locale=language, domain=DOMAIN, project="Haken", fuzzy=False)
    # No fuzzy guesses: a near match's translation would be shipped as if checked. The header's
    # dates stay as they were, so a refresh that finds nothing new changes nothing.
    created, revised = catalogue.creation_date, catalogue.revision_date
    catalogue.update(template, no_fuzzy_matching=True, update_header_comment=False, update_creation_date=False)
    catalogue.creation_date, catalogue.revision_date = created, revised
    catalogue.obsolete.clear()
    catalogue.fuzzy = False
    with path.open("wb") as handle:
        write_po(handle, catalogue, width=100, sort_output=False, include_previous=False, omit_header=False)
    untranslated = sum(1 for message in catalogue if message.id and not _translated(message.string))
    return len([m for m in catalogue if m.id]), untranslated


def _translated(string: object) -> bool:
    if isinstance(string, (tuple, list)):
        return all(string)
    return bool(string)


def catalogue_compile(root: Path = ROOT) -> list[Path]:
    """Write the .mo beside each .po that is newer than it; returns the files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for path in sorted((root / "locale").glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        compiled = path.with_suffix(".mo")
        if compiled.exists() and compiled.stat().st_mtime >= path.stat().st_mtime:
            continue
        with path.open("rb") as handle:
            catalogue = read_po(handle, locale=path.parent.parent.name, domain=DOMAIN)
        partial = compiled.with_suffix(".mo.tmp")
        with partial.open("wb") as handle:
            write_mo(handle, catalogue, use_fuzzy=False)
        partial.replace(compiled)  # atomic: a running server never reads half a file
        written.append(compiled)
    return written
