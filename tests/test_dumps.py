"""The dump parser on real files: the seed, one file per variation, every bad-input kind."""

from __future__ import annotations

import hashlib

import pytest

from broadsheet.dumps import Rejection, parse_dump
from conftest import DATA, SEED

DUMPS = DATA / "dumps"


def parse(name: str):
    path = SEED if name == "seed" else DUMPS / name
    return parse_dump(path.read_bytes(), path.name, "Asia/Tehran")


def test_seed_fields():
    a = parse("seed")
    assert a.title == "Syrian Army Troops Take Key Areas from ISIS in Latakia, Kill Militants in Raqqa"
    assert a.date.isoformat() == "2016-03-20T21:30:46+03:30"
    assert a.signature == "S/SH 11"
    assert a.related_status == "ok"
    assert len(a.related_entries()) == 10
    assert a.warnings == []
    assert a.paragraphs[0].startswith("Syrian forces have regained control")
    assert a.paragraphs[-1].startswith("According to a February report")
    assert len(a.paragraphs) == 12 and "S/SH 11" not in a.paragraphs
    assert a.source.sha256 == hashlib.sha256(SEED.read_bytes()).hexdigest()
    assert a.source.bytes == 4391 and a.source.encoding == "utf-8" and a.source.newlines == "lf"


def test_seed_body_is_exactly_the_scraped_paragraphs():
    raw = SEED.read_text(encoding="utf-8")
    a = parse("seed")
    between = raw.split("Sun Mar 20, 2016 21:30:46\n\n", 1)[1].split("\n\nS/SH 11", 1)[0]
    assert a.paragraphs == between.split("\n\n")
    assert "Syria\u2019s pre-war population" in a.paragraphs[-1]


def test_summer_time_offset():
    # Iran moved to +04:30 on 22 March 2016 00:00 local (21 March 20:30 UTC)
    assert parse("plus_video_title.txt").date.isoformat() == "2016-03-21T10:00:00+04:30"
    assert parse("arabic.txt").date.isoformat() == "2016-03-27T12:00:00+04:30"


@pytest.mark.parametrize("name,title", [
    ("video_title_once.txt", "VIDEO: Syrian Army Retakes Jubeil Mount in Homs"),
    ("plus_video_title.txt", "Syrian Forces Advance in Palmyra + VIDEO"),
    ("bracket_video_title.txt", "[Video] Army Clears Mines in Palmyra"),
])
def test_title_printed_once(name, title):
    a = parse(name)
    assert a.title == title
    assert a.paragraphs[0] == "First paragraph of the report."


def test_unpadded_day():
    assert parse("unpadded_day.txt").date.isoformat() == "2013-08-09T09:17:18+04:30"


def test_fars_dateline_without_seconds_or_padding():
    a = parse("fars_dateline.txt")
    assert a.date.isoformat() == "2015-11-10T03:00:00+03:30"


@pytest.mark.parametrize("name,signature", [
    ("seed", "S/SH 11"), ("sig_bare.txt", "S/SH"), ("fars_dateline.txt", "218-12"),
    ("no_signature_2014.txt", None),
])
def test_signatures(name, signature):
    a = parse(name)
    assert a.signature == signature
    assert a.paragraphs[-1] != signature


@pytest.mark.parametrize("name", ["zero_blank_before_blob.txt", "seed", "three_blanks_before_blob.txt"])
def test_blank_lines_before_blob(name):
    a = parse(name)
    assert a.related_status == "ok" and a.signature == "S/SH 11"
    assert not any(p.startswith("string(") for p in a.paragraphs)


def test_one_and_a_dozen_entries_in_either_order():
    assert len(parse("one_item_related.txt").related_entries()) == 1
    dozen = parse("dozen_descending.txt").related_entries()
    assert len(dozen) == 12
    sorts = [int(e.sort) for e in dozen]
    assert sorts == sorted(sorts, reverse=True)


