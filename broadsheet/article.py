"""The Article record and its front matter: written and read in this one place.

Ingest writes `Article.to_markdown()`; the Pelican plugins rebuild the record from an
article's metadata with `Article.from_metadata()`. Nothing else knows the field names.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from broadsheet import safe_yaml
from broadsheet.links import is_allowed_url

try:  # libyaml is several times faster; the pure-Python classes give identical output.
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover - wheels without libyaml
    from yaml import SafeDumper as _Dumper

INGEST_VERSION = 1

#: Front-matter keys that ingest owns. Any other key (tags, notes, ...) belongs to the
#: archivist and is never touched by a re-ingest.
INGEST_FIELDS = (
    "title",
    "date",
    "slug",
    "signature",
    "source_id",
    "outlet",
    "facets",
    "text_dateline",
    "dataset",
    "provenance",
    "web",
    "related_status",
    "related_json",
    "source",
    "ingest_version",
    "warnings",
    "body",
)


class FrontMatterError(ValueError):
    """Front matter whose fields have the wrong types; `problems` names each field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


# -- field types ---------------------------------------------------------------------------
#
# An archivist edits front matter by hand, so any field may hold any YAML value. These
# checks run before anything reads a field: a file that fails them is skipped by name
# (plugins/yaml_reader) instead of a list becoming a title or a build stopping on a
# traceback. Each check returns what was expected, or None when the value is fine.

def _is_text(v: Any) -> bool:
    return isinstance(v, (str, int, float)) and not isinstance(v, bool)


def _text(v: Any) -> str | None:
    return None if _is_text(v) else "text"


def _optional_text(v: Any) -> str | None:
    return None if v is None or _is_text(v) else "text or nothing"


def _date(v: Any) -> str | None:
    expected = "a date and time with its UTC offset, such as '2016-03-20T21:30:46+03:30'"
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.strip())
        except ValueError:
            return expected
    return None if isinstance(v, datetime) and v.utcoffset() is not None else expected


def _text_list(v: Any) -> str | None:
    ok = v is None or _is_text(v) or (isinstance(v, list) and all(x is None or _is_text(x) for x in v))
    return None if ok else "text or a list of texts"


def _integer(v: Any) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) else "a whole number"


def _mapping_of(checks: dict[str, Any], others: Any = None):
    """A mapping whose named keys pass `checks` and whose other values pass `others`."""

    def check(v: Any) -> str | None:
        if v is None:
            return None
        if not isinstance(v, dict):
            return "a mapping (key: value lines)"
        for key, value in v.items():
            rule = checks.get(key, others)
            problem = rule(value) if rule else None
            if problem:
                return f"a mapping whose {key!r} is {problem}"
        return None

    return check


def _relative_url(v: Any) -> str | None:
    return None if is_allowed_url(v, relative_only=True) else "a relative URL on this site"


_SOURCE = _mapping_of({"file": _text, "sha256": _optional_text, "bytes": _integer, "encoding": _optional_text,
                       "newlines": _optional_text, "row": lambda v: None if v is None else _integer(v)})
#: What each front-matter field must hold (ingest's fields, and those Pelican itself reads).
FIELD_TYPES = {
    "title": _text,
    "date": _date,
    "modified": _date,
    "slug": _text,
    "signature": _optional_text,
    "source_id": _optional_text,
    "outlet": _optional_text,
    "facets": _mapping_of({}, _optional_text),
    "text_dateline": _optional_text,
    "dataset": _mapping_of({"url": _optional_text, "title": _optional_text, "citation": _optional_text,
                            "licence": _optional_text, "doi": _optional_text,
                            "definitions": _mapping_of({}, _mapping_of({}, _optional_text))}),
    "related_status": _optional_text,
    "related_json": lambda v: None if v is None or isinstance(v, str) else "text (the blob, verbatim) or nothing",
    "source": _SOURCE,
    "ingest_version": lambda v: None if v is None else _integer(v),
    "warnings": _text_list,
    "tags": _text_list,
    "category": _optional_text,
    "author": _text_list,
    "authors": _text_list,
    "summary": _text_list,
    "status": _optional_text,
    "lang": _optional_text,
    "template": _optional_text,
    "save_as": _optional_text,
    "url": lambda v: None if v is None else _relative_url(v),
    # web-archive input; the keys are PROVENANCE_KEYS and WEB_KEYS below
    "provenance": _mapping_of({"url": _optional_text, "captured": _optional_text, "archive": _optional_text,
                               "member": _optional_text, "record_id": _optional_text,
                               "payload_digest": _optional_text, "content_type": _optional_text,
                               "offset": lambda v: None if v is None else _integer(v),
                               "status": lambda v: None if v is None else _integer(v),
                               "captures": _text_list}),
    "web": _mapping_of({}, _optional_text),
}


