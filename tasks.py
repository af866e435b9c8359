"""The archivist's commands (`./invoke --list`). Thin: options in, library calls, a summary out."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

from invoke import Exit, task

ROOT = Path(__file__).resolve().parent
URL_HELP = " (or an fsspec URL: s3://BUCKET/PATH, gs://..., file://...; see the README)"
SCHEDULER_HELP = ("run on the Dask cluster whose scheduler is here (tcp://HOST:8786; or set "
                  "DASK_SCHEDULER_ADDRESS); default: this machine's cores")


def _console():
    from rich.console import Console

    return Console(stderr=True)


@task(help={
    "source": "folder of raw dumps, CSV tables, web archives (.warc[.gz], .arc[.gz], .wacz) and saved .html pages (read recursively) or one file; default raw/" + URL_HELP,
    "mapping": "YAML mapping for every CSV table (e.g. mappings/fa-kes.yaml); without it, "
               "<name>.csv is read with <name>.mapping.yaml beside it",
    "content": "where the Markdown articles go; default content/" + URL_HELP,
    "report": "JSON report path; default reports/ingest.json",
    "timezone": "the source's local timezone; default SOURCE_TIMEZONE from pelicanconf.py",
    "allow_removals": "remove the articles of deleted dumps even when they are many (see the README)",
    "scheduler": SCHEDULER_HELP,
})
def ingest(c, source="raw", content="content", report="reports/ingest.json", timezone=None, mapping=None,
           allow_removals=False, scheduler=None):
    """Turn raw dumps and table rows into Markdown articles with YAML front matter.
    Exit 3 if any file or row was rejected; 2 if the --mapping file is unusable, the --source
    does not exist or the run would remove many articles; 1 if content/ cannot be written or
    the Dask cluster cannot be reached or loses the work."""
    from rich.progress import Progress

    from broadsheet import engine, site
    from broadsheet.ingest import IngestError, ingest as run_ingest, write_report

    table_mapping = _load_mapping(mapping)
    tz = timezone or site.source_timezone()
    console = _console()
    with _local_copies("ingest", console, read={"source": source}, read_write={"content": content}) as local:
        try:
            with Progress(console=console, transient=True) as progress:
                bar = progress.add_task("ingest", total=None)
                result = run_ingest(local["source"], local["content"], tz,
                                    on_progress=lambda done, total: progress.update(bar, completed=done, total=total),
                                    mapping=table_mapping, allow_removals=allow_removals, scheduler=scheduler)
        except IngestError as exc:
            raise Exit(str(exc), code=exc.exit_status)
        except engine.EngineError as exc:
            raise Exit(f"ingest: {exc}", code=1)
    try:
        write_report(result, Path(report))
    except OSError as exc:
        raise Exit(f"ingest: content/ was updated, but the report {report} cannot be written "
                   f"({exc.strerror or exc})", code=1)
    _print_ingest_summary(console, result, report)
    if result.exit_status:
        raise Exit(code=result.exit_status)


@contextmanager
def _local_copies(command, console, **places):
    """Local paths for the options that name fsspec URLs (broadsheet.remote), or exit naming the URL."""
    from broadsheet import remote

    try:
        with remote.local_copies(command, say=lambda line: console.print(line, markup=False, highlight=False),
                                 **places) as local:
            yield local
    except remote.RemoteError as exc:
        raise Exit(str(exc), code=exc.exit_status)


def _load_mapping(path):
    """The --mapping file, or exit 2 naming what is wrong with it."""
    from broadsheet.tables import MappingError, load_mapping

    try:
        return load_mapping(Path(path)) if path else None
    except MappingError as exc:
        raise Exit(f"mapping: {exc}", code=2)


def _print_ingest_summary(console, result, report_path):
    for line in result.summary_lines():
        console.print(line, markup=False, highlight=False)
    console.print(f"report: {report_path}")


@task(help={
    "number": "how many dumps to generate (-n N; invoke spells one-letter options with one dash)",
    "dest": "folder to write them into (created if missing)",
    "seed": "random seed; the same options give the same bytes (default 0)",
    "malformed": "fraction of broken files, every kind in turn (default 0)",
    "truth": "name of the ground-truth file written beside the dumps (default .truth.json: "
             "hidden, so that ingest does not read it as a dump)",
})
def corpus(c, number=None, dest=None, seed=0, malformed=0.0, truth=".truth.json"):
    """Generate a synthetic corpus of dumps in the seed's format, with its ground truth."""
    if number is None or dest is None:
        raise Exit("invoke corpus needs -n N (or --number N) and --dest DIR", code=2)
    from broadsheet import site
    from broadsheet.corpus import generate_corpus, write_corpus

    generated = generate_corpus(int(number), int(seed), float(malformed), site.source_timezone())
    truth_path = write_corpus(generated, Path(dest), truth)
    kinds = {}
    for f in generated.files:
        kinds[f.truth["kind"]] = kinds.get(f.truth["kind"], 0) + 1
    broken = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()) if k != "clean") or "none"
    _console().print(f"corpus: {len(generated.files)} dumps in {dest} (broken: {broken}); truth: {truth_path}")


