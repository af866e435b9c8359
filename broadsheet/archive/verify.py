"""Checking an offline archive, whichever form it has: a built site, a bag folder or a zip.

`verify(path, ...)` is the one entry point; what it checks of each form is in its docstring and
in broadsheet/archive/__init__.py. A damaged archive gets a verdict naming the damage (the
`errors` of the result), never an exception.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import unquote, urlsplit

import bagit

from broadsheet import site
from broadsheet.archive.bag import MANIFEST, TAG_MANIFEST, TAG_MANIFEST_NAME, OwnBag, manifest_digests
from broadsheet.archive.link_check import LinkChecker
from broadsheet.archive.reproducible_zip import (PARALLEL_FROM_FILES, UNREADABLE_ZIP, ZipWriter, compressed_data,
                                                 one_whole_stream, read_digests)
from broadsheet.engine import local_workers
from broadsheet.files import sha256_file, walk

#: Where the site's own data exports live inside the payload (written by the archive_pages plugin).
ARTICLES_EXPORT = "data/articles.jsonl"
#: Keys of an articles.jsonl record that may hold the page's relative URL, in order of preference.
ARTICLE_URL_KEYS = ("url", "path", "href", "page", "save_as")
#: A folder holding one of these files is a bag, checked as one (and so refused when it is not a
#: valid bag), never as a site: a bag that lost its bagit.txt still fails.
BAG_MARKERS = ("bagit.txt", "bag-info.txt", "manifest-*.txt", "tagmanifest-*.txt")
#: The options of `verify` that apply to each kind of archive.
OPTIONS = {
    "site": {"expected_articles", "siteurl", "allow_folder_links", "link_cache"},
    "bag": {"own_bag", "link_cache", "site_check"},
    "zip": {"work_dir"},
    "zip made from a bag": {"made_from", "link_cache", "site_check", "workers"},
}


@dataclass
class Verification:
    """The outcome of `verify`: `errors` is empty when everything holds."""

    errors: list[str] = field(default_factory=list)
    html_files: int = 0
    links_checked: int = 0
    articles_checked: int = 0
    article_source: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        """What the rebuild report says of the check."""
        return {"ok": self.ok, "errors": self.errors, "html_files": self.html_files,
                "links_checked": self.links_checked, "articles_checked": self.articles_checked,
                "article_source": self.article_source}


def verify(path: Path, *, expected_articles: int | None = None, siteurl: str | None = None,
           allow_folder_links: bool = False, own_bag: bool = False, made_from: Path | None = None,
           link_cache: Path | None = None, site_check: Verification | None = None,
           work_dir: Path | None = None, workers: int | None = None) -> Verification:
    """Check the archive at `path`: a zip, a bag folder (see BAG_MARKERS) or a built site.

    - a site: every link resolves inside it (link_check), every article has its page.
      `expected_articles`: how many the content has; `siteurl`: the hosted site's URL, links to
      which are internal; `allow_folder_links`: for a server, which opens a folder's index.html.
    - a bag: bagit validates it, every file is in a manifest, its index.html opens data/, and the
      payload passes as a site with the bag's Article-Count. `own_bag`: made by this process
      (OwnBag: no symbolic link allowed, opened without bagit's guard per file).
    - a zip: its bytes are the ones Broadsheet writes for its entries, each entry reads back
      whole, and the bag in it, unpacked in `work_dir`, passes. `made_from`: the bag folder this
      process has just zipped; each entry is then read back (on `workers` processes) against
      that folder's manifests instead, and the folder passes as a bag.
    `link_cache`: each page's links kept by its digest between checks (LinkChecker.check_all);
    `site_check`: verify()'s result for the site the bag's payload links, so it is not read twice.
    Options that do not apply to what `path` is raise TypeError."""
    path = Path(path)
    if path.is_dir():
        kind = "bag" if is_bag(path) else "site"
    else:
        kind = "zip made from a bag" if made_from is not None else "zip"
    given = {name for name, value in (("expected_articles", expected_articles), ("siteurl", siteurl),
                                      ("allow_folder_links", allow_folder_links), ("own_bag", own_bag),
                                      ("made_from", made_from), ("link_cache", link_cache),
                                      ("site_check", site_check), ("work_dir", work_dir), ("workers", workers))
             if value is not None and value is not False}
    if given - OPTIONS[kind]:
        raise TypeError(f"verify(): {', '.join(sorted(given - OPTIONS[kind]))} do not apply to a {kind} ({path})")
    if kind == "site":
        return _verify_site(path, expected_articles, siteurl, allow_folder_links, link_cache)
    if kind == "bag":
        return _verify_bag(path, own=own_bag, link_cache=link_cache, site_check=site_check)
    if kind == "zip":
        return _verify_zip(path, work_dir)
    return _verify_made_zip(path, Path(made_from), link_cache, site_check, workers)


def is_bag(folder: Path) -> bool:
    """Whether `folder` holds any file of a bag beside its payload (BAG_MARKERS)."""
    return any(next(Path(folder).glob(marker), None) is not None for marker in BAG_MARKERS)


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


def _verify_site(site_dir: Path, expected_articles: int | None = None, siteurl: str | None = None,
                 allow_folder_links: bool = False, link_cache: Path | None = None) -> Verification:
    """Links and article pages of a built site (no bag)."""
    result = Verification()
    checker = LinkChecker(site_dir, siteurl=siteurl, allow_folder_links=allow_folder_links)
    result.html_files = checker.check_all(link_cache)
    result.links_checked = checker.checked
    result.errors += checker.errors
    check_articles(site_dir, expected_articles, result)
    return result


def _verify_bag(bag_dir: Path, own: bool = False, link_cache: Path | None = None,
                checksums: bool = True, site_check: Verification | None = None,
                walked: tuple[dict[str, os.DirEntry], list[str]] | None = None) -> Verification:
    """Validate the bag (bagit), then the links and articles of its payload.
    `own`, `link_cache`, `site_check`: see verify;
    `checksums=False`: bagit checks all but the files' checksums (structure, Payload-Oxum, every
    file in a manifest and every manifest entry a file), for a caller that checks those itself;
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
        site_check = _verify_site(payload, expected, link_cache=link_cache)
    elif expected is not None and site_check.articles_checked != expected:
        result.errors.append(f"{site_check.articles_checked} article pages checked; the bag holds {count} articles")
    result.errors += [f"data/{e}" for e in site_check.errors]
    result.html_files, result.links_checked = site_check.html_files, site_check.links_checked
    result.articles_checked, result.article_source = site_check.articles_checked, site_check.article_source
    return result


