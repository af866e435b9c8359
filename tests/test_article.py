"""Literal Markdown and front matter: what ingest writes renders back to exactly the scraped text."""

from __future__ import annotations

from datetime import datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import markdown
from hypothesis import given, settings, strategies as st

from broadsheet.article import Article, Source, escape_paragraph, read_markdown_file, unescape_paragraph
from broadsheet.dumps import Rejection, parse_dump, render_dump
from broadsheet.site import load_settings

_MD = load_settings("local")["MARKDOWN"]


class _Paragraphs(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.texts: list[str] = []
        self._in_p = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "p":
            self._in_p = True
            self.texts.append("")

    def handle_endtag(self, tag):
        if tag == "p":
            self._in_p = False

    def handle_data(self, data):
        if self._in_p:
            self.texts[-1] += data


def render(paragraph: str) -> _Paragraphs:
    html = markdown.Markdown(**_MD).convert(escape_paragraph(paragraph))
    parser = _Paragraphs()
    parser.feed(html)
    return parser


HAZARDS = [
    "1. Numbered start is not a list", "# Not a heading", "> Not a quote", "* Not a bullet", "---",
    "- dash", "+ plus", "=== ", "Contains <script>alert('x')</script> literally",
    "A [text](http://example.com) link", "`backticks` and snake_case_words and __dunder__",
    "&amp; &copy; &#65; entities stay text", "back\\slash \\* escaped star", "    four leading spaces",
    "trailing two spaces  ", "<http://autolink.example>", "![img](x.png)", "12345. big number",
    "tab\tinside", "*emphasis* **strong**", "line one\nline two",
]


def test_hazards_render_literally():
    for text in HAZARDS:
        parsed = render(text)
        assert parsed.tags == ["p"], (text, parsed.tags)
        assert parsed.texts == [text], text


paragraph_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85"),
    min_size=1,
).filter(lambda s: s.strip())


@settings(max_examples=300, deadline=None)
@given(paragraph_text)
def test_any_text_renders_back_exactly(text):
    parsed = render(text)
    assert parsed.tags == ["p"]
    assert parsed.texts == [text]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_escape_is_invertible(text):
    assert unescape_paragraph(escape_paragraph(text)) == text


line = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85\ufeff"),
    min_size=1, max_size=80,
).map(str.strip).filter(lambda s: s and not s.startswith("string("))
dates = st.datetimes(min_value=datetime(2013, 1, 1), max_value=datetime(2017, 12, 31)).map(
    lambda d: d.replace(microsecond=0))


@settings(max_examples=200, deadline=None)
@given(title=line, date=dates, paragraphs=st.lists(line, min_size=1, max_size=6),
       signature=st.sampled_from([None, "S/SH 11", "S/SH", "218-12"]))
def test_dump_round_trip(title, date, paragraphs, signature):
    """Generate an article, write its dump, ingest it: same fields and body."""
    from broadsheet.dumps import DATELINE, SIGNATURE

    if DATELINE.fullmatch(title) or any(DATELINE.fullmatch(p) for p in paragraphs):
        return
    if SIGNATURE.fullmatch(paragraphs[-1]):
        return
    aware = date.replace(tzinfo=ZoneInfo("Asia/Tehran"))
    a = Article(title=title, date=aware, paragraphs=paragraphs, signature=signature,
                source=Source("x", "", 0, "utf-8"),
                related_json='[{"id":"1","sort":"2","contenttypeid":"21","pic":"/2016/03/20/alalam_635940973860240970_25f_4x3.jpg","title":"T"} ]')
    raw = render_dump(a).encode("utf-8")
    back = parse_dump(raw, "x.txt")
    assert not isinstance(back, Rejection), back
    assert (back.title, back.paragraphs, back.signature) == (title, paragraphs, signature)
    assert back.date.replace(tzinfo=None) == date
    assert back.related_status == "ok" and back.related_json == a.related_json


def test_front_matter_round_trip():
    raw = (__import__("conftest").SEED).read_bytes()
    a = parse_dump(raw, "seed.txt")
    a.slug = "s"
    a.extra = {"tags": ["palmyra"]}
    b = read_markdown_file(a.to_markdown())
    assert b.front_matter() == a.front_matter()
    assert b.paragraphs == a.paragraphs
    assert b.extra == {"tags": ["palmyra"]}
    assert b.date.isoformat() == "2016-03-20T21:30:46+03:30"
