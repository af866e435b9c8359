"""The benchmark: Broadsheet against what an archivist would use instead, side by side, in one run.

`run_benchmark` generates a synthetic corpus (`broadsheet.corpus`) and measures, each step in
its own Python process so that nothing warm survives from one step to the next and each
step's peak memory is its own (`os.wait4` returns the child's rusage; `ru_maxrss` is the
largest single process of the step, workers included):

- ingest: dumps per second (`broadsheet.ingest`);
- a cold Broadsheet build (`broadsheet.site.build`, pelicanconf.py) against a cold bare Pelican
  build of the same Markdown (`BARE_PELICAN`: YAML reader, default theme, no other plugin),
  fresh output and cache folders for both; the ratio of the two;
- the related graph's resolution time, as the plugin reports it (RELATED_GRAPH_REPORT);
- the Whoosh index built from scratch with the search plugin's `update_index`, and the
  browser shards with its `export_browser_index`;
- CLI query latency (p50/p95) through the search plugin's `search`, over `CLI_QUERIES`;
- the offline zip (`broadsheet.archive.offline.make_offline_zip`): its size and time;
- an incremental rebuild after `CHANGED_DUMPS` changed dumps (`broadsheet.rebuild`), as a ratio
  to a from-scratch rebuild of the same pipeline and to the full build;
- browser search in headless Chromium over a loopback HTTP server: bytes loaded after the
  reader starts typing and time to the first result, Broadsheet's `search.html` against
  Pagefind's default UI on the same built site;
- the FA-KES table (CSV + mapping) when it is present: rows per second and build times;
- web archives (`broadsheet.webarchive`): the synthetic articles as Al-Alam-style HTML pages in a
  WARC, HTML pages per second (wall clock, and per CPU-second of the reading process and its
  workers); then the same pages among incompressible image records up to half a MiB per
  article (at most `WEB_ARCHIVE_MIB`), whose peak memory, beside the first's, shows whether
  reading is streamed.

`run_search_scale` (`invoke bench --search-scale N`) measures search alone at a larger size,
without building a site: corpus, ingest, the Whoosh index and browser shards from the content
files, the bytes each browser query loads (the engine under Node, `tests/search/node_query.js`,
reading the shards from disk as the page would load them), and CLI latency and memory.

A piece of Broadsheet that has not landed yet (a plugin, a module, a function) is reported as
"not available yet" with the reason; a step that ran and broke is "failed" with the error.
No figure is ever made up. Timings are wall-clock on a shared machine: read them with the
load average recorded beside them.

Child processes run `python -m broadsheet.bench child STEP ARGS.json RESULT.json`.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from broadsheet.site import search_index_folder

PROJECT = Path(__file__).resolve().parent.parent
PLUGINS_DIR = PROJECT / "plugins"
DEFAULT_N = 2000
DEFAULT_SEED = 7
DEFAULT_WORK = PROJECT / "bench" / "work"
FAKES_CSV = (PROJECT / ".." / "shared" / "data" / "fa-kes" / "FA-KES-Dataset.csv").resolve()
FAKES_MAPPING = PROJECT / "mappings" / "fa-kes.yaml"
RESULTS_VERSION = 1

#: Each cold build (bare and Broadsheet) runs this many times, alternately; the fastest counts.
BUILD_REPEATS = 2
#: How many dumps the incremental rebuild changes.
CHANGED_DUMPS = 10
#: A step that takes longer than this is killed (with its process group) and reported failed.
STEP_TIMEOUT = 45 * 60
#: The same for the rebuilds of `--scale` (past its 15-minute target a rebuild still runs to
#: its end, so that how far it misses is measured, not guessed).
SCALE_STEP_TIMEOUT = 120 * 60

#: Bare Pelican: Pelican's defaults (theme notmyidea) with the YAML reader and nothing else.
BARE_PELICAN = {
    "PLUGINS": ["pelican.plugins.yaml_metadata"],
    "FEED_ALL_ATOM": None, "CATEGORY_FEED_ATOM": None, "TRANSLATION_FEED_ATOM": None,
    "AUTHOR_FEED_ATOM": None, "AUTHOR_FEED_RSS": None,  # no feeds without a SITEURL, as locally
    "LOAD_CONTENT_CACHE": False,
}
#: What the bare build takes from pelicanconf.py so that the same Markdown builds the same
#: articles: the source's clock, the year/month URLs (slugs repeat across months), literal
#: Markdown, no translations, the same pagination.
BARE_FROM_SITE_SETTINGS = ("TIMEZONE", "ARTICLE_URL", "ARTICLE_SAVE_AS", "ARTICLE_TRANSLATION_ID",
                           "MARKDOWN", "READERS", "DEFAULT_PAGINATION")

#: The archivist's query set for CLI latency: words, stems, phrases, boolean, prefix, fields.
CLI_QUERIES = [
    "aleppo", "palmyra", "ceasefire", "mortar", "tunnels", "drone", "hezbollah", "convoy",
    "kirkuk", "taliban", "mortar shells", "supply routes", "heavy losses", "humanitarian aid",
    "syrian marines", "weapons depot", '"supply routes"', '"field commander"', "negotiat*",
    "ambush*", "title:palmyra", "title:drone", "idlib OR hama", "army NOT syrian",
    "attacks", "destroyed vehicles", "military source", "aleppo convoy", "mosul ramadi", "year:2016 aleppo",
]
CLI_ROUNDS = 3

#: Queries run each in a fresh process (index opened cold), like separate `invoke search` calls.
CLI_COLD_RUNS = 5

#: Browser queries, each in a fresh browser context (nothing cached from the previous one).
BROWSER_QUERIES = {"one-word": ["palmyra", "ceasefire"], "two-word": ["mortar shells", "aleppo convoy"]}
BROWSER_TIMEOUT_MS = 30_000

#: Pagefind indexes the same documents as Broadsheet's index (the article pages only), and its
#: UI shows as many results as Broadsheet's first page (10; Pagefind's default is 5).
PAGEFIND_GLOB = "[0-9][0-9][0-9][0-9]/[0-9][0-9]/*.html"
PAGEFIND_PAGE = "bench-pagefind.html"
PAGEFIND_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pagefind (benchmark)</title>
<link href="pagefind/pagefind-ui.css" rel="stylesheet">
<script src="pagefind/pagefind-ui.js"></script></head>
<body><h1>Pagefind</h1><div id="search"></div>
<script>window.addEventListener("DOMContentLoaded", function () {
  new PagefindUI({element: "#search", showSubResults: false, showImages: false, pageSize: 10});
});</script></body></html>
"""
#: How each engine's page is driven: where to type, what a result looks like.
ENGINES = {
    "broadsheet": {"page": "search.html", "input": "#search-input", "result": "#search-results a"},
    "pagefind": {"page": PAGEFIND_PAGE, "input": ".pagefind-ui__search-input",
                 "result": ".pagefind-ui__result-link"},
}
# Records, in the page's own clock, when typing starts and when the first result appears.
_OBSERVE_JS = """(selector) => {
  window.__benchFirst = undefined;
  const seen = () => document.querySelector(selector) !== null;
  new MutationObserver((_, obs) => {
    if (window.__benchFirst === undefined && seen()) { window.__benchFirst = performance.now(); obs.disconnect(); }
  }).observe(document.body, {childList: true, subtree: true});
  window.__benchStart = performance.now();
}"""

#: Targets: (key, label, comparison, bound). A target holds when `value <cmp> bound`.
TARGETS = [
    ("build_ratio", "full build ≤ 1.0× bare Pelican", "<=", 1.0),
    ("incremental_ratio", "incremental rebuild ≤ 0.3× full", "<=", 0.3),
    ("incremental_seconds", "incremental rebuild ≤ 10 s (the issue's bound at 10,000)", "<=", 10.0),
    ("ingest_rate", "ingest ≥ 5,000 dumps/s", ">=", 5000.0),
    ("bytes_ratio_one_word", "bytes per one-word query ≤ ½ Pagefind's", "<=", 0.5),
    ("bytes_ratio_two_word", "bytes per two-word query ≤ ½ Pagefind's", "<=", 0.5),
    ("cli_p95_ms", "CLI query p95 ≤ 30 ms", "<=", 30.0),
    ("web_archive_rate", "web archive ≥ 100 HTML pages/s", ">=", 100.0),
]
#: The largest web archive the bench writes (n=2000 articles reach it).
WEB_ARCHIVE_MIB = 1024


# -- step results ---------------------------------------------------------------------------

def not_available(reason: str) -> dict[str, Any]:
    return {"status": "not available", "reason": f"not available yet ({reason})"}


def failed(reason: str) -> dict[str, Any]:
    return {"status": "failed", "reason": reason}


def ok(step: dict[str, Any] | None) -> bool:
    return bool(step) and step.get("status") == "ok"


