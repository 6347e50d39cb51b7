"""Lexical retrieval: the same normalised terms index the catalog and the knowledge base
(GIN-indexed arrays, so candidates come from an index scan) and score passages for the
offline engine. Latin words are lower-cased and lightly stemmed; CJK runs become
character bigrams, so Japanese text without spaces still matches."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+|[^\W_\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+",
                   re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
STOPWORDS = frozenset([
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "for", "from", "by", "with",
    "about", "as", "into", "than", "then", "so", "very", "too", "is", "are", "was", "were", "be", "been",
    "being", "am", "do", "does", "did", "have", "has", "had", "i", "me", "my", "we", "our", "you", "your",
    "he", "she", "it", "its", "they", "them", "their", "this", "that", "these", "those", "there", "here",
    "what", "which", "who", "whom", "how", "when", "where", "why", "can", "could", "would", "should", "will",
    "shall", "may", "might", "must", "just", "any", "some", "all", "no", "not", "please", "thank",
    "want", "wants", "need", "needs", "like", "get", "got", "give", "looking", "look",
    "something", "anything", "im", "ive",
])


# Bigrams of Japanese inflections and polite endings ("…はありますか", "…ください"): in
# every other sentence, so they would match anything.
JA_STOP_BIGRAMS = frozenset([
    "ます", "すか", "です", "でし", "した", "ませ", "せん", "あり", "りま", "くだ", "ださ", "さい", "して",
    "ある", "いま", "ない", "ので", "から", "ても", "でき", "きま",
])


def is_japanese(text: str) -> bool:
    """Whether the text is written in Japanese (kana or kanji): the employee answers in kind."""
    return bool(_CJK.search(text or ""))


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def terms(text: str) -> list[str]:
    """The search terms of `text`, in order, with repeats."""
    out: list[str] = []
    for match in _WORD.finditer(text.lower()):
        token = match.group(0)
        if _CJK.match(token):
            out.extend(gram for i in range(max(1, len(token) - 1))
                       if (gram := token[i:i + 2]) not in JA_STOP_BIGRAMS)
        elif token not in STOPWORDS and (len(token) > 1 or token.isdigit()):
            out.append(_stem(token)[:64])
    return out


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


def idf_weights(query: Iterable[str], documents: Sequence[Sequence[str]], *,
                total: int | None = None) -> dict[str, float]:
    """Inverse document frequency of each query term; `total` is the size of the whole
    collection when `documents` are only the candidates an index returned."""
    n = max(total or 0, len(documents))
    sets = [set(doc) for doc in documents]
    return {term: math.log(1 + (n - df + 0.5) / (df + 0.5))
            for term in set(query) for df in [sum(1 for s in sets if term in s)]}


def rank(query_text: str, candidates: Sequence[tuple[object, str]], *, limit: int = 3,
         minimum: float = 0.0, total: int | None = None) -> list[tuple[object, float]]:
    """The best `limit` candidates (item, text) for the query, best first, ties in input order."""
    query = terms(query_text)
    docs = [terms(text) for _, text in candidates]
    idf = idf_weights(query, docs, total=total)
    scored = [(item, score(query, doc, idf=idf)) for (item, _), doc in zip(candidates, docs, strict=True)]
    ranked = sorted(((item, s) for item, s in scored if s > minimum), key=lambda pair: -pair[1])
    return ranked[:limit]
