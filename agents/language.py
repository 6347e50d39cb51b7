"""Language handling for the employees, from maintained libraries whose data ships in the
pip package (so everything runs offline):

- SudachiPy with sudachidict-core: Japanese morphology. A word's normalized form folds
  spelling variants (めぐすり, 目薬; カゼ薬, 風邪薬), its dictionary form folds inflection,
  its synonym group ids join words of one concept, and its katakana reading matches a word
  written in kana only. Chosen over MeCab/fugashi because its dictionary is a pip package
  (no system dictionary to install) and it normalises spellings, which MeCab's does not.
- pySBD: rule-based sentence boundaries that know abbreviations and initials ("J.R.R.",
  "T. rex", "Dr."), for English and Japanese; no model to download.
- simplemma: English lemmas (headphones → headphone, batteries → battery) from a packaged
  dictionary, plus whether a word is a known English word (so only unknown words are
  spell-corrected).
- RapidFuzz: fast edit-distance matching of a shopper's unknown word against the partner's
  own vocabulary ("poter" → "potter"), so corrections never leave the partner's data.

The Sudachi dictionary is loaded once per process; segmenters are cached."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import pysbd
import simplemma
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sudachipy import Dictionary, SplitMode

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_KANJI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_KANA_RUN = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc]{3,}")
_LATIN_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

# Parts of speech that carry what a text is about; particles, auxiliaries, symbols and
# interjections do not.
_CONTENT_POS = frozenset(["名詞", "動詞", "形容詞", "形状詞", "副詞", "接頭辞"])
# Verbs and nouns so general they match every sentence ("する", "ある", "もの", "こと").
_JA_STOP = frozenset(
    [
        "為る",
        "有る",
        "居る",
        "成る",
        "出来る",
        "下さる",
        "御座る",
        "物",
        "事",
        # The formal noun こと (〜することはできますか) is written in kana and keeps its spelling
        # as its normalized form: the frame of the question, like 事.
        "こと",
        "方",
        "所",
        "其れ",
        "此れ",
        "何",
        "為",
        "様",
        "の",
        "ん",
        "御",
        "貰う",
        "呉れる",
        "頂く",
        "遣る",
        "行く",
        "来る",
        "思う",
        "言う",
        "今日は",
        "有り難う",
        "一寸",
        "もっと",
        "又",
        "矢張り",
        "余り",
        "とても",
        "位",
        "幾ら",
        "何時",
        "何処",
        "如何",
        "何故",
        "誰",
        "何れ",
        "何方",
        "教える",
        "欲しい",
        "探す",
        "詳しい",
        "良い",
        # Negation (じゃなかったら, ないですか) and degree (少しだけ) say how a condition is put,
        # not what it is about.
        "無い",
        "少し",
    ]
)

EN_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "about",
        "as",
        "into",
        "than",
        "then",
        "so",
        "very",
        "too",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "when",
        "where",
        "why",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "just",
        "any",
        "some",
        "all",
        "no",
        "not",
        "please",
        "thank",
        "thanks",
        "want",
        "wants",
        "need",
        "needs",
        "like",
        "get",
        "got",
        "give",
        "looking",
        "look",
        "something",
        "anything",
        "im",
        "ive",
        "id",
        "youre",
        "one",
        "ones",
        "also",
        "and",
        "else",
        "other",
        "much",
        "many",
        "more",
        "really",
        "maybe",
        "hi",
        "hello",
        "hey",
        "ok",
        "okay",
        "yes",
        "yeah",
        "sure",
        "let",
        "lets",
        "tell",
        "show",
        "know",
        "find",
        "got",
        "see",
        "come",
        "after",
        "help",
        "today",
        "now",
        "tonight",
        "lovely",
        "great",
        "nice",
        "perfect",
        "go",
        "take",
        "make",
        "buy",
        "sell",
        "carry",
        "stock",
        "available",
        "off",
        "thing",
        "stuff",
        "please",
        "guy",
        "guys",
        "hey",
        "instead",
        "actually",
        "perhaps",
        "rather",
        "anyway",
        "still",
        "even",
    ]
)


def is_japanese(text: str) -> bool:
    """Whether the text is written in Japanese (kana or kanji)."""
    return bool(_CJK.search(text or ""))


def language_of(text: str, default: str = "en") -> str:
    return "ja" if is_japanese(text) else ("en" if re.search(r"[A-Za-z]", text or "") else default)


@lru_cache(maxsize=1)
def _dictionary() -> Dictionary:
    return Dictionary(dict="core")


@lru_cache(maxsize=1)
def _tokenizer():
    return _dictionary().tokenizer(mode=SplitMode.C)


def _katakana(text: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII, half-width kana to full-width)."""
    return unicodedata.normalize("NFKC", text or "")


