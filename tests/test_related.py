"""The related blob: ticks read as the site's wall clock, media types, tolerant parsing."""

from __future__ import annotations

from datetime import datetime

from broadsheet.related import find_blob, media_type, parse_blob, ticks_to_datetime
from conftest import SEED


def test_ticks_are_local_wall_clock():
    d = ticks_to_datetime("/2016/03/20/alalam_635940973860240970_25f_4x3.jpg", "Asia/Tehran")
    assert d.isoformat() == "2016-03-20T19:03:06+03:30"


def test_seed_entries_precede_the_page():
    blob = find_blob(SEED.read_text(encoding="utf-8"))
    assert blob.declared == 1995 and blob.closed
    parsed = parse_blob(blob.json_text, "Asia/Tehran", declared=blob.declared)
    assert parsed.status == "ok"
    page_time = datetime.fromisoformat("2016-03-20T21:30:46+03:30")
    first = parsed.entries[0]
    assert first.id == "1800676" and first.published < page_time
    dates = {e.published.date().isoformat() for e in parsed.entries}
    assert min(dates) == "2016-03-18" and max(dates) == "2016-03-20"
    assert [e.media for e in parsed.entries].count("video") == 3
    # "VIDEO:" in a title with a .jpg pic is still an image item
    assert parsed.entries[2].title.startswith("VIDEO:") and parsed.entries[2].media == "image"


def test_media_type():
    assert media_type("/a/b.mp4") == "video"
    assert media_type("/a/b.JPG") == "image"
    assert media_type("") == "unknown"


def test_absent_and_empty():
    assert parse_blob(None).status == "absent"
    assert parse_blob("garbage").status in ("invalid", "truncated")


def test_no_ticks_no_date():
    assert ticks_to_datetime("/x/y.jpg") is None
