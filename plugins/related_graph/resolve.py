"""Resolve related-list entries to archive articles: by id, by normalised title, by fuzzy title.

Pure Python over `ArchiveItem`s (no Pelican), so tests and benchmarks call it directly.
The order is the issue's: an entry resolves by source id when the archive article's id is
known (front matter, or learned from an exact title match), else by normalised title, else
by a fuzzy title match inside a date window around the entry's estimated publication time.
Ambiguity is never guessed: two equal titles, or two fuzzy candidates whose scores are
within the tie margin, leave the entry unresolved.

Cost is linear in entries: ids and titles are dict lookups; fuzzy candidates come from
day buckets, so each unresolved entry is scored against a few days of articles only.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import fuzz, process

from broadsheet.related import RelatedEntry

#: Defaults of the settings this module reads (pelicanconf.py may override each).
DEFAULTS = {
    "RELATED_GRAPH_FUZZY_THRESHOLD": 90.0,   # rapidfuzz ratio (0-100) a fuzzy match must reach
    "RELATED_GRAPH_FUZZY_TIE_MARGIN": 2.0,   # a runner-up this close to the best is a tie
    "RELATED_GRAPH_DATE_WINDOW_DAYS": 3,     # fuzzy candidates: published this close to the entry
}

_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "″": '"', "′": "'"})
_NOT_WORD = re.compile(r"[\W_]+")
_VIDEO_PREFIX = re.compile(r"^\s*video\s*:\s*", re.IGNORECASE)


def normalise_title(title: str) -> str:
    """Case, whitespace, curly/straight quotes and punctuation do not tell titles apart."""
    return " ".join(_NOT_WORD.sub(" ", title.translate(_QUOTES).casefold()).split())


def is_video_item(entry: RelatedEntry) -> bool:
    """A `VIDEO: ` entry with a video pic: the outlet's separate video page."""
    return entry.media == "video" and bool(_VIDEO_PREFIX.match(entry.title))


@dataclass
class ArchiveItem:
    """What resolution needs from one archive article."""

    key: str  # the graph node id (the article's URL)
    title: str
    date: datetime
    source_id: str | None
    entries: list[RelatedEntry]


@dataclass
class Resolution:
    """How one entry of `lister`'s list was resolved (target None: not in the archive)."""

    lister: str
    position: int
    entry: RelatedEntry
    target: str | None
    resolved_by: str  # id | title | fuzzy | unresolved
    score: float | None
    video_of: str | None = None


@dataclass
class ResolvedGraph:
    items: dict[str, ArchiveItem]
    resolutions: list[Resolution]
    ids: dict[str, str]  # article key -> source id (front matter or learned)
    contradictions: list[dict[str, Any]] = field(default_factory=list)

    def stats(self) -> dict[str, int]:
        by = Counter(r.resolved_by for r in self.resolutions)
        return {
            "articles": len(self.items),
            "entries": len(self.resolutions),
            "by_id": by["id"],
            "by_title": by["title"],
            "fuzzy": by["fuzzy"],
            "unresolved": by["unresolved"],
            "video_versions": sum(1 for r in self.resolutions if r.video_of),
            "learned_ids": len(self.ids),
            "contradictions": len(self.contradictions),
        }


class _TitleIndex:
    """Archive titles by normalised text and by day, split by whether they are video pages."""

    def __init__(self, items: list[ArchiveItem], window_days: int):
        self.window = timedelta(days=window_days)
        self.window_days = window_days
        self.exact: dict[str, list[ArchiveItem]] = defaultdict(list)
        self.days: dict[tuple[bool, int], list[tuple[str, str]]] = defaultdict(list)
        self.normal: dict[str, str] = {}
        for item in items:
            norm = normalise_title(item.title)
            self.normal[item.key] = norm
            self.exact[norm].append(item)
            video = bool(_VIDEO_PREFIX.match(item.title))
            self.days[(video, item.date.toordinal())].append((item.key, norm))

    def by_title(self, title: str, published: datetime | None) -> ArchiveItem | None:
        """The one article with this normalised title (several: the one in the date window)."""
        found = self.exact.get(normalise_title(title), [])
        if len(found) > 1 and published is not None:
            found = [a for a in found if abs(a.date - published) <= self.window]
        return found[0] if len(found) == 1 else None

    def fuzzy(self, title: str, published: datetime | None, video: bool,
              threshold: float, margin: float) -> tuple[str | None, float | None]:
        """(key, score) of the single best fuzzy match in the window; ties and misses give None."""
        if published is None:
            return None, None
        day = published.toordinal()
        choices: dict[str, str] = {}
        for d in range(day - self.window_days, day + self.window_days + 1):
            for key, norm in self.days.get((video, d), ()):
                choices[key] = norm
        if not choices:
            return None, None
        best = process.extract(normalise_title(title), choices, scorer=fuzz.ratio,
                               limit=2, score_cutoff=threshold - margin)
        if not best or best[0][1] < threshold:
            return None, None
        if len(best) > 1 and best[0][1] - best[1][1] <= margin:
            return None, None  # a tie is left unresolved rather than guessed
        return best[0][2], round(best[0][1], 2)


