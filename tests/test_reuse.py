"""The keys that decide whether a file of the previous build can be reused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from broadsheet.reuse import KeptValues, Reuse, key_of, mark_read


@dataclass
class Item:
    title: str
    when: datetime
    tags: list[str] = field(default_factory=list)


WHEN = datetime(2016, 3, 20, 21, 30, 46, tzinfo=ZoneInfo("Asia/Tehran"))


def test_equal_inputs_give_equal_keys_and_any_change_another():
    base = key_of(Item("A", WHEN, ["x"]), {"k": 1})
    assert base == key_of(Item("A", WHEN, ["x"]), {"k": 1})
    variants = [Item("B", WHEN, ["x"]), Item("A", WHEN + timedelta(seconds=1), ["x"]), Item("A", WHEN, ["y"]),
                Item("A", WHEN.astimezone(timezone.utc), ["x"])]
    assert len({base} | {key_of(v, {"k": 1}) for v in variants}) == 1 + len(variants)
    assert key_of(Item("A", WHEN, ["x"]), {"k": 2}) != base


def test_a_value_without_a_stable_form_means_render():
    assert key_of(object()) is None


def test_take_links_only_what_the_previous_build_made_from_the_same_key(tmp_path):
    previous, out, record = tmp_path / "previous", tmp_path / "out", tmp_path / "record.json"
    (previous / "a").mkdir(parents=True)
    (previous / "a" / "page.html").write_text("old page")
    first = Reuse(previous, None, None, record)
    assert not first.take("a/page.html", "k1")  # no record yet: render
    first.save()
    again = Reuse(out, previous, record, tmp_path / "next.json")
    assert not again.take("a/page.html", "k2")  # another key: render
    assert again.take("a/page.html", "k1")  # the record maps a/page.html to k1
    assert (out / "a" / "page.html").read_text() == "old page"
    assert (out / "a" / "page.html").stat().st_ino == (previous / "a" / "page.html").stat().st_ino
    assert not again.take("missing.html", None)


class Page:
    """As much of a Pelican content object as a key looks at."""

    def __init__(self, source_path, text: str):
        self.source_path, self.url, self.metadata, self._content = str(source_path), "a/page.html", {}, text


def test_a_page_stands_for_what_was_read_by_its_files_stamp(tmp_path):
    source = tmp_path / "page.md"
    source.write_text("first")
    page = Page(source, "<p>first</p>")
    unmarked = key_of(page)
    mark_read(page)
    marked = key_of(page)
    assert marked != unmarked and marked == key_of(page)
    page._content = "<p>changed in memory only</p>"  # read attributes are not digested...
    assert key_of(page) == marked
    source.unlink()
    source.write_text("second")  # ...the file written anew is
    assert key_of(page) != marked
    rewritten = key_of(page)
    page.display = Item("A", WHEN)  # what plugins attach afterwards is digested as it is
    attached = key_of(page)
    assert attached != rewritten
    page.display.title = "B"
    assert key_of(page) != attached


def test_take_replaces_a_file_already_there_and_renders_what_the_previous_build_lacks(tmp_path):
    previous, out, record = tmp_path / "previous", tmp_path / "out", tmp_path / "record.json"
    previous.mkdir()
    (previous / "page.html").write_text("old page")
    first = Reuse(previous, None, None, record)
    first.take("page.html", "k")
    first.take("gone.html", "k")
    first.save()
    again = Reuse(out, previous, record, tmp_path / "next.json")
    out.mkdir()
    (out / "page.html").write_text("stale")
    assert again.take("page.html", "k") and (out / "page.html").read_text() == "old page"
    assert not again.take("gone.html", "k")  # recorded, but not in the previous version
    assert (again.reused, again.rendered) == (1, 1)


def test_kept_values_are_computed_again_only_when_their_stamp_changes(tmp_path):
    folder = tmp_path / "kept"
    kept = KeptValues(folder)
    assert [kept.value(f"a{n}", lambda n=n: n, lambda n=n: n * 10) for n in range(200)] == [n * 10 for n in range(200)]
    assert kept.save() == 200

    again = KeptValues(folder)
    calls = []
    values = [again.value(f"a{n}", lambda n=n: n + (n == 7), lambda n=n: calls.append(n) or -n) for n in range(199)]
    assert calls == [7] and values[7] == -7 and values[8] == 80
    assert again.save() == 2  # only the rows of a7 and of the gone a199 are written
    third = KeptValues(folder)
    assert third.old == {f"a{n}": (n + (n == 7), -7 if n == 7 else n * 10) for n in range(199)}
    stamps = []
    assert KeptValues(None).value("a1", lambda: stamps.append(1), lambda: "made") == "made"
    assert not stamps  # nothing kept: no stamp taken
