"""The partition plan: which articles each Pelican run of a partitioned build renders.

A partition is a period of the archive: a year; a month, when the year holds more articles than
a partition may (PARTITION_MAX_ARTICLES); a day, when the month does too; and a day holding more
than that is cut into equal runs of its articles in (date, URL) order. Periods are days in the
source's timezone (SOURCE_TIMEZONE), as the archive's day, month and year pages count them, so a
period page's articles are never spread over partitions unless its day alone is too big.

The plan is a pure function of the catalog's records: the same records, in whatever order,
give the same partitions. Boundaries follow the calendar rather than packing partitions to the
limit, so an added article moves no other article to another partition unless its own period
crosses the limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from broadsheet.catalog import CatalogEntry


@dataclass(frozen=True)
class Partition:
    """A period and the articles of it that one Pelican run renders."""

    name: str  # "2016", "2016-03", "2016-03-20", or "2016-03-20.2-of-3" for a cut day
    period: str  # "year", "month" or "day"
    start: date  # the first day of the period
    entries: tuple[CatalogEntry, ...]  # by date, then URL


def plan_partitions(entries: Iterable[CatalogEntry], *, max_articles: int, timezone: str) -> list[Partition]:
    """Partitions of `entries`, in time order, none holding more than `max_articles`."""
    if max_articles < 1:
        raise ValueError(f"a partition must be allowed at least one article, not {max_articles}")
    zone = ZoneInfo(timezone)
    dated = sorted(((e.date.astimezone(zone).date(), e) for e in entries), key=lambda d: _order(d[1]))
    plan: list[Partition] = []
    for year, in_year in groupby(dated, key=lambda d: d[0].year):
        _split(plan, list(in_year), "year", max_articles)
    return plan


def plan_for_settings(entries: Iterable[CatalogEntry], settings: dict[str, Any]) -> list[Partition]:
    """`plan_partitions` with PARTITION_MAX_ARTICLES and SOURCE_TIMEZONE from the settings."""
    return plan_partitions(entries, max_articles=int(settings["PARTITION_MAX_ARTICLES"]),
                           timezone=settings["SOURCE_TIMEZONE"])


def _order(entry: CatalogEntry) -> tuple:
    # the URL is unique within a build; path and digest settle any tie among bad inputs
    return entry.date, entry.url, entry.path, entry.digest


_FINER = {"year": "month", "month": "day"}
_KEY = {"month": lambda day: day.month, "day": lambda day: day}


def _split(plan: list[Partition], dated: list[tuple[date, CatalogEntry]], period: str, limit: int) -> None:
    """One partition for the period of `dated` if it fits, else one per finer period in it."""
    first = dated[0][0]
    start = {"year": date(first.year, 1, 1), "month": date(first.year, first.month, 1), "day": first}[period]
    name = {"year": f"{start:%Y}", "month": f"{start:%Y-%m}", "day": f"{start:%Y-%m-%d}"}[period]
    if len(dated) <= limit:
        plan.append(Partition(name, period, start, tuple(e for _, e in dated)))
        return
    finer = _FINER.get(period)
    if finer is None:  # one day with more articles than a partition holds: equal runs of it
        runs = math.ceil(len(dated) / limit)
        size, extra = divmod(len(dated), runs)
        at = 0
        for i in range(runs):
            end = at + size + (1 if i < extra else 0)
            plan.append(Partition(f"{name}.{i + 1}-of-{runs}", period, start, tuple(e for _, e in dated[at:end])))
            at = end
        return
    for _, group in groupby(dated, key=lambda d: _KEY[finer](d[0])):
        _split(plan, list(group), finer, limit)
