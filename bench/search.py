"""Search's measures: the Whoosh index and browser shards, CLI query latency (warm and in a fresh
process), the bytes each browser query loads (the engine under Node), and browser search in
headless Chromium against Pagefind's default UI on the same built site. The `step_*` functions
run in a step's own process, whose path has plugins/ on it (`harness.child_env`)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from bench.harness import (PROJECT, STEP_TIMEOUT, failed, not_available, ok, run_process, run_step, skipped,
                           timed)

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


# -- steps: each runs in its own process -----------------------------------------------------

def search_plugin():
    """The search plugin's index, export and query modules, by the names Pelican loads them under:
    a step's process has plugins/ on its path (`harness.child_env`)."""
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
    index, export, query = search_plugin()
    docs = search_documents(Path(content), index)
    (ix, report), seconds = timed(lambda: index.update_index(Path(index_dir), docs))
    weighting = query.weighting_from_settings(None)
    exported, export_seconds = timed(lambda: export.export_browser_index(ix, Path(export_dir), weighting))
    return {"status": "ok", "seconds": round(seconds, 3), "documents": len(docs),
            "added": len(report.added), "export_seconds": round(export_seconds, 3),
            "export_files": exported.files, "export_bytes": exported.total_bytes}


def step_cli_queries(output: str, queries: list[str], rounds: int) -> dict[str, Any]:
    _, _, query = search_plugin()
    # A call is what `invoke search` does after start-up: open the index, parse, search, highlight.
    # `search` also reports its own time without opening the index ("search_*").
    times, inner, hits = [], [], {}
    per_query: dict[str, list[float]] = {q: [] for q in queries}
    for _ in range(rounds):
        for q in queries:
            (found, total, searched), seconds = timed(lambda: query.search(Path(output), q, limit=10))
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
    _, _, plugin_query = search_plugin()
    _, seconds = timed(lambda: plugin_query.search(Path(output), query, limit=10))
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
    if shutil.which("node") is None:  # Node comes from the system (`invoke test` installs it)
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


def step_browser(site: str, engine: str, queries: dict[str, list[str]]) -> dict[str, Any]:
    """Bytes loaded after typing starts, and time to the first result, per query."""
    from broadsheet.checks import CHROMIUM

    spec = ENGINES[engine]
    if not (Path(site) / spec["page"]).is_file():
        return failed(f"no {spec['page']} in the built site {site}")
    if not os.access(CHROMIUM, os.X_OK):  # Debian's Chromium, which `invoke test` installs
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


# -- in the bench's process: steps started and put together ----------------------------------

def cli_cold(output: Path, logs: Path) -> dict[str, Any]:
    """CLI_COLD_RUNS queries, each in a fresh process, as separate `invoke search` calls."""
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


def browser_search(output: Path, logs: Path, progress) -> dict[str, Any]:
    """Broadsheet's search page and Pagefind's default UI on the same built site, in Chromium."""
    out: dict[str, Any] = {}
    progress("browser search: Broadsheet")
    out["broadsheet"] = run_step("browser", {"site": str(output), "engine": "broadsheet",
                                                         "queries": BROWSER_QUERIES}, logs, "browser-broadsheet")
    progress("Pagefind index")
    if importlib.util.find_spec("pagefind") is None:  # a test requirement, which a machine may lack
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
        out["pagefind"] = skipped(f"Pagefind did not index the site: {out['pagefind_index'].get('reason')}")
    if ok(out["broadsheet"]) and ok(out["pagefind"]):
        for key, field in (("bytes_ratio", "bytes"), ("bytes_ratio_gzip", "bytes_gzip")):
            out[key] = {kind: round(out["broadsheet"]["by_kind"][kind][field]
                                    / out["pagefind"]["by_kind"][kind][field], 3) for kind in BROWSER_QUERIES}
    out["status"] = "ok" if "bytes_ratio" in out else "partial"
    return out