def _verify_zip(zip_path: Path, work_dir: Path | None = None) -> Verification:
    """Check a zip from anywhere: its bytes are the zip Broadsheet writes for its entries
    (`zip_layout_problem`), every entry reads back whole (its CRC-32 checked), and the unpacked
    bag passes _verify_bag. A damaged zip gets a verdict naming the damage, never an exception."""
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
        result = _verify_bag(Path(tmp) / tops.pop())
        result.errors[:0] = errors
        return result


def zip_layout_problem(zf: zipfile.ZipFile) -> str | None:
    """Where `zf`'s bytes differ from what bag_zip writes for the same entries, or None.
    Every header, the central directory and its end record are written anew from the
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


def _verify_made_zip(zip_path: Path, bag_dir: Path, link_cache: Path | None = None,
                     site_check: Verification | None = None, workers: int | None = None) -> Verification:
    """What `invoke rebuild` checks of the zip it has just made from `bag_dir` (the folder it
    zipped): bagit finds that folder a complete bag (structure, Payload-Oxum, manifests and
    files one to one), the zip holds exactly its files, each read back whole (so its CRC-32 is
    checked) with the SHA-256 the bag's manifest or tag manifest gives it (the tag manifest
    itself: the folder's bytes), and the site inside passes _verify_site. Every checksum is thus
    checked once, on the zip itself rather than on the folder. The entries are read on `workers`
    processes (see bag_zip.write_reproducible_zip) while bagit checks the folder in this one.
    _verify_zip checks a zip from anywhere by unpacking it and validating with bagit alone."""
    bag_dir = Path(bag_dir)
    checked: dict[str, Any] = {}

    def check_folder() -> None:
        try:
            walked = walk(bag_dir)
            checked["files"] = walked[0].keys()
            checked["bag"] = _verify_bag(bag_dir, own=True, link_cache=link_cache, checksums=False,
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
    """_verify_made_zip's check of the zip's entries; `folder` walks the bag meanwhile."""
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
    """The lines `invoke verify-zip` prints: a verdict with the counts, then the first errors."""
    yield (f"{'ok' if result.ok else 'FAILED'}: {result.html_files} HTML files, {result.links_checked} links, "
           f"{result.articles_checked} articles ({result.article_source})")
    for e in result.errors[:limit]:
        yield f"  {e}"
    if len(result.errors) > limit:
        yield f"  ... and {len(result.errors) - limit} more"
