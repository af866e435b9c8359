"""broadsheet.cache: the one stamp of a file and the one store of kept values."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from broadsheet import cache
from broadsheet.files import atomic_write


def test_a_file_written_anew_changes_its_stamp_even_with_the_same_size_and_time(tmp_path):
    path = tmp_path / "a.md"
    path.write_text("one")
    before = cache.stamp(path)
    atomic_write(path, "two")  # as ingest writes: a temporary file renamed over the old one
    os.utime(path, ns=(before[1], before[1]))
    after = cache.stamp(path)
    assert after[:2] == before[:2] and after != before
    assert cache.stamp(tmp_path / "missing") is None


def test_a_stamp_taken_in_the_tick_of_a_change_is_not_trusted(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("x")
    old = cache.looked_at(path)
    os.utime(path, ns=(old[1], old[1]))
    assert cache.unchanged(old, cache.looked_at(path)) == (old[1] < old[-1] - cache._TICK_NS)
    settled = [*old[:-1], old[1] + 10 * cache._COARSE_TICK_NS]
    assert cache.unchanged(settled, cache.looked_at(path))
    path.write_text("y")
    assert not cache.unchanged(settled, cache.looked_at(path))


def test_a_save_writes_only_the_changed_rows_in_one_namespace(tmp_path):
    store = cache.Store(tmp_path)
    assert store.save("a", {f"k{n}": n for n in range(100)}) == 100
    store.put("b", {"whole": True})
    assert store.save("a", {"k1": -1}, ["k1", "k2"]) == 2  # k1 changed, k2 gone
    found = store.load("a")
    assert found["k1"] == -1 and "k2" not in found and found["k3"] == 3 and len(found) == 99
    assert store.get("b") == {"whole": True} and store.load("c") == {}
    store.clear("a")
    assert store.load("a") == {} and store.get("b") == {"whole": True}
    assert list(tmp_path.iterdir()) == [tmp_path / cache.STORE_FILE]


def test_a_damaged_store_reads_as_empty_and_is_started_afresh(tmp_path):
    (tmp_path / cache.STORE_FILE).write_bytes(b"not an SQLite file at all")
    store = cache.Store(tmp_path)
    assert store.load("a") == {} and store.get("a", default=7) == 7
    store.put("a", 1)
    assert store.get("a") == 1


def _write_rows(folder: str, worker: int) -> None:
    store = cache.Store(folder)
    for n in range(20):
        store.save(f"w{worker}", {f"k{n}": (worker, n)}, [f"k{n}"])


def test_processes_writing_one_store_at_once_lose_no_row(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_rows, args=(str(tmp_path), w)) for w in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join()
    assert [p.exitcode for p in workers] == [0, 0, 0]
    store = cache.Store(tmp_path)
    for w in range(3):
        assert store.load(f"w{w}") == {f"k{n}": (w, n) for n in range(20)}
    with sqlite3.connect(tmp_path / cache.STORE_FILE) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_an_inputs_key_tells_plain_values_apart_and_refuses_other_objects():
    keys = {cache.inputs_key(*inputs) for inputs in [
        (1,), (1.0,), ("1",), (True,), ((1,),), ([1],), ({"a": 1},), (None,), (b"1",),
        (datetime(2016, 3, 20, 12, tzinfo=ZoneInfo("Asia/Damascus")),),
        (datetime(2016, 3, 20, 12, tzinfo=timezone(timedelta(hours=2))),),
        ("a", "b"), ("a,b",)]}
    assert len(keys) == 13
    assert cache.inputs_key({"b": 2, "a": 1}) == cache.inputs_key({"a": 1, "b": 2})
    with pytest.raises(TypeError, match="object is not a plain input"):
        cache.inputs_key("fine", object())
