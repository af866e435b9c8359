"""Raw dump bytes -> Article: the one module that knows the scraped page format.

A dump is: title, blank line, the title again, a dateline in the source's local time,
body paragraphs, an optional editor signature, and the related-articles `var_dump`.
`parse_dump` is a pure function over bytes, so ingest can map it over many files in
parallel; it returns an `Article` or a `Rejection` and never raises on bad input.
The dateline and signature rules here are shared with the table importer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone as _utc_tz
from functools import lru_cache
from zoneinfo import ZoneInfo

from broadsheet.article import Article, Source
from broadsheet.related import blob_status, find_blob

DEFAULT_TIMEZONE = "Asia/Tehran"
#: What a file that is not UTF-8 is read as (tables: a line that is not).
FALLBACK_ENCODING = "windows-1252"

_MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

#: `Sun Mar 20, 2016 21:30:46`, `Fri Aug 9, 2013 09:17:18`, FARS-style `Tue Nov 10, 2015 3:0`.
DATELINE = re.compile(
    r"(?P<wd>Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" (?P<day>\d{1,2}), (?P<year>\d{4}) (?P<hour>\d{1,2}):(?P<minute>\d{1,2})(?::(?P<second>\d{1,2}))?"
)

#: A closing editor code: `S/SH 11`, `S/SH`, `218-12`, `SSH 11`.
SIGNATURE = re.compile(r"(?:[A-Z]{1,4}(?:/[A-Z]{1,4})*(?: \d{1,3})?|\d{2,3}-\d{1,3})")

# Table cells (the FA-KES CSV) hold the same pages flattened into one line: the dateline
# leads the text without its comma, the time is optional or squeezed (`190703`, `at 0914`),
# the day may come first and the weekday or month may be spelled out. Group names are those
# of DATELINE, so `parse_dateline` reads both.
_TEXT_WEEKDAY = r"(?P<wd>Mon|Tue|Wed|Thu|Fri|Sat|Sun)(?:day|sday|nesday|rsday|urday)?"
_TEXT_MONTH = r"(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]{0,6}"
# `at 0914`, `10:59`, `190703`; a bare four-digit number is not a time ("1500 killed").
_TEXT_TIME = (r"(?: (?P<at>at )?(?P<hour>[01]\d|2[0-3])(?P<colon>:)?(?P<minute>[0-5]\d)"
              r"(?(at)|(?(colon)|(?=\d)))(?::?(?P<second>[0-5]\d))?)?(?![\w:])")

#: A dateline at the start of a flattened text: `Thu Jul 7 2016`, `Sat Feb 28 2015 190703`
#: (month first) or `Fri 07 Apr 2017 at 0914`, `Wednesday 07 December 2016 10:59` (day first).
TEXT_DATELINES = (
    re.compile(_TEXT_WEEKDAY + " " + _TEXT_MONTH + r" (?P<day>\d{1,2}),? (?P<year>\d{4})" + _TEXT_TIME),
    re.compile(_TEXT_WEEKDAY + r",? (?P<day>\d{1,2}) " + _TEXT_MONTH + r",? (?P<year>\d{4})" + _TEXT_TIME),
)

#: A closing editor code at the end of a flattened text, after the last sentence: SIGNATURE,
#: or the forms the flattening leaves (`12` from `S/SH 12`, run-together codes like `MBMB`).
TEXT_SIGNATURE = re.compile(
    r"(?<=[.!?\"'\u201d)]) (?P<signature>" + SIGNATURE.pattern + r"|[A-Z]{5,6}|\d{1,3})\s*\Z"
)

#: The largest dump ingest reads, in bytes and in lines: a scraped page is a few kilobytes and
#: a few dozen lines, and a file far beyond that is not one article (Pelican would spend hours
#: on a million paragraphs). Larger files are rejected as `too-large`; table rows share the limits.
MAX_DUMP_BYTES = 2 * 1024 * 1024
MAX_DUMP_LINES = 20_000

#: How many lines may precede the dateline (title, blank, title again, stray blanks).
_HEADER_LINES = 6
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f]")


@dataclass(frozen=True)
class Rejection:
    """A file that could not be read faithfully: nothing is written for it."""

    source: str
    reason: str  # a stable code: empty, binary, undecodable, no-dateline, no-title, ...
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


class DumpError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    def __reduce__(self):  # it travels to Dask workers inside a job: rebuilt from both fields
        return DumpError, (self.reason, self.detail)


# -- bytes -> text ---------------------------------------------------------------------

def decode(raw: bytes) -> tuple[str, str, str]:
    """(text with `\\n` line ends, encoding, original line-end style) or DumpError."""
    if not raw.strip():
        raise DumpError("empty", "the file is empty or only whitespace")
    if b"\x00" in raw or len(_CONTROL.findall(raw[:4096])) > 8:
        raise DumpError("binary", "the file holds binary data (NUL or control bytes), not text")
    if raw.startswith(b"\xef\xbb\xbf"):
        encoding, payload = "utf-8-sig", raw[3:]
    else:
        encoding, payload = "utf-8", raw
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text, encoding = raw.decode("cp1252"), FALLBACK_ENCODING
        except UnicodeDecodeError as exc:
            raise DumpError(
                "undecodable", f"neither UTF-8 nor Windows-1252 (byte 0x{raw[exc.start]:02x} at {exc.start})"
            ) from None
    text, newlines = normalize_newlines(text)
    return text, encoding, newlines


def newline_style(text: str) -> str:
    """The line ends `text` uses: lf, crlf, cr, mixed or none."""
    crlf = text.count("\r\n")
    cr = text.count("\r") - crlf
    lf = text.count("\n") - crlf
    styles = [name for name, n in (("crlf", crlf), ("cr", cr), ("lf", lf)) if n]
    return styles[0] if len(styles) == 1 else ("mixed" if styles else "none")


def normalize_newlines(text: str) -> tuple[str, str]:
    """(text with `\\n` line ends, the original style: lf, crlf, cr, mixed or none)."""
    return text.replace("\r\n", "\n").replace("\r", "\n"), newline_style(text)


# -- shared rules: dateline, signature ---------------------------------------------------

@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def localize(naive: datetime, timezone: str) -> tuple[datetime, list[str]]:
    """Attach the source's zone with its real rules; flag wall-clock times that never or twice existed."""
    tz = zone(timezone)
    aware = naive.replace(tzinfo=tz)
    warnings = []
    if aware.astimezone(_utc_tz.utc).astimezone(tz).replace(tzinfo=None) != naive:
        warnings.append(f"{naive.isoformat()} does not exist in {timezone} (clock change); read with the earlier offset")
    elif aware.utcoffset() != aware.replace(fold=1).utcoffset():
        warnings.append(f"{naive.isoformat()} happened twice in {timezone} (clock change); read as the first")
    return aware, warnings