@lru_cache(maxsize=4096)
def _ja_terms(run: str) -> tuple[str, ...]:
    out: list[str] = []
    for morpheme in _tokenizer().tokenize(run):
        pieces = [morpheme]
        split = list(morpheme.split(SplitMode.A))
        if len(split) > 1:
            pieces.extend(split)
        for piece in pieces:
            pos = piece.part_of_speech()
            if pos[0] not in _CONTENT_POS or pos[1] == "数詞" or (pos[1] == "非自立可能" and pos[0] == "名詞"):
                continue
            form = piece.normalized_form()
            if form in _JA_STOP or (len(form) == 1 and not _KANJI.match(form)):
                continue
            out.append(form[:64])
            out.extend(f"~{group}" for group in piece.synonym_group_ids()[:3])
            # Each kanji of a content word: 頭が痛い (頭, 痛) then meets 頭痛薬 (頭, 痛, 薬).
            out.extend(c for c in form if _KANJI.match(c) and c not in _STOP_KANJI)
        reading = morpheme.reading_form()
        if morpheme.part_of_speech()[0] in _CONTENT_POS and len(reading) >= 3:
            out.append(f"@{reading}"[:64])
    for kana in _KANA_RUN.findall(run):
        out.append(f"@{_katakana(kana)}"[:64])
    return tuple(out)


@lru_cache(maxsize=4096)
def _ja_groups(run: str) -> tuple[tuple[str, frozenset[str], frozenset[str], bool], ...]:
    """(word, its alternative terms, its kanji, proper noun?) per content word of a run."""
    out = []
    for morpheme in _tokenizer().tokenize(run):
        pos = morpheme.part_of_speech()
        form = morpheme.normalized_form()
        if pos[0] not in _CONTENT_POS or pos[1] == "数詞" or (pos[1] == "非自立可能" and pos[0] == "名詞"):
            continue
        if form in _JA_STOP or (len(form) == 1 and not _KANJI.match(form)):
            continue
        alternatives = {form[:64], *(f"~{g}" for g in morpheme.synonym_group_ids()[:3])}
        if len(morpheme.reading_form()) >= 3:
            alternatives.add(f"@{morpheme.reading_form()}"[:64])
        # Its kanji count only all together: 頭痛 is met by 頭 and 痛, 駐車場 not by 場 alone.
        kanji = frozenset(c for c in form if _KANJI.match(c) and c not in _STOP_KANJI)
        if (stem := _NOUN_AND_VERB_STEM.fullmatch(form)) and _is_noun(stem.group(1)):
            # A noun and a verb's stem (肩凝り, 寝付き, 靴擦れ) is an ailment or a doing of that
            # noun: 肩こり is about the shoulder, so the noun's kanji are the ones that count.
            kanji = frozenset(c for c in stem.group(1) if c not in _STOP_KANJI) or kanji
        out.append((form[:64], frozenset(alternatives), kanji, pos[1] == "固有名詞"))
    return tuple(out)


_NOUN_AND_VERB_STEM = re.compile(r"([\u4e00-\u9fff]+?)[\u4e00-\u9fff][\u3041-\u3093]{1,2}")


@lru_cache(maxsize=4096)
def _is_noun(word: str) -> bool:
    """Whether Sudachi reads the word whole as one common noun (肩, 靴; not 寝, a verb's stem)."""
    morphemes = list(_tokenizer().tokenize(word))
    return len(morphemes) == 1 and morphemes[0].part_of_speech()[:2] == ("名詞", "普通名詞")


