"""One article as a citation: BibTeX, RIS, CSL-JSON, a formatted reference, and page metadata.

Pure functions over a `Citation`; the plugin builds one per article and the templates only
display what comes out. Every title survives its format exactly: BibTeX gets LaTeX escapes
(so a reader decoding LaTeX, as Zotero and bibtexparser do, gets the scraped characters back),
RIS and CSL-JSON carry the text as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime

from markupsafe import Markup

#: Characters LaTeX would read as markup, and how to write them as text. Characters that
#: LaTeX turns into typography when doubled (quotes, dashes) are braced one by one.
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "#": r"\#", "&": r"\&",
    "$": r"\$", "_": r"\_", "~": r"\textasciitilde{}", "^": r"{\string^}",
}
_LATEX_LIGATURES = "-`'\"<>!?,."


@dataclass(frozen=True)
class Citation:
    """What a reference to one article needs."""

    key: str  # ASCII citation key, unique in the site
    title: str
    date: datetime  # aware, in the source's local time
    container: str  # the outlet (SOURCE_NAME)
    archive: str  # this site (SITENAME)
    url: str | None  # absolute URL, when the site has one
    language: str  # BCP 47: en, ar, fa
    identifier: str | None = None  # the outlet's id, when known
    #: Web-archive input: when the page was captured, cited as the access date (with `url`
    #: then the page's original URL, as Zotero's "Accessed" goes with the URL it was read at).
    accessed: datetime | None = None
    version: str | None = None  # the version cited, when the article has several: "2 of 3"

    def inputs(self) -> tuple:
        """Everything a citation file is made of (with the code, which the rebuild's cache key
        covers): every field, each a plain value (broadsheet.cache.inputs_key)."""
        return tuple(getattr(self, f.name) for f in fields(self))


def latex_text(text: str) -> str:
    out = []
    for ch in text:
        if ch in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[ch])
        elif ch in _LATEX_LIGATURES:
            out.append("{" + ch + "}")
        else:
            out.append(ch)
    return "".join(out)


def bibtex(c: Citation) -> str:
    """A biblatex-style `@article` with `entrysubtype = {newspaper}`."""
    fields = [
        ("title", latex_text(c.title)),
        ("journaltitle", latex_text(c.container)),
        ("journal", latex_text(c.container)),
        ("entrysubtype", "newspaper"),
        ("date", c.date.date().isoformat()),
        ("year", str(c.date.year)),
        ("month", str(c.date.month)),
        ("day", str(c.date.day)),
        ("language", c.language),
        ("howpublished", latex_text(c.archive)),
    ]
    if c.url:
        fields.append(("url", c.url))
    if c.accessed:
        fields.append(("urldate", c.accessed.date().isoformat()))
    if c.identifier:
        fields.append(("number", latex_text(c.identifier)))
    if c.version:
        fields.append(("version", latex_text(c.version)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@article{{{c.key},\n{body}\n}}\n"


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def ris(c: Citation) -> str:
    """A RIS record of type NEWS (Zotero: newspaper article)."""
    lines = [
        ("TY", "NEWS"),
        ("TI", _one_line(c.title)),
        ("T2", _one_line(c.container)),
        ("DA", c.date.strftime("%Y/%m/%d")),
        ("PY", str(c.date.year)),
        ("LA", c.language),
        ("DB", _one_line(c.archive)),
        ("ID", c.key),
    ]
    if c.url:
        lines.append(("UR", c.url))
    if c.accessed:
        lines.append(("Y2", c.accessed.strftime("%Y/%m/%d")))  # Zotero's "Accessed"
    if c.identifier:
        lines.append(("M1", _one_line(c.identifier)))
    if c.version:
        lines.append(("ET", f"Version {_one_line(c.version)}"))
    lines.append(("ER", ""))
    return "".join(f"{tag}  - {value}\n" for tag, value in lines)


def csl_item(c: Citation) -> dict:
    item = {
        "id": c.key,
        "type": "article-newspaper",
        "title": c.title,
        "container-title": c.container,
        "issued": {"date-parts": [[c.date.year, c.date.month, c.date.day]]},
        "language": c.language,
        "archive": c.archive,
    }
    if c.url:
        item["URL"] = c.url
    if c.accessed:
        item["accessed"] = {"date-parts": [[c.accessed.year, c.accessed.month, c.accessed.day]]}
    if c.identifier:
        item["number"] = c.identifier
    if c.version:
        item["version"] = c.version
    return item


def csl_json(c: Citation) -> str:
    """CSL-JSON: a list holding the one item, as citation managers import it."""
    return json.dumps([csl_item(c)], ensure_ascii=False, indent=2) + "\n"


def reference(c: Citation) -> str:
    """A plain-text reference (Chicago-like, newspaper style) without the URL."""
    accessed = f" Accessed {c.accessed.day} {c.accessed:%B %Y}." if c.accessed else ""
    version = f" Version {c.version}." if c.version else ""
    return f"“{c.title}.” {c.container}, {c.date.day} {c.date:%B %Y}.{version} {c.archive}.{accessed}"


def highwire_meta(c: Citation) -> list[tuple[str, str]]:
    """Google Scholar (Highwire Press) and Dublin Core tags; the URL ones are added by the template."""
    return [
        ("citation_title", c.title),
        ("citation_publication_date", c.date.strftime("%Y/%m/%d")),
        ("citation_date", c.date.strftime("%Y/%m/%d")),
        ("citation_journal_title", c.container),
        ("citation_language", c.language),
        ("DC.title", c.title),
        ("DC.date", c.date.date().isoformat()),
        ("DC.publisher", c.container),
        ("DC.language", c.language),
        ("DC.type", "Text"),
    ]


def json_ld(c: Citation, date_iso: str) -> Markup:
    """schema.org NewsArticle, safe inside `<script type="application/ld+json">`."""
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": c.title,
        "name": c.title,
        "datePublished": date_iso,
        "inLanguage": c.language,
        "publisher": {"@type": "Organization", "name": c.container},
        "isPartOf": {"@type": "Periodical", "name": c.container},
    }
    if c.url:
        data["url"] = c.url
        data["mainEntityOfPage"] = c.url
    if c.identifier:
        data["identifier"] = c.identifier
    if c.version:
        data["version"] = c.version
    text = json.dumps(data, ensure_ascii=False, indent=1)
    # `</script>` or `<!--` in a title must not end the script element.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)
