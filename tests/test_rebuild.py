"""`invoke rebuild`: the whole pipeline, incremental yet equal to a clean build, safe to kill, one at a time."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from broadsheet import rebuild as pipeline, versions
from broadsheet.archive.verify import verify
from broadsheet.background import Background, BackgroundFailed
from broadsheet.dumps import parse_dump, render_dump
from broadsheet.files import sha256_file
from conftest import ROOT, SEED

SEED_ARTICLE = parse_dump(SEED.read_bytes(), SEED.name, "Asia/Tehran")
PLACES = ["Aleppo", "Homs", "Daraa", "Idlib", "Hama", "Tartus", "Raqqa", "Deir Ezzor", "Latakia", "Qamishli"]


def title_of(n: int, retitled: str = "") -> str:
    return f"Army Units Advance near {PLACES[n % len(PLACES)]}, Report {n}{retitled}"


def write_dump(source: Path, n: int, variant: str = "", retitled: str = "", days: int | None = None,
               related: tuple[int, ...] = ()) -> Path:
    """A dump in the seed's format: its own title, date and text (`variant` changes the body,
    `retitled` the title, `days` the date); `related` lists other dumps' titles, as the
    outlet's related-articles list does."""
    place = PLACES[n % len(PLACES)]
    listed = [{"id": str(1_000_000 + m), "sort": str(m), "contenttypeid": "21",
               "pic": f"/2016/03/20/alalam_6359409738602409{m:02d}_25f_4x3.jpg", "title": title_of(m)}
              for m in related]
    article = dataclasses.replace(
        SEED_ARTICLE,
        title=title_of(n, retitled),
        date=SEED_ARTICLE.date + timedelta(days=3 * n if days is None else days, hours=n),
        paragraphs=[f"Report {n} from {place}{variant}.", *SEED_ARTICLE.paragraphs[1:4]],
        related_json=json.dumps(listed, separators=(",", ":")) if listed else None,
    )
    path = source / f"{n:03d}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dump(article), encoding="utf-8")
    return path


def make_source(base: Path, numbers) -> Path:
    source = base / "raw"
    source.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED, source / SEED.name)
    for n in numbers:
        write_dump(source, n)
    return source


class Project:
    """raw/, content/, output/, dist/ and reports/ in one folder, as in the repository."""

    def __init__(self, base: Path):
        self.base = base
        self.source, self.content, self.output = base / "raw", base / "content", base / "output"
        self.zip, self.reports = base / "dist" / "broadsheet-archive.zip", base / "reports"

    def rebuild(self, **kw) -> pipeline.RebuildReport:
        return pipeline.rebuild(self.source, self.content, self.output, self.zip, self.reports, **kw)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "invoke", "rebuild", "--source", str(self.source), "--content",
                str(self.content), "--output", str(self.output), "--zip", str(self.zip), "--reports", str(self.reports)]


