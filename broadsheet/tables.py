"""CSV rows + a mapping -> Article: the one module that knows how tables are read.

A table is a CSV file whose first row names the columns; a mapping (YAML, see
`mappings/fa-kes.yaml`) says which column gives the title, the body, the date (with its
format), the outlet and a stable row id, which other columns become facets, and which
published dataset the table is (its citation reaches every page built from it).

`parse_table` is a pure function over bytes, like `dumps.parse_dump`: it returns one
`Article` or `Rejection` per row, or a single `Rejection` for a table it cannot read at all,
and never raises on bad input. Text inside a cell is kept exactly; a leading dateline and a
trailing editor signature are recognised with the dump parser's own rules.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from broadsheet import safe_yaml
from broadsheet.article import Article, Source
from broadsheet.dumps import (
    DEFAULT_TIMEZONE, FALLBACK_ENCODING, DumpError, Rejection, check_size, decode, localize, normalize_newlines, match_text_dateline, parse_dateline,
    text_signature,
)

#: `<name>.csv` in a source folder is read with `<name>.mapping.yaml` beside it, unless
#: `--mapping` names one for every table.
SIBLING_MAPPING_SUFFIX = ".mapping.yaml"
TABLE_SUFFIXES = (".csv",)

#: The largest table ingest reads whole (its bytes, text and rows are held at once: about five
#: times this in memory); a row is one article and has the dump limits (dumps.MAX_DUMP_BYTES,
#: MAX_DUMP_LINES). Larger tables and rows are rejected as `too-large`.
MAX_TABLE_BYTES = 256 * 1024 * 1024
MAX_MAPPING_BYTES = 1024 * 1024

#: The mapping keys that name a column, and whether a table must have them.
COLUMN_KEYS = {"title": True, "body": True, "date": True, "id": False, "outlet": False}

#: Date-format tokens (as in `M/D/YYYY`) -> regular-expression pieces.
_DATE_TOKENS = {
    "YYYY": r"(?P<year>\d{4})", "MM": r"(?P<month>\d{2})", "M": r"(?P<month>\d{1,2})",
    "DD": r"(?P<day>\d{2})", "D": r"(?P<day>\d{1,2})", "HH": r"(?P<hour>\d{2})",
    "H": r"(?P<hour>\d{1,2})", "mm": r"(?P<minute>\d{2})", "ss": r"(?P<second>\d{2})",
}
_DATE_TOKEN = re.compile("|".join(sorted(_DATE_TOKENS, key=len, reverse=True)))
_RAW_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Facet:
    """A column shown as a facet; `values` renames coded cells (`"1"` -> `credible`)."""

    column: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Mapping:
    """How the columns of one kind of table become Article fields."""

    name: str
    columns: dict[str, str]
    date_format: str
    timezone: str | None
    facets: dict[str, Facet]
    dataset: dict[str, Any] | None

    def required_columns(self) -> dict[str, str]:
        """Column name -> what it is for, for every column the table must have."""
        need = {col: key for key, col in self.columns.items()}
        need.update({f.column: f"facet {name}" for name, f in self.facets.items()})
        return need


# -- the mapping -----------------------------------------------------------------------

def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file; MappingError says what is wrong and where."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():
            raise MappingError(f"{path}: not a regular file")
        with open(path, "rb") as f:
            raw = f.read(MAX_MAPPING_BYTES + 1)
        if len(raw) > MAX_MAPPING_BYTES:
            raise MappingError(f"{path}: larger than {MAX_MAPPING_BYTES:,} bytes; a mapping is a few lines")
        data = safe_yaml.load(raw.decode("utf-8"), str(path))
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise MappingError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at {exc.start})") from None
    except safe_yaml.YAMLInputError as exc:
        raise MappingError(str(exc)) from None
    return parse_mapping(data, str(path))


@lru_cache(maxsize=32)
def _load_mapping_cached(path: str, mtime_ns: int) -> Mapping:
    return load_mapping(Path(path))


def parse_mapping(data: Any, name: str) -> Mapping:
    if not isinstance(data, dict):
        raise MappingError(f"{name}: expected a YAML mapping with a 'columns' section")
    columns = data.get("columns")
    if not isinstance(columns, dict):
        raise MappingError(f"{name}: 'columns' must map title, body, date (and optionally id, outlet) to column names")
    unknown = set(columns) - set(COLUMN_KEYS)
    if unknown:
        raise MappingError(f"{name}: unknown key(s) under 'columns': {', '.join(sorted(unknown))}; "
                           f"expected {', '.join(COLUMN_KEYS)}")
    for key, required in COLUMN_KEYS.items():
        if required and not columns.get(key):
            raise MappingError(f"{name}: 'columns.{key}' is required (the column that gives the {key})")
    date_format = str(data.get("date_format") or "")
    if not date_format:
        raise MappingError(f"{name}: 'date_format' is required, e.g. M/D/YYYY or YYYY-MM-DD")
    try:
        date_pattern(date_format)
    except ValueError as exc:
        raise MappingError(f"{name}: date_format: {exc}") from None
    facets = {}
    for facet_name, spec in (data.get("facets") or {}).items():
        if isinstance(spec, str):
            spec = {"column": spec}
        if not isinstance(spec, dict) or not spec.get("column"):
            raise MappingError(f"{name}: facet '{facet_name}' needs a 'column'")
        values = {str(k): str(v) for k, v in (spec.get("values") or {}).items()}
        facets[str(facet_name)] = Facet(column=str(spec["column"]), values=values)
    timezone = data.get("timezone")
    if timezone is not None:
        from broadsheet.dumps import zone

        try:
            zone(str(timezone))
        except Exception:
            raise MappingError(f"{name}: unknown timezone {timezone!r}") from None
    dataset = data.get("dataset")
    if dataset is not None and not isinstance(dataset, dict):
        raise MappingError(f"{name}: 'dataset' must be a mapping (title, authors, doi, licence, ...)")
    return Mapping(
        name=name,
        columns={k: str(v) for k, v in columns.items() if v},
        date_format=date_format,
        timezone=None if timezone is None else str(timezone),
        facets=facets,
        dataset=dataset,
    )


def mapping_for(table: Path, explicit: Mapping | None) -> Mapping:
    """The mapping a table is read with: `explicit` (from `--mapping`) or its sibling file."""
    if explicit is not None:
        return explicit
    sibling = table.with_name(table.stem + SIBLING_MAPPING_SUFFIX)
    if not sibling.exists():
        raise MappingError(f"no mapping for this table: pass --mapping FILE.yaml or put "
                           f"{sibling.name} beside it")
    return _load_mapping_cached(str(sibling), sibling.stat().st_mtime_ns)


def is_table(path: Path) -> bool:
    return path.suffix.lower() in TABLE_SUFFIXES


def is_mapping_file(path: Path) -> bool:
    return path.name.endswith(SIBLING_MAPPING_SUFFIX)


@lru_cache(maxsize=32)
def date_pattern(date_format: str) -> re.Pattern:
    """`M/D/YYYY` -> a strict regular expression with year, month, day (hour, minute, second)."""
    parts, pos, seen = [], 0, set()
    for m in _DATE_TOKEN.finditer(date_format):
        parts.append(re.escape(date_format[pos:m.start()]))
        group = re.match(r"\(\?P<(\w+)>", _DATE_TOKENS[m.group(0)]).group(1)
        if group in seen:
            raise ValueError(f"{date_format!r} names the {group} twice")
        seen.add(group)
        parts.append(_DATE_TOKENS[m.group(0)])
        pos = m.end()
    parts.append(re.escape(date_format[pos:]))
    missing = {"year", "month", "day"} - seen
    if missing:
        raise ValueError(f"{date_format!r} has no {', '.join(sorted(missing))} "
                         f"(tokens: {', '.join(_DATE_TOKENS)})")
    return re.compile("".join(parts))


def parse_date(cell: str, date_format: str, timezone: str) -> tuple[datetime, list[str]]:
    """A date cell read with its declared format, in `timezone`; DumpError('bad-date')."""
    m = date_pattern(date_format).fullmatch(cell.strip())
    if not m:
        raise DumpError("bad-date", f"date {cell!r} does not have the format {date_format}")
    g = {k: int(v) for k, v in m.groupdict().items() if v is not None}
    try:
        naive = datetime(g["year"], g["month"], g["day"], g.get("hour", 0), g.get("minute", 0), g.get("second", 0))
    except ValueError as exc:
        raise DumpError("bad-date", f"date {cell!r} is not a real date ({exc})") from None
    return localize(naive, timezone)


# -- the table -------------------------------------------------------------------------

class _LineCounter:
    """Feeds text lines to `csv.reader` and counts them, so each record's lines are known."""

    def __init__(self, text: str):
        self.lines = text.split("\n")
        self.consumed = 0

    def __iter__(self) -> Iterator[str]:
        last = len(self.lines) - 1
        for i, line in enumerate(self.lines):
            if i == last and not line:
                return
            self.consumed = i + 1
            yield line if i == last else line + "\n"