def word_groups(text: str) -> list[tuple[str, frozenset[str], frozenset[str], bool]]:
    """The content words of a text for judging how much of it a passage covers: (word, the
    terms that count as the word — synonyms, readings, parts —, its kanji, whether it is a
    proper noun, such as a place a policy covers without naming it)."""
    text = normalize(text)
    out: list[tuple[str, frozenset[str], frozenset[str], bool]] = []
    first = True
    for run in re.split(r"([\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\u3005ー]+)", text):
        if not run:
            continue
        if _CJK.match(run):
            out.extend(_ja_groups(run))
            continue
        before: list[str] = []
        for match in _LATIN_WORD.finditer(run):
            raw = match.group(0).replace("’", "'")
            before.append(raw.lower())
            if raw.lower().endswith("n't"):
                continue  # "haven't", "don't": an auxiliary with its negation, no content
            word = (
                raw.lower().split("'")[0]
                if raw.lower().endswith(("'s", "'t", "'re", "'ll", "'ve", "'d", "'m"))
                else raw.lower()
            )
            capital = raw[:1].isupper() and not first
            first = False
            if word in EN_STOPWORDS or (len(word) < 2 and not word.isdigit()) or word.isdigit():
                continue
            if unsaid := _negated_participle(before[:-1], word):
                if out and out[-1][0] in _NEGATORS:
                    out.pop()  # "never" is part of "never used": unused
                out.append((unsaid, frozenset([unsaid]), frozenset(), False))
                continue
            term = _en_term(word)
            out.append((term, frozenset([term]), frozenset(), capital or not is_known_word(word)))
    return out


_NEGATORS = frozenset(["never", "not"])


def _negated_participle(before: list[str], word: str) -> str:
    """A past participle under a negation, as English writes it with un-: "never used",
    "haven't opened", "not been worn" → unused, unopened, unworn (what a policy says of goods
    nobody has used); "" otherwise."""
    if len(word) < 4 or not (word.endswith(("ed", "en")) or word in _IRREGULAR_PARTICIPLES):
        return ""
    if f"un{word}" not in _GOODS_CONDITIONS:
        return ""  # "hasn't shipped", "wasn't charged" keep their verb
    previous = [w for w in before[-3:] if w not in ("been", "be", "ever", "even", "yet", "really", "it", "them")]
    if not previous or not (previous[-1] in _NEGATORS or previous[-1].endswith("n't")):
        return ""
    return f"un{word}"


def is_goods_condition(word: str) -> bool:
    """Whether a word states the condition of goods (unused, unopened): a qualifier, no thing."""
    return word in _GOODS_CONDITIONS


_IRREGULAR_PARTICIPLES = frozenset(["worn", "read", "ridden", "eaten", "broken"])
# The condition of goods as return policies put it: only these turn "never used" into the word
# the policy uses ("unused"); any other verb under a negation stays itself.
_GOODS_CONDITIONS = frozenset(
    [
        "unused",
        "unopened",
        "unworn",
        "unwashed",
        "untried",
        "untouched",
        "uneaten",
        "undamaged",
        "unbroken",
        "unassembled",
        "unwrapped",
        "unmarked",
        "unsealed",
        "unread",
        "unplayed",
        "unridden",
        "unfitted",
        "unmounted",
        "unfilled",
        "unworn",
    ]
)


@lru_cache(maxsize=4096)
def compound_head(word: str) -> str:
    """The last part of a Japanese compound noun, the kind it is (食パン → パン, 観葉植物 → 植物);
    "" for a word that is no compound or whose last part is a single character (目薬: 薬 says
    too little)."""
    if not is_japanese(word):
        return ""
    morphemes = _tokenizer().tokenize(word)
    if len(morphemes) != 1 or morphemes[0].part_of_speech()[0] != "名詞":
        return ""
    parts = list(morphemes[0].split(SplitMode.A))
    if len(parts) < 2 or len(parts[-1].surface()) < 2 or parts[-1].part_of_speech()[0] != "名詞":
        return ""
    return parts[-1].normalized_form()[:64]


def is_ja_noun(word: str) -> bool:
    """Whether a Japanese word is a noun (Sudachi's part of speech)."""
    if not is_japanese(word):
        return False
    morphemes = _tokenizer().tokenize(word)
    return bool(morphemes) and morphemes[0].part_of_speech()[0] == "名詞"


_RECEIVE = frozenset(["貰う", "貰える", "頂く", "頂ける", "呉れる", "下さる"])


