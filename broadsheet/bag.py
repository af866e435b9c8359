"""The offline zip: the site built with offline settings, packed as a BagIt bag; and its verification.

What the zip promises, and what `verify_zip` checks:
- it is a BagIt bag (made and validated with the `bagit` library) in one top-level folder named
  after the zip; the site is the payload under `data/`; a top-level `index.html` opens it;
- every internal link and asset resolves inside the payload from disk: no root-relative (`/...`)
  links, no links to folders (from disk they open a file listing), no external assets;
- every article the site lists (`data/articles.jsonl` when the site exports it) has its page;
- the same content gives the same bytes: entries sorted, timestamps and permissions fixed, and
  the bag's dates come from the articles (`Bagging-Date` is the latest article's day), never
  from the clock.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import logging
import os
import posixpath
import re
import shutil
import struct
import tempfile
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import unquote, urlsplit

import bagit
import lxml.etree
import lxml.html

from broadsheet import __version__, site
from broadsheet.article import front_matter_problems, split_markdown_file
from broadsheet.engine import local_workers
from broadsheet.reproducible_zip import (FILE_MODE, ZIP_TIMESTAMP, ZipWriter, compressed_data, deflate_file,  # noqa: F401
                                         deflate_files, one_whole_stream, read_digests)
from broadsheet.reuse import file_stamp, keep, load_kept
from broadsheet.versions import is_version_path

#: Files from which zipping and reading back run on every core: fewer take less time in this
#: process than starting the worker processes (a few tenths of a second).
PARALLEL_FROM_FILES = 2000
#: Where the site's own data exports live inside the payload (written by the archive_pages plugin).
ARTICLES_EXPORT = "data/articles.jsonl"
#: Keys of an articles.jsonl record that may hold the page's relative URL, in order of preference.
ARTICLE_URL_KEYS = ("url", "path", "href", "page", "save_as")
ROOT_INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="data/theme/img/favicon.svg" type="image/svg+xml">
<meta http-equiv="refresh" content="0; url=data/index.html">
</head>
<body>
<main>
<h1>{title}</h1>
<p><a href="data/index.html">Open {title}</a></p>
<p>This folder is a BagIt bag (RFC 8493): the site is under <code>data/</code>, its checksums are in
<code>manifest-sha256.txt</code>, and <code>bag-info.txt</code> describes it.</p>
</main>
</body>
</html>
"""

log = logging.getLogger(__name__)

#: What zipfile raises for a damaged zip, besides OSError: a bad signature or CRC, a damaged
#: deflate stream, a cut-off entry, header fields that make no sense, an encrypted entry.
UNREADABLE_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, struct.error, NotImplementedError,
                  RuntimeError)


class BagBuildError(RuntimeError):
    """The offline site could not be built or packed."""


@dataclass(frozen=True)
class CorpusFacts:
    """What bag-info.txt says about the articles: derived from the content, never from the clock."""

    article_count: int
    first_date: str | None  # YYYY-MM-DD in the source's local time
    last_date: str | None


@dataclass
class ZipResult:
    path: Path
    sha256: str
    bytes: int
    files: int
    facts: CorpusFacts


@dataclass
class Verification:
    """The outcome of verify_zip / verify_site: `errors` is empty when everything holds."""

    errors: list[str] = field(default_factory=list)
    html_files: int = 0
    links_checked: int = 0
    articles_checked: int = 0
    article_source: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": self.errors, "html_files": self.html_files,
                "links_checked": self.links_checked, "articles_checked": self.articles_checked,
                "article_source": self.article_source}


# -- building ------------------------------------------------------------------------------

def corpus_facts(content: Path, cache_file: Path | None = None) -> CorpusFacts:
    """Count the articles under `content/` and find their date range (drafts and hidden excluded).
    `cache_file`: each file's finding by its stamp (reuse.file_stamp), kept between
    runs so that a rebuild reads again only the files that changed."""
    known = load_kept(cache_file, {})
    seen: dict[str, tuple[tuple[int, int, int], str | None]] = {}
    dates = []
    for path in sorted(Path(content).rglob("*.md")):
        rel = path.relative_to(content)
        if any(part.startswith(".") for part in rel.parts) or is_version_path(rel):
            continue  # hidden, or an earlier version of an article (broadsheet/versions.py)
        stamp = file_stamp(path)
        if stamp is None:
            continue
        cached = known.get(rel.as_posix())
        if cached is not None and cached[0] == stamp:
            date = cached[1]
        else:
            date = _published_date(path)
        seen[rel.as_posix()] = (stamp, date)
        if date is not None:
            dates.append(date)
    if cache_file is not None:
        keep(cache_file, seen)
    return CorpusFacts(len(dates), min(dates, default=None), max(dates, default=None))


