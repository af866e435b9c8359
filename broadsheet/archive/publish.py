"""Putting a finished archive where it is published: atomically, and only when its bytes changed."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from broadsheet.files import same_device, sha256_file


def replace_if_changed(staged: Path, dest: Path, digest: str, size: int) -> bool:
    """Put `staged` (SHA-256 `digest`, `size` bytes) at `dest` atomically, unless `dest` already
    holds those bytes: an unchanged archive keeps its modification time. True when `dest` changed."""
    if dest.is_file() and dest.stat().st_size == size and sha256_file(dest) == digest:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    move_into_place(staged, dest)
    return True


def move_into_place(staged: Path, dest: Path) -> None:
    """Replace `dest` with `staged` atomically: a rename on one file system, else copy then rename."""
    if same_device(staged, dest.parent):
        os.replace(staged, dest)
    else:
        _copy_replace(staged, dest)


def _copy_replace(src: Path, dest: Path) -> None:
    """move_into_place across file systems: a copy beside `dest` with `src`'s permissions, renamed."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        shutil.copymode(src, tmp)  # mkstemp's file is owner-only; the archive is for others too
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