def test_unescaped_straight_and_curly_quotes_in_related_titles():
    a = parse("quotes_in_titles.txt")
    titles = [e.title for e in a.related_entries()]
    assert titles == ['Assad: "We Will Liberate Every Inch"', "Army on the \u2018Threshold of Palmyra\u2019: Envoy"]
    assert a.related_status == "ok"


def test_php_escapes_in_blob():
    (e,) = parse("escaped_blob.txt").related_entries()
    assert e.pic == "/2016/03/20/alalam_635940973860240970_25f_4x3.jpg"
    assert e.title == "Syria\u2019s Army Advances \u0633\u0648\u0631\u064a\u0627"


def test_pics_dated_long_before_article():
    a = parse("old_pics.txt")
    (e,) = a.related_entries()
    assert e.published.year == 2013 and a.date.year == 2016


def test_moreimage_kept_with_warning():
    a = parse("moreimage.txt")
    assert a.paragraphs[-3:] == ["MoreImage", "Aleppo Residents Return Home", "Aleppo Residents Return Home"]
    assert any("MoreImage" in w for w in a.warnings)


def test_single_line_breaks_between_paragraphs():
    a = parse("single_breaks.txt")
    assert a.paragraphs == ["First paragraph of the report.", "Second paragraph, with a comma.", "Third paragraph ends here."]
    assert a.signature == "S/SH 11"


@pytest.mark.parametrize("name,encoding,newlines", [
    ("utf8_bom.txt", "utf-8-sig", "lf"), ("crlf.txt", "utf-8", "crlf"), ("cr_only.txt", "utf-8", "cr"),
    ("windows1252.txt", "windows-1252", "lf"),
])
def test_encodings_and_line_endings(name, encoding, newlines):
    a = parse(name)
    assert (a.source.encoding, a.source.newlines) == (encoding, newlines)
    if name != "windows1252.txt":
        seed = parse("seed")
        assert (a.title, a.date, a.paragraphs, a.signature) == (seed.title, seed.date, seed.paragraphs, seed.signature)
        assert a.related_status == "ok"


def test_windows1252_text_decoded():
    a = parse("windows1252.txt")
    assert a.title == "Caf\u00e9 Owners \u2018Return\u2019 to Homs \u2013 Report"
    assert a.paragraphs[0] == "Na\u00efve \u201cquotes\u201d and a \u20ac sign."


@pytest.mark.parametrize("name,status,entries", [
    ("absent_blob.txt", "absent", 0), ("length_mismatch.txt", "length-mismatch", 1),
    ("truncated_blob.txt", "truncated", 7), ("invalid_blob.txt", "invalid", 0), ("seed", "ok", 10),
])
def test_related_status(name, status, entries):
    a = parse(name)
    assert a.related_status == status
    assert len(a.related_entries()) == entries
    if status not in ("ok", "absent"):
        assert a.warnings, "a damaged blob is always explained"


@pytest.mark.parametrize("name,reason", [
    ("empty.txt", "empty"), ("whitespace_only.txt", "empty"), ("binary.bin", "binary"),
    ("no_dateline.txt", "no-dateline"), ("starts_at_dateline.txt", "no-title"),
    ("impossible_date.txt", "impossible-date"),
])
def test_rejections_are_named(name, reason):
    r = parse(name)
    assert isinstance(r, Rejection)
    assert r.reason == reason and r.detail and r.source == name


def test_undecodable_bytes_rejected():
    raw = SEED.read_bytes().replace(b"Syrian forces", b"Syrian \x81\x8d forces")
    r = parse_dump(raw, "x.txt")
    assert isinstance(r, Rejection) and r.reason == "undecodable"


def test_weekday_mismatch_warns():
    a = parse("weekday_mismatch.txt")
    assert any("Mon" in w and "Sun" in w for w in a.warnings)


def test_markdown_hazards_kept_as_text():
    a = parse("markdown_hazards.txt")
    assert a.paragraphs[0] == "1. Numbered start is not a list"
    assert a.paragraphs[4] == "---"
    assert a.title.startswith("Hazards: *stars*")
