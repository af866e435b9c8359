"""Files: writing them so that a reader, or a run killed midway, never sees half of one; walking a
folder and hashing a file the one way every stage does."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def atomic_write(path: Path, text: str | bytes | Iterable[str]) -> None:
    """Write through a temporary file beside `path` and a rename: readers see the old file
    or the new one, never a part. The folder is made when the first open finds none. `text`
    may come in pieces (an iterable of strings), written as they come."""
    tmp = write_temporary(path.with_name(f".{path.name}.{os.getpid()}.tmp"), text)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_temporary(tmp: Path, text: str | bytes | Iterable[str]) -> Path:
    """Create `tmp` (and its folder when missing) holding `text` (as UTF-8), with the permissions
    any new file gets (0666 less the umask): what is written here is published (site data, the
    graph's files) or edited by the archivist, and a web server must be able to read it."""
    pieces = [text] if isinstance(text, (str, bytes)) else text
    try:
        fd = _create(tmp)
    except FileNotFoundError:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        fd = _create(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            for piece in pieces:
                f.write(piece.encode("utf-8") if isinstance(piece, str) else piece)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _create(tmp: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        return os.open(tmp, flags, 0o666)
    except FileExistsError:  # left by a run that crashed, under the same process id
        tmp.unlink()
        return os.open(tmp, flags, 0o666)


def walk(root: Path) -> tuple[dict[str, os.DirEntry], list[str]]:
    """Every regular file under `root`, by its path with `/` (its DirEntry keeps the stat once
    asked), and the symbolic links, which are not followed."""
    files: dict[str, os.DirEntry] = {}
    links: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel)) as entries:
            for entry in entries:
                path = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_symlink():
                    links.append(path)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(path)
                elif entry.is_file(follow_symlinks=False):
                    files[path] = entry
    return files, links


def sha256_file(path: Path) -> str:
    """The SHA-256 of the file's bytes, in hex (as a BagIt manifest gives it)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def same_device(a: Path, b: Path) -> bool:
    """Whether `a` and `b` are on one file system (so a hard link or a rename can join them)."""
    return os.stat(a).st_dev == os.stat(b).st_dev