def _published_date(path: Path) -> str | None:
    """The day (YYYY-MM-DD, as written) of a published article; None for drafts and unreadable files."""
    try:
        meta, _ = split_markdown_file(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None  # Pelican reports unreadable files itself; they have no page
    if front_matter_problems(meta):
        return None  # skipped by the build (plugins/yaml_reader): no page either
    if str(meta.get("status", "published")).lower() in ("draft", "hidden", "skip"):
        return None
    date = meta.get("date")
    return str(date)[:10] if date is not None else None


def bag_info(settings: dict[str, Any], facts: CorpusFacts) -> dict[str, str]:
    info = {
        "Source-Organization": settings.get("SOURCE_NAME") or settings.get("SITENAME", ""),
        "External-Description": f"{settings.get('SITENAME', '')}: {settings.get('SITESUBTITLE', '')}. "
                                "Offline copy of the site: open index.html.",
        "Article-Count": str(facts.article_count),
        "Bag-Software-Agent": f"Broadsheet {__version__} (bagit.py {bagit.VERSION})",
        # The bag's date is the content's: the day of the latest article.
        "Bagging-Date": facts.last_date or "1970-01-01",
    }
    if facts.first_date:
        info["Date-Range"] = f"{facts.first_date}/{facts.last_date}"
    return info


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


class OwnBag(bagit.Bag):
    """A bag this process has just made in a folder of its own. bagit guards every manifest path
    of a bag from elsewhere against pointing outside it through symbolic links, with one
    `realpath` per file: most of the time of opening a bag of 40,000 files. Here the paths were
    written by `make_bag` from the files it walked and `verify_bag_dir` checks the folder holds
    no symbolic link, so the guard is the same check on the path's text. bagit also walks the
    payload once for the Payload-Oxum and once for completeness, a relpath per file each time;
    `files` is verify_bag_dir's walk of the bag, given as those walks would find it."""

    def __init__(self, path: str, files: Iterable[str]):
        self.walked = [rel for rel in files if rel.startswith("data/")]
        super().__init__(path)

    def payload_files(self):
        for rel in self.walked:
            path = rel.replace("/", os.sep)
            self.normalized_filesystem_names[bagit.normalize_unicode(path)] = path
            yield path

    def _path_is_dangerous(self, path):
        norm = os.path.normpath(path)
        return os.path.isabs(path) or norm == ".." or norm.startswith("../") or path != os.path.expandvars(
            os.path.expanduser(path))


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


#: The payload manifest of Broadsheet's bags (SHA-256 only), and the tag files' manifest.
MANIFEST = "manifest-sha256.txt"
TAG_MANIFEST = "tagmanifest-sha256.txt"
#: Tag manifests list every other file of the bag but themselves.
TAG_MANIFEST_NAME = re.compile(r"tagmanifest-[a-z0-9]+\.txt")
#: What bagit writes as bagit.txt (BagIt 0.97, the version bagit.make_bag writes).
BAGIT_TXT = "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"


def make_bag(site_dir: Path, bag_dir: Path, info: dict[str, str], title: str,
             digests_cache: Path | None = None) -> Path:
    """Make `bag_dir` the bag of `site_dir`: its files hard-linked (copied across file systems)
    under `data/`, the SHA-256 manifest, bag-info.txt with the Payload-Oxum, the opening
    index.html and the tag manifest, as bagit.make_bag and Bag.save write them.

    `bag_dir` may hold the bag of an earlier build: it is brought in step with `site_dir`
    (files whose inode is already the site's stay). bagit hashes every file at every save;
    here `digests_cache` keeps each file's SHA-256 with its inode, size and modification time,
    so only files written since are read. Hard links share the inode and the time, and every
    file Broadsheet writes is written anew (never in place), so an equal stat is equal bytes.
    `zip_bag` makes the bag and its zip in one reading of the files."""
    payload = _Payload(site_dir, bag_dir, digests_cache)
    _write_head_tag_files(payload, info)
    digests = {rel: payload.known.get(rel) or sha256_file(payload.dir / rel) for rel in payload.files}
    _write_tail_tag_files(payload, digests, title)
    return payload.bag_dir


def zip_bag(site_dir: Path, bag_dir: Path, zip_path: Path, info: dict[str, str], title: str,
            digests_cache: Path | None = None, previous: Path | None = None, workers: int | None = None) -> int:
    """make_bag, and the bag zipped as write_reproducible_zip zips it (`bag_dir`'s name as the
    top folder), each payload file read once: its SHA-256 for the manifest is computed from the
    bytes compressed for its entry (the manifest's entry comes after the payload's in the zip).
    Returns the number of files zipped."""
    payload = _Payload(site_dir, bag_dir, digests_cache)
    _write_head_tag_files(payload, info)
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
        _write_tail_tag_files(payload, digests, title)
        for name in TAIL_TAG_FILES:
            out.add_bytes(f"{root}/{name}", (payload.bag_dir / name).read_bytes())
    return len(HEAD_TAG_FILES) + len(names) + len(TAIL_TAG_FILES)


#: The files of a bag beside data/, in the zip's (sorted) order: those before the payload's
#: entries, written first, and those after, written once every payload file's digest is known.
HEAD_TAG_FILES = ("bag-info.txt", "bagit.txt")
TAIL_TAG_FILES = ("index.html", MANIFEST, TAG_MANIFEST)


class _Payload:
    """The payload of a bag brought in step with a site (`_sync_payload`), each file's stamp and
    the digests `digests_cache` knows for those stamps (see make_bag)."""

    def __init__(self, site_dir: Path, bag_dir: Path, digests_cache: Path | None):
        self.bag_dir = Path(bag_dir)
        self.dir = self.bag_dir / "data"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cache = digests_cache
        found = _sync_payload(Path(site_dir), self.dir)
        self.files = sorted(found, key=_bagit_order)
        self.stamps: dict[str, tuple] = {}
        self.bytes = 0
        for rel in self.files:
            st = found[rel].stat(follow_symlinks=False)
            self.stamps[rel] = (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)
            self.bytes += st.st_size
        kept = load_kept(digests_cache, {}) if digests_cache else {}
        kept = kept if isinstance(kept, dict) else {}
        self.known: dict[str, str] = {}
        for rel, stamp in self.stamps.items():
            old = kept.get(rel)
            if old and old[0] == stamp:
                self.known[rel] = old[1]


def _write_head_tag_files(payload: _Payload, info: dict[str, str]) -> None:
    """bagit.txt, and bag-info.txt with the Payload-Oxum (from the files' sizes)."""
    (payload.bag_dir / "bagit.txt").write_text(BAGIT_TXT, encoding="utf-8")
    # bagit's own writer of bag-info.txt, the one Bag.save calls: Bag.save would first open the
    # bag and after read every manifest back (seconds at 40,000 files).
    bagit._make_tag_file(str(payload.bag_dir / "bag-info.txt"),
                         {**info, "Payload-Oxum": f"{payload.bytes}.{len(payload.files)}"})


def _write_tail_tag_files(payload: _Payload, digests: dict[str, str], title: str) -> None:
    """The manifest (in bagit's order), the opening index.html and the tag manifest; the digests
    kept for the next run."""
    bag_dir = payload.bag_dir
    lines = "".join(f"{digests[rel]}  {bagit._encode_filename('data/' + rel)}\n" for rel in payload.files)
    (bag_dir / MANIFEST).write_text(lines, encoding="utf-8")
    (bag_dir / "index.html").write_text(ROOT_INDEX.format(title=html.escape(title, quote=False)), encoding="utf-8")
    # bagit's writer of the tag manifest (Bag.save's); it needs the tag files' folder as the
    # working directory's relative names.
    where = bag_dir.absolute()
    with contextlib.chdir(where):
        bagit._make_tagmanifest_file("sha256", str(where), encoding="utf-8")
    # bagit lists the tag files in the folder's own order, which differs between file systems.
    tagmanifest = bag_dir / TAG_MANIFEST
    lines = sorted(filter(None, tagmanifest.read_text(encoding="utf-8").split("\n")),
                   key=lambda line: line.split(" ", 1)[-1])
    tagmanifest.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    if payload.cache:
        keep(payload.cache, {rel: (payload.stamps[rel], digests[rel]) for rel in payload.files})


def _bagit_order(rel: str) -> list[tuple[int, str]]:
    """bagit's manifest order (os.walk, names sorted): a folder's files, then its subfolders."""
    parts = rel.split("/")
    return [(1, p) for p in parts[:-1]] + [(0, parts[-1])]


def _sync_payload(site_dir: Path, payload: Path) -> dict[str, os.DirEntry]:
    """Make `payload` hold exactly the files of `site_dir`, as hard links where the file system
    allows (copies elsewhere); a file already linked stays. Returns the payload's files."""
    site_files, site_links = walk(site_dir)
    present = walk(payload)[0] if any(payload.iterdir()) else {}
    linkable = _same_device(site_dir, payload)
    place = os.link if linkable else shutil.copy2
    folders: set[str] = set()
    for rel, entry in site_files.items():
        there = present.get(rel)
        if there is not None and linkable and there.inode() == entry.inode():
            continue
        parent, _, name = rel.rpartition("/")
        if parent and parent not in folders:
            os.makedirs(os.path.join(payload, parent), exist_ok=True)
            folders.add(parent)
        dest = os.path.join(payload, rel)
        if there is None:
            place(entry.path, dest)
            continue
        tmp = os.path.join(payload, parent, f".{name}.link")  # replaced in one step, never missing
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        place(entry.path, tmp)
        os.replace(tmp, dest)
    for rel in site_links:  # a site holds none; copied as copytree would, so verification sees the bytes
        shutil.copy2(site_dir / rel, payload / rel)
    gone = present.keys() - site_files.keys() - set(site_links)
    for rel in gone:
        (payload / rel).unlink(missing_ok=True)
    for folder in sorted({rel.rpartition("/")[0] for rel in gone} - {""}, key=len, reverse=True):
        while folder:
            try:
                (payload / folder).rmdir()  # only once empty
            except OSError:
                break
            folder = folder.rpartition("/")[0]
    return walk(payload)[0]


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


def manifest_digests(text: str) -> dict[str, str]:
    """{path: SHA-256} from a manifest's text. Paths bagit had to percent-encode (holding %, CR
    or LF) are left out, so whoever uses this falls back to comparing bytes for them."""
    pairs = (line.split(None, 1) for line in text.split("\n") if line.strip())
    return {path: digest for digest, path in pairs if "%" not in path}


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
    `bag_dir`: where the bag is made and left (for `verify_made_zip`, and for the next run to
    bring up to date; its name is the zip's top folder), else a temporary folder;
    `previous`: the zip this replaces, whose unchanged entries are copied (write_reproducible_zip);
    `facts`: corpus_facts of `content` when the caller has them; `digests_cache`: see make_bag."""
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


def replace_if_changed(staged: Path, dest: Path, digest: str, size: int) -> bool:
    """Put `staged` (SHA-256 `digest`, `size` bytes) at `dest` atomically, unless `dest` already
    holds those bytes: an unchanged archive keeps its modification time. True when `dest` changed."""
    if dest.is_file() and dest.stat().st_size == size and sha256_file(dest) == digest:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    move_into_place(staged, dest)
    return True


def _same_device(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def move_into_place(staged: Path, dest: Path) -> None:
    """Replace `dest` with `staged` atomically: a rename on one file system, else copy then rename."""
    if _same_device(staged, dest.parent):
        os.replace(staged, dest)
    else:
        _copy_replace(staged, dest)


def _copy_replace(src: Path, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        shutil.copymode(src, tmp)  # mkstemp's file is owner-only; the archive is for others too
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# -- verifying -----------------------------------------------------------------------------

_SKIP_SCHEMES = ("mailto:", "tel:", "javascript:", "data:", "blob:", "about:")
_ASSET_LINK_RELS = {"stylesheet", "icon", "shortcut", "preload", "modulepreload", "manifest",
                    "apple-touch-icon", "prefetch"}
_CSS_URL = re.compile(r"""url\(\s*(?P<q>["']?)(?P<url>[^"')]+)(?P=q)\s*\)|@import\s+(?P<q2>["'])(?P<imp>[^"']+)(?P=q2)""")


#: Every attribute that can point at another file, and the text of <style> elements, selected in C.
_LINK_XPATH = lxml.etree.XPath("//@href|//@src|//@poster|//@data-src|//@srcset|//@style|//style/text()")


def page_links(data: bytes) -> list[tuple[int, str, str, bool]]:
    """(line, where, url, is_asset) for every link in one HTML document, parsed by lxml (libxml2's
    HTML parser: many times faster than the standard library's on a site of thousands of pages)."""
    try:
        doc = lxml.html.document_fromstring(data)
    except (lxml.etree.ParserError, ValueError):
        return []  # an empty document has no links
    links = []
    for value in _LINK_XPATH(doc):
        el = value.getparent()
        line, tag = el.sourceline or 0, str(el.tag)
        if not value.is_attribute:  # the text of a <style> element
            links += [(line, "style", u, True) for u in css_urls(str(value))]
            continue
        name = value.attrname
        if name == "srcset":
            links += [(line, f"{tag} srcset", c.split()[0], True) for c in str(value).split(",") if c.strip()]
        elif name == "style":
            links += [(line, f"{tag} style", u, True) for u in css_urls(str(value))]
        else:
            rel = set((el.get("rel") or "").lower().split())
            is_asset = name != "href" or (tag == "link" and bool(rel & _ASSET_LINK_RELS))
            links.append((line, f"{tag} {name}", str(value), is_asset))
    return links


def css_urls(css: str) -> list[str]:
    return [(m.group("url") or m.group("imp")).strip() for m in _CSS_URL.finditer(css)]


class LinkChecker:
    """Checks that links in a built site resolve to files inside it, the way a browser reads them from disk."""

    def __init__(self, site_dir: Path, siteurl: str | None = None, allow_folder_links: bool = False):
        self.root = Path(site_dir).resolve()
        self.siteurl = (siteurl or "").rstrip("/")
        self.allow_folder_links = allow_folder_links
        self.errors: list[str] = []
        self.checked = 0
        self._resolved: dict[tuple[str, bool], tuple[int, str | None, str | None]] = {}
        self._resolved_in: str | None = None

    def check_all(self, cache_file: Path | None = None) -> int:
        """Check every .html and .css file; returns the number of HTML files read.

        `cache_file`: what each page links to, by the digest of its bytes, kept from the last
        check, so that a page whose bytes did not change is not parsed again (its targets are
        still looked up in this site's files)."""
        # One walk gives every file and folder; links are then resolved as strings, which on a
        # site of thousands of pages is many times faster than asking the file system each time.
        self.files: set[str] = set()
        self.dirs: set[str] = {"."}
        for folder, dirnames, filenames in os.walk(self.root):
            rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
            self.dirs.update(posixpath.normpath(f"{rel}/{d}") for d in dirnames)
            self.files.update(posixpath.normpath(f"{rel}/{f}") for f in filenames)
        cache = load_kept(cache_file, {})
        kept: dict[str, PageLinks] = {}
        html_files = 0
        for rel in sorted(self.files):
            if rel.endswith((".html", ".htm")):
                html_files += 1
                data = (self.root / rel).read_bytes()
                digest = hashlib.blake2b(data, digest_size=16).digest()
                facts = cache.get(rel)
                if facts is None or facts.digest != digest:
                    facts = self._page_links(rel, digest, page_links(data))
                kept[rel] = facts
                self._apply(rel, facts, data)
            elif rel.endswith(".css"):
                text = (self.root / rel).read_text(encoding="utf-8", errors="replace")
                for url in css_urls(text):
                    self.check(rel, 0, "css url()", url, True)
        if cache_file is not None:
            keep(cache_file, kept)
        return html_files

    def _page_links(self, page_rel: str, digest: bytes, links) -> PageLinks:
        """What a page's links come to, whatever files the site holds: errors that need no
        lookup, and the paths its links resolve to."""
        count, static, targets = 0, [], set()
        for line, where, url, is_asset in links:
            counted, error, resolved = self._resolve(page_rel, line, where, url, is_asset)
            count += counted
            if error:
                static.append(error)
            elif resolved is not None:
                targets.add(resolved)
        return PageLinks(digest, count, tuple(static), tuple(sorted(targets)))

    def _apply(self, page_rel: str, facts: PageLinks, data: bytes) -> None:
        if all(self._target_problem(t) is None for t in facts.targets):
            self.checked += facts.count
            self.errors += facts.static_errors
        else:  # a target is missing: read the page again for the line and attribute of each
            for line, where, url, is_asset in page_links(data):
                self.check(page_rel, line, where, url, is_asset)

    def check(self, page_rel: str, line: int, where: str, url: str, is_asset: bool) -> None:
        """`page_rel`: the page's path inside the site, with `/`."""
        counted, error, resolved = self._resolve(page_rel, line, where, url, is_asset)
        self.checked += counted
        if error:
            self.errors.append(error)
        elif resolved is not None:
            problem = self._target_problem(resolved)
            if problem:
                self._error(f"{page_rel}:{line}" if line else page_rel, where, url, problem)

    def _resolve(self, page_rel: str, line: int, where: str, url: str,
                 is_asset: bool) -> tuple[int, str | None, str | None]:
        """(1 if the link counts as checked, an error that needs no file lookup, the path inside
        the site the link resolves to)."""
        folder = page_rel.rpartition("/")[0]
        if folder != self._resolved_in:
            # Pages are checked folder by folder (sorted), and the pages of a folder share most
            # links (navigation, theme, neighbours): a link is resolved once per folder.
            self._resolved.clear()
            self._resolved_in = folder
        key = (url, is_asset)
        known = self._resolved.get(key)
        if known is None:
            known = self._resolved[key] = self._resolve_from(folder, url, is_asset)
        counted, why, resolved = known
        if why is None:
            return counted, None, resolved
        return counted, _message(f"{page_rel}:{line}" if line else page_rel, where, url, why), None

    def _resolve_from(self, folder: str, url: str, is_asset: bool) -> tuple[int, str | None, str | None]:
        """_resolve for a page in `folder`, the error as its reason alone."""
        url = url.strip()
        if not url or url.startswith("#") or url.lower().startswith(_SKIP_SCHEMES):
            return 0, None, None
        parts = urlsplit(url)
        path = unquote(parts.path)
        if parts.scheme or url.startswith("//"):
            if self.siteurl and url.startswith(self.siteurl + "/"):
                target = unquote(urlsplit(url[len(self.siteurl):]).path).lstrip("/") or "."
            elif self.siteurl and url == self.siteurl:
                target = "."
            else:
                if is_asset:
                    return 1, "external asset: the offline site must not need the network", None
                return 1, None, None
        elif url.startswith("/"):
            return 1, "root-relative link: from disk it points at the file system's root", None
        else:
            if not path:
                return 1, None, None  # `?query` alone: the page itself
            target = posixpath.join(folder, path)
        resolved = posixpath.normpath(target)
        if resolved == ".." or resolved.startswith("../"):
            return 1, "points outside the site", None
        return 1, None, resolved

    def _target_problem(self, resolved: str) -> str | None:
        if resolved in self.dirs:
            if not self.allow_folder_links:
                return "links to a folder: from disk that opens a file listing; spell out index.html"
            if posixpath.normpath(f"{resolved}/index.html") not in self.files:
                return "folder has no index.html"
            return None
        if resolved not in self.files:
            return f"missing: {resolved} is not in the site"
        return None

    def _error(self, here: str, where: str, url: str, why: str) -> None:
        self.errors.append(_message(here, where, url, why))


def _message(here: str, where: str, url: str, why: str) -> str:
    return f"{here}: {where}={url!r}: {why}"


@dataclass(frozen=True)
class PageLinks:
    """One page's links, as LinkChecker keeps them between checks (see check_all)."""

    digest: bytes
    count: int
    static_errors: tuple[str, ...]
    targets: tuple[str, ...]


def article_pages(site_dir: Path, article_save_as: str) -> list[str]:
    """Article pages found by the ARTICLE_SAVE_AS pattern (`{date:%Y}/{date:%m}/{slug}.html` -> `*/*/*.html`)."""
    pattern = re.sub(r"\{[^}]*\}", "*", article_save_as)
    return sorted(p.relative_to(site_dir).as_posix() for p in Path(site_dir).glob(pattern) if p.is_file())


def check_articles(site_dir: Path, expected_count: int | None, result: Verification) -> None:
    """Every article in data/articles.jsonl has its page; without the export, the article pages
    found by ARTICLE_SAVE_AS must number `expected_count`."""
    export = Path(site_dir) / ARTICLES_EXPORT
    if export.is_file():
        result.article_source = ARTICLES_EXPORT
        count = 0
        # Records end at "\n" only: str.splitlines() also splits at U+2028, U+2029 and U+0085,
        # which JSON strings may hold as they are.
        for n, line in enumerate(export.read_text(encoding="utf-8").split("\n"), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                result.errors.append(f"{ARTICLES_EXPORT}:{n}: not JSON ({exc})")
                continue
            url = next((record[k] for k in ARTICLE_URL_KEYS if isinstance(record.get(k), str)), None)
            if url is None:
                result.errors.append(f"{ARTICLES_EXPORT}:{n}: no page URL (looked for {', '.join(ARTICLE_URL_KEYS)})")
                continue
            count += 1
            page = Path(site_dir) / unquote(urlsplit(url).path).lstrip("/")
            if not page.is_file():
                result.errors.append(f"{ARTICLES_EXPORT}:{n}: article {record.get('title', url)!r} "
                                     f"has no page at {url}")
        result.articles_checked = count
        if expected_count is not None and count != expected_count:
            result.errors.append(f"{ARTICLES_EXPORT} lists {count} articles; the content has {expected_count}")
        return
    pattern = site.load_settings("offline")["ARTICLE_SAVE_AS"]
    pages = article_pages(site_dir, pattern)
    result.article_source = f"pages matching {pattern}"
    result.articles_checked = len(pages)
    if expected_count is not None and len(pages) != expected_count:
        result.errors.append(f"{len(pages)} article pages match {pattern}; the content has {expected_count} articles")


def verify_site(site_dir: Path, expected_articles: int | None = None, siteurl: str | None = None,
                allow_folder_links: bool = False, link_cache: Path | None = None) -> Verification:
    """Links and article pages of a built site (no bag)."""
    result = Verification()
    checker = LinkChecker(site_dir, siteurl=siteurl, allow_folder_links=allow_folder_links)
    result.html_files = checker.check_all(link_cache)
    result.links_checked = checker.checked
    result.errors += checker.errors
    check_articles(site_dir, expected_articles, result)
    return result


def verify_bag_dir(bag_dir: Path, own: bool = False, link_cache: Path | None = None,
                   checksums: bool = True, site_check: Verification | None = None,
                   walked: tuple[dict[str, os.DirEntry], list[str]] | None = None) -> Verification:
    """Validate the bag (bagit), then the links and articles of its payload.
    `own`: a bag this process made (see OwnBag); `link_cache`: see LinkChecker.check_all;
    `checksums=False`: bagit checks all but the files' checksums (structure, Payload-Oxum, every
    file in a manifest and every manifest entry a file), for a caller that checks those itself;
    `site_check`: verify_site's result for the very files of the payload, run by the caller
    (the payload's files are hard links of the site it checked), so they are not read twice;
    `walked`: walk(bag_dir), when the caller has it."""
    bag_dir = Path(bag_dir)
    result = Verification()
    files, links = walked or walk(bag_dir)
    if links:
        result.errors.append(f"the bag holds symbolic links: {', '.join(sorted(links)[:5])}")
        return result
    try:
        bag = OwnBag(str(bag_dir), files) if own else bagit.Bag(str(bag_dir))
        bag.validate(processes=2 if own else 1, completeness_only=not checksums)
    except (bagit.BagError, OSError, ValueError) as exc:
        result.errors.append(f"not a valid BagIt bag: {exc}")
        return result
    # bagit checks that every payload file is in the payload manifest, but not that the files
    # beside data/ are in the tag manifest: anything a manifest does not list is an error here.
    listed = {os.path.normpath(path) for path in bag.entries}
    unlisted = sorted(rel for rel in files if rel not in listed and not TAG_MANIFEST_NAME.fullmatch(rel))
    for rel in unlisted[:20]:
        result.errors.append(f"{rel} is not listed in any manifest of the bag")
    if len(unlisted) > 20:
        result.errors.append(f"... and {len(unlisted) - 20} more files no manifest lists")
    index = bag_dir / "index.html"
    if not index.is_file() or "data/index.html" not in index.read_text(encoding="utf-8", errors="replace"):
        result.errors.append("index.html at the top of the bag is missing or does not open data/index.html")
    payload = bag_dir / "data"
    if not (payload / "index.html").is_file():
        result.errors.append("data/index.html (the site's home page) is missing")
    count = bag.info.get("Article-Count")
    expected = int(count) if isinstance(count, str) and count.isdigit() else None
    if site_check is None:
        site_check = verify_site(payload, expected, link_cache=link_cache)
    elif expected is not None and site_check.articles_checked != expected:
        result.errors.append(f"{site_check.articles_checked} article pages checked; the bag holds {count} articles")
    result.errors += [f"data/{e}" for e in site_check.errors]
    result.html_files, result.links_checked = site_check.html_files, site_check.links_checked
    result.articles_checked, result.article_source = site_check.articles_checked, site_check.article_source
    return result


def verify_zip(zip_path: Path, work_dir: Path | None = None) -> Verification:
    """Check a zip from anywhere: its bytes are the zip this module writes for its entries
    (`zip_layout_problem`), every entry reads back whole (its CRC-32 checked), and the unpacked
    bag passes verify_bag_dir. A damaged zip gets a verdict naming the damage, never an exception."""
    zip_path = Path(zip_path)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, *UNREADABLE_ZIP) as exc:
        why = "the file is empty" if zip_path.is_file() and zip_path.stat().st_size == 0 else exc
        return Verification(errors=[f"{zip_path}: not a readable zip ({why})"])
    with zf, tempfile.TemporaryDirectory(prefix="broadsheet-verify-", dir=work_dir) as tmp:
        names = zf.namelist()
        tops = {n.split("/", 1)[0] for n in names}
        if len(tops) != 1 or any("/" not in n for n in names):
            return Verification(errors=[f"{zip_path}: expected one top-level folder, found {sorted(tops)[:5]}"])
        bad = [n for n in names if n.startswith("/") or ".." in n.split("/")]
        if bad:
            return Verification(errors=[f"{zip_path}: unsafe entry names {bad[:5]}"])
        errors = []
        try:
            problem = zip_layout_problem(zf)
        except (OSError, *UNREADABLE_ZIP) as exc:
            problem = f"its entries cannot be located ({exc})"
        if problem:
            errors.append(f"{zip_path}: {problem}")
        unreadable = []
        for info in zf.infolist():
            try:
                zf.extract(info, tmp)
            except (OSError, *UNREADABLE_ZIP) as exc:
                unreadable.append(f"{zip_path}: {info.filename} cannot be read back ({exc})")
        if unreadable:
            return Verification(errors=errors + unreadable)
        result = verify_bag_dir(Path(tmp) / tops.pop())
        result.errors[:0] = errors
        return result


def zip_layout_problem(zf: zipfile.ZipFile) -> str | None:
    """Where `zf`'s bytes differ from what write_reproducible_zip writes for the same entries, or
    None. Every header, the central directory and its end record are written anew from the
    entries' names, sizes and CRC-32s (sorted, fixed times and modes, no extra fields, no
    comment) around the compressed data read from `zf`, and compared byte for byte: a changed
    byte anywhere but in the compressed data shows here, and in the data the CRC-32 and the
    manifests' checksums show it. The data must also be one deflate stream that ends where the
    entry does: a changed bit that zlib would read past (the last block's flag, bytes after the
    stream) shows too. Only the few padding bits after a stream's end are read by no one."""
    ends: list[tuple[int, str]] = []  # (where each rewritten entry ends, its name)
    with tempfile.TemporaryFile() as out:
        with ZipWriter(out) as canon:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                data = compressed_data(zf, info)
                if info.compress_type == zipfile.ZIP_DEFLATED and not one_whole_stream(data):
                    return (f"the compressed data of {info.filename} is not one complete deflate stream: "
                            "the zip was damaged")
                canon.add_compressed(info.filename, info.CRC, info.file_size, data)
                ends.append((out.tell(), info.filename))
        out.seek(0)
        fp = zf.fp
        fp.seek(0)
        at = 0
        while True:
            mine, theirs = out.read(1 << 20), fp.read(1 << 20)
            if mine != theirs:
                at += next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
                break
            if not mine:
                return None
            at += len(mine)
    where = next((f"in the entry {name}" for end, name in ends if at < end), "in the central directory")
    return (f"byte {at} ({where}) differs from the zip Broadsheet writes for these entries "
            "(sorted, fixed times and modes): the zip was damaged or re-packed")


def verify_made_zip(zip_path: Path, bag_dir: Path, link_cache: Path | None = None,
                    site_check: Verification | None = None, workers: int | None = None) -> Verification:
    """What `invoke rebuild` checks of the zip it has just made from `bag_dir` (the folder it
    zipped): bagit finds that folder a complete bag (structure, Payload-Oxum, manifests and
    files one to one), the zip holds exactly its files, each read back whole (so its CRC-32 is
    checked) with the SHA-256 the bag's manifest or tag manifest gives it (the tag manifest
    itself: the folder's bytes), and the site inside passes verify_site. Every checksum is thus
    checked once, on the zip itself rather than on the folder. The entries are read on `workers`
    processes (see write_reproducible_zip) while bagit checks the folder in this one.
    `verify_zip` checks a zip from anywhere by unpacking it and validating with bagit alone."""
    bag_dir = Path(bag_dir)
    checked: dict[str, Any] = {}

    def check_folder() -> None:
        try:
            walked = walk(bag_dir)
            checked["files"] = walked[0].keys()
            checked["bag"] = verify_bag_dir(bag_dir, own=True, link_cache=link_cache, checksums=False,
                                            site_check=site_check, walked=walked)
        except BaseException as exc:  # raised again in the caller's thread
            checked["error"] = exc

    folder = threading.Thread(target=check_folder, name="broadsheet-verify-bag", daemon=True)
    folder.start()
    errors = _zip_against_bag(zip_path, bag_dir, folder, checked, workers)
    folder.join()
    if "error" in checked:
        raise checked["error"]
    result = checked["bag"]
    result.errors += errors
    return result


def _zip_against_bag(zip_path: Path, bag_dir: Path, folder: threading.Thread, checked: dict[str, Any],
                     workers: int | None) -> list[str]:
    """verify_made_zip's check of the zip's entries; `folder` walks the bag meanwhile."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, *UNREADABLE_ZIP) as exc:
        return [f"{zip_path}: not a readable zip ({exc})"]
    errors = []
    with zf:
        prefix = bag_dir.name + "/"
        infos = zf.infolist()
    entries = {i.filename[len(prefix):]: i for i in infos if i.filename.startswith(prefix)}
    if len(entries) != len(infos):
        errors.append(f"{zip_path}: entries outside the top-level folder {bag_dir.name}/")
    manifest: dict[str, str] = {}
    for name in (TAG_MANIFEST, MANIFEST):
        try:
            manifest.update(manifest_digests((bag_dir / name).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            pass
    names = sorted(entries)
    if workers is None:
        workers = local_workers() if len(names) >= PARALLEL_FROM_FILES else 1
    digests = list(read_digests(zip_path, (entries[n] for n in names), workers))
    folder.join()
    on_disk = checked.get("files", set())
    for name in sorted(on_disk ^ entries.keys())[:20]:
        errors.append(f"{zip_path}: {name} is {'missing from the zip' if name in on_disk else 'not in the bag'}")
    for name, digest in zip(names, digests):
        if name not in on_disk:
            continue
        if isinstance(digest, Exception):
            errors.append(f"{zip_path}: {name} is corrupt ({digest})")
        elif digest != (manifest.get(name) or sha256_file(bag_dir / name)):
            errors.append(f"{zip_path}: {name} differs from the bag's file")
    return errors


def summarize(result: Verification, limit: int = 20) -> Iterable[str]:
    yield (f"{'ok' if result.ok else 'FAILED'}: {result.html_files} HTML files, {result.links_checked} links, "
           f"{result.articles_checked} articles ({result.article_source})")
    for e in result.errors[:limit]:
        yield f"  {e}"
    if len(result.errors) > limit:
        yield f"  ... and {len(result.errors) - limit} more"
