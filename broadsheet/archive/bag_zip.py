"""The bag as a zip: `zip_bag` makes the bag of a site and its zip in one reading of the files,
`write_reproducible_zip` zips a bag folder. Both write the same bytes for the same files (see
reproducible_zip) and copy the entries of files that did not change from the zip they replace,
still compressed, so that a rebuild compresses only what changed.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from broadsheet.archive.bag import (HEAD_TAG_FILES, MANIFEST, TAIL_TAG_FILES, Payload, manifest_digests,
                                    write_head_tag_files, write_tail_tag_files)
from broadsheet.archive.reproducible_zip import (PARALLEL_FROM_FILES, UNREADABLE_ZIP, ZipWriter, deflate_file,
                                                 deflate_files)
from broadsheet.engine import local_workers
from broadsheet.files import walk


def zip_bag(site_dir: Path, bag_dir: Path, zip_path: Path, info: dict[str, str], title: str,
            digests_cache: Path | None = None, previous: Path | None = None, workers: int | None = None) -> int:
    """bag.make_bag, and the bag zipped as write_reproducible_zip zips it (`bag_dir`'s name as the
    top folder), each payload file read once: its SHA-256 for the manifest is computed from the
    bytes compressed for its entry (the manifest's entry comes after the payload's in the zip).
    Returns the number of files zipped."""
    payload = Payload(site_dir, bag_dir, digests_cache)
    write_head_tag_files(payload, info)
    root = payload.bag_dir.name
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with _PreviousZip(previous, root) as old, ZipWriter(zip_path) as out:
        for name in HEAD_TAG_FILES:
            out.add_bytes(f"{root}/{name}", (payload.bag_dir / name).read_bytes())
        names = sorted(f"data/{rel}" for rel in payload.files)
        known = {f"data/{rel}": digest for rel, digest in payload.known.items()}
        found = _zip_files(out, payload.bag_dir, root, names, known, old, workers)
        digests = {rel: found[f"data/{rel}"] for rel in payload.files}
        write_tail_tag_files(payload, digests, title)
        for name in TAIL_TAG_FILES:
            out.add_bytes(f"{root}/{name}", (payload.bag_dir / name).read_bytes())
    return len(HEAD_TAG_FILES) + len(names) + len(TAIL_TAG_FILES)


def write_reproducible_zip(folder: Path, zip_path: Path, root_name: str, previous: Path | None = None,
                           workers: int | None = None) -> int:
    """Zip `folder` as `root_name/...`: sorted entries, fixed timestamps and modes. Returns the file count.

    `previous`: a zip this function wrote before from a bag of the same name. A payload file whose
    SHA-256 in the new manifest equals the old manifest's is copied from it still compressed
    (compressing is most of a zip's time); the result is byte for byte the zip a fresh run writes.
    `workers`: processes that compress (default: one per core for a zip of PARALLEL_FROM_FILES
    files or more, else this one)."""
    folder = Path(folder)
    names = sorted(walk(folder)[0])
    try:
        known = manifest_digests((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        known = {}
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with _PreviousZip(previous, root_name) as old, ZipWriter(zip_path) as out:
        _zip_files(out, folder, root_name, names, known, old, workers)
    return len(names)


def _zip_files(out: ZipWriter, folder: Path, root: str, names: list[str], known: dict[str, str],
               old: _PreviousZip, workers: int | None) -> dict[str, str]:
    """Write the files `names` (paths under `folder`, sorted) as entries `root/name`, compressed
    on `workers` processes; a file whose digest, `known` or computed, is the one the previous zip's
    manifest gives is copied from that zip instead. Returns each file's SHA-256."""
    folder_text = str(folder)
    unchanged = {name for name in names if known.get(name) is not None and known[name] == old.digests.get(name)}
    read = [name for name in names if name not in unchanged]
    if workers is None:
        workers = local_workers() if len(read) >= PARALLEL_FROM_FILES else 1
    # Results come in the order of `read`, which is the order of `names` less the unchanged files,
    # copied here as their turn comes.
    jobs = ((os.path.join(folder_text, name), known.get(name), old.digests.get(name)) for name in read)
    results = deflate_files(jobs, workers)
    digests: dict[str, str] = {}
    for name in names:
        entry_name = f"{root}/{name}"
        if name in unchanged and out.copy_from(old.zf, entry_name):
            digests[name] = known[name]
            continue
        deflated = next(results) if name not in unchanged else None
        if deflated is None or (deflated.data is None and not out.copy_from(old.zf, entry_name)):
            deflated = deflate_file((os.path.join(folder_text, name), None, None))  # not copyable after all
        if deflated.data is not None:
            out.add_deflated(entry_name, deflated)
        digests[name] = deflated.sha256
    for _ in results:  # none is left; this closes the workers
        pass
    return digests


class _PreviousZip:
    """A zip written before from a bag of the same name (`root_name`), opened for copying its
    entries (ZipWriter.copy_from), and the SHA-256 its manifest gives each payload file."""

    def __init__(self, previous: Path | None, root_name: str):
        self.zf: zipfile.ZipFile | None = None
        self.digests: dict[str, str] = {}
        if previous is None or not Path(previous).is_file():
            return
        try:
            self.zf = zipfile.ZipFile(previous)
            self.digests = manifest_digests(self.zf.read(f"{root_name}/{MANIFEST}").decode("utf-8"))
        except (OSError, KeyError, *UNREADABLE_ZIP):
            self.close()
            self.digests = {}

    def close(self) -> None:
        if self.zf is not None:
            self.zf.close()
            self.zf = None

    def __enter__(self) -> _PreviousZip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