def parse_dateline(match: re.Match, timezone: str) -> tuple[datetime, list[str]]:
    """A DATELINE or TEXT_DATELINES match -> aware datetime (midnight when the line has no
    time); DumpError('impossible-date') for e.g. Feb 30."""
    g = match.groupdict()
    try:
        naive = datetime(
            int(g["year"]), _MONTHS[g["mon"][:3]], int(g["day"]),
            int(g["hour"] or 0), int(g["minute"] or 0), int(g["second"] or 0),
        )
    except ValueError as exc:
        raise DumpError("impossible-date", f"dateline '{match.group(0)}' is not a real date ({exc})") from None
    aware, warnings = localize(naive, timezone)
    weekday = (g.get("wd") or "")[:3]
    if weekday and _WEEKDAYS[naive.weekday()] != weekday:
        warnings.append(f"dateline says {g['wd']} but {naive.date()} was a {_WEEKDAYS[naive.weekday()]}")
    return aware, warnings


def match_text_dateline(text: str) -> re.Match | None:
    """The dateline a flattened text starts with (TEXT_DATELINES), or None."""
    for pattern in TEXT_DATELINES:
        match = pattern.match(text)
        if match:
            return match
    return None


def text_signature(text: str) -> str | None:
    """The editor code a flattened text ends with (TEXT_SIGNATURE), or None."""
    match = TEXT_SIGNATURE.search(text)
    return match.group("signature") if match else None


def split_signature(paragraphs: list[str]) -> tuple[list[str], str | None]:
    """Detach a closing editor code such as `S/SH 11` from the body."""
    if paragraphs and SIGNATURE.fullmatch(paragraphs[-1].strip()):
        return paragraphs[:-1], paragraphs[-1].strip()
    return paragraphs, None


# -- the dump --------------------------------------------------------------------------

def parse_dump(raw: bytes, source_file: str, timezone: str = DEFAULT_TIMEZONE) -> Article | Rejection:
    """Read one dump. Every problem is either a warning on the Article or a named Rejection."""
    try:
        return _parse(raw, source_file, timezone)
    except DumpError as exc:
        return Rejection(source_file, exc.reason, exc.detail)
    except Exception as exc:  # a parser bug must not stop a run of thousands of files
        return Rejection(source_file, "parser-error", f"{type(exc).__name__}: {exc}")


