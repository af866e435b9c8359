"""The offline zip of a site: the site built with offlineconf.py, bagged and zipped (see
broadsheet/archive/__init__.py for what the zip promises)."""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broadsheet import site
from broadsheet.archive.bag import CorpusFacts, bag_info, corpus_facts
from broadsheet.archive.bag_zip import zip_bag
from broadsheet.archive.publish import replace_if_changed
from broadsheet.archive.reproducible_zip import UNREADABLE_ZIP
from broadsheet.files import sha256_file


@dataclass
class ZipResult:
    """The zip written: where, its SHA-256 and size, its number of files, the articles it holds."""

    path: Path
    sha256: str
    bytes: int
    files: int
    facts: CorpusFacts


def build_offline_site(content: Path, dest: Path, cache_path: Path | None = None,
                       extra_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the site with offlineconf.py into `dest` (which must not exist or be empty)."""
    overrides: dict[str, Any] = dict(extra_overrides or {})
    if cache_path is not None:
        overrides.update(CACHE_PATH=str(cache_path), LOAD_CONTENT_CACHE=True, CACHE_CONTENT=True,
                         CONTENT_CACHING_LAYER="reader", CHECK_MODIFIED_METHOD="md5")
    else:
        overrides.update(CACHE_PATH=str(Path(dest).parent / ".pelican-cache"), LOAD_CONTENT_CACHE=False,
                         CACHE_CONTENT=False)
    return site.build(Path(content), Path(dest), "offline", **overrides)


def make_offline_zip(content: Path, zip_path: Path, cache_path: Path | None = None,
                     work_dir: Path | None = None, extra_overrides: dict[str, Any] | None = None) -> ZipResult:
    """Build the offline site from `content`, bag it and write `zip_path` (atomically, replaced
    only when its bytes change so an unchanged archive keeps its modification time)."""
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="broadsheet-zip-", dir=work_dir) as tmp:
        site_dir = Path(tmp) / "site"
        settings = build_offline_site(Path(content), site_dir, cache_path, extra_overrides)
        return zip_offline_build(site_dir, Path(zip_path), Path(content), settings, work_dir=Path(tmp))


def zip_offline_build(site_dir: Path, zip_path: Path, content: Path, settings: dict[str, Any],
                      work_dir: Path | None = None, bag_dir: Path | None = None,
                      previous: Path | None = None, facts: CorpusFacts | None = None,
                      digests_cache: Path | None = None) -> ZipResult:
    """Bag and zip a site already built with the offline settings, leaving `site_dir` as it is
    (the bag is made from hard links), so one build serves as both the site and the zip.
    `bag_dir`: where the bag is made and left (for verify's `made_from`, and for the next run to
    bring up to date; its name is the zip's top folder), else a temporary folder;
    `previous`: the zip this replaces, whose unchanged entries are copied (bag_zip.write_reproducible_zip);
    `facts`: corpus_facts of `content` when the caller has them; `digests_cache`: see bag.make_bag."""
    zip_path = Path(zip_path)
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="broadsheet-zip-", dir=work_dir) as tmp:
        bag_dir = Path(bag_dir) if bag_dir else Path(tmp) / zip_path.stem
        facts = facts or corpus_facts(Path(content))
        staged = Path(tmp) / "archive.zip"
        count = zip_bag(site_dir, bag_dir, staged, bag_info(settings, facts), settings.get("SITENAME", "the archive"),
                        digests_cache, previous)
        digest = sha256_file(staged)
        size = staged.stat().st_size
        replace_if_changed(staged, zip_path, digest, size)
        return ZipResult(zip_path, digest, size, count, facts)


def is_offline_zip(path: Path) -> bool:
    """Whether `path` is a zip as this module writes them (a bag in a folder named after the zip),
    as far as its central directory says: what a rebuild may replace."""
    try:
        with zipfile.ZipFile(path) as zf:
            return f"{Path(path).stem}/bagit.txt" in zf.NameToInfo
    except (OSError, *UNREADABLE_ZIP):
        return False