def run_step(name: str, args: dict[str, Any], work: Path, label: str | None = None,
             timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
    """Run child step `name` in a fresh Python process; its result plus wall time and peak RSS.
    `label` names its files in `work` (default: the step's name)."""
    work.mkdir(parents=True, exist_ok=True)
    label = label or name
    args_path, result_path, log_path = (work / f"{label}.{ext}" for ext in ("args.json", "result.json", "log"))
    args_path.write_text(json.dumps(args, default=str), encoding="utf-8")
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "broadsheet.bench", "child", name, str(args_path), str(result_path)]
    return run_process(cmd, log_path, timeout, result_path)


def run_process(cmd: list[str], log_path: Path, timeout: float = STEP_TIMEOUT,
                result_path: Path | None = None) -> dict[str, Any]:
    """Run `cmd` and wait for it with `os.wait4`, which gives its own peak RSS. The working
    directory is the log's folder (inside the run), so that whatever a plugin writes relative
    to the working directory (the graph report's default, reports/graph.json) stays in the run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=log_path.parent, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        sampler = TreeMemory(proc.pid)
        timed_out = threading.Event()

        def kill_group():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the child's own session: it and its children only
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill_group)
        timer.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
    # ru_maxrss covers the step's process and the children it waited for; Dask's worker
    # processes are not among those, so the sampled tree may show a larger single process.
    measured = {"process_seconds": round(wall, 3),
                "peak_rss_mib": round(max(rusage.ru_maxrss / 1024, sampler.largest_mib), 1),
                "tree_peak_rss_mib": round(max(sampler.total_mib, rusage.ru_maxrss / 1024), 1),
                "largest_process": sampler.largest_name,
                "processes_seen": sampler.processes_seen}
    if timed_out.is_set():
        return {**failed(f"killed after {timeout:.0f} s; log {log_path}"), **measured}
    if result_path is not None and result_path.exists():
        return {**json.loads(result_path.read_text(encoding="utf-8")), **measured}
    if proc.returncode != 0 or result_path is not None:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-6:]
        return {**failed(f"exit {proc.returncode}: " + " | ".join(tail) + f" (log {log_path})"), **measured}
    return {"status": "ok", **measured}


class TreeMemory:
    """Samples the resident memory of a process and all its descendants (Dask's nanny and worker
    processes included) every `interval` seconds, in a thread, until `stop`: the peak of the
    largest single process and the peak of their sum. RSS counts pages shared between processes
    (the interpreter, imported libraries) once per process, so the sum is an upper bound."""

    def __init__(self, pid: int, interval: float = 0.25):
        import psutil

        self._psutil, self._root, self._interval = psutil, psutil.Process(pid), interval
        self.largest_mib = self.total_mib = 0.0
        self.largest_name = ""
        self._seen: set[int] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def processes_seen(self) -> int:
        return len(self._seen)

    def _run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self._interval)

    def sample(self) -> None:
        psutil = self._psutil
        try:
            tree = [self._root, *self._root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return
        total = 0.0
        for proc in tree:
            try:
                mib = proc.memory_info().rss / 1048576
                if mib > self.largest_mib:
                    self.largest_mib, self.largest_name = mib, _process_name(proc, proc.pid == self._root.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            self._seen.add(proc.pid)
            total += mib
        self.total_mib = max(self.total_mib, total)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _process_name(proc, root: bool) -> str:
    """What a process is, in a few words: the step itself, a fork of it (as the search plugin's
    background indexing is), a Dask worker or nanny, or its command."""
    try:
        cmd = proc.cmdline()
    except Exception:
        return "?"
    line = " ".join(cmd)
    try:
        what = proc.environ().get("BROADSHEET_BACKGROUND")
    except Exception:
        what = None
    if what and "spawn_main" in line:  # broadsheet.background's fresh process
        return f"background process ({what})"
    if "broadsheet.bench" in line:
        return "step process (driver)" if root else "fork of the step process (background work)"
    if "multiprocessing" in line or "spawn_main" in line or "forkserver" in line:
        return "Dask worker/nanny (spawned)"
    return " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd[:3]))[:60]


# -- child steps: each runs in its own process -----------------------------------------------

def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def step_corpus(n: int, seed: int, dest: str) -> dict[str, Any]:
    from broadsheet import site
    from broadsheet.corpus import generate_corpus, write_corpus

    generated, seconds = _timed(lambda: generate_corpus(n, seed, 0.0, site.source_timezone()))
    write_corpus(generated, Path(dest))
    return {"status": "ok", "dumps": len(generated.files), "seconds": round(seconds, 3)}


def step_ingest(source: str, content: str, report: str, mapping: str | None = None) -> dict[str, Any]:
    from broadsheet import site
    from broadsheet.ingest import ingest, list_sources, parse_sources, write_report

    table_mapping = None
    if mapping:
        try:
            from broadsheet.tables import load_mapping
        except ImportError as exc:
            return not_available(f"the CSV importer broadsheet/tables.py cannot be imported: {exc}")
        table_mapping = load_mapping(Path(mapping))
    tz = site.source_timezone()
    result, seconds = _timed(lambda: ingest(Path(source), Path(content), tz, mapping=table_mapping))
    write_report(result, Path(report))
    s = result.summary()
    if not s["accepted"]:
        return failed(f"ingest accepted nothing ({s['read']} read, {s['rejected']} rejected)")
    # Parsing alone (files already in the page cache), to show where ingest's time goes.
    parsed, parse_seconds = _timed(lambda: parse_sources(list_sources(Path(source)), Path(source), tz,
                                                         mapping=table_mapping))
    return {"status": "ok", "seconds": round(seconds, 3), "read": s["read"], "accepted": s["accepted"],
            "rejected": s["rejected"], "per_second": round(s["read"] / seconds, 1),
            "parse_seconds": round(parse_seconds, 3), "parse_per_second": round(len(parsed) / parse_seconds, 1)}


def step_build(content: str, output: str, cache: str, kind: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """A cold build: `kind` is "broadsheet" (pelicanconf.py: partitioned, on a local Dask
    cluster), "single" (pelicanconf.py in one Pelican run, `partitioned=False`) or "bare"
    (BARE_PELICAN)."""
    overrides = {**overrides, "CACHE_PATH": cache}
    if kind in ("broadsheet", "single"):
        from broadsheet import site

        partitioned = None if kind == "broadsheet" else False
        _, seconds = _timed(lambda: site.build(Path(content), Path(output), "local", partitioned=partitioned,
                                               **overrides))
    else:
        from pelican import Pelican
        from pelican.settings import read_settings

        from broadsheet import site

        local = site.load_settings("local")
        shared = {name: local[name] for name in BARE_FROM_SITE_SETTINGS}

        def bare():
            conf = read_settings(None, override={**BARE_PELICAN, **shared, "PATH": content,
                                                 "OUTPUT_PATH": output, **overrides})
            Pelican(conf).run()

        _, seconds = _timed(bare)
    pages = sum(1 for _ in Path(output).rglob("*.html"))
    return {"status": "ok", "seconds": round(seconds, 3), "html_pages": pages}


def _search_plugin():
    """The search plugin's modules, imported the way Pelican imports plugins (PLUGIN_PATHS)."""
    if str(PLUGINS_DIR) not in sys.path:
        sys.path.insert(0, str(PLUGINS_DIR))
    import search_index.export as export
    import search_index.index as index
    import search_index.query as query

    return index, export, query


def search_documents(content: Path, index_module) -> list[Any]:
    """The plugin's SearchDocuments for every content file, built from the shared Article
    record as the plugin builds them (URL: the content path as .html; same fields)."""
    from broadsheet.article import read_markdown_file

    docs = []
    for path in sorted(content.rglob("*.md")):
        record = read_markdown_file(path.read_text(encoding="utf-8"))
        url = path.relative_to(content).with_suffix(".html").as_posix()
        docs.append(index_module.SearchDocument(
            key=url, url=url, title=record.title, body=record.body, date=record.date,
            signature=record.signature, source_id=record.source_id, outlet=record.outlet,
            labels=index_module.labels_from_facets(record.facets)))
    return docs


def step_whoosh(content: str, index_dir: str, export_dir: str) -> dict[str, Any]:
    try:
        index, export, query = _search_plugin()
        update_index, export_browser_index = index.update_index, export.export_browser_index
    except (ImportError, AttributeError) as exc:
        return not_available(f"plugins/search_index has no update_index/export_browser_index: {exc}")
    docs = search_documents(Path(content), index)
    (ix, report), seconds = _timed(lambda: update_index(Path(index_dir), docs))
    weighting = query.weighting_from_settings(None)
    exported, export_seconds = _timed(lambda: export_browser_index(ix, Path(export_dir), weighting))
    return {"status": "ok", "seconds": round(seconds, 3), "documents": len(docs),
            "added": len(report.added), "export_seconds": round(export_seconds, 3),
            "export_files": exported.files, "export_bytes": exported.total_bytes}


