"""The related-articles blob: PHP `var_dump` framing, its JSON, entries, and dates from ticks.

Al-Alam's pages printed `string(N) "[{...} ,{...} ]"` where N is the UTF-8 byte length of
the JSON text. The JSON is json_encode output (sometimes with `\\/` and `\\uXXXX` escapes),
but titles may hold unescaped straight quotes, so a strict JSON parser is only the first try.
This module is the only place that knows that format: the graph plugin and the tests call
`parse_blob`; ingest (through `dumps`) calls `blob_status`, the same reading without entries.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

#: The framing line. Group `n` is the declared byte length, the JSON text follows the quote.
VAR_DUMP = re.compile(r'^string\((?P<n>\d+)\) "', re.MULTILINE)

_KEYS = ("id", "sort", "contenttypeid", "pic", "title")
_ENTRY = re.compile(
    r'\{"id":"?(?P<id>[^",}]*)"?,"sort":"?(?P<sort>[^",}]*)"?,'
    r'"contenttypeid":"?(?P<contenttypeid>[^",}]*)"?,'
    r'"pic":"(?P<pic>(?:[^"\\]|\\.)*)",'
    r'"title":"(?P<title>.*?)"\}(?=\s*,\s*\{|\s*\]|\s*$)',
    re.DOTALL,
)
_SEPARATOR = re.compile(r"\s*,\s*")
_TICKS = re.compile(r"_(\d{17,19})_")
_VIDEO_EXT = (".mp4", ".flv", ".webm", ".mov", ".m4v")
_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".webp")
_EPOCH = datetime(1, 1, 1)
#: A related list is two levels deep; Python's JSON reader gives up (RecursionError) on text
#: nested about a thousand levels, which no outlet printed: such a blob is kept as text, unread.
_TOO_DEEP = "related blob is nested too deeply to be a related list: kept the text, read no entries"


@dataclass(frozen=True)
class RelatedEntry:
    """One item of a page's related list, as the outlet printed it."""

    id: str
    sort: str
    contenttypeid: str
    pic: str
    title: str
    media: str  # "video", "image" or "unknown", from the pic's extension
    published: datetime | None  # estimated from the .NET ticks in the pic's name