def check_size(raw: bytes, what: str = "the dump") -> None:
    """DumpError('too-large') for text beyond MAX_DUMP_BYTES or MAX_DUMP_LINES."""
    if len(raw) > MAX_DUMP_BYTES:
        raise DumpError("too-large", f"{what} holds {len(raw):,} bytes; the limit is {MAX_DUMP_BYTES:,} "
                                     f"(MAX_DUMP_BYTES in broadsheet/dumps.py)")
    lines = max(raw.count(b"\n"), raw.count(b"\r"))
    if lines > MAX_DUMP_LINES:
        raise DumpError("too-large", f"{what} holds {lines:,} lines; the limit is {MAX_DUMP_LINES:,} "
                                     f"(MAX_DUMP_LINES in broadsheet/dumps.py)")


def _parse(raw: bytes, source_file: str, timezone: str) -> Article:
    check_size(raw)
    text, encoding, newlines = decode(raw)
    warnings: list[str] = []

    blob = find_blob(text)
    page = text[: blob.start] if blob else text
    lines = page.split("\n")

    dateline_at, match = None, None
    seen = 0
    for i, line in enumerate(lines):
        if line.strip():
            match = DATELINE.fullmatch(line.strip())
            if match:
                dateline_at = i
                break
            seen += 1
            if seen >= _HEADER_LINES:
                break
    if dateline_at is None:
        raise DumpError("no-dateline", "no dateline like 'Sun Mar 20, 2016 21:30:46' near the top")

    header = [line.strip() for line in lines[:dateline_at] if line.strip()]
    if not header:
        raise DumpError("no-title", "the page starts at the dateline: there is no title line")
    if len(header) > 2:
        raise DumpError("unexpected-header", f"{len(header)} lines before the dateline; expected the title once or twice")
    title = header[0]
    if len(header) == 2 and _squash(header[1]) != _squash(title):
        warnings.append(f"second title line differs from the first: {header[1]!r}")

    date, date_warnings = parse_dateline(match, timezone)
    warnings += date_warnings

    body_lines = lines[dateline_at + 1:]
    paragraphs = [line for line in body_lines if line.strip()]
    if _single_breaks(body_lines):
        warnings.append("paragraphs separated by single line breaks")
    paragraphs, signature = split_signature(paragraphs)
    if any(p.strip() == "MoreImage" for p in paragraphs):
        warnings.append("body holds a MoreImage gallery with the title repeated as captions; kept as scraped")
    if not paragraphs:
        warnings.append("empty body")

    if blob:
        related_status, blob_warnings = blob_status(blob.json_text, declared=blob.declared, closed=blob.closed)
        related_json = blob.json_text
        warnings += blob_warnings
    else:
        related_json, related_status = None, "absent"

    source = Source(
        file=source_file,
        sha256=hashlib.sha256(raw).hexdigest(),
        bytes=len(raw),
        encoding=encoding,
        newlines=newlines,
    )
    return Article(
        title=title,
        date=date,
        paragraphs=paragraphs,
        source=source,
        signature=signature,
        related_json=related_json,
        related_status=related_status,
        warnings=warnings,
    )


def _squash(s: str) -> str:
    return " ".join(s.split()).casefold()


def _single_breaks(lines: list[str]) -> bool:
    """True when two non-blank lines follow each other (no blank line between paragraphs)."""
    return any(a.strip() and b.strip() for a, b in zip(lines, lines[1:]))


# -- writing dumps (for the synthetic corpus and round-trip tests) -----------------------

def format_dateline(date: datetime) -> str:
    return f"{_WEEKDAYS[date.weekday()]} {date:%b} {date.day}, {date:%Y %H:%M:%S}"


def render_dump(article: Article, title_twice: bool = True) -> str:
    """The dump a page like the seed would give for this article (UTF-8 text, `\\n` ends)."""
    head = f"{article.title}\n\n{article.title}\n" if title_twice else f"{article.title}\n"
    parts = [head + format_dateline(article.date)]
    parts += article.paragraphs
    if article.signature:
        parts.append(article.signature)
    text = "\n\n".join(parts) + "\n\n"
    if article.related_json is not None:
        n = len(article.related_json.encode("utf-8"))
        text += f'string({n}) "{article.related_json}"'
    return text
