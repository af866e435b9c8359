"""The synthetic corpus: deterministic dumps in the seed's exact format, and their ground truth.

Each generated article gets a hidden site id, the id the outlet's CMS gave it. Dumps never
carry their own id (just like the seed); only the related lists of *other* dumps do, so the
graph plugin has to learn ids from titles. `.truth.json`, written beside the dumps, says for
every file which article it is, what ingest must make of it, and for every related entry
which generated article it points to (or null).

Dumps are written by `broadsheet.dumps.render_dump` from `Article` records, so the corpus
and the parser share one definition of the format. Everything is drawn from one
`random.Random(seed)`: the same options give the same bytes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from broadsheet.article import Article, Source
from broadsheet.dumps import DEFAULT_TIMEZONE, format_dateline, localize, render_dump

#: A dot-file, so that ingest (which skips hidden files) never reads it as a dump: the folder can
#: be ingested or rebuilt as it is, and copying it keeps the truth with its dumps.
TRUTH_FILE = ".truth.json"
TRUTH_VERSION = 1

#: The bundled sample: `invoke corpus -n 40 --seed 2016 --dest raw/synthetic`.
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "raw" / "synthetic"
SAMPLE_N = 40
SAMPLE_SEED = 2016
SAMPLE_TRUTH = TRUTH_FILE

#: The first hidden id. The seed's ids are around 1,800,000 (March 2016); synthetic ids stay
#: far below, so a synthetic article can never be mistaken for an item the seed lists.
FIRST_ID = 1_000_000
_ID_GAP = (2, 12)  # ids skipped between archived articles: other items, some listed as dangling
_SORT_BASE = (3_000_000, 3_900_000)
_YEARS = (2013, 2017)
_HOURS = (6, 22)  # Iran's clock changes happen at midnight: stay clear of the missing hour
_EPOCH = datetime(1, 1, 1)

#: How a related entry refers to its target, with its share of the entries.
ENTRY_VARIANTS = {
    "exact": 0.66,      # the target's id and title, as the outlet printed it
    "respelled": 0.05,  # same id, title differing in case, spacing or quote style
    "typo": 0.07,       # same id, one letter wrong
    "video": 0.07,      # a distinct video item: its own id, "VIDEO: " + title, an .mp4 pic
    "dangling": 0.15,   # an item that is not in the corpus at all
}

#: Broken files `--malformed` mixes in, and what ingest must make of each.
MALFORMED_KINDS = {
    "empty": {"outcome": "rejected", "reason": "empty"},
    "binary": {"outcome": "rejected", "reason": "binary"},
    "no-dateline": {"outcome": "rejected", "reason": "no-dateline"},
    "no-title": {"outcome": "rejected", "reason": "no-title"},
    "impossible-date": {"outcome": "rejected", "reason": "impossible-date"},
    "truncated-blob": {"outcome": "accepted", "related_status": "truncated"},
    "length-mismatch": {"outcome": "accepted", "related_status": "length-mismatch"},
    "invalid-blob": {"outcome": "accepted", "related_status": "invalid"},
    "cp1252": {"outcome": "accepted", "encoding": "windows-1252"},
    "crlf": {"outcome": "accepted", "newlines": "crlf"},
    "cr": {"outcome": "accepted", "newlines": "cr"},
    "bom": {"outcome": "accepted", "encoding": "utf-8-sig"},
}

# -- vocabulary (headlines in the outlet's style) -------------------------------------------

_ACTORS = [
    "Syrian Army", "Syrian Army Troops", "Iraqi Forces", "Iraqi Popular Forces", "Hezbollah Fighters",
    "Yemeni Army", "Ansarullah Fighters", "Russian Jets", "Syrian Air Force", "Lebanese Army",
    "Kurdish Fighters", "Popular Mobilization Units", "Iraqi Army Units", "Yemeni Popular Committees",
    "Egyptian Army", "Libyan Forces", "Afghan Forces", "Bahraini Protesters", "Palestinian Youths",
    "Iranian Border Guards", "Syrian Marines", "Tribal Fighters", "Army Engineers", "Counter-Terrorism Units",
]
_ACTIONS = [
    "Take Key Areas from", "Repel Attack by", "Kill Dozens of", "Advance against", "Pound Positions of",
    "Foil Offensive by", "Retake Villages from", "Destroy Convoy of", "Encircle", "Ambush",
    "Capture Commanders of", "Seize Weapons Depot of", "Cut Supply Lines of", "Thwart Infiltration by",
    "Inflict Heavy Losses on", "Clear Tunnels of", "Strike Hideouts of", "Intercept Rockets Fired by",
]
_ENEMIES = [
    "ISIS", "Al-Nusra", "Takfiri Militants", "Saudi Mercenaries", "Terrorists", "Jaish al-Fatah",
    "Ahrar al-Sham", "Militants", "Al-Qaeda Affiliates", "Foreign-Backed Rebels", "Boko Haram", "Taliban",
]
_PLACES = [
    "Aleppo", "Palmyra", "Deir Ezzor", "Latakia", "Raqqa", "Homs", "Hama", "Idlib", "Daraa", "Quneitra",
    "Sweida", "Damascus Countryside", "Eastern Ghouta", "Qalamoun", "Mosul", "Ramadi", "Fallujah",
    "Tikrit", "Samarra", "Baiji", "Anbar", "Diyala", "Kirkuk", "Sana'a", "Taiz", "Marib", "Jizan",
    "Najran", "Aden", "Sinai", "Benghazi", "Sirte", "Kunduz", "Helmand", "Nangarhar", "Arsal",
]
_SECOND = [
    "Kill {n} Militants in {p}", "Liberate {p} Outskirts", "Advance towards {p}", "Secure Road to {p}",
    "Down Drone over {p}", "Repel Counterattack in {p}", "Dismantle Bombs in {p}", "Hit Arms Depot in {p}",
]
_STATEMENTS = [
    "{a} on the ‘Threshold of {p}’: Official", "{a} Close In on {p}’s Old City", "{p}’s Residents Welcome {a}",
    "Source: {a} Ready for Final Push in {p}", "{a} Say \"Victory Is Near\" in {p}",
]
_SENTENCES = [
    "{a} have regained control over key areas around {p} and killed a large number of {e}.",
    "Government units backed by popular forces continued military operations near {p} on {d}.",
    "A military source told the state-run news agency that the operation in {p} was progressing.",
    "Scores of {e} were killed or injured as a result of airstrikes on their positions in {p}.",
    "The source said {n} vehicles belonging to {e} were destroyed near {p}.",
    "Local residents said the roads leading to {p} were reopened after the clashes.",
    "Engineering units dismantled explosive devices left behind by {e} in {p}.",
    "{a} also foiled an attack by {e} on military posts in the direction of {p}.",
    "According to a report by a monitoring group, the conflict has displaced {n},000 people around {p}.",
    "Observers said the advance would cut the supply routes of {e} between {p} and {q}.",
    "The operation came after weeks of preparation, a field commander was quoted as saying.",
    "Negotiations on a ceasefire are underway, but {e} have repeatedly violated the truce in {p}.",
    "Medical sources in {p} said {n} civilians were wounded by mortar shells fired by {e}.",
    "Officials in {q} said humanitarian aid convoys would reach {p} in the coming days.",
    "“We will finish the job by God’s will,” an unnamed officer in {p} said.",
    "The army’s general command said {a} had established control over Points {n}, {m} and {k}.",
]
_WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_SIGNATURES = ["S/SH 11", "S/SH", "218-12", "SSH 11", "S/SH 23", "217-11"]


@dataclass
class GeneratedArticle:
    """One article of the corpus, before it is written (and possibly broken) as a dump."""

    hidden_id: str
    article: Article
    video_page: bool  # a video page: "VIDEO: " title printed once, listed with an .mp4 pic
    related: list[dict[str, Any]] = field(default_factory=list)  # truth of each entry
    kind: str = "clean"


@dataclass
class GeneratedFile:
    name: str
    data: bytes
    truth: dict[str, Any]
    article: Article  # what ingest must read back from a clean file


@dataclass
class Corpus:
    files: list[GeneratedFile]
    truth: dict[str, Any]


# -- titles and text -----------------------------------------------------------------------

def _headline(rng: random.Random) -> str:
    a, p = rng.choice(_ACTORS), rng.choice(_PLACES)
    if rng.random() < 0.1:
        return rng.choice(_STATEMENTS).format(a=a, p=p)
    title = f"{a} {rng.choice(_ACTIONS)} {rng.choice(_ENEMIES)} in {p}"
    if rng.random() < 0.65:
        q = rng.choice([x for x in _PLACES if x != p])
        title += ", " + rng.choice(_SECOND).format(n=rng.randint(5, 120), p=q)
    return title


def _paragraph(rng: random.Random, when: datetime) -> str:
    places = rng.sample(_PLACES, 2)
    fill = dict(a=rng.choice(_ACTORS), e=rng.choice(_ENEMIES), p=places[0], q=places[1],
                d=_WEEKDAY_NAMES[when.weekday()], n=rng.randint(2, 480), m=rng.randint(100, 499),
                k=rng.randint(500, 999))
    return " ".join(rng.choice(_SENTENCES).format(**fill) for _ in range(rng.randint(1, 3)))


def _typo(rng: random.Random, title: str) -> str:
    """The title with exactly one letter wrong (substituted, dropped, doubled or swapped)."""
    words = title.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    while True:
        i = rng.choice(candidates)
        w = words[i]
        j = rng.randrange(1, len(w) - 1)
        op = rng.choice("sdaw")
        if op == "s":
            letter = rng.choice([c for c in "aeioubcdfgklmnrst" if c != w[j].lower()])
            new = w[:j] + letter + w[j + 1:]
        elif op == "d":
            new = w[:j] + w[j + 1:]
        elif op == "a":
            new = w[:j] + w[j] + w[j:]
        else:
            new = w[:j] + w[j + 1] + w[j] + w[j + 2:]
        if new.lower() != w.lower():
            return " ".join(words[:i] + [new] + words[i + 1:])


def _respell(rng: random.Random, title: str) -> str:
    """The same title as another page printed it: quote style, case or spacing differ."""
    if "’" in title:
        return title.replace("’", "'").replace("‘", "'")
    if "'" in title:
        return title.replace("'", "’")
    if rng.random() < 0.5:
        return title.upper() if rng.random() < 0.3 else title.lower()
    return title.replace(" ", "  ", 1)


def dotnet_ticks(naive_local: datetime) -> int:
    """.NET ticks (100 ns since 0001-01-01) of a wall-clock time, as the outlet's file names hold."""
    delta = naive_local - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def pic_path(naive_local: datetime, video: bool) -> str:
    ext = "mp4" if video else "jpg"
    return f"/{naive_local:%Y/%m/%d}/alalam_{dotnet_ticks(naive_local)}_25f_4x3.{ext}"


