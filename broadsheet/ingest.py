"""Walk the sources, parse in parallel, fold duplicates, and write content files safely.

Guarantees an archivist can rely on:
- a file that cannot be read is named in the report with its reason; the run goes on;
- re-ingesting unchanged input changes no byte under `content/`;
- fields an archivist edited survive a re-ingest; a clash with a changed dump is reported,
  never silently overwritten; files ingest did not write are never touched;
- every write is atomic (temporary file + rename).

What ingest wrote last time is remembered per field in `content/.broadsheet-ingest.json`,
which is what makes the three-way decision (last written / on disk / new) possible.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from slugify import slugify

from broadsheet.article import Article, read_content_file, render_markdown_file
from broadsheet.dumps import DEFAULT_TIMEZONE, Rejection, parse_dump
from broadsheet.tables import Mapping, MappingError, is_mapping_file, is_table, mapping_for, parse_table

STATE_FILE = ".broadsheet-ingest.json"
SLUG_MAX = 80
#: Exit status of `invoke ingest` when at least one file was rejected or an edit clashed.
EXIT_PROBLEMS = 3
_PARALLEL_FROM = 400  # below this, starting worker processes costs more than it saves


@dataclass
class IngestReport:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    written: int = 0
    unchanged: int = 0
    read: int = 0

    @property
    def exit_status(self) -> int:
        return EXIT_PROBLEMS if (self.rejected or self.conflicts) else 0

    def summary(self) -> dict[str, int]:
        return {
            "read": self.read,
            "accepted": len(self.accepted),
            "duplicates": len(self.duplicates),
            "rejected": len(self.rejected),
            "written": self.written,
            "unchanged": self.unchanged,
            "removed": len(self.removed),
            "conflicts": len(self.conflicts),
        }

    def summary_lines(self, limit: int = 20) -> list[str]:
        """What the archivist reads at the end of a run: counts, then what needs a look."""
        s = self.summary()
        lines = [f"ingest: {s['read']} read (dumps and table rows), {s['accepted']} articles "
                 f"({s['written']} written, {s['unchanged']} unchanged, {s['removed']} removed), "
                 f"{s['duplicates']} duplicates, {s['rejected']} rejected, {s['conflicts']} edit conflicts"]
        lines += [f"  rejected {r['source']}: {r['reason']}: {r['detail']}" for r in self.rejected[:limit]]
        if len(self.rejected) > limit:
            lines.append(f"  ... and {len(self.rejected) - limit} more rejected")
        lines += [f"  conflict {c['output']} ({c['source']}): fields {c['fields']}; kept {c['kept']}"
                  for c in self.conflicts[:limit]]
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "conflicts": self.conflicts,
            "removed": self.removed,
        }


# -- reading ---------------------------------------------------------------------------

def list_sources(source: Path) -> list[Path]:
    """Every file under `source` (or `source` itself), hidden files and folders skipped,
    and the `<table>.mapping.yaml` files that describe tables (they are not sources)."""
    if source.is_file():
        return [source]
    files = []
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [Path(root, n) for n in sorted(names) if not n.startswith(".") and not is_mapping_file(Path(n))]
    return files


def _parse_file(job: tuple[str, str, str, Mapping | None]) -> list[Article | Rejection]:
    """A dump gives one outcome; a table (`.csv`) one per row, read with its mapping."""
    path, rel, timezone, mapping = job
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return [Rejection(rel, "unreadable", str(exc))]
    if not is_table(Path(path)):
        return [parse_dump(raw, rel, timezone)]
    try:
        mapping = mapping_for(Path(path), mapping)
    except MappingError as exc:
        return [Rejection(rel, "no-mapping", str(exc))]
    return parse_table(raw, rel, mapping, timezone)


def parse_sources(files: list[Path], base: Path, timezone: str,
                  on_progress: Callable[[int, int], None] | None = None,
                  mapping: Mapping | None = None) -> list[Article | Rejection]:
    """Parse every file, in parallel across cores for large inputs, in input order.
    Tables are read with `mapping`, or else with the mapping file beside each table."""
    base_dir = base if base.is_dir() else base.parent
    jobs = [(str(p), p.relative_to(base_dir).as_posix(), timezone, mapping) for p in files]
    results: list[Article | Rejection] = []
    for outcome in map_in_parallel(_parse_file, jobs, on_progress):
        results += outcome
    return results


def map_in_parallel(func: Callable, jobs: list, on_progress: Callable[[int, int], None] | None = None) -> list:
    """`[func(job) for job in jobs]`, across every core when there are enough jobs to pay for it."""
    pool = ProcessPoolExecutor(max_workers=os.cpu_count()) if len(jobs) >= _PARALLEL_FROM else None
    iterator: Iterable = pool.map(func, jobs, chunksize=64) if pool else map(func, jobs)
    results = []
    try:
        for i, result in enumerate(iterator, 1):
            results.append(result)
            if on_progress:
                on_progress(i, len(jobs))
    finally:
        if pool:
            pool.shutdown()
    return results


# -- duplicates and paths ----------------------------------------------------------------

def fold_duplicates(articles: list[Article]) -> tuple[list[Article], list[tuple[Article, Article]]]:
    """Byte-identical dumps, or equal title + date + body, become one article (the first)."""
    kept: list[Article] = []
    dupes: list[tuple[Article, Article]] = []
    by_bytes: dict[str, Article] = {}
    by_text: dict[tuple, Article] = {}
    for a in articles:
        text_key = (a.title, a.date.isoformat(), tuple(a.paragraphs))
        first = by_bytes.get(a.source.sha256) or by_text.get(text_key)
        if first is not None:
            dupes.append((a, first))
            continue
        by_bytes[a.source.sha256] = a
        by_text[text_key] = a
        kept.append(a)
    return kept, dupes


def base_slug(title: str) -> str:
    """Readable ASCII slug; non-Latin titles are transliterated."""
    return slugify(title, max_length=SLUG_MAX, word_boundary=True, save_order=True)


def assign_paths(articles: list[Article]) -> dict[str, Article]:
    """`YYYY/MM/<slug>.md` for each article, unique and stable.

    Among articles sharing a month and a slug, the earliest (then the smallest hash)
    keeps the plain slug and the others get the first 8 hex digits of their source hash,
    so adding a same-titled article never renames the one already published.
    """
    groups: dict[tuple[str, str], list[Article]] = {}
    for a in articles:
        slug = base_slug(a.title) or "article"
        groups.setdefault((a.date.strftime("%Y/%m"), slug), []).append(a)
    paths: dict[str, Article] = {}
    for (month, slug), members in sorted(groups.items()):
        members.sort(key=lambda a: (a.date, a.source.sha256, a.source.file))
        for i, a in enumerate(members):
            a.slug = slug if i == 0 else f"{slug[: SLUG_MAX - 9].rstrip('-')}-{a.source.sha256[:8]}"
            paths[f"{month}/{a.slug}.md"] = a
    return paths


# -- writing -----------------------------------------------------------------------------

def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()[:16]


def _fields(front_matter: dict[str, Any], paragraphs: list[str]) -> dict[str, Any]:
    return {**front_matter, "body": paragraphs}


def _read_existing(path: Path) -> tuple[dict[str, Any], list[str]] | None:
    try:
        return read_content_file(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def merge_edits(new: dict[str, Any], current: dict[str, Any], base: dict[str, str] | None,
                ) -> tuple[dict[str, Any], list[str]]:
    """Three-way merge of one article's fields; returns (merged, clashing field names).

    A field the archivist left as ingest wrote it takes the new value; a field the
    archivist changed keeps the edit; when the dump changed that field too, the edit
    still wins and the clash is reported. Fields ingest never writes are kept as they are.
    """
    merged = dict(current)
    clashes = []
    for name, value in new.items():
        if name not in current:
            merged[name] = value
            continue
        cur = current[name]
        if cur == value:
            continue
        if base is not None and _fingerprint(cur) == base.get(name):
            merged[name] = value
        elif base is not None and _fingerprint(value) == base.get(name):
            continue
        else:
            clashes.append(name)
    # keep ingest's field order, archivist fields after
    ordered = {k: merged[k] for k in new if k in merged}
    ordered.update({k: v for k, v in merged.items() if k not in ordered})
    return ordered, clashes


def _render(fields: dict[str, Any]) -> str:
    return render_markdown_file({k: v for k, v in fields.items() if k != "body"}, fields["body"])


@dataclass
class _Placed:
    """What writing one article did, for the report and the state file."""

    rel: str
    state: dict[str, Any]
    written: bool
    clashes: list[str]


def place_article(job: tuple[Path, str, Article, dict | None, str | None, bool]) -> _Placed:
    """Write one article to `content/rel`, keeping what the archivist changed.

    `previous_rel` is where this source's article was last written (it may have moved);
    `drop_previous` says that file is no longer any article's and goes once merged.
    Runs in worker processes: it touches only this article's files.
    """
    content, rel, article, base, previous_rel, drop_previous = job
    target = content / rel
    new_fields = _fields(article.front_matter(), article.paragraphs)
    new_text = _render(new_fields)
    state = {"source": article.source.ref,
             "fields": {k: _fingerprint(v) for k, v in new_fields.items()},
             # what an unedited file holds: tells later runs whether the archivist touched it
             "written": hashlib.sha256(new_text.encode()).hexdigest()}
    existing_path = target if target.exists() else (content / previous_rel if previous_rel else None)
    if existing_path == target and target.read_text(encoding="utf-8") == new_text:
        return _Placed(rel, state, False, [])  # the common case on a re-ingest: nothing to merge
    existing = _read_existing(existing_path) if existing_path and existing_path.exists() else None
    if existing is None:
        atomic_write(target, new_text)
        return _Placed(rel, state, True, [])
    current_fields = _fields(*existing)
    merged, clashes = merge_edits(new_fields, current_fields, base)
    if existing_path == target and merged == current_fields:
        # nothing to change: leave the archivist's formatting and the mtime alone
        return _Placed(rel, state, False, clashes)
    atomic_write(target, new_text if merged == new_fields else _render(merged))
    if existing_path != target and drop_previous:
        existing_path.unlink(missing_ok=True)
    return _Placed(rel, state, True, clashes)


def ingest(source: Path, content: Path, timezone: str = DEFAULT_TIMEZONE,
           on_progress: Callable[[int, int], None] | None = None,
           mapping: Mapping | None = None) -> IngestReport:
    """Ingest every file under `source` into `content/`; see the module docstring.
    `read` counts dumps and table rows (a table that cannot be read at all counts once)."""
    source, content = Path(source), Path(content)
    report = IngestReport()
    files = list_sources(source)
    outcomes = parse_sources(files, source, timezone, on_progress, mapping)
    report.read = len(outcomes)

    articles = [o for o in outcomes if isinstance(o, Article)]
    for o in outcomes:
        if isinstance(o, Rejection):
            report.rejected.append({"source": o.source, "reason": o.reason, "detail": o.detail})
    kept, dupes = fold_duplicates(articles)
    paths = assign_paths(kept)
    output_of = {id(a): p for p, a in paths.items()}
    for dup, first in dupes:
        report.duplicates.append({"source": dup.source.ref, "duplicate_of": first.source.ref,
                                  "output": output_of[id(first)]})
        if (dup.outlet, dup.facets) != (first.outlet, first.facets):
            first.warnings.append(f"{dup.source.ref} has the same title, date and text but "
                                  f"outlet {dup.outlet}, facets {dup.facets}; folded into this article")

    state_path = content / STATE_FILE
    try:
        old_state = json.loads(state_path.read_text(encoding="utf-8"))["outputs"]
    except (OSError, ValueError, KeyError):
        old_state = {}
    old_path_of_source = {v["source"]: p for p, v in old_state.items()}
    new_state: dict[str, Any] = {}

    jobs = []
    for rel, article in sorted(paths.items()):
        previous_rel = rel if rel in old_state else old_path_of_source.get(article.source.ref)
        base = old_state.get(previous_rel, {}).get("fields") if previous_rel else None
        jobs.append((content, rel, article, base, previous_rel, previous_rel not in paths))
    for (_, rel, article, *_rest), placed in zip(jobs, map_in_parallel(place_article, jobs)):
        new_state[rel] = placed.state
        if placed.written:
            report.written += 1
        else:
            report.unchanged += 1
        if placed.clashes:
            report.conflicts.append({"output": rel, "source": article.source.ref, "fields": placed.clashes,
                                     "kept": "the archivist's edit"})
        report.accepted.append({"source": article.source.ref, "output": rel, "warnings": article.warnings})

    for rel, entry in sorted(old_state.items()):
        if rel in new_state:
            continue
        path = content / rel
        if not path.exists():
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() == entry.get("written"):
            path.unlink()
            report.removed.append(rel)
        else:
            report.conflicts.append({"output": rel, "source": entry["source"], "fields": [],
                                     "kept": "the edited article; its dump is gone"})

    state_text = json.dumps({"version": 1, "outputs": new_state}, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if not state_path.exists() or state_path.read_text(encoding="utf-8") != state_text:
        atomic_write(state_path, state_text)
    return report


def write_report(report: IngestReport, path: Path) -> None:
    atomic_write(Path(path), json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
