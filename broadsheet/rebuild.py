"""The archivist's one command: ingest -> build -> offline zip -> verify -> swap into place.

What an archivist can rely on:
- **Safe.** Everything is built aside, in `<output's folder>/.<output name>.rebuild/`, and
  verified there. `output` is a symbolic link to a complete, verified version folder; the new
  version replaces it with one atomic rename, and the zip is replaced the same way. Killed at any
  moment, the previous site and zip stay complete; the next run clears what was left half-done.
  A failed verification leaves the previous site and zip in place and raises RebuildFailed.
- **Never takes what it did not make.** An `output` that is not Broadsheet's (see
  refuse_unsafe_places), places inside one another, or a `zip` that is not Broadsheet's are
  refused before anything is written: nothing is ever moved or deleted that a rebuild did not write.
- **One at a time.** A lock (flock, so the kernel releases it when a run dies) refuses a second
  rebuild; the pid recorded beside it names the running one, and a record left by a run that
  was killed is reported and cleared.
- **Incremental.** Ingest rewrites only changed articles; Pelican's content cache is kept in a
  folder keyed by a hash of everything that shapes the output (settings files, theme, plugins,
  Broadsheet's code and version, overrides), because Pelican's own cache does not notice a
  settings change; output files whose bytes did not change are hard links to the previous
  version's, so they keep their modification time and a sync to the host sends only what changed.
  When nothing changed at all, the current version stays as it is.
- **Rejected dumps do not stop a rebuild.** They are listed in the summary and the reports, and
  the rest of the archive is published: a rejected file cannot be fixed by building again, and
  withholding every other article would not help the reader. (`invoke ingest` exits 3 for them.)
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import filelock

from broadsheet import __version__, partitioned, reuse, site
from broadsheet.archive import bag, offline
from broadsheet.archive.publish import replace_if_changed
from broadsheet.archive.verify import verify as verify_archive
from broadsheet.background import Background, BackgroundFailed
from broadsheet.files import atomic_write, walk
from broadsheet.ingest import IngestError, ingest, write_report
from broadsheet.tables import Mapping

PROJECT = site.PROJECT
#: What shapes the output besides the content: a change in any of these starts a fresh cache.
CACHE_INPUTS = ("theme", "plugins", "broadsheet")
EXIT_FAILED = 1
#: `invoke rebuild` exits with this when another rebuild holds the lock (EX_TEMPFAIL).
EXIT_LOCKED = 75
#: `invoke rebuild` exits with this when the options name a place it must not write to.
EXIT_REFUSED = 2


class RebuildFailed(RuntimeError):
    """The new site or zip failed to build or verify; the previous ones are still in place."""


class RebuildLocked(RuntimeError):
    """Another rebuild is running."""


class RebuildRefused(ValueError):
    """The options name a place a rebuild must not write to; nothing was changed."""


# -- the lock ------------------------------------------------------------------------------

def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process its parent has not reaped yet is a zombie: not running
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


class RebuildLock:
    """`rebuild.lock` (flock) plus `rebuild.pid`, the record of who holds it."""

    def __init__(self, state: Path):
        self.state = Path(state)
        self.lock = filelock.FileLock(str(self.state / "rebuild.lock"), timeout=0)
        self.record = self.state / "rebuild.pid"
        #: Set by acquire() when a record from a killed run was found and cleared.
        self.stale: str | None = None

    def _read_record(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire()
        except filelock.Timeout:
            holder = self._read_record() or {}
            pid = holder.get("pid")
            if isinstance(pid, int) and not pid_alive(pid):
                raise RebuildLocked(
                    f"the rebuild lock {self.lock.lock_file} is still held although the rebuild that took it "
                    f"(pid {pid}) has stopped: a process it started is still running; stop it and retry") from None
            raise RebuildLocked(f"another rebuild is running (pid {pid}, started {holder.get('started', '?')}); "
                                "wait for it to finish") from None
        previous = self._read_record()
        if previous and previous.get("pid") != os.getpid():
            self.stale = (f"cleared a stale lock left by rebuild pid {previous.get('pid')} "
                          f"(started {previous.get('started', '?')}), which is no longer running")
        atomic_write(self.record, json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))

    def release(self) -> None:
        self.record.unlink(missing_ok=True)
        self.lock.release()

    def __enter__(self) -> RebuildLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


# -- caches --------------------------------------------------------------------------------

def state_dir(output: Path) -> Path:
    """Where a rebuild keeps its versions, caches, staging folders and lock: beside `output`."""
    output = Path(output).absolute()
    return output.parent / f".{output.name}.rebuild"


def cache_key(settings: str, overrides: dict[str, Any]) -> str:
    """A hash of everything besides the content that shapes a build with these settings."""
    h = hashlib.sha256(f"broadsheet {__version__}\n{settings}\n".encode())
    h.update(json.dumps(overrides, sort_keys=True, default=str).encode())
    files = [PROJECT / site.SETTINGS_FILES["local"], site.settings_file(settings)]
    for folder in CACHE_INPUTS:
        files += sorted(p for p in (PROJECT / folder).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    for path in files:
        h.update(os.path.relpath(path, PROJECT).encode() + b"\0")
        h.update(path.read_bytes() if path.is_file() else b"(missing)")
    try:
        from importlib.metadata import version

        h.update(version("pelican").encode())
    except Exception:  # noqa: BLE001 -- an unknown Pelican version only means a less specific key
        pass
    return h.hexdigest()[:16]


def keyed_cache(state: Path, settings: str, overrides: dict[str, Any]) -> Path:
    """The cache folder for these settings; caches for other keys of the same settings are removed."""
    key = cache_key(settings, overrides)
    root = state / "cache"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob(f"{settings}-*"):
        if old.name != f"{settings}-{key}":
            shutil.rmtree(old, ignore_errors=True)
    return root / f"{settings}-{key}"


def search_index_for(output: Path, state: Path, cache: Path) -> Path:
    """The Whoosh index of `output` (site.search_index_folder, where `invoke search --output`
    finds it), updated in place by each rebuild; started afresh when the build's cache key
    changes (settings, theme, plugins or version), like Pelican's cache."""
    index = site.search_index_folder(output)
    stamp = state / "search-index.key"
    if not stamp.is_file() or stamp.read_text() != cache.name:
        shutil.rmtree(index, ignore_errors=True)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(stamp, cache.name)
    return index


