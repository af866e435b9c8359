"""The benchmark harness at a tiny size: every step runs (or says why not) and reports real numbers.

No timing is asserted: the figures depend on the machine. The browser and Pagefind parts and the
FA-KES table are left out here (`invoke bench` runs them).
"""

from __future__ import annotations

import json

import pytest

from broadsheet import bench

STATUSES = {"ok", "not available", "skipped"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("bench")
    results = bench.run_benchmark(n=30, work=base / "work", fakes=None, browser=False)
    md = bench.write_results(results, base / "results.json")
    return results, base / "results.json", md


def _steps(section: dict) -> dict[str, dict]:
    return {name: step for name, step in section.items() if isinstance(step, dict) and "status" in step}


def test_results_json_has_the_machine_and_options(tiny_run):
    results, path, _ = tiny_run
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["version"] == bench.RESULTS_VERSION
    for field in ("cpu", "cores", "ram_gib", "python", "date", "load_average"):
        assert saved["machine"][field] not in (None, "")
    assert saved["machine"]["cores"] > 0 and saved["machine"]["ram_gib"] > 0
    assert saved["options"]["n"] == 30
    assert {t["key"] for t in saved["targets"]} == {key for key, *_ in bench.TARGETS}


def test_every_step_ran_or_says_why_not(tiny_run):
    results, _, _ = tiny_run
    steps = _steps(results["synthetic"])
    assert {"corpus", "ingest", "bare_build", "broadsheet_build", "single_build", "graph", "whoosh", "cli_queries", "cli_cold", "zip",
            "rebuild", "browser"} <= set(steps)
    for name, step in steps.items():
        assert step["status"] in STATUSES, f"{name}: {step}"
        if step["status"] == "not available":
            assert step["reason"].startswith("not available yet ("), name
    assert results["synthetic"]["browser"]["status"] == "skipped"
    assert results["fakes"]["status"] == "skipped"


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
    for name in ("whoosh", "cli_queries", "zip", "graph"):
        if s[name]["status"] == "ok":
            assert s[name].get("seconds", s[name].get("p95_ms")) > 0
    if s["cli_queries"]["status"] == "ok":
        assert 0 < s["cli_queries"]["p50_ms"] <= s["cli_queries"]["p95_ms"]
    if s["cli_cold"]["status"] == "ok":
        assert s["cli_cold"]["runs"] == bench.CLI_COLD_RUNS and s["cli_cold"]["p50_ms"] > 0
    if s["zip"]["status"] == "ok":
        assert s["zip"]["bytes"] > 0
    if s["rebuild"]["status"] == "ok":
        assert s["rebuild"]["ratio_to_scratch"] > 0 and s["rebuild"]["changed_dumps"] == bench.CHANGED_DUMPS
        assert {"ingest", "build", "zip", "verify"} <= set(s["rebuild"]["incremental"]["steps"])


def test_markdown_table_lists_every_target(tiny_run):
    _, _, md = tiny_run
    text = md.read_text(encoding="utf-8")
    assert text.count("\n| ") >= 10
    for target in ("≤ 1.0×", "≤ 0.3×", "≥ 5,000 dumps/s", "bytes ≤ ½ Pagefind's", "p95 ≤ 30 ms"):
        assert target in text


def test_scale_run_reports_steps_memory_files_and_zip(tmp_path):
    results = bench.run_scale(40, tmp_path / "work")
    md = bench.write_scale(results, tmp_path / "results-scale.json")
    saved = json.loads((tmp_path / "results-scale.json").read_text(encoding="utf-8"))
    assert saved["options"]["n"] == 40 and saved["corpus"]["dumps"] == 40
    rb = saved["rebuild"]
    assert rb["changed_dumps"] == bench.CHANGED_DUMPS
    for step in (rb["from_scratch"], rb["incremental"]):
        assert step["status"] == "ok", step
        assert {"ingest", "build", "zip", "verify"} <= set(step["steps"])
        assert step["tree_peak_rss_mib"] >= step["peak_rss_mib"] > 0 and step["largest_process"]
        assert step["site_files"] > 40 and step["zip_bytes"] > 0
    assert {t["key"] for t in saved["targets"]} == {key for key, *_ in bench.SCALE_TARGETS}
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
    sampler = bench.TreeMemory(proc.pid, interval=0.05)
    try:
        while not ready.exists():  # wait for the state: the child holds its memory
            time.sleep(0.05)
        sampler.sample()
    finally:
        sampler.stop()
        proc.communicate(b"")
    assert sampler.largest_mib >= 300 and sampler.total_mib > sampler.largest_mib
    assert sampler.processes_seen == 2


def test_missing_pieces_are_reported_not_invented():
    results = {"options": {"n": 10}, "synthetic": {
        "ingest": bench.not_available("no ingest"), "rebuild": bench.not_available("broadsheet/rebuild.py has not landed"),
        "browser": bench.not_available("no Chromium")}, "fakes": bench.not_available("no FA-KES table")}
    results["targets"] = bench.evaluate_targets(results)
    assert all(t["holds"] is None and t["value"] is None for t in results["targets"])
    rows = bench.summary_rows(results)
    assert any("broadsheet/rebuild.py has not landed" in cell for row in rows for cell in row)
    assert not any(cell == "NO" or cell == "yes" for row in rows for cell in row)
