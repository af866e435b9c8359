"""Article history: a changed source keeps the text it replaces; the site shows, diffs and cites it."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from broadsheet import versions
from broadsheet.article import read_content_file, read_markdown_file
from broadsheet.dumps import parse_dump, render_dump
from broadsheet.ingest import ingest
from conftest import SEED

SEED_ARTICLE = parse_dump(SEED.read_bytes(), SEED.name, "Asia/Tehran")
FIRST = SEED_ARTICLE.paragraphs[0]
#: One sentence of the first paragraph, reworded.
REWORDED = FIRST.replace("Syrian forces have", "Syrian troops have")
RELATED = json.dumps([{"id": "1000001", "sort": "1", "contenttypeid": "21",
                       "pic": "/2016/03/20/alalam_635940973860240901_25f_4x3.jpg",
                       "title": "An article listed as related"}], separators=(",", ":"))
TITLE_EDIT = "The archivist's title"
#: The outlet's new title: a new slug, so the article moves.
NEW_TITLE = "Syrian Army Retakes Areas in Latakia"


def at(hour: int) -> datetime:
    return datetime(2026, 4, 12, hour, tzinfo=timezone.utc)


def write_dump(source: Path, name: str = "story.txt", **changes) -> Path:
    """The seed page with `changes` (Article fields), as the outlet would serve it."""
    path = source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dump(dataclasses.replace(SEED_ARTICLE, **changes)), encoding="utf-8")
    return path


def edit_title(path: Path, title: str) -> None:
    text = path.read_text(encoding="utf-8")
    meta, _ = read_content_file(text)
    body = text.split("\n---\n", 1)[1]
    meta["title"] = title
    path.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n" + body,
                    encoding="utf-8")


def only_article(content: Path) -> Path:
    (path,) = [p for p in content.rglob("*.md") if not versions.is_version_path(p.relative_to(content))]
    return path


def kept(content: Path) -> list[versions.Version]:
    found, problems = versions.read_versions(only_article(content))
    assert problems == []
    return found


@pytest.fixture
def history(tmp_path):
    """A dump ingested, its title edited by the archivist, then its body, title and related list
    changed by the outlet, one re-ingest each (with an unchanged re-ingest after each)."""
    source, content = tmp_path / "raw", tmp_path / "content"
    write_dump(source)
    ingest(source, content, seen_at=at(1))
    edit_title(only_article(content), TITLE_EDIT)
    paragraphs = [REWORDED, *SEED_ARTICLE.paragraphs[1:]]
    steps = [dict(paragraphs=paragraphs),
             dict(paragraphs=paragraphs, title=NEW_TITLE),
             dict(paragraphs=paragraphs, title=NEW_TITLE, related_json=RELATED,
                  related_status="ok")]
    counts = []
    for hour, changes in enumerate(steps, 2):
        write_dump(source, **changes)
        ingest(source, content, seen_at=at(hour))
        ingest(source, content, seen_at=at(hour + 10))  # unchanged: keeps no version
        counts.append(len(kept(content)))
    return {"source": source, "content": content, "counts": counts}


def test_each_changed_reingest_keeps_one_version_and_unchanged_ones_none(history):
    assert history["counts"] == [1, 2, 3]  # three kept versions and the article: four versions
    one, two, three = kept(history["content"])
    assert [v.number for v in (one, two, three)] == [1, 2, 3]
    assert [v.changed for v in (one, two, three)] == [["body"], ["title"], ["related_json"]]
    assert [v.replaced for v in (one, two, three)] == [versions.timestamp(at(h)) for h in (2, 3, 4)]
    # the first text's first sighting was not noted; each later one was seen when the one before was replaced
    assert [v.seen for v in (one, two, three)] == [None, one.replaced, two.replaced]


def test_versions_hold_the_outlets_text_not_the_archivists(history):
    one, two, three = kept(history["content"])
    assert [v.title for v in (one, two, three)] == [SEED_ARTICLE.title] * 2 + [NEW_TITLE]
    assert all(v.edited == [] for v in (one, two, three))
    assert one.paragraphs[0] == FIRST and two.paragraphs[0] == REWORDED
    assert three.fields["related_json"] == SEED_ARTICLE.related_json
    assert one.source_sha256 != two.source_sha256 != three.source_sha256


def test_the_archivists_title_edit_survives_each_step(history):
    article = read_markdown_file(only_article(history["content"]).read_text(encoding="utf-8"))
    assert article.title == TITLE_EDIT
    assert article.related_json == RELATED and article.paragraphs[0] == REWORDED


def test_the_versions_move_with_an_article_whose_new_title_moves_it(history):
    path = only_article(history["content"])
    assert path.name == "syrian-army-retakes-areas-in-latakia.md"
    assert sorted(p.name for p in versions.folder_of(path).iterdir()) == ["1.md", "2.md", "3.md"]


def test_a_version_file_is_never_rewritten(history):
    content = history["content"]
    before = {v.path.name: v.path.read_bytes() for v in kept(content)}
    write_dump(history["source"], paragraphs=["Yet another text."])
    ingest(history["source"], content, seen_at=at(20))
    after = {v.path.name: v.path.read_bytes() for v in kept(content)}
    assert {k: after[k] for k in before} == before and len(after) == 4


def test_a_deleted_dump_keeps_its_versions(tmp_path):
    source, content = tmp_path / "raw", tmp_path / "content"
    write_dump(source)
    write_dump(source, "other.txt", title="Another story", paragraphs=["Another text."])
    ingest(source, content, seen_at=at(1))
    write_dump(source, paragraphs=[REWORDED])
    ingest(source, content, seen_at=at(2))
    article = next(p for p in content.rglob("*.md") if "syrian" in p.name and not versions.is_version_path(p))
    folder = versions.folder_of(article)
    assert [p.name for p in folder.iterdir()] == ["1.md"]
    (source / "story.txt").unlink()
    ingest(source, content, seen_at=at(3))
    assert not article.exists() and [p.name for p in folder.iterdir()] == ["1.md"]


def test_an_edited_body_is_kept_as_edited_and_named(tmp_path):
    source, content = tmp_path / "raw", tmp_path / "content"
    write_dump(source)
    ingest(source, content, seen_at=at(1))
    path = only_article(content)
    path.write_text(path.read_text(encoding="utf-8").replace("Syrian forces", "Syrian government forces"),
                    encoding="utf-8")
    write_dump(source, signature="S/SH 99")
    ingest(source, content, seen_at=at(2))
    (one,) = kept(content)
    assert one.changed == ["signature"] and one.edited == ["body"]
    assert one.fields["signature"] == SEED_ARTICLE.signature