def cache_overrides(cache: Path) -> dict[str, Any]:
    """Pelican's content cache for a rebuild. Not gzipped: compressing it again at every build
    took a second at 10,000 articles, for a file the rebuild keeps to itself."""
    return {"CACHE_PATH": str(cache), "LOAD_CONTENT_CACHE": True, "CACHE_CONTENT": True,
            "CONTENT_CACHING_LAYER": "reader", "CHECK_MODIFIED_METHOD": "md5", "GZIP_CACHE": False}


def _pages_records(cache: Path) -> Path:
    return cache / "pages"


def reuse_settings(cache: Path, previous: Path | None, save: Path) -> dict[str, str | None]:
    """REUSE_PREVIOUS for this build: unchanged pages are linked from the live version when the
    record of how it was made belongs to it (a record left by a failed run never matches)."""
    record = _pages_records(cache) / f"{previous.name}.json" if previous is not None else None
    return {"previous": str(previous) if previous else None,
            "record": str(record) if record is not None and record.is_file() else None, "save": str(save)}


def keep_pages_record(cache: Path, record: Path, version: str) -> None:
    """File this build's record under the version it describes; older records go."""
    if not record.is_file():
        return
    folder = _pages_records(cache)
    folder.mkdir(parents=True, exist_ok=True)
    os.replace(record, folder / f"{version}.json")
    for old in folder.glob("*.json"):
        if old.name != f"{version}.json":
            old.unlink(missing_ok=True)


# -- where a rebuild may write -------------------------------------------------------------