def _setting(settings: dict[str, Any], name: str):
    return settings.get(name, DEFAULTS[name])


def resolve_related_entries(items: list[ArchiveItem], settings: dict[str, Any] | None = None) -> ResolvedGraph:
    """Resolve every entry of every item's related list; see the module docstring."""
    settings = settings or {}
    threshold = float(_setting(settings, "RELATED_GRAPH_FUZZY_THRESHOLD"))
    margin = float(_setting(settings, "RELATED_GRAPH_FUZZY_TIE_MARGIN"))
    index = _TitleIndex(items, int(_setting(settings, "RELATED_GRAPH_DATE_WINDOW_DAYS")))
    by_key = {item.key: item for item in items}
    contradictions: list[dict[str, Any]] = []

    # Ids the archive states (front matter); two articles claiming one id is a contradiction.
    stated: dict[str, str] = {}
    for item in items:
        if item.source_id:
            if item.source_id in stated and stated[item.source_id] != item.key:
                contradictions.append({"kind": "id-stated-by-several-articles", "id": item.source_id,
                                       "articles": [stated[item.source_id], item.key]})
                continue
            stated[item.source_id] = item.key

    # Step 2 first, to learn ids: exact title matches vote for "entry id X is article A".
    title_match: dict[tuple[str, int], str] = {}
    votes: dict[str, Counter] = defaultdict(Counter)
    for item in items:
        for pos, entry in enumerate(item.entries):
            hit = index.by_title(entry.title, entry.published)
            if hit is not None:
                title_match[(item.key, pos)] = hit.key
                if entry.id:
                    votes[entry.id][hit.key] += 1
    learned = _learn_ids(votes, stated, by_key, contradictions)
    id_to_key = {**learned, **stated}

    resolutions = []
    for item in items:
        for pos, entry in enumerate(item.entries):
            by_title = title_match.get((item.key, pos))
            target, how, score = None, "unresolved", None
            if entry.id and entry.id in id_to_key:
                target = id_to_key[entry.id]
                learned_here = entry.id not in stated and by_title == target
                how, score = ("title" if learned_here else "id"), 100.0
                if by_title is not None and by_title != target:
                    contradictions.append({"kind": "id-and-title-disagree", "id": entry.id,
                                           "listed_on": item.key, "title": entry.title,
                                           "by_id": target, "by_title": by_title, "kept": "by_id"})
            elif by_title is not None:
                target, how, score = by_title, "title", 100.0
            else:
                key, fscore = index.fuzzy(entry.title, entry.published, bool(_VIDEO_PREFIX.match(entry.title)),
                                          threshold, margin)
                if key is not None:
                    target, how, score = key, "fuzzy", fscore
            video_of = None
            if target is None and is_video_item(entry):
                video_of = _video_version_of(entry, index, threshold, margin)
            resolutions.append(Resolution(item.key, pos, entry, target, how, score, video_of))

    ids = {key: source_id for source_id, key in id_to_key.items()}
    return ResolvedGraph(by_key, resolutions, ids, contradictions)


def _learn_ids(votes: dict[str, Counter], stated: dict[str, str], by_key: dict[str, ArchiveItem],
               contradictions: list[dict[str, Any]]) -> dict[str, str]:
    """Id X -> article A when entries with id X matched A's title; disagreements are reported.

    Several articles for one id, or several ids for one article: the clear majority wins,
    an even split teaches nothing. A stated (front-matter) id always wins over a learned one.
    """
    learned: dict[str, str] = {}
    for source_id, counter in votes.items():
        ranked = counter.most_common()
        if len(ranked) > 1:
            contradictions.append({"kind": "id-matches-several-titles", "id": source_id,
                                   "articles": [k for k, _ in ranked]})
            if ranked[0][1] == ranked[1][1]:
                continue
        key = ranked[0][0]
        if source_id in stated and stated[source_id] != key:
            contradictions.append({"kind": "learned-id-contradicts-front-matter", "id": source_id,
                                   "front_matter": stated[source_id], "by_title": key})
            continue
        learned[source_id] = key
    ids_of: dict[str, list[str]] = defaultdict(list)
    for source_id, key in learned.items():
        ids_of[key].append(source_id)
    stated_of = {key: sid for sid, key in stated.items()}
    for key, ids in ids_of.items():
        known = stated_of.get(key) or by_key[key].source_id
        if len(ids) > 1 or (known and ids != [known]):
            contradictions.append({"kind": "article-with-several-ids", "article": key,
                                   "ids": sorted(set(ids + ([known] if known else [])))})
    return learned


def _video_version_of(entry: RelatedEntry, index: _TitleIndex, threshold: float, margin: float) -> str | None:
    plain = _VIDEO_PREFIX.sub("", entry.title)
    hit = index.by_title(plain, entry.published)
    if hit is not None:
        return hit.key
    key, _ = index.fuzzy(plain, entry.published, False, threshold, margin)
    return key