@task(help={
    "content": "Markdown articles; default content/" + URL_HELP,
    "output": "where the site goes; default output/" + URL_HELP,
    "settings": "local (relative URLs) or hosted (absolute URLs, feeds, sitemap)",
    "siteurl": "the site's public URL, for --settings hosted (or set SITEURL)",
    "precompress": "with --settings hosted: also write .gz (.br, .zst when available) beside text files",
    "scheduler": SCHEDULER_HELP,
})
def build(c, content="content", output="output", settings="local", siteurl=None, precompress=False,
          scheduler=None):
    """Build the site with Pelican, a run per partition of the archive on the Dask engine."""
    import os

    from broadsheet import engine, site

    if precompress:
        os.environ["BROADSHEET_PRECOMPRESS"] = "1"  # read by publishconf.py
    overrides = {"SITEURL": siteurl} if siteurl else {}
    console = _console()
    with _local_copies("build", console, read={"content": content}, publish_folders={"output": output}) as local:
        try:
            site.build(local["content"], local["output"], settings, scheduler=scheduler, **overrides)
        except (site.BuildError, engine.EngineError) as exc:
            raise Exit(str(exc), code=1)
    console.print(f"site: {output}/index.html")


@task(help={"output": "the built site; default output/", "port": "default 8000"})
def serve(c, output="output", port=8000):
    """Preview the built site on http://localhost:PORT/."""
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=output)
    with http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), handler) as httpd:
        _console().print(f"serving {output} on http://localhost:{port}/ (Ctrl-C stops)")
        httpd.serve_forever()


@task(help={
    "no_browser": "skip the browser tests (and do not install Chromium)",
    "k": "only tests matching this pytest expression",
})
def test(c, no_browser=False, k=None):
    """Run the whole test suite, first installing what it needs from the system (Chromium, fonts,
    Java and npm for the HTML checker): with apt-get as root or with passwordless sudo, else it names
    the one command to run."""
    from broadsheet import checks

    missing = checks.missing_test_tools()
    if missing:
        raise Exit("cannot run the tests, missing:\n- " + "\n- ".join(missing), code=2)
    problem = checks.set_up(browser=not no_browser, say=lambda text: print(f"invoke test: {text}", flush=True))
    if problem:
        raise Exit(f"invoke test: {problem}", code=2)
    args = [sys.executable, "-m", "pytest", "-q", "-n", "2"]
    if no_browser:
        args += ["-m", "not browser"]
    if k:
        args += ["-k", k]
    c.run(" ".join(f"'{a}'" for a in args), pty=False)