def refuse_unsafe_places(source: Path, content: Path, output: Path, zip_path: Path, reports: Path) -> None:
    """Raise RebuildRefused, before anything is written, unless a rebuild may write where the
    options say. Broadsheet recognises its own output by its layout: a symbolic link into
    `.<name>.rebuild/versions/` beside it. A missing output or an empty folder may become one;
    a folder holding anything, a link elsewhere or a file was not made by Broadsheet and is
    never moved or deleted. The five places must not lie inside one another, and an existing
    zip must be one Broadsheet made (it is replaced)."""
    output = Path(output).absolute()
    places = {"--output": output, "--zip": zip_path, "--source": source, "--content": content, "--reports": reports}
    real = {option: Path(os.path.realpath(path)) for option, path in places.items()}
    # The link itself, not the version it points to.
    real["--output"] = Path(os.path.realpath(output.parent)) / output.name
    options = list(real)
    for i, a in enumerate(options):
        for b in options[i + 1:]:
            if real[a] == real[b] or real[a] in real[b].parents or real[b] in real[a].parents:
                how = "is" if real[a] == real[b] else "is inside" if real[b] in real[a].parents else "holds"
                raise RebuildRefused(f"{a} {places[a]} {how} {b} {places[b]}: each must be a place of its own; "
                                     "nothing was changed")
    state = state_dir(output)
    if output.is_symlink():
        if Path(os.path.realpath(state / "versions")) not in Path(os.path.realpath(output)).parents:
            raise RebuildRefused(f"--output {output} is a link to {os.readlink(output)}, not to a version that "
                                 f"Broadsheet keeps in {state}/versions/; nothing was changed. Name a new folder, "
                                 "or remove the link yourself")
    elif output.is_dir():
        entries = sorted(os.listdir(output))
        if entries:
            shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
            raise RebuildRefused(
                f"--output {output} is a folder Broadsheet did not make (it holds {shown}); nothing was changed. "
                f"A rebuild publishes its output as a link to a verified version kept in {state.name}/ beside it, "
                "and would have to replace this folder: name a new or empty folder, or move this one away "
                "(a folder made by `invoke build` can simply be deleted)")
    elif output.exists():
        raise RebuildRefused(f"--output {output} is a file, not a folder; nothing was changed")
    zip_path = Path(zip_path)
    if zip_path.is_dir() or (zip_path.exists() and not offline.is_offline_zip(zip_path)):
        raise RebuildRefused(f"--zip {zip_path} exists and is not an offline zip Broadsheet made (it would be "
                             "replaced); nothing was changed. Name another file, or move this one away")


# -- versions and the swap -----------------------------------------------------------------

def current_version(output: Path) -> Path | None:
    """The folder `output` shows: the version it links to, or itself when it is a plain folder."""
    output = Path(output)
    if output.is_symlink():
        target = output.resolve()
        return target if target.is_dir() else None
    return output if output.is_dir() else None


def recover(state: Path, output: Path) -> list[str]:
    """Clear what a killed run left: staging folders, unused versions, half-made links.
    If `output` is missing while a complete version exists (a run killed while replacing a plain
    `output` folder by the link), point `output` at the newest version again."""
    notes = []
    output = Path(output).absolute()
    for leftover in [state / "tmp", state / "trash"]:
        if leftover.exists():
            if any(leftover.iterdir()):
                notes.append(f"removed {leftover.name}/ left by an interrupted rebuild")
            shutil.rmtree(leftover, ignore_errors=True)
    for link in output.parent.glob(f".{output.name}.link-*"):
        link.unlink(missing_ok=True)
    versions = state / "versions"
    if not versions.is_dir():
        return notes
    if not output.exists() and not output.is_symlink():
        newest = max(versions.iterdir(), key=lambda p: p.name, default=None)
        if newest is not None:
            _point(output, newest)
            notes.append(f"{output.name} was missing; pointed it at the last complete version {newest.name}")
    live = current_version(output)
    for version in versions.iterdir():
        if live is None or version.resolve() != live.resolve():
            _discard(state, version)
            notes.append(f"removed unused version {version.name}")
    return notes


def _discard(state: Path, folder: Path) -> None:
    """Move aside atomically first, so a kill mid-delete never leaves a half version in versions/."""
    trash = state / "trash"
    trash.mkdir(parents=True, exist_ok=True)
    aside = trash / f"{folder.name}-{os.getpid()}-{time.monotonic_ns()}"
    os.rename(folder, aside)
    shutil.rmtree(aside, ignore_errors=True)
    try:
        trash.rmdir()
    except OSError:
        pass  # another discard in progress, or a leftover recover() will clear


def _point(output: Path, version: Path) -> None:
    """Make `output` a link to `version`, atomically (a link made aside, then renamed over)."""
    tmp = output.parent / f".{output.name}.link-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(version, output.parent), tmp)
    os.replace(tmp, output)


