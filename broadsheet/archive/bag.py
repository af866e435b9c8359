"""The BagIt bag of the offline site: its payload kept in step with the site, its tag files, and
what bag-info.txt says about the articles.

`make_bag` writes what bagit.make_bag and Bag.save write (bagit's own writers for bag-info.txt
and the tag manifest), but brings an earlier bag of the site up to date instead of copying and
hashing every file again; `bag_zip.zip_bag` uses the same pieces to make the bag and its zip in
one reading of the files.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import bagit

from broadsheet import __version__
from broadsheet.article import front_matter_problems, split_markdown_file
from broadsheet.files import same_device, sha256_file, walk
from broadsheet.cache import changed_keys, stamp, stamp_of
from broadsheet.reuse import keep_map, load_kept_map
from broadsheet.versions import is_version_path

#: The payload manifest of Broadsheet's bags (SHA-256 only), and the tag files' manifest.
MANIFEST = "manifest-sha256.txt"
TAG_MANIFEST = "tagmanifest-sha256.txt"
#: Tag manifests list every other file of the bag but themselves.
TAG_MANIFEST_NAME = re.compile(r"tagmanifest-[a-z0-9]+\.txt")
#: What bagit writes as bagit.txt (BagIt 0.97, the version bagit.make_bag writes).
BAGIT_TXT = "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"
#: The files of a bag beside data/, in the zip's (sorted) order: those before the payload's
#: entries, written first, and those after, written once every payload file's digest is known.
HEAD_TAG_FILES = ("bag-info.txt", "bagit.txt")
TAIL_TAG_FILES = ("index.html", MANIFEST, TAG_MANIFEST)
#: The bag's own index.html, beside data/: what someone who unpacks the zip opens first.
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


@dataclass(frozen=True)
class CorpusFacts:
    """What bag-info.txt says about the articles: derived from the content, never from the clock."""

    article_count: int
    first_date: str | None  # YYYY-MM-DD in the source's local time
    last_date: str | None

def corpus_facts(content: Path, cache_file: Path | None = None) -> CorpusFacts:
    """Count the articles under `content/` and find their date range (drafts and hidden excluded).
    `cache_file`: each file's finding by its stamp (broadsheet.cache.stamp), kept between
    runs so that a rebuild reads again only the files that changed."""
    known = load_kept_map(cache_file)
    seen: dict[str, tuple[tuple, str | None]] = {}
    dates = []
    for path in sorted(Path(content).rglob("*.md")):
        rel = path.relative_to(content)
        if any(part.startswith(".") for part in rel.parts) or is_version_path(rel):
            continue  # hidden, or an earlier version of an article (broadsheet/versions.py)
        found = stamp(path)
        if found is None:
            continue
        cached = known.get(rel.as_posix())
        if cached is not None and cached[0] == found:
            date = cached[1]
        else:
            date = _published_date(path)
        seen[rel.as_posix()] = (found, date)
        if date is not None:
            dates.append(date)
    if cache_file is not None:
        keep_map(cache_file, seen, changed_keys(known, seen))
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
    """bag-info.txt's fields (less the Payload-Oxum, which make_bag adds) from the site's settings."""
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


class OwnBag(bagit.Bag):
    """A bag this process has just made in a folder of its own. bagit guards every manifest path
    of a bag from elsewhere against pointing outside it through symbolic links, with one
    `realpath` per file: most of the time of opening a bag of 40,000 files. Here the paths were
    written by `make_bag` from the files it walked and `verify` checks the folder holds no
    symbolic link, so the guard is the same check on the path's text. bagit also walks the
    payload once for the Payload-Oxum and once for completeness, a relpath per file each time;
    `files` is verify's walk of the bag, given as those walks would find it."""

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
    `bag_zip.zip_bag` makes the bag and its zip in one reading of the files."""
    payload = Payload(site_dir, bag_dir, digests_cache)
    write_head_tag_files(payload, info)
    digests = {rel: payload.known.get(rel) or sha256_file(payload.dir / rel) for rel in payload.files}
    write_tail_tag_files(payload, digests, title)
    return payload.bag_dir


class Payload:
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
            self.stamps[rel] = stamp_of(st)
            self.bytes += st.st_size
        self.kept = load_kept_map(digests_cache)  # {rel: (stamp, digest)} of the last run
        self.known: dict[str, str] = {}
        for rel, now in self.stamps.items():
            old = self.kept.get(rel)
            if old and old[0] == now:
                self.known[rel] = old[1]


def write_head_tag_files(payload: Payload, info: dict[str, str]) -> None:
    """bagit.txt, and bag-info.txt with the Payload-Oxum (from the files' sizes)."""
    (payload.bag_dir / "bagit.txt").write_text(BAGIT_TXT, encoding="utf-8")
    # bagit's own writer of bag-info.txt, the one Bag.save calls: Bag.save would first open the
    # bag and after read every manifest back (seconds at 40,000 files).
    bagit._make_tag_file(str(payload.bag_dir / "bag-info.txt"),
                         {**info, "Payload-Oxum": f"{payload.bytes}.{len(payload.files)}"})


def write_tail_tag_files(payload: Payload, digests: dict[str, str], title: str) -> None:
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
        new = {rel: (payload.stamps[rel], digests[rel]) for rel in payload.files}
        keep_map(payload.cache, new, changed_keys(payload.kept, new))


def _bagit_order(rel: str) -> list[tuple[int, str]]:
    """bagit's manifest order (os.walk, names sorted): a folder's files, then its subfolders."""
    parts = rel.split("/")
    return [(1, p) for p in parts[:-1]] + [(0, parts[-1])]


def _sync_payload(site_dir: Path, payload: Path) -> dict[str, os.DirEntry]:
    """Make `payload` hold exactly the files of `site_dir`, as hard links where the file system
    allows (copies elsewhere); a file already linked stays. Returns the payload's files."""
    site_files, site_links = walk(site_dir)
    present = walk(payload)[0] if any(payload.iterdir()) else {}
    linkable = same_device(site_dir, payload)
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


def manifest_digests(text: str) -> dict[str, str]:
    """{path: SHA-256} from a manifest's text. Paths bagit had to percent-encode (holding %, CR
    or LF) are left out, so whoever uses this falls back to comparing bytes for them."""
    pairs = (line.split(None, 1) for line in text.split("\n") if line.strip())
    return {path: digest for digest, path in pairs if "%" not in path}