@task(name="zip", help={
    "content": "Markdown articles; default content/",
    "zip": "the zip to write; default dist/broadsheet-archive.zip",
})
def zip_(c, content="content", zip="dist/broadsheet-archive.zip"):
    """Build the offline site and pack it as a reproducible BagIt zip (open index.html inside)."""
    from broadsheet import site
    from broadsheet.archive.offline import make_offline_zip

    try:
        made = make_offline_zip(Path(content), Path(zip))
    except site.BuildError as exc:
        raise Exit(str(exc), code=1)
    f = made.facts
    _console().print(f"zip: {made.path} ({made.bytes:,} bytes, {made.files} files, {f.article_count} articles "
                     f"{f.first_date} to {f.last_date}), sha256 {made.sha256}")


@task(name="verify-zip", help={"file": "the zip to check, e.g. dist/broadsheet-archive.zip"})
def verify_zip(c, file):
    """Check an offline zip: valid bag, every link and asset resolves from disk, every article has its page."""
    from broadsheet.archive.verify import summarize, verify

    result = verify(Path(file))
    for line in summarize(result):
        _console().print(line, markup=False, highlight=False)
    if not result.ok:
        raise Exit(code=1)


@task(help={
    "source": "folder of raw dumps, tables, web archives and saved pages, or one file (crawl.warc.gz); default raw/"
              + URL_HELP,
    "content": "Markdown articles; default content/" + URL_HELP,
    "output": "the site (a link to the current verified version); default output/" + URL_HELP,
    "zip": "the offline zip; default dist/broadsheet-archive.zip" + URL_HELP,
    "reports": "where rebuild.json, ingest.json and graph.json go; default reports/",
    "siteurl": "build output/ for hosting at this URL (absolute URLs, feeds, sitemap); default: relative URLs",
    "mapping": "YAML mapping for CSV tables in --source (e.g. mappings/fa-kes.yaml)",
    "allow_removals": "remove the articles of deleted dumps even when they are many (see the README)",
    "scheduler": SCHEDULER_HELP + " (ingest and the site's partitions)",
})
def rebuild(c, source="raw", content="content", output="output", zip="dist/broadsheet-archive.zip",
            reports="reports", siteurl=None, mapping=None, allow_removals=False, scheduler=None):
    """Ingest, build, zip, verify, then swap the new site and zip into place (safe to interrupt)."""
    from broadsheet import rebuild as pipeline

    console = _console()
    table_mapping = _load_mapping(mapping)
    with _local_copies("rebuild", console, read={"source": source}, read_write={"content": content},
                       publish_folders={"output": output}, publish_files={"zip": zip}) as local:
        try:
            report = pipeline.rebuild(local["source"], local["content"], local["output"], local["zip"], Path(reports),
                                      siteurl=siteurl or None, on_step=lambda step: console.print(f"{step} ..."),
                                      mapping=table_mapping, allow_removals=allow_removals, scheduler=scheduler)
        except pipeline.RebuildRefused as exc:
            raise Exit(f"rebuild refused: {exc}", code=pipeline.EXIT_REFUSED)
        except pipeline.RebuildLocked as exc:
            raise Exit(f"rebuild refused: {exc}", code=pipeline.EXIT_LOCKED)
        except pipeline.RebuildFailed as exc:
            raise Exit(f"rebuild failed: {exc}\nreport: {Path(reports) / 'rebuild.json'}", code=pipeline.EXIT_FAILED)
        for line in pipeline.summary_lines(report):
            console.print(line, markup=False, highlight=False)
    console.print(f"report: {Path(reports) / 'rebuild.json'}")