@dataclass
class Placement:
    version: str
    files: int = 0
    unchanged: int = 0
    changed: int = 0
    added: int = 0
    removed: int = 0
    swapped: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def share_unchanged(staging: Path, previous: Path | None) -> Placement:
    """Replace every staged file whose bytes equal the previous version's by a hard link to it
    (so it keeps its modification time); count what changed. Files the build already linked
    from the previous version (see broadsheet.reuse) are recognised by their inode, unread."""
    placement = Placement(version="")
    staged = walk(staging)[0]
    before = walk(previous)[0] if previous is not None else {}
    placement.files = len(staged)
    # Both versions are folders of the state folder, each on one file system.
    one_device = previous is not None and os.stat(staging).st_dev == os.stat(previous).st_dev
    for rel in sorted(staged):
        entry, old_entry = staged[rel], before.get(rel)
        new, old = staging / rel, (previous / rel if previous is not None else None)
        if old_entry is None or old is None:
            placement.added += 1
            continue
        # The inode comes with the folder listing; a stat is needed only when it differs.
        if one_device and entry.inode() == old_entry.inode():
            placement.unchanged += 1
        elif entry.stat(follow_symlinks=False).st_size == old_entry.stat(follow_symlinks=False).st_size \
                and filecmp.cmp(old, new, shallow=False):
            tmp = new.with_name(f".{new.name}.same")
            try:
                os.link(old, tmp)
            except OSError:  # another file system, or no hard links: a copy keeps the time too
                shutil.copy2(old, tmp)
            os.replace(tmp, new)
            placement.unchanged += 1
        else:
            placement.changed += 1
    placement.removed = len(before.keys() - staged.keys())
    return placement


def swap_in(state: Path, output: Path, staging: Path, placement: Placement) -> None:
    """Publish `staging` as the new version of `output`, atomically; discard the previous version."""
    output = Path(output).absolute()
    versions = state / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    now = time.time_ns()
    name = time.strftime("%Y%m%dT%H%M%S", time.localtime(now / 1e9)) + f".{now % 10**9:09d}-{os.getpid()}"
    version = versions / name
    os.rename(staging, version)
    previous = current_version(output)
    if output.is_dir() and not output.is_symlink():
        # Only an empty folder gets here (refuse_unsafe_places): rmdir fails rather than delete what
        # was put in it since. A kill before the link is made leaves no `output`; recover() re-points
        # it at the newest version.
        output.rmdir()
        previous = None
    _point(output, version)
    placement.version, placement.swapped = name, True
    if previous is not None and previous.resolve() != version.resolve() and versions in previous.resolve().parents:
        _discard(state, previous.resolve())


# -- the pipeline --------------------------------------------------------------------------

@dataclass
class RebuildReport:
    status: str = "running"
    reason: str | None = None
    paths: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: indexing and browser export, run within the build (see plugins/search_index)
    search_seconds: dict[str, float] = field(default_factory=dict)
    ingest: dict[str, Any] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    #: content files the build left out, each with its line and reason (plugins/yaml_reader)
    skipped_content: list[dict[str, Any]] = field(default_factory=list)
    #: the build's partitions: those rendered, and those linked from the previous version
    #: because nothing they show changed (broadsheet/partitioned.py)
    partitions: dict[str, list[str]] = field(default_factory=dict)
    articles: int = 0
    output: dict[str, Any] = field(default_factory=dict)
    zip: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: the ingest's own summary, printed as `invoke ingest` prints it
    ingest_lines: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "ingest_lines"}


class _Steps:
    def __init__(self, report: RebuildReport, on_step: Callable[[str], None] | None):
        self.report, self.on_step = report, on_step

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        if self.on_step:
            self.on_step(name)
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.report.seconds[name] = round(time.perf_counter() - start, 3)


