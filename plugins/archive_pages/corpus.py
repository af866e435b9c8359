"""The corpus as a whole: counts per period, the monthly histogram, the ingest report, the downloads.

Pure functions over plain values (dates, dicts), so the corpus page and the archive are
computed once in Python and the templates only lay them out.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Iterable

from broadsheet.spreadsheet import safe_row

# -- the date archive ----------------------------------------------------------------------


@dataclass
class Period:
    """A year, a month or a day of the archive, with its article count and children."""

    level: str  # "year", "month" or "day"
    label: str  # "2016", "March 2016", "20 March 2016"
    short: str  # "2016", "Mar", "20"
    day: date  # the period's first day (for URL patterns)
    count: int = 0
    url: str = ""
    children: list[Period] = field(default_factory=list)
    articles: list[Any] = field(default_factory=list)  # Pelican articles, oldest first
    parent: Period | None = None


def archive_tree(dated: Iterable[tuple[date, Any]], url_patterns: dict[str, str]) -> list[Period]:
    """Years -> months -> days, each with its count and URL, oldest first.

    `dated` pairs each article with its local calendar date, in the order each period lists
    them (the plugin gives them oldest first, ties by URL); `url_patterns` holds the
    ARCHIVE_{YEAR,MONTH,DAY}_URL settings, formatted with `date=`.
    """
    years: dict[int, Period] = {}
    months: dict[tuple[int, int], Period] = {}
    days: dict[date, Period] = {}
    for d, article in sorted(dated, key=lambda pair: pair[0]):
        if d.year not in years:
            first = date(d.year, 1, 1)
            years[d.year] = Period("year", str(d.year), str(d.year), first, url=url_patterns["year"].format(date=first))
        ym = (d.year, d.month)
        if ym not in months:
            first = date(d.year, d.month, 1)
            months[ym] = Period("month", f"{first:%B %Y}", f"{first:%b}", first,
                                url=url_patterns["month"].format(date=first), parent=years[d.year])
            years[d.year].children.append(months[ym])
        if d not in days:
            days[d] = Period("day", f"{d.day} {d:%B %Y}", str(d.day), d,
                             url=url_patterns["day"].format(date=d), parent=months[ym])
            months[ym].children.append(days[d])
        for period in (years[d.year], months[ym], days[d]):
            period.count += 1
            period.articles.append(article)
    return list(years.values())


# -- the histogram ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # "March 2016: 12 articles"
    count: int


@dataclass(frozen=True)
class Histogram:
    """Geometry of an SVG bar chart, one bar per calendar month (empty months included)."""

    width: int
    height: int
    bars: list[Bar]
    max_count: int
    first_label: str
    last_label: str
    year_ticks: list[tuple[float, str]]  # x, "2016" at each January


_BAR, _GAP, _CHART_HEIGHT, _AXIS = 8, 2, 120, 18


def month_histogram(months: Counter) -> Histogram | None:
    """`months` counts articles per `(year, month)`; None when there are none."""
    if not months:
        return None
    (y0, m0), (y1, m1) = min(months), max(months)
    keys = []
    y, m = y0, m0
    while (y, m) <= (y1, m1):
        keys.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    top = max(months.values())
    bars, ticks = [], []
    for i, (y, m) in enumerate(keys):
        n = months.get((y, m), 0)
        h = round(_CHART_HEIGHT * n / top, 2)
        x = i * (_BAR + _GAP)
        name = f"{date(y, m, 1):%B %Y}"
        bars.append(Bar(x, _CHART_HEIGHT - h, _BAR, h, f"{name}: {n} article{'s' if n != 1 else ''}", n))
        if m == 1 or i == 0:
            ticks.append((x, str(y)))
    return Histogram(
        width=len(keys) * (_BAR + _GAP), height=_CHART_HEIGHT + _AXIS, bars=bars, max_count=top,
        first_label=f"{date(y0, m0, 1):%B %Y}", last_label=f"{date(y1, m1, 1):%B %Y}", year_ticks=ticks,
    )


# -- the ingest report -----------------------------------------------------------------------


@dataclass
class ReportSummary:
    """What the corpus page says about the last ingest run."""

    path: str
    found: bool
    problem: str = ""  # why it could not be read, for the page
    counts: dict[str, int] = field(default_factory=dict)
    rejected_by_reason: list[tuple[str, int]] = field(default_factory=list)
    rejected_examples: list[dict[str, str]] = field(default_factory=list)


def read_ingest_report(path: Path, examples: int = 20) -> ReportSummary:
    """Summarise `reports/ingest.json` as written by `broadsheet.ingest.write_report`."""
    summary = ReportSummary(str(path), found=False)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        summary.problem = "no ingest report was found"
        return summary
    except (OSError, ValueError) as exc:
        summary.problem = f"the ingest report could not be read ({exc})"
        return summary
    if not isinstance(data, dict) or not isinstance(data.get("summary"), dict):
        summary.problem = "the ingest report has no summary section"
        return summary
    summary.found = True
    summary.counts = {k: int(v) for k, v in data["summary"].items() if isinstance(v, int)}
    rejected = [r for r in data.get("rejected") or [] if isinstance(r, dict)]
    reasons = Counter(str(r.get("reason", "unknown")) for r in rejected)
    summary.rejected_by_reason = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    summary.rejected_examples = [
        {"source": str(r.get("source", "")), "reason": str(r.get("reason", "")), "detail": str(r.get("detail", ""))}
        for r in rejected[:examples]
    ]
    return summary


# -- the downloads ---------------------------------------------------------------------------

#: Columns of data/articles.csv (data/articles.jsonl has the same keys, `paragraphs` as a list).
DATA_COLUMNS = (
    "url", "public_url", "title", "date", "signature", "slug", "source_id", "outlet", "tags",
    "source_file", "source_sha256", "source_encoding", "related_status", "warnings", "text",
)


def jsonl_line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


def _csv_writer(out: io.StringIO) -> csv.DictWriter:
    return csv.DictWriter(out, fieldnames=DATA_COLUMNS, extrasaction="ignore", lineterminator="\r\n")


def csv_header() -> str:
    out = io.StringIO()
    _csv_writer(out).writeheader()
    return out.getvalue()


def csv_line(row: dict[str, Any]) -> str:
    """One row of RFC 4180 CSV (after `csv_header`); list values joined with ` | `, paragraphs
    with a blank line, cells a spreadsheet would run as formulas neutralised
    (`broadsheet.spreadsheet`). A row's text does not depend on the others, so rows can be kept apart."""
    out = io.StringIO()
    _csv_writer(out).writerow(safe_row({k: " | ".join(v) if isinstance(v, list) else ("" if v is None else v)
                                        for k, v in row.items()}))
    return out.getvalue()
