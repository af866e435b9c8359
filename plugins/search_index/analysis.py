"""How text becomes index terms: the one analyser shared by the index, the CLI and the browser.

The chain is Whoosh's StemmingAnalyzer with two changes, mirrored token for token in
`theme/static/js/search-analysis.js` (a test compares the two on the same text):

1. The tokeniser keeps Arabic combining marks inside a word. Python's `\\w` does not match
   them, so Whoosh's default pattern would cut a vowelled Arabic word into pieces.
2. After lower-casing, Arabic-script tokens are normalised (`normalise_arabic`) and only
   all-ASCII tokens go through the Porter stemmer: English stemming rules would mangle
   words in other scripts.

Stop words and the minimum token length (2) are Whoosh's own.

`make_analyzer` returns `OnePassAnalyzer`, which produces exactly the tokens of that chain
(`reference_chain`; a test compares them, positions included) in one loop with a cache from
word to term: indexing spent most of its time passing each token through five generators.
"""

from __future__ import annotations

import re

from whoosh.analysis import Analyzer, Filter, LowercaseFilter, RegexTokenizer, StopFilter, StemFilter
from whoosh.analysis.filters import STOP_WORDS
from whoosh.analysis.acore import Token
from whoosh.lang.porter import stem as porter_stem

#: Arabic combining marks: Quranic annotation signs, harakat (fatha, damma, kasra,
#: tanwin, shadda, sukun...), superscript alef, and the small high/low signs.
ARABIC_MARKS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
TATWEEL = "\u0640"

#: One token: word characters (or Arabic marks), optionally joined by single dots
#: ("U.S"), like Whoosh's default `\w+(\.?\w+)*`.
_WORD = rf"(?:\w|[{ARABIC_MARKS}])+"
TOKEN_PATTERN = rf"{_WORD}(?:\.{_WORD})*"

#: Letter variants folded to one form, the usual Arabic search normalisation:
#: alef with hamza above/below, madda and wasla -> bare alef; alef maksura -> yeh;
#: Persian yeh and keheh -> Arabic yeh and kaf (Persian text is typed with either).
ARABIC_FOLDS = {
    "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627",
    "\u0649": "\u064a", "\u06cc": "\u064a", "\u06a9": "\u0643",
}
_STRIP = re.compile(f"[{ARABIC_MARKS}{TATWEEL}]")
_FOLD = re.compile("[" + "".join(ARABIC_FOLDS) + "]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_TOKEN = re.compile(TOKEN_PATTERN)

MIN_TOKEN_LENGTH = 2


def normalise_arabic(text: str) -> str:
    """Remove diacritics and tatweel, fold letter variants. Other scripts pass unchanged."""
    return _FOLD.sub(lambda m: ARABIC_FOLDS[m.group(0)], _STRIP.sub("", text))


def stem_english(word: str) -> str:
    """Porter-stem an all-ASCII word; leave words with other characters as they are."""
    return word if _NON_ASCII.search(word) else porter_stem(word)


class ArabicNormaliseFilter(Filter):
    """Applies `normalise_arabic` to every token (index and query time alike)."""

    def __call__(self, tokens):
        for t in tokens:
            t.text = normalise_arabic(t.text)
            yield t


def reference_chain():
    """The analyser as a Whoosh chain: the definition `OnePassAnalyzer` must reproduce."""
    return (
        RegexTokenizer(TOKEN_PATTERN)
        | LowercaseFilter()
        | ArabicNormaliseFilter()
        | StopFilter(stoplist=STOP_WORDS, minsize=MIN_TOKEN_LENGTH)
        | StemFilter(stemfn=stem_english, cachesize=50000)
    )


def term_of(word: str) -> str | None:
    """The index term of one token as the tokeniser cut it; None for a stop word or a short one."""
    text = word.lower()
    if not text.isascii():
        text = normalise_arabic(text)
    if len(text) < MIN_TOKEN_LENGTH or text in STOP_WORDS:
        return None
    return stem_english(text)


#: Endings put after a prefix to find the stems of the longer words it begins
#: (`prefix_terms`): inflections and the suffixes the Porter stemmer removes or rewrites.
#: search-analysis.js has the same list (a test compares them).
PREFIX_ENDINGS = ("e", "s", "es", "ed", "ing", "ion", "ions", "or", "ors", "er", "ers", "y", "ies",
                  "ied", "al", "ly", "ment", "ness", "ity", "ive", "ize", "ate", "ation", "ance",
                  "ence", "able", "ible", "ous", "ism", "ist", "ful")


def prefix_terms(text: str) -> tuple[list[str], list[str]]:
    """What the prefix query `text*` looks for: (beginnings, whole terms).

    The index holds stems ("negotiations" -> "negoti"), so a prefix matches the terms that
    begin with it as typed (lower-cased, Arabic normalised) or with its stem, and the stems
    of the longer words it begins ("negotiat" + "ion" -> "negoti"): `negotiat*` finds
    "negotiations". Stop words and one-letter prefixes are neither stemmed nor extended (as
    Whoosh analyses a prefix), and words in other scripts are never stemmed."""
    word = text.lower()
    if not word.isascii():
        word = normalise_arabic(word)
    if len(word) < MIN_TOKEN_LENGTH or word in STOP_WORDS:
        return [word], []
    beginnings = sorted({word, stem_english(word)})
    whole = {stem_english(word + ending) for ending in PREFIX_ENDINGS}
    return beginnings, sorted(t for t in whole if not t.startswith(tuple(beginnings)))


class OnePassAnalyzer(Analyzer):
    """`reference_chain` in one loop. Calls the chain itself for the options the loop does not
    handle (keeping stop words, the original text, or the value as one token)."""

    #: Distinct words remembered (about 100 bytes each); the cache is emptied when full.
    CACHE_SIZE = 200_000

    def __init__(self):
        self._chain = reference_chain()
        self._terms: dict[str, str | None] = {}

    # The schema (and so this analyser) is pickled into the index: leave the cache out.
    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.__init__()

    def __eq__(self, other):
        return type(other) is type(self)

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        if not tokenize or not removestops or keeporiginal:
            yield from self._chain(value, positions=positions, chars=chars, keeporiginal=keeporiginal,
                                   removestops=removestops, start_pos=start_pos,
                                   start_char=start_char, tokenize=tokenize, mode=mode, **kwargs)
            return
        terms = self._terms
        if len(terms) > self.CACHE_SIZE:
            terms.clear()
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        pos = None
        for raw_pos, match in enumerate(_TOKEN.finditer(value)):
            word = match.group(0)
            term = terms.get(word, "")
            if term == "":
                term = terms[word] = term_of(word)
            if term is None:
                continue
            t.text = term
            t.boost = 1.0
            t.stopped = False
            if positions:
                # StopFilter's renumbering: the first kept token keeps its position, the
                # following ones count on from it.
                pos = start_pos + raw_pos if pos is None else pos + 1
                t.pos = pos
            if chars:
                t.startchar = start_char + match.start()
                t.endchar = start_char + match.end()
            yield t


def make_analyzer():
    """The analyser of every searchable text field."""
    return OnePassAnalyzer()


def analyse(text: str) -> list[str]:
    """The index terms of `text`, in order (for tests and the browser-parity check)."""
    return [t.text for t in make_analyzer()(text)]