def step_cli_queries(output: str, queries: list[str], rounds: int) -> dict[str, Any]:
    try:
        _, _, query = _search_plugin()
        search = query.search
    except (ImportError, AttributeError) as exc:
        return not_available(f"plugins/search_index has no query.search: {exc}")
    # A call is what `invoke search` does after start-up: open the index, parse, search, highlight.
    # `search` also reports its own time without opening the index ("search_*").
    times, inner, hits = [], [], {}
    per_query: dict[str, list[float]] = {q: [] for q in queries}
    for _ in range(rounds):
        for q in queries:
            (found, total, searched), seconds = _timed(lambda: search(Path(output), q, limit=10))
            times.append(seconds * 1000)
            inner.append(searched * 1000)
            per_query[q].append(seconds * 1000)
            hits[q] = total
    slowest = sorted(per_query, key=lambda q: statistics.median(per_query[q]), reverse=True)[:5]
    return {"status": "ok", "queries": len(queries), "rounds": rounds, "calls": len(times),
            "p50_ms": round(statistics.median(times), 2), "p95_ms": round(_p95(times), 2),
            "max_ms": round(max(times), 2), "search_p50_ms": round(statistics.median(inner), 2),
            "search_p95_ms": round(_p95(inner), 2),
            "slowest_median_ms": {q: round(statistics.median(per_query[q]), 1) for q in slowest},
            "queries_without_hits": sorted(q for q, t in hits.items() if not t)}


def step_cli_cold(output: str, query: str) -> dict[str, Any]:
    """One query in a fresh process, as one `invoke search` runs it: the index is opened first."""
    try:
        _, _, query_module = _search_plugin()
        search = query_module.search
    except (ImportError, AttributeError) as exc:
        return not_available(f"plugins/search_index has no query.search: {exc}")
    _, seconds = _timed(lambda: search(Path(output), query, limit=10))
    return {"status": "ok", "ms": round(seconds * 1000, 2)}


#: What the page asks the engine for, besides the first page: the next page, the best of one
#: year (a filter), and every match (what the next page and the filters loaded before they
#: went on from the best chunks).
BROWSER_VARIANTS = {"first and next page (the 20 best)": {"best": 20, "limit": 20},
                    "the 10 best of 2015": {"year": 2015},
                    "every match": {"all": True}}


def _node_queries(search_dir: str, queries: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """{query: result} of `tests/search/node_query.js` (each query in a fresh engine)."""
    done = subprocess.run([shutil.which("node"), str(PROJECT / "tests" / "search" / "node_query.js"),
                           str(PROJECT / "theme" / "static" / "js"), search_dir],
                          input=json.dumps({"queries": queries, **options}), capture_output=True, text=True,
                          check=True, timeout=STEP_TIMEOUT)
    return {r["query"]: r for r in json.loads(done.stdout)["queries"]}


def step_browser_bytes(search_dir: str, queries: dict[str, list[str]]) -> dict[str, Any]:
    """Bytes each query loads after meta.js (which the page loads on opening), each in a fresh
    engine: the browser engine run by Node on the shards as files; then the same for the next
    page, a year and every match (`BROWSER_VARIANTS`)."""
    if shutil.which("node") is None:
        return not_available("node is not installed")
    flat = [q for qs in queries.values() for q in qs]
    found = _node_queries(search_dir, flat, {})
    errors = [f"{q}: {r['error']}" for q, r in found.items() if "error" in r]
    if errors:
        return failed("; ".join(errors))
    by_kind = {kind: {"bytes": statistics.mean(found[q]["bytes"] for q in qs),
                      "max_bytes": max(found[q]["bytes"] for q in qs),
                      "files": statistics.mean(len(found[q]["shards"]) for q in qs)} for kind, qs in queries.items()}

    def by_folder(shards: list[str]) -> dict[str, int]:
        # Bytes by kind of file (t/ term buckets, l/ chunks, r/ pieces, d/ documents...).
        out: dict[str, int] = {}
        for shard in shards:
            kind = shard.split("/", 1)[0]
            out[kind] = out.get(kind, 0) + (Path(search_dir) / shard).stat().st_size
        return dict(sorted(out.items()))

    def summary(r: dict[str, Any]) -> dict[str, Any]:
        if "error" in r:
            return {"error": r["error"]}
        return {"bytes": r["bytes"], "files": len(r["shards"]), "complete": r.get("complete"),
                "by_folder": by_folder(r["shards"])}

    variants = {name: {q: summary(r) for q, r in _node_queries(search_dir, flat, options).items()}
                for name, options in BROWSER_VARIANTS.items()}
    return {"status": "ok", "by_kind": by_kind, "queries": {q: summary(r) for q, r in found.items()},
            "variants": variants}


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def step_zip(content: str, zip_path: str, work: str, overrides: dict[str, Any]) -> dict[str, Any]:
    from broadsheet.archive.offline import make_offline_zip

    result, seconds = _timed(lambda: make_offline_zip(Path(content), Path(zip_path), work_dir=Path(work),
                                                      extra_overrides=overrides))
    return {"status": "ok", "seconds": round(seconds, 3), "bytes": result.bytes, "files": result.files}


def step_rebuild(source: str, content: str, output: str, zip_path: str, reports: str) -> dict[str, Any]:
    """One run of the archivist's rebuild; whatever it keeps beside `output` stays for the next."""
    try:
        from broadsheet.rebuild import rebuild
    except ImportError as exc:
        return not_available(f"broadsheet/rebuild.py has no rebuild(): {exc}")
    # Each step's start goes to the step's log, so that a run killed on timeout says where it was.
    report, seconds = _timed(lambda: rebuild(Path(source), Path(content), Path(output), Path(zip_path),
                                             Path(reports), on_step=lambda name: print(
                                                 f"{datetime.now(timezone.utc):%H:%M:%S} rebuild step: {name}",
                                                 flush=True)))
    files = sum(1 for p in Path(output).rglob("*") if p.is_file())
    return {"status": "ok", "seconds": round(seconds, 3), "steps": report.seconds, "search": report.search_seconds,
            "ingest": report.ingest, "output": report.output, "zip": report.zip, "site_files": files,
            "zip_bytes": Path(zip_path).stat().st_size if Path(zip_path).exists() else None}


def step_browser(site: str, engine: str, queries: dict[str, list[str]]) -> dict[str, Any]:
    """Bytes loaded after typing starts, and time to the first result, per query."""
    from broadsheet.checks import CHROMIUM

    spec = ENGINES[engine]
    if not (Path(site) / spec["page"]).is_file():
        return not_available(f"no {spec['page']} in the built site")
    if not os.access(CHROMIUM, os.X_OK):
        return not_available(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import Error as PlaywrightError, sync_playwright

    server, base = _serve(Path(site))
    measured = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            for kind, words in queries.items():
                for q in words:
                    try:
                        measured.append({"kind": kind, "query": q, **_browser_query(browser, base, spec, q)})
                    except PlaywrightError as exc:
                        measured.append({"kind": kind, "query": q, "error": str(exc).splitlines()[0]})
            browser.close()
    finally:
        server.shutdown()
    errors = [m for m in measured if "error" in m]
    if errors:
        missing = sorted({u for m in measured for u in m.get("not_found", [])})
        why = f"{errors[0]['query']!r}: {errors[0]['error']}" + (f"; not found: {', '.join(missing)}" if missing else "")
        return {**failed(f"no result for {len(errors)} of {len(measured)} queries ({why})"), "queries": measured}
    by_kind = {}
    for kind in queries:
        rows = [m for m in measured if m["kind"] == kind]
        by_kind[kind] = {"bytes": round(statistics.mean(m["bytes"] for m in rows)),
                         "bytes_gzip": round(statistics.mean(m["bytes_gzip"] for m in rows)),
                         "requests": round(statistics.mean(m["requests"] for m in rows), 1),
                         "results_shown": round(statistics.mean(m["results_shown"] for m in rows), 1),
                         "first_result_ms": round(statistics.mean(m["first_result_ms"] for m in rows), 1)}
    return {"status": "ok", "by_kind": by_kind, "queries": measured}


def _serve(site: Path):
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _browser_query(browser, base: str, spec: dict[str, str], q: str) -> dict[str, Any]:
    context = browser.new_context()
    page = context.new_page()
    not_found: list[str] = []
    page.on("response", lambda r: r.status >= 400 and not_found.append(r.url.replace(base, "")))
    page.goto(base + spec["page"], wait_until="networkidle")
    after_typing: list[Any] = []
    page.on("requestfinished", lambda request: after_typing.append(request))
    page.evaluate(_OBSERVE_JS, spec["result"])
    page.locator(spec["input"]).press_sequentially(q)
    try:
        page.wait_for_function("window.__benchFirst !== undefined", timeout=BROWSER_TIMEOUT_MS)
    except Exception:
        context.close()
        raise
    first_ms = page.evaluate("window.__benchFirst - window.__benchStart")
    page.wait_for_load_state("networkidle")
    body = headers = packed = 0
    files = []
    for request in after_typing:
        sizes = request.sizes()
        files.append([request.url.replace(base, ""), max(sizes["responseBodySize"], 0)])
        body += max(sizes["responseBodySize"], 0)
        headers += max(sizes["responseHeadersSize"], 0) + max(sizes["requestHeadersSize"], 0)
        packed += _gzip_size(request)
    results = page.locator(spec["result"]).count()
    context.close()
    return {"first_result_ms": round(first_ms, 1), "bytes": body, "header_bytes": headers, "bytes_gzip": packed,
            "requests": len(after_typing), "results_shown": results, "not_found": not_found, "files": files}


def _gzip_size(request) -> int:
    """What a host that gzips text would send; files Pagefind already compressed count as they are."""
    response = request.response()
    if response is None:
        return 0
    data = response.body()
    if data[:2] == b"\x1f\x8b" or request.url.endswith((".wasm", ".pf_fragment", ".pf_index", ".pf_meta")):
        return len(data)
    return len(gzip.compress(data, 6))


def step_web_archive(dest: str, n: int, seed: int, filler_mib: int) -> dict[str, Any]:
    """A WARC of the synthetic corpus as HTML pages laid out like Al-Alam's (dateline, signature,
    related var_dump) inside a news site's navigation, scripts and sidebar, followed by
    incompressible 256 KiB image records up to `filler_mib`."""
    import html
    import io
    import random

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from broadsheet import site
    from broadsheet.corpus import generate_corpus
    from broadsheet.dumps import format_dateline

    rng = random.Random(seed)
    nav = "".join(f'<li class="menu"><a href="/section/{i}" title="Section {i}">Section {i}</a></li>' for i in range(120))
    started = time.perf_counter()
    pages = html_bytes = 0
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as f:
        warc = WARCWriter(f, gzip=True)

        def response(url: str, data: bytes, content_type: str) -> None:
            headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
            warc.write_record(warc.create_warc_record(url, "response", payload=io.BytesIO(data), http_headers=headers))

        for i, generated in enumerate(generate_corpus(n, seed, 0.0, site.source_timezone()).files):
            a = generated.article
            blob = f'string({len(a.related_json.encode())}) "{a.related_json}"' if a.related_json is not None else ""
            script = "<script>var stats = " + json.dumps([rng.random() for _ in range(600)]) + ";</script>"
            side = "".join(f'<li><a href="/news/{rng.randrange(10**6)}"><img src="/pic/{k}.jpg" alt=""> Most read '
                           f'story {k}, with a headline as long as they are</a></li>' for k in range(40))
            page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(a.title)}</title>'
                    f'{script}</head><body><header><nav><ul>{nav}</ul></nav></header><main><h1>{html.escape(a.title)}'
                    f'</h1><div class="date">{format_dateline(a.date)}</div><div class="story">'
                    + "".join(f"<p>{html.escape(p)}</p>" for p in a.paragraphs)
                    + (f'<p class="sig">{a.signature}</p>' if a.signature else "")
                    + f'</div><div class="related">{html.escape(blob)}</div></main><aside><ul>{side}</ul></aside>'
                    f'<footer><p>Copyright</p></footer></body></html>').encode("utf-8")
            response(f"http://en.alalam.ir/news/{i}", page, "text/html; charset=utf-8")
            pages, html_bytes = pages + 1, html_bytes + len(page)
        for k in range(filler_mib * 4):
            response(f"http://en.alalam.ir/pic/{k}.jpg", rng.randbytes(256 << 10), "image/jpeg")
    return {"status": "ok", "pages": pages, "mean_html_bytes": round(html_bytes / max(pages, 1)),
            "bytes": os.path.getsize(dest), "seconds": round(time.perf_counter() - started, 3)}


