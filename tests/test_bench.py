"""The benchmark (bench/) at a tiny size: every step of Broadsheet runs and reports real numbers.

No timing is asserted: the figures depend on the machine. The browser and Pagefind parts and the
FA-KES table are left out here (`invoke bench` runs them). A piece of Broadsheet the bench
measures that is missing or renamed fails its step, and these tests with it.
"""

from __future__ import annotations

import json

import pytest

from bench import at_scale, benchmark, harness, pipeline, report, search


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("bench")
    results = benchmark.run_benchmark(n=30, work=base / "work", fakes=None, browser=False)
    md = report.write_results(results, base / "results.json")
    return results, base / "results.json", md


def _steps(section: dict) -> dict[str, dict]:
    return {name: step for name, step in section.items() if isinstance(step, dict) and "status" in step}


def test_results_json_has_the_machine_and_options(tiny_run):
    results, path, _ = tiny_run
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["version"] == report.RESULTS_VERSION
    for field in ("cpu", "cores", "ram_gib", "python", "date", "load_average"):
        assert saved["machine"][field] not in (None, "")
    assert saved["machine"]["cores"] > 0 and saved["machine"]["ram_gib"] > 0
    assert saved["options"]["n"] == 30
    assert {t["key"] for t in saved["targets"]} == {key for key, *_ in report.TARGETS}


def test_every_step_of_broadsheet_ran(tiny_run):
    """Only what the run was told to leave out is not measured: every piece of Broadsheet ran."""
    results, _, _ = tiny_run
    steps = _steps(results["synthetic"])
    measured = {"corpus", "ingest", "bare_build", "broadsheet_build", "single_build", "graph", "whoosh",
                "cli_queries", "cli_cold", "zip", "rebuild"}
    assert measured | {"browser"} == set(steps)
    for name in measured:
        assert steps[name]["status"] == "ok", f"{name}: {steps[name]}"
    assert results["synthetic"]["browser"] == {"status": "skipped", "reason": "skipped (--no-browser)"}
    assert results["fakes"] == {"status": "skipped", "reason": "skipped (no --fakes path)"}
    assert results["web_archive"]["pages"]["status"] == "ok" and results["web_archive"]["large"]["status"] == "ok"


def test_measured_numbers_are_positive(tiny_run):
    s = tiny_run[0]["synthetic"]
    assert s["ingest"]["read"] == s["ingest"]["accepted"] == 30  # the truth file is not read as a dump
    assert s["ingest"]["per_second"] > 0 and s["ingest"]["parse_per_second"] > 0
    for name in ("ingest", "bare_build", "broadsheet_build", "single_build"):
        assert s[name]["seconds"] > 0 and s[name]["peak_rss_mib"] > 0 and s[name]["process_seconds"] > 0
        # the whole process tree together holds at least its largest process
        assert s[name]["tree_peak_rss_mib"] >= s[name]["peak_rss_mib"] > 0
    assert s["broadsheet_build"]["html_pages"] == s["single_build"]["html_pages"] > 30
    assert s["bare_build"]["html_pages"] > 30
    assert s["build_ratio"] > 0 and s["single_ratio"] > 0 and s["partitioned_to_single"] > 0
    for name in ("whoosh", "zip", "graph"):
        assert s[name]["seconds"] > 0, name
    assert s["whoosh"]["documents"] == 30 and s["whoosh"]["export_files"] > 0
    assert s["graph"]["entries"] > 0
    assert 0 < s["cli_queries"]["p50_ms"] <= s["cli_queries"]["p95_ms"]
    assert s["cli_cold"]["runs"] == search.CLI_COLD_RUNS and s["cli_cold"]["p50_ms"] > 0
    assert s["zip"]["bytes"] > 0
    assert s["rebuild"]["ratio_to_scratch"] > 0 and s["rebuild"]["changed_dumps"] == pipeline.CHANGED_DUMPS
    assert {"ingest", "build", "zip", "verify"} <= set(s["rebuild"]["incremental"]["steps"])


