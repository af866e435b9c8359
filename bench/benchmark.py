"""`invoke bench`: Broadsheet against what an archivist would use instead, side by side, in one
run at `n` synthetic articles (the FA-KES table and web archives beside them); each measure is
a step of `pipeline` or `search`, put together here in the order they depend on each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from bench.harness import DEFAULT_SEED, DEFAULT_WORK, fresh, machine_info, ok, run_step, skipped
from bench.pipeline import (BARE_FROM_SITE_SETTINGS, BARE_PELICAN, BUILD_REPEATS, CHANGED_DUMPS, FAKES_CSV,
                            cold_builds, fakes_table, graph_resolution, rebuild_twice, site_overrides,
                            web_archives)
from bench.report import RESULTS_VERSION, evaluate_targets
from bench.search import CLI_QUERIES, CLI_ROUNDS, PAGEFIND_GLOB, browser_search, cli_cold

DEFAULT_N = 2000


def run_benchmark(n: int = DEFAULT_N, work: Path = DEFAULT_WORK, fakes: Path | None = FAKES_CSV,
                  browser: bool = True, seed: int = DEFAULT_SEED,
                  progress: Callable[[str], None] = lambda message: None,
                  web_archive: bool = True) -> dict[str, Any]:
    """Run every measurement; returns the results (see `report.write_results`)."""
    work = Path(work).resolve()
    results: dict[str, Any] = {"version": RESULTS_VERSION, "machine": machine_info(),
                               "options": {"n": n, "seed": seed, "browser": browser,
                                           "fakes": str(fakes) if fakes else None,
                                           "changed_dumps": CHANGED_DUMPS,
                                           "bare_pelican": BARE_PELICAN,
                                           "bare_from_site_settings": BARE_FROM_SITE_SETTINGS,
                                           "build_repeats": BUILD_REPEATS, "pagefind_glob": PAGEFIND_GLOB}}
    results["synthetic"] = _synthetic(n, seed, fresh(work / "synthetic"), browser, progress)
    results["fakes"] = fakes_table(fakes, fresh(work / "fakes"), progress)
    results["web_archive"] = (web_archives(n, seed, fresh(work / "web-archive"), progress) if web_archive
                              else skipped("--no-web-archive"))
    results["targets"] = evaluate_targets(results)
    return results


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
    overrides = site_overrides(run)
    r.update(cold_builds(content, run, overrides, progress))
    output = run / "broadsheet" / "1" / "output"
    r["graph"] = graph_resolution(run / "graph.json", r["broadsheet_build"])

    progress("whoosh index")
    r["whoosh"] = run_step("whoosh", {"content": str(content), "index_dir": str(run / "whoosh" / "index"),
                                      "export_dir": str(run / "whoosh" / "browser")}, logs)
    if ok(r["broadsheet_build"]):
        progress("CLI queries")
        r["cli_queries"] = run_step("cli_queries", {"output": str(output), "queries": CLI_QUERIES,
                                                    "rounds": CLI_ROUNDS}, logs)
        r["cli_cold"] = cli_cold(output, logs)
    else:
        r["cli_queries"] = r["cli_cold"] = skipped("the Broadsheet build failed, so there is no index to query")

    progress("offline zip")
    r["zip"] = run_step("zip", {"content": str(content), "zip_path": str(run / "zip" / "archive.zip"),
                                "work": str(run / "zip" / "tmp"), "overrides": overrides}, logs)

    r["rebuild"] = rebuild_twice(run, raw, r, progress)

    if not browser:
        r["browser"] = skipped("--no-browser")
    elif not ok(r["broadsheet_build"]):
        r["browser"] = skipped("the Broadsheet build failed")
    else:
        r["browser"] = browser_search(output, logs, progress)
    return r