def step_web_archive_read(path: str) -> dict[str, Any]:
    """Pages per second and per CPU-second: of this process, its children, and the engine's
    workers (a local cluster's workers are not this process's children: they are asked)."""
    import resource

    from broadsheet import engine, site
    from broadsheet.webarchive import SECONDS_PER_BYTE, Skipped, read_archive

    def reading() -> tuple[list, float]:
        pays = engine.pays_for_a_local_cluster(1, os.path.getsize(path) * SECONDS_PER_BYTE)
        with engine.connect(in_process=not pays) as run:  # as read_archive decides without one
            outcomes = read_archive(path, Path(path).name, site.source_timezone(), run)
            workers = sum(run.client.run(_cpu_seconds).values()) if run.client is not None else 0.0
        return outcomes, workers

    before = _cpu_seconds(resource.RUSAGE_CHILDREN) + _cpu_seconds()
    (outcomes, workers_cpu), seconds = _timed(reading)
    cpu = _cpu_seconds(resource.RUSAGE_CHILDREN) + _cpu_seconds() - before + workers_cpu
    articles = sum(hasattr(o, "paragraphs") for o in outcomes)
    skipped = sum(o.count for o in outcomes if isinstance(o, Skipped))
    if not articles:
        return failed(f"no article read from {path}")
    return {"status": "ok", "articles": articles, "skipped": skipped, "seconds": round(seconds, 3),
            "per_second": round(articles / seconds, 1), "cpu_seconds": round(cpu, 3),
            "per_cpu_second": round(articles / cpu, 1), "bytes": os.path.getsize(path)}