def rebuild(source: Path, content: Path, output: Path, zip_path: Path, reports: Path,
            settings: str = "local", siteurl: str | None = None,
            on_step: Callable[[str], None] | None = None, mapping: Mapping | None = None,
            allow_removals: bool = False, scheduler: str | None = None) -> RebuildReport:
    """Run the whole pipeline (see the module docstring); writes `reports/rebuild.json` whatever happens.
    Raises RebuildRefused (nothing written), RebuildLocked or RebuildFailed; the report says what
    was done in the last two cases. Ingest runs on the Dask cluster at `scheduler` when one is
    named (`broadsheet.engine`)."""
    source, content, output = Path(source), Path(content), Path(output).absolute()
    zip_path, reports = Path(zip_path).absolute(), Path(reports)
    if siteurl:
        settings = "hosted"
    report = RebuildReport(paths={"source": str(source), "content": str(content), "output": str(output),
                                  "zip": str(zip_path), "settings": settings})
    refuse_unsafe_places(source, content, output, zip_path, reports)  # before anything is written
    state = state_dir(output)
    lock = RebuildLock(state)
    lock.acquire()  # RebuildLocked propagates: the running rebuild owns the report file
    started = time.perf_counter()
    try:
        if lock.stale:
            report.notes.append(lock.stale)
        report.notes += recover(state, output)
        _run(report, _Steps(report, on_step), state, source, content, output, zip_path, reports, settings, siteurl,
             mapping, allow_removals, scheduler)
        report.status = "ok"
    except RebuildFailed as exc:
        report.status, report.reason = "failed", str(exc)
        raise
    except BackgroundFailed as exc:  # its message names the error and where it happened
        report.status, report.reason = "failed", str(exc)
        raise RebuildFailed(report.reason) from exc
    except Exception as exc:
        report.status, report.reason = "failed", f"{type(exc).__name__}: {exc}"
        raise RebuildFailed(report.reason) from exc
    finally:
        report.seconds["total"] = round(time.perf_counter() - started, 3)
        shutil.rmtree(state / "tmp", ignore_errors=True)
        reports.mkdir(parents=True, exist_ok=True)
        atomic_write(reports / "rebuild.json", json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
        lock.release()
    return report


def _run(report: RebuildReport, steps: _Steps, state: Path, source: Path, content: Path, output: Path,
         zip_path: Path, reports: Path, settings: str, siteurl: str | None, mapping: Mapping | None,
         allow_removals: bool, scheduler: str | None) -> None:
    timezone = site.source_timezone()
    try:
        ingested = steps.run("ingest", lambda: ingest(source, content, timezone, mapping=mapping,
                                                      allow_removals=allow_removals, scheduler=scheduler))
    except IngestError as exc:  # nothing is built or published after a refused or failed ingest
        raise RebuildFailed(str(exc)) from None
    write_report(ingested, reports / "ingest.json")
    # The corpus page shows this run's ingest report: a copy of its own, which a rebuild of a
    # sibling output sharing --reports cannot replace meanwhile.
    write_report(ingested, state / "ingest.json")
    report.ingest = ingested.summary()
    report.rejected, report.conflicts = ingested.rejected, ingested.conflicts
    report.ingest_lines = ingested.summary_lines(limit=10)
    if not ingested.accepted and not any(content.rglob("*.md")):
        raise RebuildFailed(f"no articles: nothing under {content} and nothing accepted from {source}")

    tmp = state / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    # Every report the build writes goes to --reports (the settings' defaults are the project's own).
    common = {"INGEST_REPORT": str((state / "ingest.json").absolute()),
              "RELATED_GRAPH_REPORT": str((reports / "graph.json").absolute())}
    site_overrides = {**common, **({"SITEURL": siteurl.rstrip("/")} if siteurl else {})}
    staging = tmp / "site"

    # Without a site URL the published site is the offline build itself (relative links, folder
    # links spelled out): it works over HTTP and from disk, so one build serves both outputs.
    build_settings = "offline" if settings == "local" else settings

    cache = keyed_cache(state, build_settings, site_overrides)
    pages_record = tmp / "pages.json"

    def build_site():
        try:
            return site.build(content, staging, build_settings, scheduler=scheduler, **site_overrides,
                              **cache_overrides(cache),
                              SEARCH_INDEX_PATH=str(search_index_for(output, state, cache)),
                              **{reuse.SETTING: reuse_settings(cache, current_version(output), pages_record)})
        except site.BuildError as exc:
            raise RebuildFailed(f"the {build_settings} build failed: {exc}") from None

    built = steps.run("build", build_site)
    report.skipped_content = list(built.get("SKIPPED_CONTENT") or [])
    report.partitions = dict(built.get(partitioned.RUNS) or {})
    try:  # the search plugin's own timings: it runs beside the pages, inside the build's time
        report.search_seconds = json.loads((Path(built["SEARCH_INDEX_PATH"]) / "last-seconds.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        report.search_seconds = {}

    staged_zip = tmp / "zip" / zip_path.name
    # The folder the zip is made from, checked by verify() below and kept, so the next run only
    # brings it up to date (see archive.bag.make_bag).
    kept_bag = state / "bag" / zip_path.stem
    # The count and dates of the articles, for the bag and the link check alike.
    facts = bag.corpus_facts(content, state / "facts.pickle") if build_settings == "offline" else None

    def build_zip():
        if build_settings == "offline":
            for other in (state / "bag").glob("*"):  # the bag of a zip named otherwise before
                if other.name != kept_bag.name:
                    shutil.rmtree(other, ignore_errors=True)
            return offline.zip_offline_build(staging, staged_zip, content, built, work_dir=tmp, bag_dir=kept_bag,
                                             previous=zip_path, facts=facts, digests_cache=state / "digests.pickle")
        cache = keyed_cache(state, "offline", common)
        try:
            return offline.make_offline_zip(content, staged_zip, cache_path=cache, work_dir=tmp,
                                            extra_overrides=common)
        except site.BuildError as exc:
            raise RebuildFailed(f"the offline build failed: {exc}") from None

    # The site's links and article pages are checked in a second process while this one makes
    # the zip: the check reads only the site, which the bag's payload links.
    links_checked = None
    if facts is not None:
        links_checked = Background(verify_archive, staging, expected_articles=facts.article_count,
                                   link_cache=state / "links.pickle", what="the link check")
    try:
        made = steps.run("zip", build_zip)
    except BaseException:
        if links_checked is not None:
            links_checked.cancel()
        raise
    report.articles = made.facts.article_count

    def verify():
        # The offline build is both outputs: the zip's payload is that very site, checked once,
        # in the bag the zip was made from; pages unchanged since the last check are not re-read.
        if build_settings == "offline":
            zipped = verify_archive(staged_zip, made_from=kept_bag, link_cache=state / "links.pickle",
                                    site_check=links_checked.result() if links_checked else None)
            served = zipped
        else:
            zipped = verify_archive(staged_zip, work_dir=tmp)
            served = verify_archive(staging, expected_articles=made.facts.article_count, siteurl=siteurl,
                                    allow_folder_links=True, link_cache=state / "links-hosted.pickle")
        report.verification = {"zip": zipped.to_json(), "site": served.to_json()}
        problems = [f"zip: {e}" for e in zipped.errors] + [f"{output.name}: {e}" for e in served.errors]
        if problems:
            shown = "\n- ".join(problems[:20]) + (f"\n- ... and {len(problems) - 20} more" if len(problems) > 20 else "")
            raise RebuildFailed(f"verification failed; the previous site and zip are unchanged:\n- {shown}")

    steps.run("verify", verify)

    def publish():
        previous = current_version(output)
        placement = share_unchanged(staging, previous)
        if previous is not None and not (placement.changed or placement.added or placement.removed) \
                and output.is_symlink():
            placement.version = previous.name  # nothing changed: the current version stays
        else:
            swap_in(state, output, staging, placement)
        rendering = reuse.Reuse.counts(pages_record)
        keep_pages_record(cache, pages_record, placement.version)
        report.output = {"path": str(output), **placement.to_json(), **rendering}
        zip_changed = replace_if_changed(staged_zip, zip_path, made.sha256, made.bytes)
        report.zip = {"path": str(zip_path), "sha256": made.sha256, "bytes": made.bytes, "files": made.files,
                      "changed": zip_changed}

    steps.run("publish", publish)



def summary_lines(report: RebuildReport) -> list[str]:
    """What `invoke rebuild` prints: counts, paths, and anything the archivist should look at."""
    lines = list(report.ingest_lines)
    if report.rejected:
        lines.append("  rejected files are not published; see reports/ingest.json")
    for s in report.skipped_content:
        where = f"{s['file']}, line {s['line']}" if s.get("line") else s["file"]
        lines.append(f"  skipped content file {where}: {s['reason']}")
    if report.output:
        o = report.output
        lines.append(f"site: {o['path']}/index.html ({report.paths.get('settings')}): {o['files']} files, "
                     f"{o['changed']} changed, {o['added']} added, {o['removed']} removed, {o['unchanged']} unchanged"
                     + ("" if o["swapped"] else " (nothing changed; left as it was)"))
    if report.zip:
        z = report.zip
        lines.append(f"zip: {z['path']} ({z['bytes']:,} bytes, {report.articles} articles, sha256 {z['sha256'][:16]}…)"
                     + ("" if z["changed"] else " (unchanged)"))
    if report.status == "ok" and report.verification:
        v = report.verification["zip"]
        lines.append(f"verified: bag valid, {v['links_checked']} links in {v['html_files']} pages resolve, "
                     f"{v['articles_checked']} article pages present")
    lines += [f"note: {n}" for n in report.notes]
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
    lines.append(f"time: {timing}")
    return lines
