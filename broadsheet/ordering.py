"""The one order of articles everywhere a list is written: by date, ties broken by URL.

Pelican reads content files in the order of a set (its `get_files`), which changes with the
process's hash seed, and a rebuild reads a different history of files than a clean build; a
sort by date alone keeps that order for articles of the same date. So every list of articles
sorts with one of these keys, and what two articles share a date never shows in the output.
Pure: any object with `date` and `url` (a Pelican article, a record with its URL) will do.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

#: An article without a date (a draft) sorts before every dated one.
_NO_DATE = datetime.min.replace(tzinfo=timezone.utc)


def _instant(item: Any) -> float:
    when = getattr(item, "date", None)
    if not isinstance(when, datetime):
        return _NO_DATE.timestamp()
    return when.timestamp() if when.tzinfo else when.replace(tzinfo=timezone.utc).timestamp()


def oldest_first(item: Any) -> tuple[float, str]:
    """Sort key: earliest first, then by URL."""
    return _instant(item), str(getattr(item, "url", "") or "")


def newest_first(item: Any) -> tuple[float, str]:
    """Sort key (Pelican's ARTICLE_ORDER_BY): latest first, then by URL, so that a list of
    articles of one date reads the same either way round."""
    return -_instant(item), str(getattr(item, "url", "") or "")