def render_related_json(entries: list[dict[str, str]], php_escapes: bool = False) -> str:
    """The outlet's JSON text: `[{...} ,{...} ]`, titles' quotes unescaped, as in the seed.

    With `php_escapes`, slashes are written `\\/` and non-ASCII `\\uXXXX`, as json_encode
    does by default (some of the outlet's pages were printed that way).
    """
    def text(value: str) -> str:
        if php_escapes:
            return json.dumps(value, ensure_ascii=True)[1:-1].replace("/", "\\/")
        return value

    items = [
        '{"id":"%s","sort":"%s","contenttypeid":"%s","pic":"%s","title":"%s"}'
        % (e["id"], e["sort"], e["contenttypeid"], text(e["pic"]), text(e["title"]))
        for e in entries
    ]
    return "[" + " ,".join(items) + " ]"


# -- the corpus ----------------------------------------------------------------------------

class _Generator:
    def __init__(self, n: int, seed: int, timezone: str):
        self.n = n
        self.rng = random.Random(seed)
        self.timezone = timezone
        self.titles: set[str] = set()
        #: ids the outlet gave to items the corpus does not hold, per gap after article i
        self.spare_ids: list[list[int]] = []
        self.next_free = FIRST_ID  # the first id after the last article's gap

    def unique_title(self) -> str:
        while True:
            title = _headline(self.rng)
            key = " ".join(title.casefold().split())
            if key not in self.titles:
                self.titles.add(key)
                return title

    def spare_id(self, near: int) -> str:
        """An unused id from the gaps just before article `near`, so ids still follow dates."""
        for gap in itertools.chain(range(near, -1, -1), range(near + 1, len(self.spare_ids))):
            if self.spare_ids[gap]:
                return str(self.spare_ids[gap].pop(self.rng.randrange(len(self.spare_ids[gap]))))
        # a small corpus can list more missing items than its gaps hold: newer ids then
        self.next_free += 1
        return str(self.next_free - 1)

    def dates(self) -> list[datetime]:
        rng = self.rng
        start = datetime(_YEARS[0], 1, 1)
        days = (datetime(_YEARS[1], 12, 31) - start).days
        out = []
        for _ in range(self.n):
            naive = start + timedelta(days=rng.randrange(days), hours=rng.randint(*_HOURS),
                                      minutes=rng.randrange(60), seconds=rng.randrange(60))
            out.append(localize(naive, self.timezone)[0])
        return sorted(out)

    def articles(self) -> list[GeneratedArticle]:
        rng = self.rng
        out = []
        next_id = FIRST_ID
        for date in self.dates():
            gap = rng.randint(*_ID_GAP)
            self.spare_ids.append(list(range(next_id + 1, next_id + gap)))
            video = rng.random() < 0.04
            title = ("VIDEO: " if video else "") + self.unique_title()
            if rng.random() < 0.02:
                title = title.replace(" in ", ' in "', 1) + '"' if " in " in title else title
            early = date.year <= 2014
            signature = None if rng.random() < (0.7 if early else 0.15) else rng.choice(_SIGNATURES)
            paragraphs = [_paragraph(rng, date) for _ in range(rng.randint(8, 25))]
            article = Article(title=title, date=date, paragraphs=paragraphs,
                              source=Source(file="", sha256="", bytes=0, encoding="utf-8"),
                              signature=signature)
            out.append(GeneratedArticle(str(next_id), article, video))
            next_id += gap
        self.next_free = next_id
        return out

    def pic_time(self, target_date: datetime) -> datetime:
        """The wall-clock time of a target's picture: uploaded shortly before it was published."""
        naive = target_date.replace(tzinfo=None) - timedelta(minutes=self.rng.randint(3, 180))
        return naive.replace(microsecond=self.rng.randrange(1_000_000))

    def related_lists(self, corpus: list[GeneratedArticle]) -> None:
        rng = self.rng
        dangling_pool: list[tuple[str, str, datetime]] = []
        variants, weights = zip(*ENTRY_VARIANTS.items())
        for i, g in enumerate(corpus):
            size = rng.randint(7, 12) if rng.random() < 0.85 else rng.randint(1, 6)
            earlier = list(range(max(0, i - 40), i))
            chosen: list[int] = []
            entries, truth = [], []
            for _ in range(size):
                variant = rng.choices(variants, weights)[0]
                pool = [j for j in earlier if j not in chosen]
                if rng.random() < 0.05 and i + 1 < len(corpus):
                    pool = [j for j in range(i + 1, min(len(corpus), i + 10)) if j not in chosen]
                if variant != "dangling" and not pool:
                    variant = "dangling"
                if variant == "dangling":
                    entry, target = self.dangling(i, g, dangling_pool), None
                    video_of = None
                else:
                    j = rng.choice(pool)
                    chosen.append(j)
                    if variant == "video" and corpus[j].video_page:
                        variant = "exact"  # the target is itself the video page
                    entry, target, video_of = self.pointer(j, corpus[j], variant)
                entries.append(entry)
                truth.append({"id": entry["id"], "title": entry["title"], "variant": variant,
                              "target": target, "video_of": video_of})
            # Newest first, as the outlet listed them; `sort` counts up or down the list.
            order = sorted(range(len(entries)), key=lambda k: _published_key(entries[k]), reverse=True)
            entries = [entries[k] for k in order]
            truth = [truth[k] for k in order]
            base = rng.randint(*_SORT_BASE)
            step = 1 if rng.random() < 0.7 else -1
            for k, e in enumerate(entries):
                e["sort"] = str(base + step * k)
            g.related = truth
            g.article.related_json = render_related_json(entries, php_escapes=rng.random() < 0.1)
            g.article.related_status = "ok"

    def pointer(self, j: int, target: GeneratedArticle, variant: str) -> tuple[dict[str, str], str | None, str | None]:
        title = target.article.title
        when = self.pic_time(target.article.date)
        if variant == "video" and not target.video_page:
            return (_entry(self.spare_id(j), pic_path(when, True), "VIDEO: " + title), None, target.hidden_id)
        if variant == "typo":
            title = _typo(self.rng, title)
        elif variant == "respelled":
            title = _respell(self.rng, title)
        return _entry(target.hidden_id, pic_path(when, target.video_page), title), target.hidden_id, None

    def dangling(self, i: int, lister: GeneratedArticle, pool: list[tuple[str, str, datetime]]) -> dict[str, str]:
        """An item outside the corpus; other pages of the same days may list it too."""
        recent = [p for p in pool[-30:] if p[2] < lister.article.date.replace(tzinfo=None)]
        if recent and self.rng.random() < 0.4:
            item_id, title, when = self.rng.choice(recent)
        else:
            when = self.pic_time(lister.article.date - timedelta(hours=self.rng.randint(1, 72)))
            item_id, title = self.spare_id(max(0, i - 1)), self.unique_title()
            pool.append((item_id, title, when))
        return _entry(item_id, pic_path(when, False), title)