def test_markdown_table_lists_every_target(tiny_run):
    _, _, md = tiny_run
    text = md.read_text(encoding="utf-8")
    assert text.count("\n| ") >= 10
    for target in ("≤ 1.0×", "≤ 0.3×", "≥ 5,000 dumps/s", "bytes ≤ ½ Pagefind's", "p95 ≤ 30 ms"):
        assert target in text


def test_scale_run_reports_steps_memory_files_and_zip(tmp_path):
    results = at_scale.run_scale(40, tmp_path / "work")
    md = report.write_scale(results, tmp_path / "results-scale.json")
    saved = json.loads((tmp_path / "results-scale.json").read_text(encoding="utf-8"))
    assert saved["options"]["n"] == 40 and saved["corpus"]["dumps"] == 40
    rb = saved["rebuild"]
    assert rb["changed_dumps"] == pipeline.CHANGED_DUMPS
    for step in (rb["from_scratch"], rb["incremental"]):
        assert step["status"] == "ok", step
        assert {"ingest", "build", "zip", "verify"} <= set(step["steps"])
        assert step["tree_peak_rss_mib"] >= step["peak_rss_mib"] > 0 and step["largest_process"]
        assert step["site_files"] > 40 and step["zip_bytes"] > 0
    assert {t["key"] for t in saved["targets"]} == {key for key, *_ in report.SCALE_TARGETS}
    assert all(t["holds"] is not None for t in saved["targets"])
    text = md.read_text(encoding="utf-8")
    assert "rebuild from scratch: build" in text and "no process > 3 GiB" in text


def test_tree_memory_sees_a_child_process_larger_than_its_parent(tmp_path):
    """The sampler follows descendants that the step never waits for, as Dask's workers are."""
    import subprocess
    import sys
    import time

    ready = tmp_path / "ready"
    child = ("import sys, time; b = bytearray(300 << 20); b[::4096] = b'x' * len(b[::4096]); "
             "open(sys.argv[1], 'w').close(); time.sleep(60)")
    parent = ("import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2]]); "
              "sys.stdin.read(); p.kill()")
    proc = subprocess.Popen([sys.executable, "-c", parent, child, str(ready)], stdin=subprocess.PIPE)
    sampler = harness.TreeMemory(proc.pid, interval=0.05)
    try:
        while not ready.exists():  # wait for the state: the child holds its memory
            time.sleep(0.05)
        sampler.sample()
    finally:
        sampler.stop()
        proc.communicate(b"")
    assert sampler.largest_mib >= 300 and sampler.total_mib > sampler.largest_mib
    assert sampler.processes_seen == 2


def test_what_was_not_measured_is_reported_not_invented():
    results = {"options": {"n": 10}, "synthetic": {
        "ingest": harness.failed("exit 1: no ingest"), "rebuild": harness.skipped("the Broadsheet build failed"),
        "browser": harness.not_available("no Chromium at /usr/bin/chromium")},
        "fakes": harness.not_available("no FA-KES table")}
    results["targets"] = report.evaluate_targets(results)
    assert all(t["holds"] is None and t["value"] is None for t in results["targets"])
    rows = report.summary_rows(results)
    cells = [cell for row in rows for cell in row]
    assert "exit 1: no ingest" in cells and "skipped (the Broadsheet build failed)" in cells
    assert any("not available on this machine (no Chromium at /usr/bin/chromium)" in cell for cell in cells)
    assert not any(cell == "NO" or cell == "yes" for cell in cells)


def test_a_step_process_reaches_the_search_plugin_it_measures(tmp_path):
    """The search steps import plugins/search_index by the names Pelican loads it under, in a
    step's own process: here the CLI step reaches the plugin's `search`, which finds no index.
    Were the plugin's module or function renamed, the step would fail on the import instead."""
    step = harness.run_step("cli_cold", {"output": str(tmp_path / "no-site"), "query": "aleppo"}, tmp_path)
    assert step["status"] == "failed" and step["reason"].startswith("IndexMissing: "), step
    assert "largest_process" in step and step["peak_rss_mib"] > 0
