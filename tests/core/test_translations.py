"""The Japanese catalogue is complete and in step with the source, and no template shows
English outside the translation tags.

How to add a string: write it in a template inside `{% translate %}` / `{% blocktranslate %}`
(or in Python inside `gettext` / `gettext_lazy`), run `python3 dev.py messages` (pure Python:
it merges the new msgid into locale/ja/LC_MESSAGES/django.po), translate the new entry there.
These tests fail until that is done."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.template.base import Lexer, TokenType

from core.catalog import ROOT, extract, po_path, template_files

LANGUAGES = ["ja"]
# Placeholders that must survive translation unchanged: %(name)s, %s, %d and {name}.
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sdif]|%[sdif]|\{[a-z_0-9]*\}")


def _catalogue(language: str):
    with po_path(language).open("rb") as handle:
        return read_po(handle, locale=language, domain="django")


def _strings(value) -> list[str]:
    return [v for v in value] if isinstance(value, (tuple, list)) else [value]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_is_translated_not_fuzzy_and_keeps_its_placeholders(language):
    # Given the language's catalogue
    catalogue = _catalogue(language)
    # When each entry is read
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        ids, strings = _strings(message.id), _strings(message.string)
        if message.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        if not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        wanted = sorted(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            # Japanese has one plural form: its string carries the plural msgid's placeholders
            # (%(counter)s included), which may appear in any order.
            if sorted(PLACEHOLDER.findall(string)) != wanted and sorted(set(PLACEHOLDER.findall(string))) != sorted(
                set(wanted)
            ):
                problems.append(f"placeholders differ: {ids[-1]!r} -> {string!r}")
    # Then there is none untranslated, fuzzy or with other placeholders
    assert problems == []
    assert len([m for m in catalogue if m.id]) > 300


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_holds_every_message_of_the_source(language):
    # Given every msgid the templates and the Python source use (extracted in pure Python)
    used = {(message, context) for message, context, _where in extract()}
    # When compared with the catalogue
    catalogue = _catalogue(language)
    missing = sorted(
        f"{message!r} ({context})" for message, context in used if catalogue.get(message, context=context) is None
    )
    # Then none is missing: `python3 dev.py messages` then translating fixes this
    assert missing == []


def test_the_extraction_finds_template_and_python_messages():
    # Given the source  When its messages are extracted  Then both kinds are found
    where = {w.split(":")[0] for _m, _c, w in extract()}
    assert "templates/base.html" in where
    assert "core/services.py" in where
    assert any(isinstance(m, tuple) for m, _c, _w in extract())  # plural forms too


# --- English outside translation tags ------------------------------------------------------

# What may stay as written in any language: the brand, currency codes, symbols, units and
# the technical names people type or paste as they are (formats, protocols).
ALLOWED = {
    "Haken",
    "H",
    "JPY",
    "USD",
    "EUR",
    "GBP",
    "ISO",
    "CSV",
    "JSON",
    "PDF",
    "API",
    "URL",
    "HTTP",
    "HTTPS",
    "HMAC",
    "SHA",
    "UTC",
    "Stripe",
    "OpenAPI",
    "Swagger",
    "htmx",
    "Bearer",
    "curl",
    "e.g",
}
# Attributes a person reads (or a screen reader speaks).
READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "label", "aria-description", "data-confirm"}
# Code shown as code (snippets, keys, column names to type) reads the same in every language.
CODE_TAGS = {"script", "style", "pre", "code"}
WORD = re.compile(r"[A-Za-z][A-Za-z'’]+")
MARK = "\x00"


def _outside_translation(source: str) -> str:
    """The template's literal text with every tag, variable, comment and translated block
    replaced by a neutral mark, so an HTML parser sees only what is shown as written."""
    pieces: list[str] = []
    skipping: list[str] = []
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0] if token.contents else ""
            if name in {"blocktranslate", "blocktrans", "comment", "verbatim"}:
                skipping.append("end" + name)
            elif name == "block" and token.contents.split()[1:2] and token.contents.split()[1].endswith("_class"):
                skipping.append("endblock")  # a CSS class name a child fills in, not text
            elif skipping and name == skipping[-1]:
                skipping.pop()
            # A space, not the mark: a tag may sit inside an HTML tag (<li{% if a %} class="x"{% endif %}>).
            pieces.append(" ")
        elif skipping or token.token_type == TokenType.COMMENT or token.token_type == TokenType.VAR:
            pieces.append(MARK)
        else:
            pieces.append(token.contents)
    return "".join(pieces)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in CODE_TAGS:
            self._hidden += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self.found.append(value)
            if tag == "input" and name == "value" and value and dict(attrs).get("type") in {"submit", "button"}:
                self.found.append(value)

    def handle_endtag(self, tag):
        if tag in CODE_TAGS and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.found.append(data)


def english_outside_translation(path: Path) -> list[str]:
    parser = _VisibleText()
    parser.feed(_outside_translation(path.read_text(encoding="utf-8")))
    words = []
    for text in parser.found:
        for word in WORD.findall(text.replace(MARK, " ")):
            if word not in ALLOWED:
                words.append(word)
    return words


def test_the_checker_finds_english_outside_translation_tags(tmp_path):
    # Given a template with text inside and outside translation tags
    page = tmp_path / "page.html"
    page.write_text(
        '{% load i18n %}<h1>{% translate "Shown" %}</h1><p title="Loose title">Loose {{ name }} text</p>'
        "{% blocktranslate %}Kept {{ x }}{% endblocktranslate %}<script>let code = 1;</script>"
        "{# a comment #}<span>Haken · JPY</span>"
    )
    # When it is checked  Then only the loose words are reported
    assert english_outside_translation(page) == ["Loose", "title", "Loose", "text"]


@pytest.mark.parametrize("path", template_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_shows_english_outside_translation_tags(path):
    # Given a template  When its literal visible text is read  Then no English word is left
    assert english_outside_translation(path) == []