#: Fields read as text: a number an archivist writes there (`title: 1984`) is read as its text.
TEXT_FIELDS = ("title", "slug", "signature", "source_id", "outlet", "text_dateline", "related_status",
               "category", "status", "lang", "template", "save_as", "summary")


def with_text_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """`meta` (which passed `front_matter_problems`) with numbers in text fields as text."""
    return {k: str(v) if k in TEXT_FIELDS and isinstance(v, (int, float)) else v for k, v in meta.items()}


def front_matter_problems(meta: Any, required: tuple[str, ...] = ("title", "date")) -> list[str]:
    """What is wrong with front matter as YAML gives it: one `field: expected ..., got ...`
    per bad field; [] when every field this project or Pelican reads has its type."""
    if not isinstance(meta, dict):
        return [f"front matter: expected a mapping (key: value lines), got {_kind(meta)}"]
    problems = [f"{name}: missing" for name in required if meta.get(name) in (None, "")]
    for name, value in meta.items():
        rule = FIELD_TYPES.get(str(name).lower())
        expected = rule(value) if rule else None
        if expected and not (value is None and name in required):
            problems.append(f"{name}: expected {expected}, got {_kind(value)}")
    return problems


def _kind(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'} of {len(value)}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


#: `provenance` in front matter, in this order (web-archive input; see docs/CONTRIBUTING.md):
#: the page's original URL; the capture the text comes from (WARC-Date in UTC, ISO 8601);
#: the archive file (as found under the source folder) and, in a WACZ, the WARC inside it;
#: the record's byte offset, WARC-Record-ID and payload digest; the HTTP status and content
#: type; every capture time of the same text, oldest first. (The texts earlier captures had are
#: the article's versions, broadsheet/versions.py.)
PROVENANCE_KEYS = ("url", "captured", "archive", "member", "offset", "record_id", "payload_digest",
                   "status", "content_type", "captures")
#: `web` in front matter: what trafilatura read from the page besides its text.
WEB_KEYS = ("author", "site_name", "language", "description")


@dataclass
class Source:
    """Where an article came from, byte for byte."""

    file: str
    sha256: str
    bytes: int
    encoding: str
    newlines: str = "lf"
    row: int | None = None
    #: The record inside a web archive: `offset=N`, or `member=archive/x.warc.gz&offset=N`
    #: inside a WACZ (offsets are those of the record's first byte in the WARC file).
    record: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {
            "file": self.file,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "encoding": self.encoding,
            "newlines": self.newlines,
        }
        if self.row is not None:
            d["row"] = self.row
        if self.record is not None:
            d["record"] = self.record
        return d

    @property
    def ref(self) -> str:
        """How the report names this source: the file, or `file#row=N` for a table row
        (RFC 7111 fragment; the header is row 1, as in a spreadsheet), or `file#offset=N`
        for a record of a web archive."""
        if self.record is not None:
            return f"{self.file}#{self.record}"
        return self.file if self.row is None else f"{self.file}#row={self.row}"

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Source:
        d = d or {}
        return cls(
            file=str(d.get("file", "")),
            sha256=str(d.get("sha256", "")),
            bytes=int(d.get("bytes", 0) or 0),
            encoding=str(d.get("encoding", "")),
            newlines=str(d.get("newlines", "lf")),
            row=d.get("row"),
            record=d.get("record"),
        )


@dataclass
class Article:
    """One archived article, whatever it was ingested from (dump or table row)."""

    title: str
    date: datetime
    paragraphs: list[str]
    source: Source
    signature: str | None = None
    related_json: str | None = None
    related_status: str = "absent"
    source_id: str | None = None
    outlet: str | None = None
    facets: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    slug: str = ""
    #: A dateline found at the start of a table cell, verbatim (`Thu Jul 7 2016`).
    text_dateline: str | None = None
    #: The published dataset a table row comes from: title, authors, doi, licence, ...
    dataset: dict[str, Any] | None = None
    #: Web-archive input: the capture the text comes from (PROVENANCE_KEYS) and every capture
    #: time of that text. None for dumps and tables.
    provenance: dict[str, Any] | None = None
    #: Web-archive input: what the page itself says besides its text (WEB_KEYS).
    web: dict[str, Any] | None = None
    #: Archivist-owned front matter (tags, notes, corrections) carried through untouched.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def body(self) -> str:
        """The scraped text: paragraphs separated by one blank line."""
        return "\n\n".join(self.paragraphs)

    def related_entries(self, timezone: str = "Asia/Tehran"):
        """Entries of the related-articles blob, parsed by the one shared parser."""
        from broadsheet.related import parse_blob

        return parse_blob(self.related_json, timezone).entries

    # -- front matter -------------------------------------------------------------

    def front_matter(self) -> dict[str, Any]:
        """The ingest-owned fields, in a stable order, as plain YAML-able values."""
        fm: dict[str, Any] = {
            "title": self.title,
            "date": self.date.isoformat(),
            "slug": self.slug,
            "signature": self.signature,
        }
        if self.source_id is not None:
            fm["source_id"] = self.source_id
        if self.outlet is not None:
            fm["outlet"] = self.outlet
        if self.facets:
            fm["facets"] = dict(self.facets)
        if self.text_dateline is not None:
            fm["text_dateline"] = self.text_dateline
        if self.dataset is not None:
            fm["dataset"] = self.dataset
        if self.provenance is not None:
            fm["provenance"] = self.provenance
        if self.web is not None:
            fm["web"] = self.web
        fm["related_status"] = self.related_status
        fm["related_json"] = self.related_json
        fm["source"] = self.source.to_dict()
        fm["ingest_version"] = INGEST_VERSION
        fm["warnings"] = list(self.warnings)
        return fm

    def to_markdown(self) -> str:
        """The whole content file: YAML front matter, then the body as literal Markdown."""
        fm = self.front_matter()
        fm.update({k: v for k, v in self.extra.items() if k not in fm})
        return render_markdown_file(fm, self.paragraphs)

    @classmethod
    def from_metadata(cls, meta: dict[str, Any], paragraphs: list[str] | None = None) -> Article:
        """Rebuild the record from front matter, as parsed by YAML or by Pelican's reader.

        Pelican turns `date` into a datetime and drops null values; both shapes are accepted.
        Raises FrontMatterError when a field has the wrong type (see FIELD_TYPES).
        """
        problems = front_matter_problems({k: v for k, v in meta.items() if k not in _PELICAN_SHAPED}, ())
        if problems:
            raise FrontMatterError(problems)
        date = meta.get("date")
        if isinstance(date, str):
            date = datetime.fromisoformat(date)
        extra = {k: v for k, v in meta.items() if k not in INGEST_FIELDS}
        return cls(
            title=str(meta.get("title", "")),
            date=date,
            paragraphs=list(paragraphs or []),
            source=Source.from_dict(meta.get("source")),
            signature=_opt_str(meta.get("signature")),
            related_json=_opt_str(meta.get("related_json")),
            related_status=str(meta.get("related_status", "absent")),
            source_id=_opt_str(meta.get("source_id")),
            outlet=_opt_str(meta.get("outlet")),
            facets=dict(meta.get("facets") or {}),
            warnings=[str(w) for w in _as_list(meta.get("warnings"))],
            slug=str(meta.get("slug", "")),
            text_dateline=_opt_str(meta.get("text_dateline")),
            dataset=meta.get("dataset") or None,
            provenance=meta.get("provenance") or None,
            web=meta.get("web") or None,
            extra=extra,
        )


#: Fields Pelican's reader turns into its own objects (Tag, Author, Category).
_PELICAN_SHAPED = ("tags", "author", "authors", "category")


def _as_list(value: Any) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


# -- the Markdown file ---------------------------------------------------------------

#: A content file's front matter, between its first line `---` and the closing `---` (or `...`).
_HEAD = r"\A---\n(?P<yaml>.*?)\n(?:---|\.\.\.)\n"
_FRONT_MATTER = re.compile(_HEAD + r"(?P<body>.*)\Z", re.DOTALL)
_HEAD_BYTES = re.compile(_HEAD.encode(), re.DOTALL)  # the same, over bytes: the body stays undecoded


def dump_yaml(data: dict[str, Any]) -> str:
    """`data` as YAML, exactly as `yaml.dump` writes it with these options.

    Front matter holds only strings, numbers, null, lists and mappings, so its nodes are
    built here directly (PyYAML's generic representer was most of the cost of rendering a
    file); anything else, or a list or mapping that occurs twice (written as an alias),
    goes through `yaml.dump` itself.
    """
    options = {"allow_unicode": True, "sort_keys": False, "width": 1 << 30}
    try:
        node = _node(data, set())
    except _NotPlain:
        return yaml.dump(data, Dumper=_Dumper, **options)
    stream = io.StringIO()
    dumper = _Dumper(stream, default_flow_style=False, **options)
    try:
        dumper.open()
        dumper.serialize(node)
        dumper.close()
    finally:
        dumper.dispose()
    return stream.getvalue()


class _NotPlain(Exception):
    """A value `_node` leaves to PyYAML's representer."""


_TAG = "tag:yaml.org,2002:"


def _node(value: Any, containers: set[int]) -> yaml.Node:
    """The node SafeRepresenter would make for `value` (block style, keys in order)."""
    kind = type(value)
    if kind is str:
        return yaml.ScalarNode(_TAG + "str", value)
    if value is None:
        return yaml.ScalarNode(_TAG + "null", "null")
    if kind is bool:
        return yaml.ScalarNode(_TAG + "bool", "true" if value else "false")
    if kind is int:
        return yaml.ScalarNode(_TAG + "int", str(value))
    if kind is dict or kind is list:
        if id(value) in containers:
            raise _NotPlain
        containers.add(id(value))
        if kind is list:
            return yaml.SequenceNode(_TAG + "seq", [_node(v, containers) for v in value], flow_style=False)
        return yaml.MappingNode(_TAG + "map", [(_node(k, containers), _node(v, containers))
                                               for k, v in value.items()], flow_style=False)
    raise _NotPlain


def render_markdown_file(front_matter: dict[str, Any], paragraphs: list[str]) -> str:
    body = "\n\n".join(escape_paragraph(p) for p in paragraphs)
    return f"---\n{dump_yaml(front_matter)}---\n\n{body}\n"


def split_markdown_file(text: str, name: str = "front matter") -> tuple[dict[str, Any], str]:
    """Front matter (as YAML data) and the Markdown body of a content file; ValueError (a
    safe_yaml.YAMLInputError naming `name` and the line) when it cannot be read."""
    m = _FRONT_MATTER.match(text)
    if not m:
        raise ValueError("no YAML front matter (expected a first line '---')")
    data = safe_yaml.load(m.group("yaml"), name, first_line=2)
    if not isinstance(data, dict):
        raise ValueError("front matter is not a mapping")
    return data, m.group("body")


def read_front_matter(data: bytes, name: str = "front matter") -> dict[str, Any]:
    """The front matter of a content file (its bytes), read up to the closing `---`: the body
    is neither decoded nor parsed. Raises ValueError saying what is wrong (a YAML error names
    `name` and the line)."""
    m = _HEAD_BYTES.match(data)
    if not m:
        raise ValueError("no YAML front matter (expected a first line '---' and a closing '---')")
    try:
        meta = safe_yaml.load(m.group("yaml").decode("utf-8"), name, first_line=2)
    except UnicodeDecodeError as exc:
        raise ValueError(f"front matter is not UTF-8 ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError("front matter is not a mapping")
    return meta


def read_content_file(text: str, name: str = "front matter") -> tuple[dict[str, Any], list[str]]:
    """Front matter and the literal paragraphs (un-escaped) of a content file (`name` names it
    in errors)."""
    meta, body = split_markdown_file(text, name)
    return meta, [unescape_paragraph(p) for p in body.strip("\n").split("\n\n") if p]


def read_markdown_file(text: str, name: str = "front matter") -> Article:
    """Parse a content file back into an Article (ValueError naming `name` when it cannot)."""
    return Article.from_metadata(*read_content_file(text, name))


def record_of(page: Any) -> Article:
    """The Article behind a Pelican article (anything with `source_path`), read once from the
    content file ingest wrote and kept on it: the archive pages and the search index both need
    its literal paragraphs. Raises OSError or ValueError for a file without front matter."""
    record = getattr(page, "_broadsheet_record", None)
    if record is None:
        record = read_markdown_file(Path(page.source_path).read_text(encoding="utf-8"), str(page.source_path))
        page._broadsheet_record = record
    return record


# -- literal Markdown ----------------------------------------------------------------
#
# Scraped text must display exactly as scraped, and the file must stay readable for an
# archivist who edits it. So only what Markdown (with the extensions pelicanconf enables,
# none) could read as markup is neutralised: inline markup characters everywhere,
# block markers at the start of a paragraph, whitespace Markdown would strip or
# reinterpret. `tests/test_article.py` renders arbitrary text through the site's own
# Markdown settings and checks it comes back character for character.

_INLINE = {"\\": "\\\\", "`": "\\`", "*": "\\*", "_": "\\_", "[": "\\[", "]": "\\]",
           "<": "&lt;", "&": "&amp;"}
_BLOCK_START = re.compile(r"^(?:[#>+\-=]|\d+\.)")
#: Tabs are expanded to spaces by Markdown; line breaks would split the paragraph.
_AS_ENTITY = "\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_ESCAPES = str.maketrans({**_INLINE, **{c: f"&#{ord(c)};" for c in _AS_ENTITY}})
#: Most paragraphs hold none of these; a search is several times faster than str.translate.
_NEEDS_ESCAPE = re.compile("[" + re.escape("".join(_INLINE) + _AS_ENTITY) + "]")


def escape_paragraph(text: str) -> str:
    s = text.translate(_ESCAPES) if _NEEDS_ESCAPE.search(text) else text
    m = _BLOCK_START.match(s)
    if m:
        lead = m.group(0)
        if lead[-1] == ".":  # "1. " would start an ordered list
            s = lead[:-1] + "\\." + s[len(lead):]
        elif lead == ">":
            s = "&gt;" + s[1:]
        elif lead == "=":  # not escapable by backslash in Python-Markdown
            s = "&#61;" + s[1:]
        else:
            s = "\\" + s
    # Markdown strips leading and trailing whitespace (str.strip: NBSP included) and reads
    # four leading spaces as code; entities keep them.
    core = s.strip()
    if len(core) == len(s):
        return s
    start = s.index(core) if core else len(s)
    lead_ws = "".join(f"&#{ord(c)};" for c in s[:start])
    trail_ws = "".join(f"&#{ord(c)};" for c in s[start + len(core):])
    return lead_ws + core + trail_ws


_UNESCAPE = re.compile(r"\\(.)|&#(\d+);|&(lt|gt|amp);", re.DOTALL)
_NAMED = {"lt": "<", "gt": ">", "amp": "&"}


def unescape_paragraph(markdown: str) -> str:
    """Inverse of `escape_paragraph` (for reading files ingest wrote)."""

    def repl(m: re.Match) -> str:
        if m.group(1) is not None:
            return m.group(1)
        if m.group(2) is not None:
            return chr(int(m.group(2)))
        return _NAMED[m.group(3)]

    return _UNESCAPE.sub(repl, markdown)