def parse_table(raw: bytes, source_file: str, mapping: Mapping,
                timezone: str = DEFAULT_TIMEZONE) -> list[Article | Rejection]:
    """Read every row of a table. Never raises: problems are Rejections or warnings."""
    try:
        return list(_parse_table(raw, source_file, mapping, mapping.timezone or timezone))
    except DumpError as exc:
        return [Rejection(source_file, exc.reason, exc.detail)]
    except Exception as exc:  # a parser bug must not stop a run
        return [Rejection(source_file, "parser-error", f"{type(exc).__name__}: {exc}")]


def _parse_table(raw: bytes, source_file: str, mapping: Mapping, timezone: str) -> Iterator[Article | Rejection]:
    if len(raw) > MAX_TABLE_BYTES:
        raise DumpError("too-large", f"the table holds {len(raw):,} bytes; the limit is {MAX_TABLE_BYTES:,} "
                                     f"(MAX_TABLE_BYTES in broadsheet/tables.py)")
    raw_lines = _RAW_LINE.findall(raw)
    text, encoding, newlines, fallback_lines = decode_table(raw, raw_lines)
    lines = _LineCounter(text)
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise DumpError("no-header", f"the first row cannot be read as column names ({exc})") from None
    header = [h.strip() for h in header]
    missing = [f"'{col}' ({use})" for col, use in mapping.required_columns().items() if col not in header]
    if missing:
        raise DumpError("missing-column",
                        f"the mapping {Path(mapping.name).name} needs column {', '.join(missing)}; "
                        f"columns found: {', '.join(header)}; the whole table was skipped")
    index = {name: i for i, name in reversed(list(enumerate(header)))}

    row = 1
    while True:
        start = lines.consumed
        row += 1
        ref = f"{source_file}#row={row}"
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = lines.consumed
            if end >= len(lines.lines) - 1 and "end of data" in str(exc):
                detail = (f"a quoted cell opened in row {row} (line {start + 1}) is never closed; "
                          f"lines {start + 1}-{end} could not be split into rows")
            else:
                detail = f"row {row} (line {start + 1}) is not valid CSV ({exc})"
            yield Rejection(ref, "malformed-row", detail)
            continue
        if not cells:  # a blank line: no row to account for
            continue
        if len(cells) != len(header):
            yield Rejection(ref, "malformed-row",
                            f"row {row} (line {start + 1}) has {len(cells)} cells; the header has {len(header)}")
            continue
        row_bytes = b"".join(raw_lines[start:lines.consumed])
        read_as_1252 = not fallback_lines.isdisjoint(range(start, lines.consumed))
        source = Source(file=source_file, sha256=hashlib.sha256(row_bytes).hexdigest(), bytes=len(row_bytes),
                        encoding=FALLBACK_ENCODING if read_as_1252 else encoding, newlines=newlines, row=row)
        try:
            check_size(row_bytes, f"row {row}")
            article = _row_article({name: cells[i] for name, i in index.items()}, mapping, timezone, source)
        except DumpError as exc:
            yield Rejection(ref, exc.reason, f"row {row}: {exc.detail}")
            continue
        if read_as_1252:
            article.warnings.insert(0, f"{ref} is not UTF-8 (the other rows are): this row alone was read "
                                       f"as {FALLBACK_ENCODING}")
        yield article


