"""broadsheet.cache: the one stamp of a file."""

from __future__ import annotations

import os

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