def tree(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under `folder` (following the output link): sha256 and modification time."""
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def contents(folder: Path) -> dict[str, str]:
    return {k: v[0] for k, v in tree(folder).items()}


@pytest.fixture
def project(tmp_path):
    p = Project(tmp_path / "archive")
    make_source(p.base, range(1, 6))
    return p


def test_rebuild_publishes_a_verified_site_and_zip(project):
    report = project.rebuild()
    assert report.status == "ok"
    assert project.output.is_symlink() and (project.output / "index.html").is_file()
    assert report.articles == 6 and report.ingest["accepted"] == 6
    assert verify(project.zip).ok
    assert sha256_file(project.zip) == report.zip["sha256"]
    saved = json.loads((project.reports / "rebuild.json").read_text())
    assert saved["status"] == "ok" and saved["zip"]["sha256"] == report.zip["sha256"]
    assert (project.reports / "ingest.json").is_file()
    assert any(line.startswith("zip: ") for line in pipeline.summary_lines(report))


def test_published_files_are_readable_by_a_web_server(project):
    project.rebuild()
    unreadable = [p.relative_to(project.output).as_posix() for p in project.output.rglob("*")
                  if p.is_file() and not p.stat().st_mode & stat.S_IROTH]
    assert os.umask(os.umask(0o022)) & stat.S_IROTH or not unreadable, unreadable


def test_rebuilding_unchanged_input_changes_nothing(project):
    project.rebuild()
    before_site, before_content = tree(project.output), tree(project.content)
    before_zip = (sha256_file(project.zip), project.zip.stat().st_mtime_ns)
    version = os.readlink(project.output)
    time.sleep(0.05)  # a rewrite would show in the modification times
    report = project.rebuild()
    assert report.output["swapped"] is False and report.output["changed"] == report.output["added"] == 0
    assert report.zip["changed"] is False
    assert tree(project.output) == before_site  # bytes and mtimes
    assert tree(project.content) == before_content
    assert (sha256_file(project.zip), project.zip.stat().st_mtime_ns) == before_zip
    assert os.readlink(project.output) == version


def test_unchanged_pages_keep_their_mtime_when_others_change(project):
    project.rebuild()
    before = tree(project.output)
    write_dump(project.source, 3, variant=", corrected")
    report = project.rebuild()
    after = tree(project.output)
    assert report.output["swapped"] and report.output["changed"] >= 1
    kept = [k for k in before if k in after and before[k][0] == after[k][0]]
    assert kept and all(before[k][1] == after[k][1] for k in kept)
    changed = [k for k in before if k in after and before[k][0] != after[k][0]]
    assert any("report-3" in k for k in changed)


def test_pages_of_unchanged_articles_are_linked_not_rendered(project):
    first = project.rebuild()
    assert first.output["reused"] == 0
    write_dump(project.source, 3, variant=", corrected")
    report = project.rebuild()
    # Six articles: the changed one and its neighbours in time (their previous/next links show its
    # title, which did not change, but the record says what shaped them) are rendered at most.
    assert report.output["reused"] >= 6 - 3
    assert report.output["rendered"] >= 1


def same_date_copy(source: Path, n: int) -> Path:
    """A copy of dump `n` with only its title changed: another article of the very same date."""
    original = source / f"{n:03d}.txt"
    kept = original.read_bytes()
    copy = write_dump(source, n, retitled=" (copy)").rename(source / f"{n:03d}-copy.txt")
    original.write_bytes(kept)
    return copy


def _same_as_a_clean_build(project: Project, clean_base: Path, hash_seeds: tuple[int, ...] = (0,)) -> None:
    """A clean rebuild of the same source, given the articles' kept versions, in a process of its
    own for each hash seed: Pelican
    reads files in the order of a set, which changes with the seed, so an order that a tie
    leaves to the file system shows here."""
    for seed in hash_seeds:
        clean = Project(clean_base / f"seed-{seed}")
        shutil.copytree(project.source, clean.source)
        for kept in project.content.rglob("*" + versions.SUFFIX):  # history no dump holds any more
            shutil.copytree(kept, clean.content / kept.relative_to(project.content))
        proc = subprocess.run(clean.command(), cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": str(seed)})
        assert proc.returncode == 0, proc.stderr
        assert contents(project.content) == contents(clean.content)
        assert contents(project.output) == contents(clean.output)  # pages, data exports, search shards
        assert sha256_file(project.zip) == sha256_file(clean.zip)


def test_incremental_rebuild_equals_a_clean_build(project, tmp_path):
    same_date_copy(project.source, 1)
    project.rebuild()
    write_dump(project.source, 9)  # added
    same_date_copy(project.source, 9)  # added, with the same date as another one
    write_dump(project.source, 2, variant=" (updated)")  # changed: its earlier text is kept as a version
    (project.source / "004.txt").unlink()  # deleted
    project.rebuild()
    (kept,) = project.content.rglob("*" + versions.SUFFIX)
    assert [p.name for p in kept.iterdir()] == ["1.md"]
    assert (project.output / kept.relative_to(project.content).with_suffix("").as_posix() / "v1.html").is_file()
    _same_as_a_clean_build(project, tmp_path / "clean")


def test_a_same_date_copy_orders_the_same_incrementally_and_clean(project, tmp_path):
    """The issue's repro: a copy of one dump with only its title changed (so the same date) added
    to a built archive sorts as in clean builds, whatever order the files are read in."""
    project.rebuild()
    same_date_copy(project.source, 3)
    project.rebuild()
    _same_as_a_clean_build(project, tmp_path / "clean", hash_seeds=(0, 1, 2, 3))


def test_a_sequence_of_incremental_rebuilds_equals_clean_builds(project, tmp_path):
    """Changes that reach other articles' pages and the listings: related lists that resolve to
    other articles (their cited-by, the graph and its neighbourhoods), a new title (the
    neighbours' previous/next links, the period and signature lists), a new date (the article
    moves to another day, month and year), a new body only (its own page)."""
    for n in range(1, 6):
        write_dump(project.source, n, related=tuple(m for m in (n - 1, n + 1) if 1 <= m <= 5))
    project.rebuild()
    steps = [
        lambda: write_dump(project.source, 3, retitled=" (retitled)", related=(2, 4)),
        lambda: write_dump(project.source, 2, days=400, related=(1, 3)),
        lambda: write_dump(project.source, 5, variant=" (corrected)", related=(4,)),
        lambda: (project.source / "001.txt").unlink(),
    ]
    for n, step in enumerate(steps):
        step()
        project.rebuild()
        _same_as_a_clean_build(project, tmp_path / f"clean-{n}")


def test_search_index_is_updated_in_place(project):
    project.rebuild()
    write_dump(project.source, 2, variant=" (updated)")
    project.rebuild()
    done = json.loads((project.base / ".output.search-index" / "last-update.json").read_text())
    assert done["rebuilt"] is False and len(done["changed"]) == 1 and done["unchanged"] == 5
    # and `invoke search --output output` finds it through the output link
    proc = subprocess.run([sys.executable, "-m", "invoke", "search", "Report 2", "--output", str(project.output),
                           "--json"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert any("Report 2" in hit["title"] for hit in json.loads(proc.stdout))


def test_cache_key_follows_settings_and_overrides(tmp_path, monkeypatch):
    key = pipeline.cache_key("local", {})
    assert key == pipeline.cache_key("local", {})
    assert key != pipeline.cache_key("offline", {})
    assert key != pipeline.cache_key("local", {"SITEURL": "https://example.org"})
    edited = tmp_path / "publishconf.py"
    edited.write_text((ROOT / "publishconf.py").read_text() + "\nDEFAULT_PAGINATION = 5\n")
    original = pipeline.site.settings_file
    monkeypatch.setattr(pipeline.site, "settings_file",
                        lambda name: edited if name == "hosted" else original(name))
    assert pipeline.cache_key("hosted", {}) != key
    hosted_edited = pipeline.cache_key("hosted", {})
    monkeypatch.undo()
    assert pipeline.cache_key("hosted", {}) != hosted_edited


def test_failed_verification_leaves_the_previous_site(project):
    project.rebuild()
    before_site, before_zip = tree(project.output), tree(project.zip.parent)
    # An archivist's own article with a root-relative link: it would break from disk.
    extra = project.content / "2016" / "03" / "note.md"
    extra.write_text("---\ntitle: Note\ndate: '2016-03-21T10:00:00+03:30'\nslug: note\n---\n\n"
                     "See [the index](/index.html).\n", encoding="utf-8")
    with pytest.raises(pipeline.RebuildFailed, match="root-relative"):
        project.rebuild()
    assert tree(project.output) == before_site
    assert tree(project.zip.parent) == before_zip
    saved = json.loads((project.reports / "rebuild.json").read_text())
    assert saved["status"] == "failed" and "root-relative" in saved["reason"]
    proc = subprocess.run(project.command(), cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == pipeline.EXIT_FAILED and "root-relative" in proc.stderr
    extra.unlink()
    assert project.rebuild().status == "ok"


def test_a_concurrent_rebuild_is_refused(project):
    state = pipeline.state_dir(project.output)
    with pipeline.RebuildLock(state):
        proc = subprocess.run(project.command(), cwd=ROOT, capture_output=True, text=True)
        with pytest.raises(pipeline.RebuildLocked, match=f"pid {os.getpid()}"):
            project.rebuild()
    assert proc.returncode == pipeline.EXIT_LOCKED, proc.stderr
    assert f"another rebuild is running (pid {os.getpid()}" in proc.stderr
    assert project.rebuild().status == "ok"  # released


def test_a_stale_lock_is_detected_and_cleared(project):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = pipeline.state_dir(project.output)
    state.mkdir(parents=True)
    (state / "rebuild.lock").write_text("")
    (state / "rebuild.pid").write_text(json.dumps({"pid": dead.pid, "started": "earlier"}))
    report = project.rebuild()
    assert report.status == "ok"
    assert any(f"stale lock left by rebuild pid {dead.pid}" in n for n in report.notes)
    assert not (state / "rebuild.pid").exists()


def test_sigkill_at_any_point_leaves_the_previous_site_and_the_next_run_completes(project, tmp_path):
    project.rebuild()
    old_site, old_zip = contents(project.output), sha256_file(project.zip)
    for n in (11, 12, 13):
        write_dump(project.source, n)
    # How long a whole run takes as a subprocess, measured on a copy, spreads the kills over it.
    probe = Project(tmp_path / "probe")
    shutil.copytree(project.source, probe.source)
    started = time.monotonic()
    subprocess.run(probe.command(), cwd=ROOT, check=True, capture_output=True)
    duration = time.monotonic() - started
    new_site, new_zip = contents(probe.output), sha256_file(probe.zip)

    outcomes = []
    for fraction in (0.15, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97):
        proc = subprocess.Popen(project.command(), cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(duration * fraction)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        site_now = contents(project.output)
        # Either the previous site or the new one, complete, never a mixture.
        assert site_now in (old_site, new_site), f"killed at {fraction:.0%}: output is a mixture"
        assert sha256_file(project.zip) in (old_zip, new_zip)
        outcomes.append("new" if site_now == new_site else "old")
        if site_now == new_site:
            break
    report = project.rebuild()
    assert report.status == "ok"
    assert contents(project.output) == new_site
    assert sha256_file(project.zip) == new_zip
    versions = list((pipeline.state_dir(project.output) / "versions").iterdir())
    assert len(versions) == 1  # what the killed runs left was cleared
    assert "old" in outcomes


def test_hosted_rebuild_has_absolute_urls_feeds_and_sitemap(project):
    report = project.rebuild(siteurl="https://archive.example.org/broadsheet")
    assert report.paths["settings"] == "hosted"
    sitemap = (project.output / "sitemap.xml").read_text()
    assert "<loc>https://archive.example.org/broadsheet/" in sitemap
    feed = (project.output / "feeds" / "all.atom.xml").read_text()
    assert "https://archive.example.org/broadsheet/" in feed
    assert 'href="https://archive.example.org/broadsheet/' in (project.output / "index.html").read_text()
    # The zip stays offline whatever the site's URL.
    assert verify(project.zip).ok


def test_a_background_check_outlives_a_killed_rebuild_only_for_its_own_call(tmp_path):
    """The second process a rebuild checks links in makes its one call and exits, even when the
    rebuild that started it was killed: it never waits for more work."""
    script = tmp_path / "killed.py"
    script.write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from broadsheet.background import Background\n"
        "job = Background(time.sleep, 1.0)\n"
        "print(job.pid, flush=True)\n"
        "os.kill(os.getpid(), 9)\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    child = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and pipeline.pid_alive(child):
        time.sleep(0.1)
    assert not pipeline.pid_alive(child)


def test_a_background_check_returns_or_names_what_its_call_raised():
    assert Background(sorted, [3, 1, 2]).result() == [1, 2, 3]
    with pytest.raises(BackgroundFailed, match="division failed: ZeroDivisionError: integer division or modulo by zero"):
        Background(divmod, 1, 0, what="division").result()
