"""The offline zip: a valid BagIt bag, byte-for-byte reproducible, checked link by link, readable from disk."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import bagit
import pytest

from broadsheet.archive import bag
from broadsheet.archive.bag_zip import write_reproducible_zip
from broadsheet.archive.offline import make_offline_zip
from broadsheet.archive.reproducible_zip import FILE_MODE, ZIP_TIMESTAMP
from broadsheet.archive.verify import article_pages, summarize, verify
from broadsheet.article import read_markdown_file
from broadsheet.cache import STORE_FILE
from conftest import ROOT, ingest_into


@pytest.fixture(scope="module")
def sample_content(tmp_path_factory):
    content = tmp_path_factory.mktemp("bag-content") / "content"
    ingest_into(ROOT / "raw", content)
    return content


def expected_facts(content: Path) -> tuple[int, str, str]:
    """Article count and first/last day, read through the shared model."""
    days = sorted(read_markdown_file(p.read_text(encoding="utf-8")).date.date().isoformat()
                  for p in content.rglob("*.md"))
    return len(days), days[0], days[-1]


@pytest.fixture(scope="module")
def sample_zip(sample_content, tmp_path_factory):
    return make_offline_zip(sample_content, tmp_path_factory.mktemp("bag-zip") / "broadsheet-archive.zip")


def unpack(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)
    return dest / zip_path.stem


def test_zip_is_a_valid_bag_with_the_site_as_payload(sample_content, sample_zip, tmp_path):
    root = unpack(sample_zip.path, tmp_path)
    b = bagit.Bag(str(root))
    b.validate()  # raises on any missing file or checksum mismatch
    assert (root / "data" / "index.html").is_file()
    assert "data/index.html" in (root / "index.html").read_text()
    assert "sha256" in b.algorithms
    payload = {p.relative_to(root).as_posix() for p in (root / "data").rglob("*") if p.is_file()}
    assert payload == set(b.payload_entries())
    info = b.info
    count, first, last = expected_facts(sample_content)
    assert info["Article-Count"] == str(count)
    assert info["Date-Range"] == f"{first}/{last}"
    assert info["Bagging-Date"] == last  # the content's date, not today's
    assert info["Source-Organization"] == "Al-Alam News Network (English)"
    assert info["Bag-Software-Agent"].startswith("Broadsheet ")
    # index.html at the top is covered by the tag manifest
    assert "index.html" in (root / "tagmanifest-sha256.txt").read_text()


def test_zip_entries_are_sorted_with_fixed_time_and_mode(sample_zip):
    with zipfile.ZipFile(sample_zip.path) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert all(n.startswith("broadsheet-archive/") for n in names)
    assert {i.date_time for i in infos} == {ZIP_TIMESTAMP}
    assert {(i.external_attr >> 16) & 0o777 for i in infos} == {0o644}


def test_verify_zip_accepts_the_sample(sample_content, sample_zip):
    result = verify(sample_zip.path)
    assert result.ok, "\n".join(summarize(result))
    assert result.html_files >= 2 and result.links_checked > 0
    assert result.articles_checked == expected_facts(sample_content)[0]


def test_two_builds_of_the_same_content_give_the_same_zip(sample_content, sample_zip, tmp_path):
    again = make_offline_zip(sample_content, tmp_path / "broadsheet-archive.zip")
    assert again.sha256 == sample_zip.sha256
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == hashlib.sha256(sample_zip.path.read_bytes()).hexdigest()


def test_content_copied_elsewhere_gives_the_same_zip(sample_content, sample_zip, tmp_path):
    """File modification times and paths on disk do not leak into the zip."""
    moved = tmp_path / "elsewhere" / "content"
    shutil.copytree(sample_content, moved)  # new mtimes
    assert make_offline_zip(moved, tmp_path / "broadsheet-archive.zip").sha256 == sample_zip.sha256


def _rebag_with(zip_path: Path, tmp_path: Path, edit) -> Path:
    """Unpack, let `edit` change the payload, re-make the manifests, zip again."""
    root = unpack(zip_path, tmp_path / "unpacked")
    edit(root / "data")
    bagit.Bag(str(root)).save(manifests=True)
    out = tmp_path / "tampered" / zip_path.name
    write_reproducible_zip(root, out, zip_path.stem)
    return out


def test_verify_zip_catches_a_broken_link(sample_zip, tmp_path):
    def break_link(data: Path):
        page = data / "index.html"
        page.write_text(page.read_text().replace("</body>", '<a href="2016/03/no-such-article.html">x</a></body>'))

    result = verify(_rebag_with(sample_zip.path, tmp_path, break_link))
    assert not result.ok
    assert any("no-such-article.html" in e and "missing" in e for e in result.errors), result.errors


@pytest.mark.parametrize("link, why", [
    ('<a href="/2016/index.html">x</a>', "root-relative"),
    ('<a href="archive/">x</a>', "folder"),
    ('<script src="https://cdn.example.org/lib.js"></script>', "external asset"),
    ('<img src="../outside.png">', "outside the site"),
])
def test_verify_zip_catches_links_that_break_from_disk(sample_zip, tmp_path, link, why):
    def add_link(data: Path):
        (data / "archive").mkdir(exist_ok=True)
        (data / "archive" / "index.html").write_text("<p>archive</p>")
        page = data / "index.html"
        page.write_text(page.read_text().replace("</body>", link + "</body>"))

    result = verify(_rebag_with(sample_zip.path, tmp_path, add_link))
    assert any(why in e for e in result.errors), result.errors


def test_verify_zip_catches_a_missing_css_asset(sample_zip, tmp_path):
    def add_css(data: Path):
        (data / "extra.css").write_text("body { background: url('img/missing.png'); }")

    result = verify(_rebag_with(sample_zip.path, tmp_path, add_css))
    assert any("extra.css" in e and "img/missing.png" in e for e in result.errors), result.errors


def test_verify_zip_catches_a_missing_article_page(sample_zip, tmp_path):
    def drop_article(data: Path):
        for page in article_pages(data, "{date:%Y}/{date:%m}/{slug}.html"):
            (data / page).unlink()

    result = verify(_rebag_with(sample_zip.path, tmp_path, drop_article))
    assert not result.ok
    assert any("article" in e for e in result.errors), result.errors


def test_verify_zip_catches_a_corrupted_payload(sample_zip, tmp_path):
    root = unpack(sample_zip.path, tmp_path / "unpacked")
    page = root / "data" / "index.html"
    page.write_text(page.read_text() + "<!-- changed after bagging -->")
    out = tmp_path / "broadsheet-archive.zip"
    write_reproducible_zip(root, out, "broadsheet-archive")
    result = verify(out)
    assert any("not a valid BagIt bag" in e for e in result.errors), result.errors


def test_offline_links_plugin_spells_out_folder_links():
    import sys

    sys.path.insert(0, str(ROOT / "plugins"))
    from offline_links import spell_out_folder_links

    html = '<a href="./">h</a><a href="../">u</a><a href="..">p</a><a href="2016/#x">y</a>' \
           '<a href="https://example.org/">e</a><a href="/abs/">r</a><a href="a.html">a</a>'
    assert spell_out_folder_links(html) == (
        '<a href="./index.html">h</a><a href="../index.html">u</a><a href="../index.html">p</a>'
        '<a href="2016/index.html#x">y</a><a href="https://example.org/">e</a><a href="/abs/">r</a><a href="a.html">a</a>')


@pytest.mark.browser
def test_zip_opens_from_disk_with_working_navigation(sample_zip, tmp_path, browser):
    """Unzipped anywhere, index.html shows the site and its links work from file://.
    Search is tested only when the search plugin's search.html (with its script) is in the site."""
    root = unpack(sample_zip.path, tmp_path)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto((root / "index.html").as_uri())
    page.wait_for_url("**/data/index.html")
    assert "Broadsheet archive" in page.content()
    article = page.locator("a[href*='syrian-army-troops-take-key-areas']").first
    article.click()
    page.wait_for_load_state()
    assert page.url.endswith("syrian-army-troops-take-key-areas-from-isis-in-latakia-kill-militants-in-raqqa.html")
    assert "Latakia" in page.inner_text("body")
    home = page.locator("a[href$='index.html']").first
    home.click()
    page.wait_for_load_state()
    assert page.url.endswith("/data/index.html")
    search = root / "data" / "search.html"
    # Search belongs to the search plugin and the theme: checked once its page carries its script.
    if search.is_file() and "<script" in search.read_text(encoding="utf-8"):
        page.goto(search.as_uri() + "?q=Latakia")
        page.wait_for_selector("a[href*='syrian-army-troops-take-key-areas']", timeout=10_000)
    assert not errors, errors
    page.close()