@task(help={
    "query": 'Whoosh query: words (ANDed), OR, NOT, "phrases", prefix*, title:word, '
             "year:2016, date:[2016-01 to 2016-06]; version:all searches earlier versions of articles too",
    "output": "the built site whose index to search; default output/",
    "limit": "how many hits to show; default 10",
    "json": "print a JSON list of {title, url, date, score, snippet}",
})
def search(c, query, output="output", limit=10, json=False):
    """Search the archive's Whoosh index (written by every build, beside the output folder)."""
    from json import dumps

    from broadsheet import site

    sys.path.insert(0, str(ROOT / "plugins"))
    from search_index.query import IndexMissing, QueryError, hits_as_json, search as run_search

    try:
        hits, total, seconds = run_search(Path(output), query, int(limit), site.load_settings())
    except (IndexMissing, QueryError) as exc:
        raise Exit(f"search: {exc}", code=2)
    if json:
        print(dumps(hits_as_json(hits), ensure_ascii=False, indent=1))
        return
    for n, hit in enumerate(hits, 1):
        print(f"{n:>3}. {hit.title}  [{hit.date[:10]}]  score {hit.score:.2f}\n     {hit.url}\n     {hit.snippet}")
    _console().print(f"{total} matches for {query!r}, showing {len(hits)} ({seconds * 1000:.0f} ms)")


@task(help={
    "number": "synthetic articles (-n N or --number N; default 2000, 10000 for the full figures)",
    "out": "results JSON; the Markdown table is written beside it (default bench/results.json)",
    "fakes": "the FA-KES CSV, read where it lies (default ../shared/data/fa-kes/FA-KES-Dataset.csv; "
             "'none' leaves it out)",
    "no_browser": "leave out browser search and Pagefind",
    "no_web_archive": "leave out the web-archive (WARC) measures",
    "scale": "instead, only the corpus, a from-scratch rebuild and an incremental one at N articles: wall time "
             "per step, peak RSS of the largest process and of all together, files and zip size; results in "
             "--out, default bench/results-scale-N.json",
    "work": "scratch folder, emptied at each run (default bench/work)",
    "search_scale": "instead, measure search alone at N articles without building a site (index, bytes per "
                    "browser query, CLI latency and memory); results in bench/results-search-N.json",
    "search_content": "with --search-scale: articles already made (invoke corpus, then invoke ingest) "
                      "instead of generating N again",
})
def bench(c, number=2000, out="bench/results.json", fakes=None, no_browser=False, work="bench/work",
          search_scale=0, search_content=None, scale=0, no_web_archive=False):
    """Measure ingest, builds (vs bare Pelican), rebuild, graph, search (vs Pagefind), zip; print the table.
    --scale N: only the corpus, a from-scratch and an incremental rebuild at N articles (bench/results-scale-N.*)."""
    # bench/ beside this file: invoke puts the folder of tasks.py on sys.path, as `python -m` does
    from bench import at_scale, benchmark, report

    console = _console()
    if int(scale):
        with console.status("bench") as status:
            results = at_scale.run_scale(int(scale), Path(work),
                                         progress=lambda step: status.update(f"bench: {step}"))
        default = out == "bench/results.json"
        md = report.write_scale(results, Path(f"bench/results-scale-{int(scale)}.json" if default else out))
        console.print(md.read_text(encoding="utf-8"))
        return
    if int(search_scale):
        with console.status("bench") as status:
            results = at_scale.run_search_scale(int(search_scale), Path(work),
                                                progress=lambda step: status.update(f"bench: {step}"),
                                                content=Path(search_content) if search_content else None)
        md = report.write_search_scale(results, Path(f"bench/results-search-{int(search_scale)}.json"))
        console.print(md.read_text(encoding="utf-8"))
        return
    table_path = None if fakes == "none" else Path(fakes) if fakes else benchmark.FAKES_CSV
    with console.status("bench") as status:
        results = benchmark.run_benchmark(int(number), Path(work), table_path, browser=not no_browser,
                                          progress=lambda step: status.update(f"bench: {step}"),
                                          web_archive=not no_web_archive)
    md = report.write_results(results, Path(out))
    console.print(report.rich_table(results))
    console.print(f"results: {out}, table: {md}")