def _entry(item_id: str, pic: str, title: str) -> dict[str, str]:
    return {"id": item_id, "sort": "", "contenttypeid": "21", "pic": pic, "title": title}


def _published_key(entry: dict[str, str]) -> str:
    return entry["pic"].split("alalam_")[1]


# -- files, clean and broken ------------------------------------------------------------------

def _clean_bytes(g: GeneratedArticle) -> bytes:
    return render_dump(g.article, title_twice=not g.video_page).encode("utf-8")


def _cut_entries(g: GeneratedArticle, keep: int) -> str:
    """The blob's JSON text cut inside entry `keep` (0-based): the earlier ones survive."""
    text = g.article.related_json
    starts = [i for i in range(len(text)) if text.startswith('{"id":', i)]
    cut = starts[keep] + len('{"id":"') + 3
    return text[:cut]


def _break(g: GeneratedArticle, kind: str, rng: random.Random) -> tuple[bytes, list[dict[str, Any]]]:
    """Bytes of article `g` broken in the way `kind` names, and the entries that survive."""
    a = g.article
    related = list(g.related)
    if kind == "empty":
        return rng.choice([b"", b"\n", b"  \r\n\n"]), []
    if kind == "binary":
        return bytes(rng.randrange(256) for _ in range(600)) + b"\x00\x00PK\x03\x04", []
    text = render_dump(a, title_twice=not g.video_page)
    if kind == "no-dateline":
        return text.replace(format_dateline(a.date) + "\n", "", 1).encode(), []
    if kind == "no-title":
        return text[text.index(format_dateline(a.date)):].encode(), []
    if kind == "impossible-date":
        bad = f"Mon Feb {rng.choice([30, 31])}, {a.date.year} {a.date:%H:%M:%S}"
        return text.replace(format_dateline(a.date), bad, 1).encode(), []
    if kind == "truncated-blob":
        keep = rng.randrange(len(related))
        blob = _cut_entries(g, keep)
        head = text[: text.rindex("string(")]
        return (head + f'string({len(a.related_json.encode())}) "{blob}').encode(), related[:keep]
    if kind == "length-mismatch":
        n = len(a.related_json.encode())
        return text.replace(f"string({n}) ", f"string({n + rng.choice([-7, -1, 1, 12])}) ", 1).encode(), related
    if kind == "invalid-blob":
        k = rng.randrange(len(related))
        blob = a.related_json
        start = [i for i in range(len(blob)) if blob.startswith('{"id":', i)][k]
        broken = blob[:start] + blob[start:].replace('","sort":"', '","sort"="', 1)
        n = len(broken.encode())
        head = text[: text.rindex("string(")]
        return (head + f'string({n}) "{broken}"').encode(), related[:k] + related[k + 1:]
    if kind == "cp1252":
        # A curly apostrophe is byte 0x92 in Windows-1252 and not valid UTF-8 on its own.
        a.paragraphs[0] = a.paragraphs[0].replace("'", "’") + " The army’s statement followed."
        text = render_dump(a, title_twice=not g.video_page)
        return text.encode("cp1252", errors="strict"), related
    if kind == "crlf":
        return text.replace("\n", "\r\n").encode(), related
    if kind == "cr":
        return text.replace("\n", "\r").encode(), related
    if kind == "bom":
        return b"\xef\xbb\xbf" + text.encode(), related
    raise ValueError(f"unknown malformed kind {kind!r}; choose from {', '.join(MALFORMED_KINDS)}")