@dataclass
class BlobParse:
    status: str  # ok | absent | length-mismatch | truncated | invalid
    entries: list[RelatedEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Blob:
    """The var_dump found at the end of a dump."""

    start: int  # offset of `string(` in the text
    declared: int
    json_text: str
    closed: bool  # the closing quote is there


def find_blob(text: str) -> Blob | None:
    """Locate the trailing `string(N) "..."` of a dump (text with `\\n` line ends)."""
    m = _last_var_dump(text)
    if m is None:
        return None
    rest = text[m.end():]
    tail = rest.rstrip()
    closed = tail.endswith('"')
    json_text = tail[:-1] if closed else rest.rstrip("\n")
    return Blob(m.start(), int(m.group("n")), json_text, closed)


def _last_var_dump(text: str) -> re.Match | None:
    """The last VAR_DUMP match, found from the end (the blob closes the dump)."""
    end = len(text)
    while (at := text.rfind("string(", 0, end)) >= 0:
        m = VAR_DUMP.match(text, at)
        if m:
            return m
        end = at
    return None


def parse_blob(json_text: str | None, timezone: str = "Asia/Tehran",
               declared: int | None = None, closed: bool = True) -> BlobParse:
    """Entries and status of a blob's JSON text.

    `declared` (the var_dump's N) and `closed` come from the dump when known; from front
    matter only the text is known, and the status ingest recorded stays authoritative.
    """
    if json_text is None:
        return BlobParse("absent")
    try:
        fields, complete = _entry_fields(json_text)
    except RecursionError:
        return BlobParse("invalid", [], [_TOO_DEEP])
    status, warnings = _status(json_text, len(fields), complete, declared, closed)
    return BlobParse(status, [_entry(f, timezone) for f in fields], warnings)


def blob_status(json_text: str | None, declared: int | None = None, closed: bool = True,
                ) -> tuple[str, list[str]]:
    """`parse_blob`'s status and warnings without building the entries (ingest records
    only these; dating each entry is for the graph)."""
    if json_text is None:
        return "absent", []
    try:
        fields, complete = _entry_fields(json_text)
    except RecursionError:
        return "invalid", [_TOO_DEEP]
    return _status(json_text, len(fields), complete, declared, closed)


def _status(json_text: str, salvaged: int, complete: bool, declared: int | None, closed: bool,
            ) -> tuple[str, list[str]]:
    warnings: list[str] = []
    if not complete and (not closed or _is_cut(json_text)):
        status = "truncated"
        warnings.append(f"related blob truncated: salvaged {salvaged} complete entries")
    elif not complete:
        status = "invalid"
        warnings.append(f"related blob is not valid JSON: kept the text, salvaged {salvaged} entries")
    elif declared is not None and declared != len(json_text.encode("utf-8")):
        status = "length-mismatch"
        warnings.append(
            f"related blob declares {declared} bytes but holds {len(json_text.encode('utf-8'))}"
        )
    else:
        status = "ok"
    return status, warnings


def _is_cut(text: str) -> bool:
    """A text that stops before its closing bracket was cut off, not malformed."""
    return not text.rstrip().endswith("]")


def _entry_fields(text: str) -> tuple[list[dict[str, str]], bool]:
    """(each entry's fields, whether the whole text was understood)."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, list) and all(isinstance(d, dict) for d in data):
        return [{k: _str(d.get(k)) for k in _KEYS} for d in data], True
    # Tolerant pass: titles with unescaped quotes break strict JSON; entries are still
    # delimited by `"}` followed by ` ,{` or ` ]`.
    entries = []
    stripped = text.strip()
    whole = stripped.startswith("[")
    cursor = 1 if whole else 0
    for m in _ENTRY.finditer(stripped):
        gap = stripped[cursor:m.start()]
        if gap.strip() not in ("", ","):
            whole = False
        entries.append({k: _decode(m.group(k)) for k in _KEYS})
        cursor = m.end()
    if stripped[cursor:].strip() != "]":
        whole = False
    return entries, whole and bool(entries)


def _str(value) -> str:
    return "" if value is None else str(value)


def _decode(raw: str) -> str:
    """A JSON string body whose quotes may be unescaped: PHP escapes (\\/, \\uXXXX) decoded."""
    if "\\" not in raw:  # nothing to decode (an unescaped quote stands for itself)
        return raw
    fixed = re.sub(r'\\.|"', lambda m: '\\"' if m.group(0) == '"' else m.group(0), raw)
    try:
        return json.loads(f'"{fixed}"', strict=False)
    except ValueError:
        return raw


def _entry(fields: dict[str, str], timezone: str) -> RelatedEntry:
    pic = fields["pic"]
    return RelatedEntry(
        id=fields["id"],
        sort=fields["sort"],
        contenttypeid=fields["contenttypeid"],
        pic=pic,
        title=fields["title"],
        media=media_type(pic),
        published=ticks_to_datetime(pic, timezone),
    )


def media_type(pic: str) -> str:
    lower = pic.lower()
    if lower.endswith(_VIDEO_EXT):
        return "video"
    if lower.endswith(_IMAGE_EXT):
        return "image"
    return "unknown"


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def ticks_to_datetime(pic: str, timezone: str = "Asia/Tehran") -> datetime | None:
    """Publication estimate from `alalam_<ticks>_...`: .NET ticks of the site's wall clock.

    Ticks count 100 ns since 0001-01-01 in local time (DateTime.Now, not UtcNow): only
    that reading puts related items before the page that lists them. Seconds are kept,
    fractions dropped, so the estimate prints like a dateline.
    """
    m = _TICKS.search(pic)
    if not m:
        return None
    try:
        naive = _EPOCH + timedelta(microseconds=int(m.group(1)) // 10)
    except OverflowError:
        return None
    return naive.replace(microsecond=0, tzinfo=_zone(timezone))
