"""The runs at scale: the archivist's pipeline alone (`invoke bench --scale N`) and search alone
(`invoke bench --search-scale N`), each at a size where the full comparison would take too long."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from broadsheet.site import search_index_folder

from bench.harness import DEFAULT_SEED, DEFAULT_WORK, SCALE_STEP_TIMEOUT, fresh, machine_info, ok, run_step
from bench.pipeline import CHANGED_DUMPS, rebuild_twice
from bench.report import RESULTS_VERSION, with_scale_targets
from bench.search import BROWSER_QUERIES, CLI_QUERIES, CLI_ROUNDS, cli_cold


def run_scale(n: int, work: Path = DEFAULT_WORK, seed: int = DEFAULT_SEED,
              progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """The archivist's pipeline alone at `n` synthetic articles (`invoke bench --scale N`): the
    corpus, a from-scratch `rebuild` (ingest, partitioned build, zip, verify), then a rebuild
    after CHANGED_DUMPS changed dumps; wall time per step, peak RSS of the largest process and of
    the whole process tree, the site's file count and the zip's size."""
    run = fresh(Path(work).resolve() / f"scale-{n}")
    raw, logs = run / "raw", run / "logs"
    r: dict[str, Any] = {"version": RESULTS_VERSION, "machine": machine_info(),
                         "options": {"n": n, "seed": seed, "changed_dumps": CHANGED_DUMPS, "scale": True,
                                     "partition_max_articles": _partition_max_articles()}}
    progress(f"corpus: generating {n} dumps")
    r["corpus"] = run_step("corpus", {"n": n, "seed": seed, "dest": str(raw)}, logs)
    if not ok(r["corpus"]):
        return with_scale_targets(r)
    r["rebuild"] = rebuild_twice(run, raw, r, progress, copy=False, timeout=SCALE_STEP_TIMEOUT)
    r["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return with_scale_targets(r)


def _partition_max_articles() -> int | None:
    from broadsheet import site

    return int(site.load_settings("local").get("PARTITION_MAX_ARTICLES") or 0) or None


def run_search_scale(n: int, work: Path = DEFAULT_WORK, seed: int = DEFAULT_SEED,
                     progress: Callable[[str], None] = lambda message: None,
                     content: Path | None = None) -> dict[str, Any]:
    """Search alone at `n` synthetic articles, no site built: the index and shards made from the
    content files as the plugin makes them, bytes per browser query, CLI latency and memory.
    `content`: articles already made (`invoke corpus`, then `invoke ingest`), used instead of
    generating and ingesting `n` again (at 100,000 that is minutes per run)."""
    run = fresh(Path(work).resolve() / "search-scale")
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