def _cpu_seconds(who: int | None = None) -> float:
    """User and system CPU seconds of this process (or, with RUSAGE_CHILDREN, of its children)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF if who is None else who)
    return usage.ru_utime + usage.ru_stime


CHILD_STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "corpus": step_corpus, "ingest": step_ingest, "build": step_build, "whoosh": step_whoosh,
    "cli_queries": step_cli_queries, "cli_cold": step_cli_cold, "zip": step_zip, "rebuild": step_rebuild, "browser": step_browser,
    "web_archive": step_web_archive, "web_archive_read": step_web_archive_read,
    "browser_bytes": step_browser_bytes,
}


def child_main(argv: list[str]) -> int:
    name, args_path, result_path = argv
    args = json.loads(Path(args_path).read_text(encoding="utf-8"))
    try:
        result = CHILD_STEPS[name](**args)
    except Exception as exc:  # reported as the step's failure, with the traceback in its log
        import traceback

        traceback.print_exc()
        result = failed(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    Path(result_path).write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return 0


# -- the run -------------------------------------------------------------------------------

def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram, "python": platform.python_version(),
            "platform": platform.platform(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "load_average": [round(x, 2) for x in os.getloadavg()], "git_commit": commit}


def change_dumps(raw: Path, count: int, timezone: str) -> list[str]:
    """Change the last paragraph of `count` dumps (spread over the corpus) as a correction would."""
    from broadsheet.article import Article
    from broadsheet.dumps import parse_dump, render_dump

    files = sorted(p for p in raw.iterdir() if p.suffix == ".txt")
    step = max(1, len(files) // count)
    changed = []
    for path in files[::step][:count]:
        article = parse_dump(path.read_bytes(), path.name, timezone)
        if not isinstance(article, Article):
            continue
        article.paragraphs[-1] += " (Corrected by the benchmark.)"
        path.write_bytes(render_dump(article).encode("utf-8"))
        changed.append(path.name)
    return changed


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _site_overrides(run: Path) -> dict[str, Any]:
    """Keep every report a build writes inside the run's folder, away from the project's reports/."""
    return {"RELATED_GRAPH_REPORT": str(run / "graph.json"), "INGEST_REPORT": str(run / "ingest.json")}


def run_benchmark(n: int = DEFAULT_N, work: Path = DEFAULT_WORK, fakes: Path | None = FAKES_CSV,
                  browser: bool = True, seed: int = DEFAULT_SEED,
                  progress: Callable[[str], None] = lambda message: None,
                  web_archive: bool = True) -> dict[str, Any]:
    """Run every measurement; returns the results (see `write_results`)."""
    work = Path(work).resolve()
    results: dict[str, Any] = {"version": RESULTS_VERSION, "machine": machine_info(),
                               "options": {"n": n, "seed": seed, "browser": browser,
                                           "fakes": str(fakes) if fakes else None,
                                           "changed_dumps": CHANGED_DUMPS,
                                           "bare_pelican": BARE_PELICAN,
                                           "bare_from_site_settings": BARE_FROM_SITE_SETTINGS,
                                           "build_repeats": BUILD_REPEATS, "pagefind_glob": PAGEFIND_GLOB}}
    results["synthetic"] = _synthetic(n, seed, _fresh(work / "synthetic"), browser, progress)
    results["fakes"] = _fakes(fakes, _fresh(work / "fakes"), progress)
    results["web_archive"] = (_web_archive(n, seed, _fresh(work / "web-archive"), progress) if web_archive
                              else {"status": "skipped", "reason": "skipped (--no-web-archive)"})
    results["targets"] = evaluate_targets(results)
    return results


def run_scale(n: int, work: Path = DEFAULT_WORK, seed: int = DEFAULT_SEED,
              progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """The archivist's pipeline alone at `n` synthetic articles (`invoke bench --scale N`): the
    corpus, a from-scratch `rebuild` (ingest, partitioned build, zip, verify), then a rebuild
    after CHANGED_DUMPS changed dumps; wall time per step, peak RSS of the largest process and of
    the whole process tree, the site's file count and the zip's size."""
    run = _fresh(Path(work).resolve() / f"scale-{n}")
    raw, logs = run / "raw", run / "logs"
    r: dict[str, Any] = {"version": RESULTS_VERSION, "machine": machine_info(),
                         "options": {"n": n, "seed": seed, "changed_dumps": CHANGED_DUMPS, "scale": True,
                                     "partition_max_articles": _partition_max_articles()}}
    progress(f"corpus: generating {n} dumps")
    r["corpus"] = run_step("corpus", {"n": n, "seed": seed, "dest": str(raw)}, logs)
    if not ok(r["corpus"]):
        return _with_scale_targets(r)
    r["rebuild"] = _rebuild(run, raw, r, progress, copy=False, timeout=SCALE_STEP_TIMEOUT)
    r["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return _with_scale_targets(r)


def _partition_max_articles() -> int | None:
    try:
        from broadsheet import site

        return int(site.load_settings("local").get("PARTITION_MAX_ARTICLES") or 0) or None
    except Exception:
        return None


#: The issue's targets at scale: a from-scratch rebuild within 15 minutes, no process over 3 GiB.
SCALE_TARGETS = [
    ("scratch_seconds", "rebuild from scratch ≤ 15 min", "<=", 15 * 60.0),
    ("largest_process_mib", "no process > 3 GiB peak RSS", "<=", 3 * 1024.0),
]


def _with_scale_targets(r: dict[str, Any]) -> dict[str, Any]:
    rb = r.get("rebuild") or {}
    scratch = rb.get("from_scratch") or {}
    steps = [s for s in (scratch, rb.get("incremental")) if s and s.get("peak_rss_mib") is not None]
    killed = str(scratch.get("reason", "")).startswith("killed after")  # it ran at least that long
    values = {"scratch_seconds": scratch.get("seconds") if ok(scratch) else
              scratch.get("process_seconds") if killed else None,
              "largest_process_mib": max((s["peak_rss_mib"] for s in steps), default=None)}
    r["targets"] = [{"key": key, "target": label, "bound": bound, "comparison": cmp, "value": values[key],
                     "holds": None if values[key] is None else values[key] <= bound}
                    for key, label, cmp, bound in SCALE_TARGETS]
    return r


def scale_rows(r: dict[str, Any]) -> list[list[str]]:
    """The table of `run_scale`: step, wall time, largest process, all processes, note."""
    rows = []
    c = r.get("corpus")
    rows.append(["synthetic corpus (generate and write the dumps)", _secs(c, "process_seconds"), _mib(c),
                 _tree_mib(c), f"{c['dumps']:,} dumps" if ok(c) else ""])
    rb = r.get("rebuild") or {}
    for label, key in (("rebuild from scratch", "from_scratch"),
                       (f"rebuild after {rb.get('changed_dumps', CHANGED_DUMPS)} changed dumps", "incremental")):
        step = rb.get(key)
        if not step:
            continue
        note = ""
        if ok(step):
            note = (f"{step['site_files']:,} files in the site; zip {_size(step['zip_bytes'] or 0)}"
                    if step.get("site_files") is not None else "")
        rows.append([label, _secs(step) if ok(step) else _why(step), _mib(step), _tree_mib(step),
                     f"largest: {step.get('largest_process', '?')}; {note}".strip("; ")])
        for name, seconds in (step.get("steps") or {}).items():
            if name != "total":
                rows.append([f"  {label}: {name}", f"{seconds:.1f} s", "", "", ""])
    for t in r.get("targets", []):
        value = t["value"]
        shown = "not measured" if value is None else (f"{value / 60:.1f} min" if t["key"] == "scratch_seconds"
                                                       else f"{value / 1024:.2f} GiB")
        if t["key"] == "scratch_seconds" and value is not None and not ok((r.get("rebuild") or {}).get("from_scratch")):
            shown = f"more than {shown} (killed, unfinished)"
        rows.append([f"target: {t['target']}", shown, "", "",
                     "—" if t["holds"] is None else ("holds" if t["holds"] else "MISSED")])
    return rows


def _tree_mib(step: dict[str, Any] | None) -> str:
    return f"{step['tree_peak_rss_mib']:.0f} MiB" if step and step.get("tree_peak_rss_mib") is not None else "—"


def write_scale(r: dict[str, Any], out: Path) -> Path:
    """Write `out` (JSON) and its Markdown table beside it; returns the latter."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    end = r["machine"].get("load_average_at_end")
    lines = [f"Broadsheet at {r['options']['n']:,} synthetic articles: corpus, rebuild from scratch, incremental "
             f"rebuild (`invoke bench --scale {r['options']['n']}`). Machine: {machine_line(r)}"
             + (f"; load average at end {', '.join(str(x) for x in end)}" if end else "") + ".", "",
             "| Step | Wall time | Largest process | All processes | Note |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in scale_rows(r)]
    lines += ["", "Peak RSS is sampled every 0.25 s over the step's process and all its descendants (the "
              "driver, the Dask nannies and workers of the local cluster); \"all processes\" is the peak of "
              "their sum, which counts pages they share once per process. Timings are wall-clock on a shared "
              "machine.", ""]
    md = out.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return md


def run_search_scale(n: int, work: Path = DEFAULT_WORK, seed: int = DEFAULT_SEED,
                     progress: Callable[[str], None] = lambda message: None,
                     content: Path | None = None) -> dict[str, Any]:
    """Search alone at `n` synthetic articles, no site built: the index and shards made from the
    content files as the plugin makes them, bytes per browser query, CLI latency and memory.
    `content`: articles already made (`invoke corpus`, then `invoke ingest`), used instead of
    generating and ingesting `n` again (at 100,000 that is minutes per run)."""
    run = _fresh(Path(work).resolve() / "search-scale")
    raw, logs, output = run / "raw", run / "logs", run / "site" / "output"
    r: dict[str, Any] = {"version": RESULTS_VERSION, "machine": machine_info(), "options": {"n": n, "seed": seed}}
    if content is not None:
        content = Path(content).resolve()
        found = sum(1 for _ in content.rglob("*.md"))
        r["options"].update(n=found, content=str(content))
        r["corpus"] = r["ingest"] = {"status": "ok", "reused": str(content), "articles": found}
    else:
        content = run / "content"
        progress(f"corpus: generating {n} dumps")
        r["corpus"] = run_step("corpus", {"n": n, "seed": seed, "dest": str(raw)}, logs)
    if content == run / "content" and ok(r["corpus"]):
        progress("ingest")
        r["ingest"] = run_step("ingest", {"source": str(raw), "content": str(content),
                                          "report": str(run / "ingest.json")}, logs)
    if ok(r.get("ingest")):
        progress("whoosh index and browser shards")
        # Where the CLI looks for the index of a site built into `output`.
        r["whoosh"] = run_step("whoosh", {"content": str(content), "index_dir": str(search_index_folder(output)),
                                          "export_dir": str(output / "search")}, logs)
    if ok(r.get("whoosh")):
        progress("browser bytes per query")
        r["browser_bytes"] = run_step("browser_bytes", {"search_dir": str(output / "search"),
                                                        "queries": BROWSER_QUERIES}, logs)
        progress("CLI queries")
        r["cli_queries"] = run_step("cli_queries", {"output": str(output), "queries": CLI_QUERIES,
                                                    "rounds": CLI_ROUNDS}, logs)
        r["cli_cold"] = cli_cold(output, logs)
    return r


def search_scale_rows(r: dict[str, Any]) -> list[list[str]]:
    """The table of `run_search_scale`: measure, Broadsheet, target, peak RSS."""
    rows = []
    w = r.get("whoosh")
    rows.append(["Whoosh index from scratch (+ browser shards)",
                 f"{w['seconds']:.1f} s (+ {w['export_seconds']:.1f} s, {w['export_files']} files, "
                 f"{_size(w['export_bytes'])})" if ok(w) else _why(w), "", _mib(w)])
    b = r.get("browser_bytes")
    for kind, qs in BROWSER_QUERIES.items():
        k = b["by_kind"][kind] if ok(b) else None
        rows.append([f"browser search, {kind} query ({', '.join(qs)}), bytes after meta.js",
                     f"{_size(k['bytes'])} mean, {_size(k['max_bytes'])} max, {k['files']:g} files" if k else _why(b),
                     "≤ 300 KB", ""])
    for name, found in ((b or {}).get("variants") or {}).items():
        sizes = [v["bytes"] for v in found.values() if "bytes" in v]
        rows.append([f"browser search, {name} (the same {len(found)} queries), bytes after meta.js",
                     f"{_size(statistics.mean(sizes))} mean, {_size(max(sizes))} max" if sizes else "failed",
                     "≤ 300 KB" if name != "every match" else "", ""])
    q = r.get("cli_queries")
    rows.append([f"CLI query p50 / p95, index open ({len(CLI_QUERIES)} queries × {CLI_ROUNDS}, one process)",
                 f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f} ms" if ok(q) else _why(q), "p95 ≤ 100 ms, ≤ 500 MB", _mib(q)])
    cold = r.get("cli_cold")
    rows.append([f"CLI query, first in a fresh process ({CLI_COLD_RUNS} runs)",
                 f"{cold['p50_ms']:.0f} ms median with opening the index (max {cold['max_ms']:.0f} ms); "
                 f"whole process {cold['process_p50_seconds']:.2f} s" if ok(cold) else _why(cold), "", _mib(cold)])
    return rows


def write_search_scale(r: dict[str, Any], out: Path) -> Path:
    """Write `out` (JSON) and its Markdown table beside it; returns the latter."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    lines = [f"Broadsheet search at {r['options']['n']} synthetic articles (no site built). "
             f"Machine: {machine_line(r)}.", "", "| Measure | Broadsheet | Target | Peak RSS |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in search_scale_rows(r)]
    md = out.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return md


def _synthetic(n: int, seed: int, run: Path, browser: bool, progress) -> dict[str, Any]:
    r: dict[str, Any] = {}
    raw, content, logs = run / "raw", run / "content", run / "logs"
    progress(f"corpus: generating {n} dumps")
    r["corpus"] = run_step("corpus", {"n": n, "seed": seed, "dest": str(raw)}, logs)
    if not ok(r["corpus"]):
        return r
    progress("ingest")
    r["ingest"] = run_step("ingest", {"source": str(raw), "content": str(content),
                                      "report": str(run / "ingest.json")}, logs)
    if not ok(r["ingest"]):
        return r
    overrides = _site_overrides(run)
    r.update(cold_builds(content, run, overrides, progress))
    output = run / "broadsheet" / "1" / "output"
    r["graph"] = _graph(run / "graph.json", r["broadsheet_build"])

    progress("whoosh index")
    r["whoosh"] = run_step("whoosh", {"content": str(content), "index_dir": str(run / "whoosh" / "index"),
                                      "export_dir": str(run / "whoosh" / "browser")}, logs)
    if ok(r["broadsheet_build"]):
        progress("CLI queries")
        r["cli_queries"] = run_step("cli_queries", {"output": str(output), "queries": CLI_QUERIES,
                                                    "rounds": CLI_ROUNDS}, logs)
        r["cli_cold"] = cli_cold(output, logs)
    else:
        r["cli_queries"] = r["cli_cold"] = not_available("the Broadsheet build failed, so there is no index to query")

    progress("offline zip")
    r["zip"] = run_step("zip", {"content": str(content), "zip_path": str(run / "zip" / "archive.zip"),
                                "work": str(run / "zip" / "tmp"), "overrides": overrides}, logs)

    r["rebuild"] = _rebuild(run, raw, r, progress)

    if not browser:
        r["browser"] = {"status": "skipped", "reason": "skipped (--no-browser)"}
    elif not ok(r["broadsheet_build"]):
        r["browser"] = not_available("the Broadsheet build failed")
    else:
        r["browser"] = _browser(output, logs, progress)
    return r


#: The cold builds compared, in the order they alternate: bare Pelican, Broadsheet partitioned
#: (the default: a driver and partitions on a local Dask cluster), Broadsheet in one Pelican run.
BUILD_KINDS = ("bare", "broadsheet", "single")


def cold_builds(content: Path, run: Path, overrides: dict[str, Any], progress) -> dict[str, Any]:
    """Each of BUILD_KINDS, alternately, BUILD_REPEATS times each, every build in fresh folders
    (its own output, cache and search index beside the output); each keeps its fastest run, the
    least disturbed by whatever else the machine is doing, and the largest peaks of its runs."""
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in BUILD_KINDS}
    for i in range(1, BUILD_REPEATS + 1):
        for kind in runs:
            progress(f"cold build {i}/{BUILD_REPEATS}: {kind}")
            folder = run / kind / str(i)
            runs[kind].append(run_step("build", {
                "content": str(content), "output": str(folder / "output"), "cache": str(folder / "cache"),
                "kind": kind, "overrides": overrides if kind != "bare" else {}}, run / "logs", f"build-{kind}-{i}"))
    out: dict[str, Any] = {}
    for kind, steps in runs.items():
        broken = [s for s in steps if not ok(s)]
        if broken:
            out[f"{kind}_build"] = broken[0]
            continue
        best = min(steps, key=lambda s: s["seconds"])
        out[f"{kind}_build"] = {**best, "runs": [s["seconds"] for s in steps],
                                "peak_rss_mib": max(s["peak_rss_mib"] for s in steps),
                                "tree_peak_rss_mib": max(s.get("tree_peak_rss_mib") or 0 for s in steps)}
    seconds = {kind: out[f"{kind}_build"]["seconds"] for kind in BUILD_KINDS if ok(out[f"{kind}_build"])}
    for key, a, b in (("build_ratio", "broadsheet", "bare"), ("single_ratio", "single", "bare"),
                      ("partitioned_to_single", "broadsheet", "single")):
        if a in seconds and b in seconds:
            out[key] = round(seconds[a] / seconds[b], 2)
    return out


def cli_cold(output: Path, logs: Path) -> dict[str, Any]:
    runs = [run_step("cli_cold", {"output": str(output), "query": q}, logs, f"cli-cold-{i}")
            for i, q in enumerate(CLI_QUERIES[:CLI_COLD_RUNS], 1)]
    broken = [r for r in runs if not ok(r)]
    if broken:
        return broken[0]
    ms = [r["ms"] for r in runs]
    process = [r["process_seconds"] for r in runs]
    return {"status": "ok", "runs": len(runs), "p50_ms": round(statistics.median(ms), 2), "max_ms": max(ms),
            "process_p50_seconds": round(statistics.median(process), 3),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs)}


def _graph(report: Path, build: dict[str, Any]) -> dict[str, Any]:
    if not ok(build):
        return not_available("the Broadsheet build failed")
    if not report.exists():
        return not_available("the related_graph plugin wrote no report (RELATED_GRAPH_REPORT)")
    stats = json.loads(report.read_text(encoding="utf-8")).get("stats", {})
    if "resolve_seconds" not in stats:
        return not_available(f"{report.name} has no resolve_seconds")
    keep = ("resolve_seconds", "export_seconds", "articles", "entries", "by_id", "by_title", "fuzzy",
            "unresolved", "nodes", "edges")
    return {"status": "ok", "seconds": stats["resolve_seconds"], **{k: stats[k] for k in keep if k in stats}}


def _rebuild(run: Path, raw: Path, r: dict[str, Any], progress, copy: bool = True,
             timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
    """A from-scratch rebuild and one after CHANGED_DUMPS changed dumps, of a copy of `raw`
    (or of `raw` itself when `copy` is false)."""
    if importlib.util.find_spec("broadsheet.rebuild") is None:
        return not_available("broadsheet/rebuild.py has not landed")
    base, logs = run / "rebuild", run / "logs"
    rb_raw = base / "raw"
    if copy:
        shutil.copytree(raw, rb_raw)
    else:
        rb_raw = raw
    args = {"source": str(rb_raw), "content": str(base / "content"), "output": str(base / "output"),
            "zip_path": str(base / "archive.zip"), "reports": str(base / "reports")}
    progress("rebuild from scratch")
    scratch = _with_report_steps(run_step("rebuild", args, logs, "rebuild-scratch", timeout), base / "reports")
    if not ok(scratch):
        return {**scratch, "from_scratch": scratch}
    from broadsheet import site

    changed = change_dumps(rb_raw, CHANGED_DUMPS, site.source_timezone())
    progress(f"rebuild after {len(changed)} changed dumps")
    incremental = _with_report_steps(run_step("rebuild", args, logs, "rebuild-incremental", timeout), base / "reports")
    out = {"status": incremental.get("status"), "from_scratch": scratch, "incremental": incremental,
           "changed_dumps": len(changed)}
    if ok(incremental):
        out["seconds"] = incremental["seconds"]
        out["ratio_to_scratch"] = round(incremental["seconds"] / scratch["seconds"], 3)
        if ok(r.get("broadsheet_build")):
            out["ratio_to_full_build"] = round(incremental["seconds"] / r["broadsheet_build"]["seconds"], 3)
    else:
        out["reason"] = incremental.get("reason")
    return out


def _with_report_steps(step: dict[str, Any], reports: Path) -> dict[str, Any]:
    """A failed rebuild still wrote reports/rebuild.json: its seconds per step say how far it got."""
    if ok(step) or not (reports / "rebuild.json").is_file():
        return step
    report = json.loads((reports / "rebuild.json").read_text(encoding="utf-8"))
    return {**step, "steps": report.get("seconds", {}), "rebuild_reason": report.get("reason")}


def _browser(output: Path, logs: Path, progress) -> dict[str, Any]:
    out: dict[str, Any] = {}
    progress("browser search: Broadsheet")
    out["broadsheet"] = run_step("browser", {"site": str(output), "engine": "broadsheet",
                                                         "queries": BROWSER_QUERIES}, logs, "browser-broadsheet")
    progress("Pagefind index")
    if importlib.util.find_spec("pagefind") is None:
        out["pagefind_index"] = not_available("the pagefind package is not installed (requirements-test.txt)")
    else:
        shutil.rmtree(output / "pagefind", ignore_errors=True)
        out["pagefind_index"] = run_process(
            [sys.executable, "-m", "pagefind", "--site", str(output), "--glob", PAGEFIND_GLOB, "--quiet"],
            logs / "pagefind.log")
        if ok(out["pagefind_index"]) and not (output / "pagefind" / "pagefind-ui.js").exists():
            out["pagefind_index"] = failed(f"pagefind wrote no bundle; log {logs / 'pagefind.log'}")
        if ok(out["pagefind_index"]):
            out["pagefind_index"]["bytes"] = sum(p.stat().st_size for p in (output / "pagefind").rglob("*")
                                                 if p.is_file())
    if ok(out["pagefind_index"]):
        (output / PAGEFIND_PAGE).write_text(PAGEFIND_HTML, encoding="utf-8")
        progress("browser search: Pagefind")
        out["pagefind"] = run_step("browser", {"site": str(output), "engine": "pagefind",
                                                 "queries": BROWSER_QUERIES}, logs, "browser-pagefind")
    else:
        out["pagefind"] = not_available(f"Pagefind did not index the site: {out['pagefind_index'].get('reason')}")
    if ok(out["broadsheet"]) and ok(out["pagefind"]):
        for key, field in (("bytes_ratio", "bytes"), ("bytes_ratio_gzip", "bytes_gzip")):
            out[key] = {kind: round(out["broadsheet"]["by_kind"][kind][field]
                                    / out["pagefind"]["by_kind"][kind][field], 3) for kind in BROWSER_QUERIES}
    out["status"] = "ok" if "bytes_ratio" in out else "partial"
    return out


def _fakes(csv: Path | None, run: Path, progress) -> dict[str, Any]:
    if csv is None:
        return {"status": "skipped", "reason": "skipped (no --fakes path)"}
    csv = Path(csv)
    if not csv.is_file():
        return not_available(f"no FA-KES table at {csv}")
    if not FAKES_MAPPING.is_file():
        return not_available(f"no mapping {FAKES_MAPPING.relative_to(PROJECT)}")
    if importlib.util.find_spec("broadsheet.tables") is None:
        return not_available("the CSV importer broadsheet/tables.py has not landed")
    logs, content = run / "logs", run / "content"
    progress("FA-KES: ingest")
    # the table is read where it lies: never copied into the repository
    r: dict[str, Any] = {"ingest": run_step("ingest", {"source": str(csv), "content": str(content),
                                                      "report": str(run / "ingest.json"),
                                                      "mapping": str(FAKES_MAPPING)}, logs)}
    if not ok(r["ingest"]):
        r["status"] = "failed"
        r["reason"] = r["ingest"].get("reason")
        return r
    r.update(cold_builds(content, run, _site_overrides(run), lambda step: progress(f"FA-KES: {step}")))
    r["status"] = "ok" if "build_ratio" in r else "partial"
    return r


# -- targets and the table -----------------------------------------------------------------

def _web_archive(n: int, seed: int, run: Path, progress) -> dict[str, Any]:
    """Pages per second from a WARC of the corpus' pages; peak memory with and without a large
    filler of image records around the same pages."""
    r: dict[str, Any] = {}
    logs = run / "logs"
    large_mib = min(WEB_ARCHIVE_MIB, max(1, n // 2))
    for name, filler in (("pages", 0), ("large", large_mib)):
        progress(f"web archive: writing {name} ({n} pages{f', {filler} MiB of images' if filler else ''})")
        path = run / f"{name}.warc.gz"
        r[f"{name}_write"] = run_step("web_archive", {"dest": str(path), "n": n, "seed": seed,
                                                      "filler_mib": filler}, logs, f"{name}_write")
        if not ok(r[f"{name}_write"]):
            return r
        progress(f"web archive: reading {name}")
        r[name] = run_step("web_archive_read", {"path": str(path)}, logs, f"{name}_read")
        path.unlink(missing_ok=True)  # a GiB the next step does not need
    return r


def _target_values(results: dict[str, Any]) -> dict[str, float | None]:
    s = results.get("synthetic", {})
    browser = s.get("browser", {})
    ratios = browser.get("bytes_ratio", {}) if isinstance(browser, dict) else {}
    return {
        "build_ratio": s.get("build_ratio"),
        "incremental_ratio": s.get("rebuild", {}).get("ratio_to_scratch"),
        "incremental_seconds": s.get("rebuild", {}).get("seconds"),
        "ingest_rate": s.get("ingest", {}).get("per_second"),
        "bytes_ratio_one_word": ratios.get("one-word"),
        "bytes_ratio_two_word": ratios.get("two-word"),
        "cli_p95_ms": s.get("cli_queries", {}).get("p95_ms"),
        "web_archive_rate": (results.get("web_archive") or {}).get("pages", {}).get("per_second"),
    }


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    values = _target_values(results)
    out = []
    for key, label, cmp, bound in TARGETS:
        value = values.get(key)
        holds = None if value is None else (value <= bound if cmp == "<=" else value >= bound)
        out.append({"key": key, "target": label, "bound": bound, "comparison": cmp, "value": value, "holds": holds})
    return out


def _secs(step: dict[str, Any] | None, key: str = "seconds") -> str:
    return f"{step[key]:.2f} s" if ok(step) and step.get(key) is not None else _why(step)


def _why(step: dict[str, Any] | None) -> str:
    if not step:
        return "not measured"
    return step.get("reason") or step.get("status", "?")


def _mib(*steps: dict[str, Any] | None) -> str:
    shown = [f"{s['peak_rss_mib']:.0f}" for s in steps if s and s.get("peak_rss_mib") is not None]
    return " / ".join(shown) + " MiB" if shown else "—"


def _mib_tree(*steps: dict[str, Any] | None) -> str:
    """Largest process (all processes of the step together) for each step, Broadsheet first."""
    shown = [f"{s['peak_rss_mib']:.0f}" + (f" ({s['tree_peak_rss_mib']:.0f} all)" if s.get("tree_peak_rss_mib") else "")
             for s in steps if s and s.get("peak_rss_mib") is not None]
    return " / ".join(shown) + " MiB" if shown else "—"


def _holds(results: dict[str, Any], key: str) -> str:
    for t in results.get("targets", []):
        if t["key"] == key:
            return "—" if t["holds"] is None else ("yes" if t["holds"] else "NO")
    return ""


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def summary_rows(results: dict[str, Any]) -> list[list[str]]:
    """The comparison table: measure, Broadsheet, comparison, ratio, target, holds, peak RSS."""
    s, rows = results.get("synthetic", {}), []
    n = results.get("options", {}).get("n")
    repeats = results.get("options", {}).get("build_repeats", BUILD_REPEATS)
    ing = s.get("ingest")
    rows.append([f"ingest, {n} synthetic dumps",
                 f"{ing['per_second']:,.0f} dumps/s ({ing['seconds']:.2f} s; parsing alone "
                 f"{ing['parse_per_second']:,.0f}/s)" if ok(ing) else _why(ing),
                 "", "", "≥ 5,000 dumps/s", _holds(results, "ingest_rate"), _mib(ing)])
    bare, full, single = s.get("bare_build"), s.get("broadsheet_build"), s.get("single_build")
    rows.append([f"full build, cold, partitioned (the default), fastest of {repeats} (vs bare Pelican)",
                 _secs(full), _secs(bare), f"{s['build_ratio']:.2f}×" if "build_ratio" in s else "", "≤ 1.0×",
                 _holds(results, "build_ratio"), _mib_tree(full, bare)])
    if single:
        rows.append([f"full build, cold, one Pelican run (partitioned=False), fastest of {repeats} "
                     "(vs bare Pelican; partitioned vs this)", _secs(single), _secs(bare),
                     (f"{s['single_ratio']:.2f}× (partitioned/single {s['partitioned_to_single']:.2f}×)"
                      if "single_ratio" in s and "partitioned_to_single" in s else ""), "", "",
                     _mib_tree(single, bare)])
    rb = s.get("rebuild", {})
    rows.append([f"incremental rebuild, {CHANGED_DUMPS} changed dumps (vs from-scratch rebuild)",
                 _secs(rb.get("incremental") or rb), _secs(rb.get("from_scratch")) if rb.get("from_scratch") else "",
                 f"{rb['ratio_to_scratch']:.2f}×" + (f" ({rb['ratio_to_full_build']:.2f}× full build)"
                                                      if "ratio_to_full_build" in rb else "")
                 if "ratio_to_scratch" in rb else "",
                 "≤ 10 s; ≤ 0.3×", f"{_holds(results, 'incremental_seconds')}; {_holds(results, 'incremental_ratio')}",
                 _mib_tree(rb.get("incremental"), rb.get("from_scratch"))])
    for label, key in (("incremental rebuild", "incremental"), ("from-scratch rebuild", "from_scratch")):
        steps = (rb.get(key) or {}).get("steps") or {}
        if steps:
            rows.append([f"{label}: seconds per step (reports/rebuild.json)",
                         ", ".join(f"{name} {sec:.1f}" for name, sec in steps.items()), "", "", "", "", ""])
    g = s.get("graph")
    rows.append(["related graph resolution (in the build)",
                 f"{g['seconds']:.2f} s ({g.get('entries', '?')} entries)" if ok(g) else _why(g),
                 "", "", "", "", "(in build)"])
    w = s.get("whoosh")
    pfi = s.get("browser", {}).get("pagefind_index")
    rows.append(["Whoosh index from scratch (+ browser shards) vs Pagefind's indexing",
                 f"{w['seconds']:.2f} s (+ {w['export_seconds']:.2f} s, {w['export_files']} files, "
                 f"{_size(w['export_bytes'])})" if ok(w) else _why(w),
                 f"{pfi['process_seconds']:.2f} s, {_size(pfi['bytes'])} bundle" if ok(pfi) else _why(pfi) if pfi else "",
                 "", "", "", _mib(w, pfi)])
    q = s.get("cli_queries")
    rows.append([f"CLI query p50 / p95, index open ({len(CLI_QUERIES)} queries × {CLI_ROUNDS}, one process)",
                 f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f} ms" if ok(q) else _why(q), "", "",
                 "p95 ≤ 30 ms", _holds(results, "cli_p95_ms"), _mib(q)])
    cold = s.get("cli_cold")
    rows.append([f"CLI query, first in a fresh process ({CLI_COLD_RUNS} runs)",
                 f"{cold['p50_ms']:.0f} ms median with opening the index (max {cold['max_ms']:.0f} ms); "
                 f"whole process {cold['process_p50_seconds']:.2f} s" if ok(cold) else _why(cold),
                 "", "", "", "", _mib(cold)])
    b = s.get("browser", {})
    for kind in BROWSER_QUERIES:
        key = "bytes_ratio_" + kind.replace("-", "_")
        bs, pf = b.get("broadsheet"), b.get("pagefind")

        def cell(step, kind=kind):
            if not ok(step):
                return _why(step) if step else _why(b)
            k = step["by_kind"][kind]
            return (f"{_size(k['bytes'])} in {k['requests']:g} files (gzip {_size(k['bytes_gzip'])}), "
                    f"first results {k['first_result_ms']:.0f} ms, {k['results_shown']:g} shown")

        ratio, gz = b.get("bytes_ratio", {}).get(kind), b.get("bytes_ratio_gzip", {}).get(kind)
        rows.append([f"browser search, {kind} query (vs Pagefind)", cell(bs), cell(pf),
                     f"{ratio:.2f}× (gzip {gz:.2f}×)" if ratio is not None else "", "bytes ≤ ½ Pagefind's",
                     _holds(results, key), _mib(bs, pf)])
    z = s.get("zip")
    rows.append(["offline zip (BagIt)", f"{_size(z['bytes'])}, {z['files']} files, {z['seconds']:.1f} s" if ok(z)
                 else _why(z), "", "", "", "", _mib(z)])
    f = results.get("fakes", {})
    if "ingest" in f:
        fi = f["ingest"]
        rows.append(["FA-KES: ingest (CSV + mappings/fa-kes.yaml)",
                     f"{fi['per_second']:,.0f} rows/s ({fi['read']} rows, {fi['seconds']:.2f} s)" if ok(fi)
                     else _why(fi), "", "", "", "", _mib(fi)])
        if "broadsheet_build" in f:
            rows.append([f"FA-KES: full build, cold, fastest of {repeats} (vs bare Pelican)", _secs(f.get("broadsheet_build")),
                         _secs(f.get("bare_build")), f"{f['build_ratio']:.2f}×" if "build_ratio" in f else "",
                         "", "", _mib(f.get("broadsheet_build"), f.get("bare_build"))])
    else:
        rows.append(["FA-KES corpus", _why(f), "", "", "", "", ""])
    web = results.get("web_archive") or {}
    pages, large = web.get("pages"), web.get("large")
    write = web.get("pages_write") or {}
    rows.append([f"web archive: HTML pages read from a WARC ({write.get('mean_html_bytes', '?')} bytes of HTML "
                 f"each; {os.cpu_count()} cores)",
                 f"{pages['per_second']:,.0f} pages/s ({pages['articles']} in {pages['seconds']:.1f} s; "
                 f"{pages['per_cpu_second']:,.0f} per CPU-second)" if ok(pages) else _why(pages or write or None),
                 "", "", "≥ 100 HTML pages/s", _holds(results, "web_archive_rate"), _mib(pages)])
    if web.get("status") == "skipped":
        rows[-1][1] = web["reason"]
        return rows
    large_write = web.get("large_write") or {}
    rows.append(["web archive: the same pages among image records (streamed: peak RSS vs the pages alone)",
                 f"{_size(large['bytes'])} read in {large['seconds']:.1f} s" if ok(large) else _why(large or large_write or None),
                 "", "", "memory independent of size", "", _mib(large, pages)])
    return rows


COLUMNS = ["Measure", "Broadsheet", "Comparison", "Ratio", "Target", "Holds", "Peak RSS"]


def machine_line(results: dict[str, Any]) -> str:
    m = results["machine"]
    return (f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Python {m['python']}; "
            f"{m['date']}; load average at start {', '.join(str(x) for x in m['load_average'])}; "
            f"commit {m['git_commit']}")


def render_markdown(results: dict[str, Any]) -> str:
    def esc(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = [f"Broadsheet benchmark, {results['options']['n']} synthetic articles. Machine: {machine_line(results)}.",
             "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in summary_rows(results)]
    lines += ["", "Comparison: bare Pelican (YAML reader, default theme, no other plugin) for builds, a "
              "from-scratch `rebuild` (ingest, build, zip, verify) for the incremental one, Pagefind's default "
              "UI on the same built site (article pages only) for browser search. Bytes are what headless "
              "Chromium loaded from typing the query to the results, served by a loopback `http.server` "
              "without compression; the target is judged on these. Gzip: what a compressing host would send "
              "(Pagefind's index files are already compressed, Broadsheet's `.js` shards are not). Both "
              "pages show 10 results (Pagefind's UI with `pageSize: 10`). "
              "Peak RSS is the largest process of each step (Broadsheet / comparison), sampled over the step's "
              "whole process tree (Dask workers included); \"all\" is the peak of the tree's sum, which counts "
              "shared pages once per process. Each step ran cold in "
              "its own process; timings are wall-clock on a shared machine.", ""]
    return "\n".join(lines)


def rich_table(results: dict[str, Any]):
    from rich.table import Table

    table = Table(title=f"Broadsheet benchmark, {results['options']['n']} synthetic articles",
                  caption=machine_line(results))
    for name in COLUMNS:
        table.add_column(name, overflow="fold")
    for row in summary_rows(results):
        holds = row[5]
        style = "green" if holds == "yes" else "red" if holds == "NO" else None
        table.add_row(*row[:5], f"[{style}]{holds}[/]" if style else holds, row[6])
    return table


def write_results(results: dict[str, Any], out: Path) -> Path:
    """Write `out` (JSON) and the Markdown table beside it (`results.md`); returns the latter."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    md = out.with_suffix(".md")
    md.write_text(render_markdown(results), encoding="utf-8")
    return md


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "child":
        sys.exit(child_main(sys.argv[2:]))
    sys.exit("usage: python -m broadsheet.bench child STEP ARGS.json RESULT.json (see `invoke bench`)")
