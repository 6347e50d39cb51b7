"""Lexical retrieval: the same normalised terms index the catalog and the knowledge base
(GIN-indexed arrays, so candidates come from an index scan) and score passages for the
offline engine. Terms come from agents.language: English lemmas, Japanese normalized
forms, synonym groups, kanji and readings (SudachiPy)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from agents.language import group_matched, is_japanese, terms, word_groups


def term_set(*texts: str) -> list[str]:
    """Distinct terms of several texts, sorted: what the GIN-indexed columns store."""
    return sorted({term for text in texts for term in terms(text)})


def score(query: Sequence[str], document: Sequence[str], *, idf: dict[str, float] | None = None) -> float:
    """BM25-like overlap of a query's terms with a document's (saturating term frequency,
    a length penalty, optional inverse document frequency weights)."""
    if not query or not document:
        return 0.0
    counts = Counter(document)
    total = 0.0
    length_norm = 0.25 + 0.75 * (len(document) / 40)
    for term in set(query):
        tf = counts.get(term, 0)
        if tf:
            weight = idf.get(term, 1.0) if idf else 1.0
            total += weight * (tf * 2.2) / (tf + 1.2 * length_norm)
    return total


def idf_weights(
    query: Iterable[str], documents: Sequence[Sequence[str]], *, total: int | None = None
) -> dict[str, float]:
    """Inverse document frequency of each query term; `total` is the size of the whole
    collection when `documents` are only the candidates an index returned."""
    n = max(total or 0, len(documents))
    sets = [set(doc) for doc in documents]
    return {
        term: math.log(1 + (n - df + 0.5) / (df + 0.5))
        for term in set(query)
        for df in [sum(1 for s in sets if term in s)]
    }


def rank(
    query_text: str,
    candidates: Sequence[tuple[object, str]],
    *,
    limit: int = 3,
    minimum: float = 0.0,
    total: int | None = None,
) -> list[tuple[object, float]]:
    """The best `limit` candidates (item, text) for the query, best first, ties in input order."""
    query = terms(query_text)
    docs = [terms(text) for _, text in candidates]
    idf = idf_weights(query, docs, total=total)
    scored = [(item, score(query, doc, idf=idf)) for (item, _), doc in zip(candidates, docs, strict=True)]
    ranked = sorted(((item, s) for item, s in scored if s > minimum), key=lambda pair: -pair[1])
    return ranked[:limit]


def coverage(query: Sequence[str], document: Iterable[str], idf: dict[str, float]) -> float:
    """The share of the query's weight (inverse document frequency) that the document
    carries: how much of what was asked this text speaks to, from 0 to 1."""
    wanted = set(query)
    if not wanted:
        return 0.0
    have = set(document)
    top = max(idf.values(), default=1.0) or 1.0
    weight = {term: idf.get(term, top) or top for term in wanted}
    return sum(w for term, w in weight.items() if term in have) / sum(weight.values())


def coverage_of(
    question: str,
    documents: Sequence[Sequence[str]],
    *,
    total: int | None = None,
    ignore: frozenset[str] = frozenset(),
    head: str = "",
    aliases: dict[str, frozenset[str]] | None = None,
    known: frozenset[str] | None = None,
    phrasal: frozenset[str] = frozenset(),
) -> list[float]:
    """For each document, the share of the question's content words it covers (each word
    weighted by how rare it is among the documents). A word counts as covered by its
    synonyms, readings, parts or all of its kanji. A proper noun no document names (a
    town a delivery policy covers without listing it) is left out once anything else of
    the question is covered, so "do you ship to Osaka?" is answered by the shipping policy."""
    groups = [g for g in word_groups(question) if g[0] not in ignore]
    if aliases:
        # The partner's words for the shopper's ("deliver" → ship) count as the word itself.
        groups = [(w, alts | aliases.get(w, frozenset()), k, p) for w, alts, k, p in groups]
        # A verb read with its particle ("send back") is met by the partner's words for the
        # phrase (return), not by the verb alone ("send us a photo").
        groups = [(w, aliases[w], k, p) if w in phrasal and w in aliases else (w, a, k, p) for w, a, k, p in groups]
    if not groups:
        return [0.0 for _ in documents]
    sets = [set(doc) for doc in documents]
    n = max(total or 0, len(sets), 1)
    matched = [[group_matched(g, s) for s in sets] for g in groups]
    weights = []
    for group, row in zip(groups, matched, strict=True):
        df = sum(1 for credit in row if credit)
        # The thing asked for weighs double: a gift for a book lover is a gift first.
        weight = math.log(1 + (n - df + 0.5) / (df + 0.5)) * (2 if group[0] == head else 1)
        if known is not None and not (group[1] & known) and not (group[2] and group[2] <= known):
            # A word the partner never uses at all ("my gears keep slipping") says how the
            # shopper put it more than what they ask: it weighs half.
            weight *= 0.5
        weights.append(weight)
    out = []
    for d in range(len(sets)):
        got = sum(w * row[d] for w, row in zip(weights, matched, strict=True))
        whole = sum(
            w
            for g, w, row in zip(groups, weights, matched, strict=True)
            if row[d] or not (g[3] and not any(row) and got > 0)
        )
        out.append(got / whole if whole else 0.0)
    return out


_PREPOSITION = re.compile(r"\b(?:for|with|about|to|from|that|which|under|below|over|in|on|at|by|like)\b", re.I)


# Nouns that say who it is for or that it is a request, not what it is.
_NOT_THE_THING = frozenset(
    [
        "present",
        "gift",
        "idea",
        "item",
        "product",
        "thing",
        "option",
        "recommendation",
        "suggestion",
        "dad",
        "father",
        "mum",
        "mom",
        "mother",
        "son",
        "daughter",
        "wife",
        "husband",
        "partner",
        "friend",
        "kid",
        "child",
        "nephew",
        "niece",
        "boyfriend",
        "girlfriend",
        "brother",
        "sister",
        "grandma",
        "grandpa",
        "grandmother",
        "grandfather",
        "colleague",
        "boss",
        "teacher",
        "baby",
    ]
)


# The particles of phrasal verbs ("send orders up to", "pick it up"): part of the verb, no thing.
_VERB_PARTICLES = frozenset(["up", "down", "out", "off", "over", "away", "back"])


_STATE_WORDS = (
    r"broken|dead|stuck|cracked|torn|faulty|damaged|missing|wrong|not working|smashed|shattered|dented|"
    r"scratched|melted|bent|chipped|leaking|leaked|ripped|spoiled|stale|late|snapped"
)
_HAPPENING = re.compile(
    r"(?<=\w)\s+(?:(?:keeps?|kept|stopped|stops|started|starts|is|are|was|were|has been|have been|"
    r"won'?t|doesn'?t|isn'?t|turns? up|turned up|shows? up|showed up|arrives?|arrived|comes?|came|gets?|got)\s+"
    r"(?:not\s+)?(?:\w+ing|" + _STATE_WORDS + r")|"
    # or told by its own verb: "my trowel snapped", "the jar broke".
    r"(?:snapped|broke|cracked|shattered|leaked|melted|tore|split|died|stopped working))\b.*",
    re.I,
)


def head_word(question: str, vocabulary: frozenset[str] = frozenset()) -> str:
    """The thing an English request asks for: the last content word of its first phrase
    that has one ("a gift for a book lover" → gift, "blue car tyres" → tyre)."""
    if is_japanese(question):
        return _ja_topic(question)
    # "my phone keeps dying", "the zip is broken": what the shopper says happens to a thing is
    # not the thing; the phrase before such a verb is where it is named.
    question = _HAPPENING.sub(" , ", question)
    for phrase in _PREPOSITION.split(question):
        groups = [
            g
            for g in word_groups(phrase)
            if (g[0] not in _NOT_THE_THING or g[0] in vocabulary) and g[0] not in _VERB_PARTICLES
        ]
        if groups:
            return groups[-1][0]
    return ""


def _ja_topic(question: str) -> str:
    """The noun a Japanese question is about: the last content noun before its first topic
    or subject particle (クレジットカードは使えますか → クレジットカード, 送料はいくら → 送料)."""
    from agents import language

    # 「味が好みじゃなかったら返品できますか」: what comes before a condition (〜たら, 〜なら,
    # 〜れば, 〜ても) is the case, the question is what follows it (返品).
    parts = _JA_CONDITION.split(language.normalize(question))
    question = parts[-1] if len(parts) > 1 and parts[-1].strip() else question
    if _JA_HAPPENED.search(question):
        # 「袋が破れていました」 tells what happened to a thing: what is asked is what to do about
        # the happening (破れる), not the bag (as "the zip is broken" in English).
        return ""
    last = ""
    for morpheme in language._tokenizer().tokenize(language.normalize(question)):
        pos = morpheme.part_of_speech()
        if pos[0] == "助詞" and morpheme.surface() in ("は", "が", "って"):
            return last
        if pos[0] == "名詞" and pos[2] == "副詞可能":
            last = ""  # 土曜日は, 今日は: when it is asked about, not what
        elif pos[0] == "名詞" and pos[1] != "数詞" and morpheme.normalized_form() not in language._JA_STOP:
            last = morpheme.normalized_form()[:64]
        elif pos[0] not in ("名詞", "接尾辞", "接頭辞") and not (pos[0] == "助詞" and morpheme.surface() == "の"):
            last = ""  # a verb or another particle between: the noun was not the topic's
    return ""


_JA_HAPPENED = re.compile(r"(?:ていました|てました|ちゃいました|てしまいました|ていた|てた)[。!！]*\s*$")
# (and a preface that gives the background, 「子どもが小麦を食べられないんですが、…」: what is asked
# follows it)
_JA_CONDITION = re.compile(
    r"(?:たら|なら|ならば|れば|ても|場合は)[、,]?|(?:んです|のです|んだ|です|ます|ない|た)(?:が|けど|けれど)[、,]"
)


def has_qualifier(question: str) -> bool:
    """Whether a request has a prepositional phrase with content ("… for a book lover")."""
    phrases = [p for p in _PREPOSITION.split(question) if word_groups(p)]
    return len(phrases) > 1