def decode_table(raw: bytes, raw_lines: list[bytes]) -> tuple[str, str, str, frozenset[int]]:
    """`dumps.decode` for a table, plus the lines read as windows-1252.

    A table that is not UTF-8 as a whole but has UTF-8 lines was put together from several
    files: each line is read as UTF-8 when it is, and only the others as windows-1252, so that
    `Café` in a UTF-8 row never becomes `CafÃ©`. A table with no UTF-8 line is windows-1252.
    """
    try:
        text, encoding, newlines = decode(raw)
    except DumpError as exc:  # maybe UTF-8 lines whose bytes windows-1252 does not define
        if exc.reason != "undecodable":
            raise
        text, encoding = None, FALLBACK_ENCODING
    if encoding != FALLBACK_ENCODING:
        return text, encoding, newlines, frozenset()
    decoded, fallback = [], set()
    for i, line in enumerate(raw_lines):
        try:
            decoded.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            try:
                decoded.append(line.decode("cp1252"))
            except UnicodeDecodeError as exc:
                raise DumpError("undecodable", f"line {i + 1} is neither UTF-8 nor windows-1252 "
                                               f"(byte 0x{line[exc.start]:02x})") from None
            fallback.add(i)
    if text is not None and all(line.isascii() for i, line in enumerate(raw_lines) if i not in fallback):
        return text, encoding, newlines, frozenset()
    encoding = "utf-8"
    if decoded and decoded[0].startswith("\ufeff"):
        decoded[0], encoding = decoded[0][1:], "utf-8-sig"
    text, newlines = normalize_newlines("".join(decoded))
    return text, encoding, newlines, frozenset(fallback)