@lru_cache(maxsize=1024)
def requested_action(text: str) -> str:
    """What a Japanese request asks the shop to do, as the normalized form of its verb or of the
    noun of its action: 「直してもらえますか」 → 直す, 「処分してもらうことは可能ですか」 → 処分;
    "" when the request names no action of its own (白くしてもらう, 教えてください) or makes none."""
    if not is_japanese(text):
        return ""
    morphemes = list(_tokenizer().tokenize(normalize(text)))
    for i in range(2, len(morphemes)):
        if morphemes[i].normalized_form() not in _RECEIVE or morphemes[i - 1].surface() not in ("て", "で"):
            continue
        # A request (もらえますか, いただけますか, ください, もらうことは可能ですか), not a
        # favour told (作ってもらったテーブル).
        after = morphemes[i + 1].surface() if i + 1 < len(morphemes) else ""
        if not (re.match(r"(もらえ|貰え|いただけ|頂け|くれ|くださ|下さ)", morphemes[i].surface()) or after == "こと"):
            continue
        verb = morphemes[i - 2]
        if verb.part_of_speech()[0] != "動詞":
            return ""
        if verb.normalized_form() == "為る":
            noun = morphemes[i - 3] if i >= 3 else None
            # (処分して, 取り置きして: the noun of the action; 白くして: an adjective, no action named.)
            if noun is not None and noun.part_of_speech()[0] in ("名詞", "動詞"):
                return noun.normalized_form()
            return ""
        return verb.normalized_form()
    return ""


def group_matched(group: tuple[str, frozenset[str], frozenset[str], bool], terms_: set[str]) -> float:
    """1 when a word (or its synonym, reading) is in the terms; a lesser credit when only
    its kanji are, each of them inside other words (痛い in 頭痛, but also 開く in 開封)."""
    word, alternatives, kanji, _proper = group
    if alternatives & terms_:
        return 1.0
    if kanji and kanji <= terms_:
        return 0.85 if len(kanji) > 1 else 0.6
    if _LONG_KATAKANA.fullmatch(word) and any(word in t for t in terms_ if t[:1] not in "@~"):
        # A loanword inside a compound Sudachi keeps whole (カフェイン in ノンカフェイン).
        return 0.85
    return 0.0


_LONG_KATAKANA = re.compile(r"[\u30a1-\u30fa\u30fc]{4,}")


# Kanji in nearly every Japanese product text or question.
_STOP_KANJI = frozenset("品用的性方事物中日円個本枚入無有御")


@lru_cache(maxsize=8192)
def _en_term(word: str) -> str:
    lemma = simplemma.lemmatize(word, lang="en").lower()
    return lemma[:64]


def is_known_word(word: str) -> bool:
    return simplemma.is_known(word, lang="en") or simplemma.is_known(word.capitalize(), lang="en")


def terms(text: str) -> list[str]:
    """The search terms of `text`, in order, with repeats: Japanese runs by Sudachi
    (normalized forms, synonym groups "~id", kanji, readings "@カナ"), other words lower-cased
    and lemmatised, stop words dropped."""
    text = normalize(text)
    out: list[str] = []
    for run in re.split(r"([\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\u3005ー]+)", text):
        if not run:
            continue
        if _CJK.match(run):
            out.extend(_ja_terms(run))
            continue
        before: list[str] = []
        for match in _LATIN_WORD.finditer(run.lower()):
            word = match.group(0).replace("’", "'")
            before.append(word)
            if word.endswith("n't"):
                continue
            word = word.split("'")[0] if word.endswith(("'s", "'t", "'re", "'ll", "'ve", "'d", "'m")) else word
            if word in EN_STOPWORDS or (len(word) < 2 and not word.isdigit()):
                continue
            if unsaid := _negated_participle(before[:-1], word):
                if out and out[-1] in _NEGATORS:
                    out.pop()
                out.append(unsaid)
                continue
            out.append(word[:64] if word.isdigit() else _en_term(word))
    return out


@lru_cache(maxsize=4)
def _segmenter(language: str) -> pysbd.Segmenter:
    return pysbd.Segmenter(language=language, clean=False)


@lru_cache(maxsize=4096)
def sentences(text: str) -> tuple[str, ...]:
    """The sentences of a text (abbreviation-aware); Japanese split at 。！？."""
    text = (text or "").strip()
    if not text:
        return ()
    language = "ja" if is_japanese(text) else "en"
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*• ").strip()
        if line:
            out.extend(s.strip() for s in _segmenter(language).segment(line) if s.strip())
    return tuple(out)


