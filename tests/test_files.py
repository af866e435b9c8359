"""Files written atomically get the permissions any new file gets, so a web server can read them."""

from __future__ import annotations

import os
import stat

from broadsheet.files import atomic_write


def test_atomic_write_gives_a_new_files_permissions(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write(tmp_path / "deep" / "atomic.json", "{}")
    written = tmp_path / "deep" / "atomic.json"
    assert written.read_text() == "{}"
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert not [p for p in os.listdir(written.parent) if p.endswith(".tmp")]


def test_an_archive_copied_across_file_systems_keeps_the_staged_permissions(tmp_path):
    from broadsheet.archive import publish

    staged = tmp_path / "staged.zip"
    staged.write_bytes(b"PK")
    dest = tmp_path / "dist" / "archive.zip"
    dest.parent.mkdir()
    publish._copy_replace(staged, dest)  # what move_into_place does when the folders are on two devices
    assert dest.read_bytes() == b"PK"
    assert stat.S_IMODE(dest.stat().st_mode) == stat.S_IMODE(staged.stat().st_mode)