def _row_article(cells: dict[str, str], mapping: Mapping, timezone: str, source: Source) -> Article:
    col = mapping.columns
    title = cells[col["title"]].strip()
    if not title:
        raise DumpError("no-title", f"the title column '{col['title']}' is empty")
    date, warnings = parse_date(cells[col["date"]], mapping.date_format, timezone)
    body = cells[col["body"]]
    if not body.strip():
        warnings.append("empty body")

    text_dateline = None
    match = match_text_dateline(body)
    if match:
        text_dateline = match.group(0)
        try:
            said, dateline_warnings = parse_dateline(match, timezone)
        except DumpError as exc:
            warnings.append(f"the text starts with a dateline that is not a real date: {exc.detail}")
        else:
            warnings += dateline_warnings
            if said.date() != date.date():
                warnings.append(f"the text's dateline '{text_dateline}' ({said.date()}) disagrees with the "
                                f"'{col['date']}' column ({cells[col['date']].strip()} = {date.date()}); "
                                f"date is the column's, text_dateline keeps the text's")
    if "MoreImage" in body:
        warnings.append("body holds a MoreImage gallery marker; kept as in the cell")

    facets = {}
    for name, facet in mapping.facets.items():
        value = cells[facet.column].strip()
        if not value:
            continue
        if facet.values:
            if value not in facet.values:
                raise DumpError("unknown-value", f"{facet.column} {value!r} is not one of "
                                f"{', '.join(facet.values)} (the values the mapping defines for {name})")
            value = facet.values[value]
        facets[name] = value

    def optional(key: str) -> str | None:
        return (cells[col[key]].strip() or None) if key in col else None

    return Article(
        title=title,
        date=date,
        paragraphs=cell_paragraphs(body),
        source=source,
        signature=text_signature(body),
        source_id=optional("id"),
        outlet=optional("outlet"),
        facets=facets,
        warnings=warnings,
        text_dateline=text_dateline,
        dataset=mapping.dataset,
    )


def cell_paragraphs(cell: str) -> list[str]:
    """The cell as paragraphs whose `Article.body` is the cell, character for character:
    one paragraph, or one per blank-line-separated block when the cell has line breaks."""
    if not cell:
        return []
    parts = cell.split("\n\n")
    if len(parts) > 1 and all(p and not p.startswith("\n") and not p.endswith("\n") for p in parts):
        return parts
    return [cell]