def join(parts: Iterable[str], language: str) -> str:
    """Sentences joined as the language writes them: Japanese with no space and each
    sentence closed by 。(never "。、"), English with spaces and a full stop."""
    clean = [p.strip() for p in parts if p and p.strip()]
    if language == "ja":
        out = []
        for part in clean:
            part = part.rstrip("、,")
            if not part.endswith(("。", "！", "？", "!", "?", "）", ")", "」")):
                part += "。"
            out.append(part)
        return "".join(out)
    out = []
    for part in clean:
        if not part.endswith((".", "!", "?", ":", ")", "”", '"')):
            part += "."
        out.append(part)
    return " ".join(out)


def correct(words: list[str], vocabulary: frozenset[str] | tuple[str, ...]) -> dict[str, str]:
    """Spelling corrections of unknown Latin words against the partner's vocabulary:
    {typed: vocabulary word}. Only words not in the vocabulary and not known English words
    are corrected, and only to a close match (at most two edits, similarity >= 80)."""
    if not vocabulary:
        return {}
    choices = [w for w in vocabulary if w.isascii() and w.isalpha() and len(w) >= 3]
    out: dict[str, str] = {}
    for word in words:
        if len(word) < 4 or not word.isascii() or not word.isalpha() or word in vocabulary:
            continue
        if is_known_word(word):
            continue
        best = process.extractOne(word, choices, score_cutoff=80)
        if best and Levenshtein.distance(word, best[0]) <= 2:
            out[word] = best[0]
    return out


def warm() -> None:
    """Load the dictionary, the segmenters and the meaning model (a worker calls this once
    at start)."""
    _tokenizer()
    _segmenter("en")
    _segmenter("ja")
    terms("頭が痛い headphones")
    from agents import semantics  # the English meaning model: its weights load once too

    semantics.warm()


# --- what kind of answer a question wants ---------------------------------------------------
# A question asks for a kind of fact as much as about a subject: "what time do you open" wants
# a time of day, "how long until my refund" a duration, "送料はいくら" an amount. A sentence that
# carries that kind of fact answers it better than one that only shares its words, and the
# kind joins words the shopper and the shop word differently (何時から開いて → 営業時間は10時から).