def _cp1252_safe(g: GeneratedArticle) -> bool:
    try:
        render_dump(g.article).encode("cp1252")
        return True
    except UnicodeEncodeError:
        return False


def generate_corpus(n: int, seed: int = 0, malformed: float = 0.0,
                    timezone: str = DEFAULT_TIMEZONE) -> Corpus:
    """`n` dumps (of which about `malformed`×n broken, every kind in turn) and their truth."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0.0 <= malformed <= 1.0:
        raise ValueError("malformed is a fraction between 0 and 1")
    gen = _Generator(n, seed, timezone)
    corpus = gen.articles()
    gen.related_lists(corpus)

    broken_count = round(n * malformed)
    broken_at = sorted(gen.rng.sample(range(n), broken_count))
    kinds = list(MALFORMED_KINDS)
    kind_of = {}
    for k, i in enumerate(broken_at):
        kind = kinds[k % len(kinds)]
        if kind == "cp1252" and not _cp1252_safe(corpus[i]):
            kind = "crlf"
        kind_of[i] = kind

    width = max(3, len(str(n - 1)))
    files = []
    for i, g in enumerate(corpus):
        kind = kind_of.get(i, "clean")
        if kind == "clean":
            data, related = _clean_bytes(g), g.related
            expect = {"outcome": "accepted", "related_status": "ok", "encoding": "utf-8", "newlines": "lf"}
        else:
            data, related = _break(g, kind, gen.rng)
            expect = {"outcome": "accepted", "related_status": "ok", "encoding": "utf-8", "newlines": "lf"}
            expect = MALFORMED_KINDS[kind] if MALFORMED_KINDS[kind]["outcome"] == "rejected" \
                else {**expect, **MALFORMED_KINDS[kind]}
        g.kind = kind
        name = f"{i:0{width}d}_{hashlib.sha256(data).hexdigest()[:16]}.txt"
        files.append(GeneratedFile(name, data, {
            "hidden_id": g.hidden_id,
            "title": g.article.title,
            "date": g.article.date.isoformat(),
            "kind": kind,
            "expect": expect,
            "related": related,
        }, g.article))
    truth = {
        "generator": "broadsheet.corpus",
        "version": TRUTH_VERSION,
        "synthetic": True,
        "n": n,
        "seed": seed,
        "malformed": malformed,
        "timezone": timezone,
        "files": {f.name: f.truth for f in files},
    }
    return Corpus(files, truth)


def write_corpus(corpus: Corpus, dest: Path, truth_name: str = TRUTH_FILE,
                 on_progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the dumps and the truth into `dest`; returns the truth file's path."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(corpus.files, 1):
        (dest / f.name).write_bytes(f.data)
        if on_progress:
            on_progress(i, len(corpus.files))
    truth_path = dest / truth_name
    truth_path.write_text(json.dumps(corpus.truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return truth_path


def load_truth(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