def test_verify_made_zip_checks_the_zip_against_the_bag_it_was_made_from(sample_zip, tmp_path):
    bag_dir = unpack(sample_zip.path, tmp_path / "bag")
    cache = tmp_path / "links.pickle"
    first = verify(sample_zip.path, made_from=bag_dir, link_cache=cache)
    assert first.ok, first.errors
    again = verify(sample_zip.path, made_from=bag_dir, link_cache=cache)  # pages read from the cache
    assert again.ok and (again.links_checked, again.html_files) == (first.links_checked, first.html_files)

    # A page that loses its target is caught even though its own bytes (and cache entry) did not change.
    target = next(p for p in sorted((bag_dir / "data").rglob("*.html")) if "/20" in p.as_posix())
    target.unlink()
    bagit.Bag(str(bag_dir)).save(manifests=True)
    result = verify(sample_zip.path, made_from=bag_dir, link_cache=cache)
    assert any("missing from the zip" in e or "not in the bag" in e for e in result.errors)
    assert any(f"missing: data/{target.relative_to(bag_dir / 'data').as_posix()}" in e or
               f"missing: {target.relative_to(bag_dir / 'data').as_posix()}" in e for e in result.errors)

    # A zip whose entry differs from the bag's file, and a bag folder that no longer matches its manifest.
    altered = tmp_path / "altered" / bag_dir.name
    shutil.copytree(bag_dir, altered)
    (altered / "data" / "index.html").write_bytes(b"<!DOCTYPE html><title>x</title><h1>changed</h1>")
    other = tmp_path / "other" / sample_zip.path.name
    write_reproducible_zip(altered, other, bag_dir.name)
    result = verify(other, made_from=bag_dir, link_cache=cache)
    assert any("data/index.html differs from the bag's file" in e for e in result.errors)
    result = verify(sample_zip.path, made_from=altered, link_cache=cache)
    assert any("not a valid BagIt bag" in e for e in result.errors)