# Damage, said by the shopper ("it turned up smashed", 割れていました) or by a policy ("if an item
# arrives damaged", 破損があった場合): the words of the kind, in either tongue.
_DAMAGE = re.compile(
    r"\b(broken|broke|breaks?|smashed|shattered|cracked|snapped|ripped|torn|tore|damaged?|dented|crushed|"
    r"leak(s|ed|ing)?|faulty|defective|defects?|spilt|spilled)\b|壊れ|割れ|破れ|破損|傷み|欠け|ひび|漏れ|へこみ|不良|不具合",
    re.IGNORECASE,
)
_ASKS = {
    "clock": re.compile(
        r"\bwhat time\b|\bwhen\b.{0,30}\b(open|close|closing|opening)\b|\b(open|opening|closing) (hours|times)\b|"
        r"\bhours\b|何時|営業時間|開店|閉店",
        re.IGNORECASE,
    ),
    "duration": re.compile(
        r"\bhow (long|fast|soon|quickly|many days|many weeks)\b|\bwhen will\b|\b(faster|quicker|sooner)\b|"
        r"\bwhen (do|does|can|would) i (get|receive)\b|"
        r"\buntil\b|何日|何週|どれくらい|どのくらい|いつ(まで|頃|ごろ)?|日数|期間|かかり",
        re.IGNORECASE,
    ),
    "amount": re.compile(
        r"\bhow much\b|\b(cost|costs|charge|charges|price|fee|fees)\b|いくら|料金|費用|送料|値段|価格",
        re.IGNORECASE,
    ),
    # "I'm 18, can I buy?", 「18歳ですが買えますか」, "how old do you have to be?": an age limit.
    "age": re.compile(
        r"\d{1,2}\s*(歳|才)|何(歳|才)|\bhow old\b|"
        r"\b(i'?m|i am|we'?re|she'?s|he'?s|they'?re)\s+(only\s+)?\d{1,2}\b(?!\s*(%|\$|dollars|cm|kg))|"
        r"\bage (limit|restriction|requirement)s?\b|\bminimum age\b|\bunder\s?age\b|\bminors?\b|年齢|未成年",
        re.IGNORECASE,
    ),
    # "I need it by tomorrow", 「今日中に届けてもらえますか」: which day, counted from the order.
    "day": re.compile(
        r"\b(today|tonight|tomorrow|same[- ]day|next[- ]day|overnight)\b|今日|本日|明日|当日|即日|翌日",
        re.IGNORECASE,
    ),
    # "what if one turns up smashed?", 「届いた急須が割れていました」: what the shop does about damage.
    "damage": _DAMAGE,
    # "do you deliver to Toronto?", 「海外に発送できますか」: where the shop sends orders.
    "place": re.compile(
        # (the thing sent and a particle may come between: "do you send orders up to Vancouver?")
        r"\b(ship|shipping|deliver|delivery|send|post|mail)\w*\s+"
        r"(?:(?:a|an|the|my|our|your)\s+)?"
        r"(?:(?:it|them|this|that|orders?|packages?|parcels?|items?|stuff|things)\s+)?(?:(?:up|over|out|down)\s+)?"
        r"(to|outside|abroad|overseas|internationally)\b|"
        r"\bwhere do you (ship|deliver|send)\b|\b(abroad|overseas|internationally)\b|海外|どこ(まで|に|へ)",
        re.IGNORECASE,
    ),
}
_CARRIES = {
    "clock": re.compile(
        r"\b\d{1,2}(:\d{2})?\s?(am|pm)\b|\b\d{1,2}:\d{2}\b|\d{1,2}時|\bnoon\b|\bmidnight\b", re.IGNORECASE
    ),
    "duration": re.compile(
        r"\b(\d+|one|two|three|four|five|six|seven|ten|fourteen|thirty)\s*(-|to)?\s*(\d+\s*)?"
        r"(working |business )?(days?|weeks?|hours?|months?|years?)\b|\bsame day\b|\bnext (working )?day\b|"
        r"\d+\s*(営業)?(日|週間|時間|か月|ヶ月|年)|翌日|当日",
        re.IGNORECASE,
    ),
    "amount": re.compile(r"[$¥€£]\s?\d|\d[\d,]*\s?円|\bfree\b|無料|\d+\s?%", re.IGNORECASE),
    "damage": _DAMAGE,
    "day": re.compile(
        r"\bsame[- ]day\b|\bnext (working |business )?day\b|\b(today|tomorrow|overnight)\b|当日|即日|翌日|本日",
        re.IGNORECASE,
    ),
    "place": re.compile(
        r"\b(ship|deliver|send)s?\s+(only\s+)?(to|within|outside|abroad|overseas|worldwide|internationally)\b|"
        r"\b(only|also) (ship|deliver)\b|\bcountries\b|\bworldwide\b|全国|海外|国内|離島|地域",
        re.IGNORECASE,
    ),
    "age": re.compile(
        r"\d{1,2}\s*(歳|才)|\b\d{1,2}\s*(years? (old|of age)|\+|or (older|over)|and (over|up))|"
        r"\b(aged?|age of)\s+\d{1,2}\b|\bminors?\b|未成年",
        re.IGNORECASE,
    ),
}


def answer_kinds(question: str) -> frozenset[str]:
    """The kinds of fact a question asks for: "clock" (a time of day), "duration", "amount", "age",
    "day" (today, tomorrow: the same or the next day), "damage" (what is done about it), "place"
    (where orders are sent)."""
    text = normalize(question)
    kinds = {kind for kind, pattern in _ASKS.items() if pattern.search(text)}
    duration_words = {m.group(0) for m in _ASKS["duration"].finditer(text)}
    if "amount" in kinds and duration_words <= {"かかり", "until"}:
        # "いくらかかりますか", "how much until free shipping": かかる and "until" are the cost here,
        # not a time. A question that names a duration too asks for both ("how much is shipping
        # and how long does it take?", 「送料はいくらで、何日くらいで届きますか」).
        kinds.discard("duration")
    return frozenset(kinds)


def asks_for_day(word: str) -> bool:
    """Whether a word of a question names a day counted from the order (today, 明日)."""
    return bool(_ASKS["day"].fullmatch(normalize(word)))


def kinds_in(sentence: str) -> frozenset[str]:
    """The kinds of fact a sentence states."""
    text = normalize(sentence)
    return frozenset(kind for kind, pattern in _CARRIES.items() if pattern.search(text))
