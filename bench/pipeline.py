"""The pipeline's measures: corpus, ingest, cold builds against bare Pelican, the related graph,
the offline zip, rebuilds from scratch and after a few changed dumps, the FA-KES table and web
archives. The `step_*` functions run in a step's own process (`harness.run_step`); the others
run in the bench's process and start those steps."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.harness import PROJECT, STEP_TIMEOUT, failed, not_available, ok, run_step, skipped, timed

FAKES_CSV = (PROJECT / ".." / "shared" / "data" / "fa-kes" / "FA-KES-Dataset.csv").resolve()
FAKES_MAPPING = PROJECT / "mappings" / "fa-kes.yaml"

#: Each cold build (bare and Broadsheet) runs this many times, alternately; the fastest counts.
BUILD_REPEATS = 2
#: How many dumps the incremental rebuild changes.
CHANGED_DUMPS = 10

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

#: The largest web archive the bench writes (n=2000 articles reach it).
WEB_ARCHIVE_MIB = 1024

#: The cold builds compared, in the order they alternate: bare Pelican, Broadsheet partitioned
#: (the default: a driver and partitions on a local Dask cluster), Broadsheet in one Pelican run.
BUILD_KINDS = ("bare", "broadsheet", "single")


# -- steps: each runs in its own process -----------------------------------------------------

def step_corpus(n: int, seed: int, dest: str) -> dict[str, Any]:
    from broadsheet import site
    from broadsheet.corpus import generate_corpus, write_corpus

    generated, seconds = timed(lambda: generate_corpus(n, seed, 0.0, site.source_timezone()))
    write_corpus(generated, Path(dest))
    return {"status": "ok", "dumps": len(generated.files), "seconds": round(seconds, 3)}


def step_ingest(source: str, content: str, report: str, mapping: str | None = None) -> dict[str, Any]:
    from broadsheet import site
    from broadsheet.ingest import ingest, list_sources, parse_sources, write_report

    from broadsheet.tables import load_mapping

    table_mapping = load_mapping(Path(mapping)) if mapping else None
    tz = site.source_timezone()
    result, seconds = timed(lambda: ingest(Path(source), Path(content), tz, mapping=table_mapping))
    write_report(result, Path(report))
    s = result.summary()
    if not s["accepted"]:
        return failed(f"ingest accepted nothing ({s['read']} read, {s['rejected']} rejected)")
    # Parsing alone (files already in the page cache), to show where ingest's time goes.
    parsed, parse_seconds = timed(lambda: parse_sources(list_sources(Path(source)), Path(source), tz,
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
        _, seconds = timed(lambda: site.build(Path(content), Path(output), "local", partitioned=partitioned,
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

        _, seconds = timed(bare)
    pages = sum(1 for _ in Path(output).rglob("*.html"))
    return {"status": "ok", "seconds": round(seconds, 3), "html_pages": pages}


def step_zip(content: str, zip_path: str, work: str, overrides: dict[str, Any]) -> dict[str, Any]:
    from broadsheet.archive.offline import make_offline_zip

    result, seconds = timed(lambda: make_offline_zip(Path(content), Path(zip_path), work_dir=Path(work),
                                                     extra_overrides=overrides))
    return {"status": "ok", "seconds": round(seconds, 3), "bytes": result.bytes, "files": result.files}


def step_rebuild(source: str, content: str, output: str, zip_path: str, reports: str) -> dict[str, Any]:
    """One run of the archivist's rebuild; whatever it keeps beside `output` stays for the next."""
    from broadsheet.rebuild import rebuild

    # Each step's start goes to the step's log, so that a run killed on timeout says where it was.
    report, seconds = timed(lambda: rebuild(Path(source), Path(content), Path(output), Path(zip_path),
                                             Path(reports), on_step=lambda name: print(
                                                 f"{datetime.now(timezone.utc):%H:%M:%S} rebuild step: {name}",
                                                 flush=True)))
    files = sum(1 for p in Path(output).rglob("*") if p.is_file())
    return {"status": "ok", "seconds": round(seconds, 3), "steps": report.seconds, "search": report.search_seconds,
            "ingest": report.ingest, "output": report.output, "zip": report.zip, "site_files": files,
            "zip_bytes": Path(zip_path).stat().st_size if Path(zip_path).exists() else None}


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
    (outcomes, workers_cpu), seconds = timed(reading)
    cpu = _cpu_seconds(resource.RUSAGE_CHILDREN) + _cpu_seconds() - before + workers_cpu
    articles = sum(hasattr(o, "paragraphs") for o in outcomes)
    not_articles = sum(o.count for o in outcomes if isinstance(o, Skipped))
    if not articles:
        return failed(f"no article read from {path}")
    return {"status": "ok", "articles": articles, "skipped": not_articles, "seconds": round(seconds, 3),
            "per_second": round(articles / seconds, 1), "cpu_seconds": round(cpu, 3),
            "per_cpu_second": round(articles / cpu, 1), "bytes": os.path.getsize(path)}


def _cpu_seconds(who: int | None = None) -> float:
    """User and system CPU seconds of this process (or, with RUSAGE_CHILDREN, of its children)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF if who is None else who)
    return usage.ru_utime + usage.ru_stime


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


# -- in the bench's process: steps started and put together ----------------------------------

def site_overrides(run: Path) -> dict[str, Any]:
    """Keep every report a build writes inside the run's folder, away from the project's reports/."""
    return {"RELATED_GRAPH_REPORT": str(run / "graph.json"), "INGEST_REPORT": str(run / "ingest.json")}


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


def graph_resolution(report: Path, build: dict[str, Any]) -> dict[str, Any]:
    """The related graph's resolution time, as the plugin wrote it in the build's report."""
    if not ok(build):
        return skipped("the Broadsheet build failed")
    if not report.exists():
        return failed(f"the related_graph plugin wrote no report at {report} (RELATED_GRAPH_REPORT)")
    stats = json.loads(report.read_text(encoding="utf-8")).get("stats", {})
    if "resolve_seconds" not in stats:
        return failed(f"{report} has no stats.resolve_seconds")
    keep = ("resolve_seconds", "export_seconds", "articles", "entries", "by_id", "by_title", "fuzzy",
            "unresolved", "nodes", "edges")
    return {"status": "ok", "seconds": stats["resolve_seconds"], **{k: stats[k] for k in keep if k in stats}}


def rebuild_twice(run: Path, raw: Path, r: dict[str, Any], progress, copy: bool = True,
                  timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
    """A from-scratch rebuild and one after CHANGED_DUMPS changed dumps, of a copy of `raw`
    (or of `raw` itself when `copy` is false)."""
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


def fakes_table(csv: Path | None, run: Path, progress) -> dict[str, Any]:
    """The FA-KES table (CSV + mappings/fa-kes.yaml): ingest and cold builds, as for the corpus."""
    if csv is None:
        return skipped("no --fakes path")
    csv = Path(csv)
    if not csv.is_file():  # a data set kept outside the project: not every machine has it
        return not_available(f"no FA-KES table at {csv}")
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
    r.update(cold_builds(content, run, site_overrides(run), lambda step: progress(f"FA-KES: {step}")))
    r["status"] = "ok" if "build_ratio" in r else "partial"
    return r


def web_archives(n: int, seed: int, run: Path, progress) -> dict[str, Any]:
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