def _zip_at_level(folder: Path, zip_path: Path, root: str, level: int) -> None:
    """As write_reproducible_zip, at another compression level (other compressed bytes, same files)."""
    with zipfile.ZipFile(zip_path, "w") as zf:
        for rel in sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()):
            entry = zipfile.ZipInfo(f"{root}/{rel}", date_time=ZIP_TIMESTAMP)
            entry.create_system = 3
            entry.external_attr = (0o100000 | FILE_MODE) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, (folder / rel).read_bytes(), compresslevel=level)


def _small_site(root: Path) -> Path:
    (root / "2016").mkdir(parents=True)
    for n in range(5):
        (root / "2016" / f"page-{n}.html").write_text(f"<p>page {n} " + "text " * 200 + "</p>")
    (root / "index.html").write_text("<p>home</p>")
    return root


def _rewrite(path: Path, text: str) -> None:
    """Replace a file as every Broadsheet writer does: a new file, never the old one overwritten."""
    path.unlink()
    path.write_text(text)


def test_unchanged_entries_are_copied_from_the_previous_zip(tmp_path):
    source = _small_site(tmp_path / "site")
    site_dir = bag.make_bag(source, tmp_path / "archive", {"Article-Count": "5"}, "Archive")
    previous = tmp_path / "previous.zip"
    _zip_at_level(site_dir, previous, "archive", 9)

    _rewrite(source / "2016" / "page-3.html", "<p>page 3, corrected</p>")
    bag.make_bag(source, site_dir, {"Article-Count": "5"}, "Archive")
    fresh, updated = tmp_path / "fresh.zip", tmp_path / "updated.zip"
    write_reproducible_zip(site_dir, fresh, "archive")
    write_reproducible_zip(site_dir, updated, "archive", previous=previous)

    with zipfile.ZipFile(updated) as u, zipfile.ZipFile(fresh) as f, zipfile.ZipFile(previous) as p:
        assert u.testzip() is None and u.namelist() == f.namelist()
        assert all(u.read(n) == f.read(n) for n in f.namelist())
        sizes = {i.filename: i.compress_size for i in u.infolist()}
        # Unchanged pages came from the previous zip as they were (level 9 there, 6 when fresh)...
        assert sizes["archive/data/2016/page-1.html"] == p.getinfo("archive/data/2016/page-1.html").compress_size
        # ...the changed page and the tag files were compressed again.
        assert sizes["archive/data/2016/page-3.html"] == f.getinfo("archive/data/2016/page-3.html").compress_size
    # Copies of a zip written at this module's level give the fresh zip's very bytes.
    again = tmp_path / "again.zip"
    write_reproducible_zip(site_dir, again, "archive", previous=fresh)
    assert again.read_bytes() == fresh.read_bytes()


