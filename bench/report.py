"""What the bench's results say: the targets and whether they hold, the tables (Markdown for
the README, rich for the terminal) and the results files (JSON, with the Markdown beside it)."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from bench.harness import ok
from bench.pipeline import BUILD_REPEATS, CHANGED_DUMPS
from bench.search import BROWSER_QUERIES, CLI_COLD_RUNS, CLI_QUERIES, CLI_ROUNDS

#: The version of the results files' layout.
RESULTS_VERSION = 1

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

#: The issue's targets at scale: a from-scratch rebuild within 15 minutes, no process over 3 GiB.
SCALE_TARGETS = [
    ("scratch_seconds", "rebuild from scratch ≤ 15 min", "<=", 15 * 60.0),
    ("largest_process_mib", "no process > 3 GiB peak RSS", "<=", 3 * 1024.0),
]


# -- the comparison (invoke bench) ----------------------------------------------------------

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


# -- the runs at scale ----------------------------------------------------------------------

def with_scale_targets(r: dict[str, Any]) -> dict[str, Any]:
    """`r` with SCALE_TARGETS judged on its rebuild from scratch and its largest process."""
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


# -- cells -----------------------------------------------------------------------------------

def machine_line(results: dict[str, Any]) -> str:
    m = results["machine"]
    return (f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Python {m['python']}; "
            f"{m['date']}; load average at start {', '.join(str(x) for x in m['load_average'])}; "
            f"commit {m['git_commit']}")


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


def _tree_mib(step: dict[str, Any] | None) -> str:
    return f"{step['tree_peak_rss_mib']:.0f} MiB" if step and step.get("tree_peak_rss_mib") is not None else "—"


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
