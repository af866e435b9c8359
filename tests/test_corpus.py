"""The synthetic corpus: deterministic, parses back to its articles, broken files fail as recorded."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from broadsheet.corpus import (
    MALFORMED_KINDS, SAMPLE_DIR, SAMPLE_N, SAMPLE_SEED, SAMPLE_TRUTH, generate_corpus, write_corpus,
)
from broadsheet.dumps import Rejection, parse_dump
from broadsheet.ingest import ingest
from conftest import ROOT

TZ = "Asia/Tehran"


@pytest.fixture(scope="module")
def clean():
    return generate_corpus(300, seed=7)


@pytest.fixture(scope="module")
def broken():
    return generate_corpus(120, seed=11, malformed=0.5)


def test_same_options_give_the_same_bytes_and_truth():
    a, b = generate_corpus(60, seed=5, malformed=0.2), generate_corpus(60, seed=5, malformed=0.2)
    assert [(f.name, f.data) for f in a.files] == [(f.name, f.data) for f in b.files]
    assert a.truth == b.truth
    c = generate_corpus(60, seed=6, malformed=0.2)
    assert [f.data for f in a.files] != [f.data for f in c.files]


def test_every_clean_dump_parses_back_to_its_article(clean):
    for f in clean.files:
        parsed = parse_dump(f.data, f.name, TZ)
        assert not isinstance(parsed, Rejection), (f.name, parsed)
        want = f.article
        assert (parsed.title, parsed.date, parsed.paragraphs, parsed.signature) == \
               (want.title, want.date, want.paragraphs, want.signature), f.name
        assert parsed.related_json == want.related_json and parsed.related_status == "ok", f.name
        assert 8 <= len(parsed.paragraphs) <= 25
        entries = parsed.related_entries(TZ)
        assert [(e.id, e.title) for e in entries] == [(t["id"], t["title"]) for t in f.truth["related"]]


def test_corpus_has_the_shape_the_issue_asks_for(clean):
    files = clean.files
    years = {f.article.date.year for f in files}
    assert len(years) >= 4
    assert any(f.article.signature is None for f in files) and any(f.article.signature for f in files)
    sizes = [len(f.truth["related"]) for f in files[20:]]
    assert 8 <= sum(sizes) / len(sizes) <= 11
    entries = [t for f in files for t in f.truth["related"]]
    variants = {t["variant"] for t in entries}
    assert variants == {"exact", "respelled", "typo", "video", "dangling"}
    assert sum(t["target"] is not None for t in entries) / len(entries) > 0.7
    # the dumps never carry their own id: no dump mentions its hidden id
    for f in files:
        assert f.truth["hidden_id"] not in f.data.decode()
    sorts = set()
    for f in files:
        values = [int(e.sort) for e in f.article.related_entries(TZ)]
        if len(values) > 1:
            sorts.add("ascending" if values == sorted(values) else "descending")
            assert values in (sorted(values), sorted(values, reverse=True))
    assert sorts == {"ascending", "descending"}


def test_pics_agree_with_their_targets_dates_and_videos_are_mp4(clean):
    by_id = {f.truth["hidden_id"]: f.article for f in clean.files}
    for f in clean.files:
        for entry, truth in zip(f.article.related_entries(TZ), f.truth["related"]):
            target = truth["target"] or truth["video_of"]
            if truth["variant"] == "video" and truth["video_of"]:
                assert entry.media == "video" and entry.title.startswith("VIDEO: ")
            if target:
                lag = by_id[target].date - entry.published
                assert timedelta(0) < lag <= timedelta(hours=3, seconds=1), (f.name, entry)
                assert entry.pic.startswith(entry.published.strftime("/%Y/%m/%d/alalam_"))


def test_every_malformed_file_fails_as_its_truth_says(broken):
    seen = set()
    for f in broken.files:
        expect, kind = f.truth["expect"], f.truth["kind"]
        seen.add(kind)
        parsed = parse_dump(f.data, f.name, TZ)
        if expect["outcome"] == "rejected":
            assert isinstance(parsed, Rejection) and parsed.reason == expect["reason"], (f.name, kind, parsed)
            continue
        assert not isinstance(parsed, Rejection), (f.name, kind, parsed)
        assert parsed.related_status == expect["related_status"], (f.name, kind)
        assert parsed.source.encoding == expect["encoding"], (f.name, kind)
        assert parsed.source.newlines == expect["newlines"], (f.name, kind)
        assert [e.id for e in parsed.related_entries(TZ)] == [t["id"] for t in f.truth["related"]], (f.name, kind)
    assert seen >= set(MALFORMED_KINDS)


def test_written_corpus_ingests_with_the_recorded_rejections(broken, tmp_path):
    truth_path = write_corpus(broken, tmp_path / "raw")
    assert json.loads(truth_path.read_text(encoding="utf-8")) == broken.truth
    report = ingest(tmp_path / "raw", tmp_path / "content", TZ)
    rejected = {r["source"]: r["reason"] for r in report.rejected}
    want = {name: t["expect"]["reason"] for name, t in broken.truth["files"].items()
            if t["expect"]["outcome"] == "rejected"}
    assert rejected == want
    assert len(report.accepted) == len(broken.files) - len(want)


def test_bundled_sample_is_the_generator_output_for_its_seed():
    sample = generate_corpus(SAMPLE_N, seed=SAMPLE_SEED)
    on_disk = sorted(p.name for p in SAMPLE_DIR.iterdir() if not p.name.startswith("."))
    assert on_disk == sorted(f.name for f in sample.files)
    for f in sample.files:
        assert (SAMPLE_DIR / f.name).read_bytes() == f.data
    assert json.loads((SAMPLE_DIR / SAMPLE_TRUTH).read_text(encoding="utf-8")) == sample.truth
    assert SAMPLE_DIR.parent == ROOT / "raw"