def test_a_kept_bag_brought_up_to_date_equals_a_fresh_one(tmp_path):
    """make_bag on an earlier bag of the site: changed, added and removed files, digests kept
    for unchanged files only, and the very tag files and manifest a fresh bag has."""
    source = _small_site(tmp_path / "site")
    digests = tmp_path / "digests.pickle"
    kept = bag.make_bag(source, tmp_path / "kept" / "archive", {"Article-Count": "5"}, "Archive", digests)
    assert bagit.Bag(str(kept)).validate()
    linked = (kept / "data" / "2016" / "page-1.html").stat().st_ino
    assert linked == (source / "2016" / "page-1.html").stat().st_ino  # hard links, not copies

    _rewrite(source / "2016" / "page-3.html", "<p>page 3, corrected</p>")
    (source / "2016" / "page-4.html").unlink()
    (source / "2017").mkdir()
    (source / "2017" / "new.html").write_text("<p>new</p>")
    shutil.rmtree(source / "2016")  # a whole folder gone: its payload folder goes too
    (source / "2016").mkdir()
    for n in (0, 1):
        (source / "2016" / f"page-{n}.html").write_text(f"<p>page {n} again</p>")
    kept = bag.make_bag(source, kept, {"Article-Count": "3"}, "Archive", digests)
    fresh = bag.make_bag(source, tmp_path / "fresh" / "archive", {"Article-Count": "3"}, "Archive")
    assert bagit.Bag(str(kept)).validate()
    assert sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*")) == \
        sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*"))
    assert not (kept / "data" / "2016" / "page-3.html").exists()
    for name in ("manifest-sha256.txt", "tagmanifest-sha256.txt", "bag-info.txt", "bagit.txt", "index.html"):
        assert (kept / name).read_bytes() == (fresh / name).read_bytes(), name
    assert "Payload-Oxum: " in (kept / "bag-info.txt").read_text()


def test_manifest_order_and_format_are_bagits(tmp_path):
    """The manifest make_bag writes is the one bagit.make_bag writes for the same folder."""
    source = _small_site(tmp_path / "site")
    (source / "2016" / "sub").mkdir()
    (source / "2016" / "sub" / "a.html").write_text("a")
    (source / "2016-b.html").write_text("b")
    ours = bag.make_bag(source, tmp_path / "ours", {"Article-Count": "5"}, "Archive")
    theirs = tmp_path / "theirs"
    shutil.copytree(source, theirs)
    bagit.make_bag(str(theirs), bag_info={"Article-Count": "5"}, checksums=["sha256"])
    assert (ours / "manifest-sha256.txt").read_text() == (theirs / "manifest-sha256.txt").read_text()


def test_corpus_facts_kept_between_runs_follow_changed_files(sample_content, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(sample_content, content)
    cache = tmp_path / "facts.pickle"
    first = bag.corpus_facts(content, cache)
    assert first == bag.corpus_facts(content) and (tmp_path / STORE_FILE).is_file()
    assert bag.corpus_facts(content, cache) == first  # from the cache
    latest = max(content.rglob("*.md"), key=lambda p: read_markdown_file(p.read_text(encoding="utf-8")).date)
    latest.write_text(latest.read_text(encoding="utf-8").replace("\nstatus: published", "")
                      .replace("---\n", "---\nstatus: draft\n", 1), encoding="utf-8")
    after = bag.corpus_facts(content, cache)
    assert after == bag.corpus_facts(content)
    assert after.article_count == first.article_count - 1


def test_a_bag_made_here_may_hold_no_symbolic_link(sample_zip, tmp_path):
    bag_dir = unpack(sample_zip.path, tmp_path / "bag")
    assert verify(bag_dir, own_bag=True).ok
    (bag_dir / "data" / "elsewhere.html").symlink_to("/etc/hostname")
    result = verify(bag_dir, own_bag=True)
    assert result.errors == ["the bag holds symbolic links: data/elsewhere.html"]


def test_verify_tells_a_site_a_bag_and_a_zip_apart(sample_content, sample_zip, tmp_path):
    """One verify() for the three forms; a bag that lost bagit.txt is still checked as a bag."""
    bag_dir = unpack(sample_zip.path, tmp_path / "bag")
    count = expected_facts(sample_content)[0]
    site_check = verify(bag_dir / "data", expected_articles=count)
    assert site_check.ok and site_check.articles_checked == count, site_check.errors
    assert verify(bag_dir).ok and verify(sample_zip.path).ok
    with pytest.raises(TypeError, match="siteurl do not apply to a zip"):
        verify(sample_zip.path, siteurl="https://example.org")
    with pytest.raises(TypeError, match="made_from do not apply to a bag"):
        verify(bag_dir, made_from=bag_dir)
    (bag_dir / "bagit.txt").unlink()
    result = verify(bag_dir)
    assert any("not a valid BagIt bag" in e for e in result.errors), result.errors
    assert verify(tmp_path / "missing.zip").errors[0].startswith(f"{tmp_path / 'missing.zip'}: not a readable zip")
