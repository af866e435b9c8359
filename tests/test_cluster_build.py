"""A partitioned build on a Dask cluster started by hand: a scheduler and two workers as separate
processes, each worker in a folder of its own and running Broadsheet from an installed wheel.
The workers share no folder with the build: each partition's files travel in its task and its
pages come back in its result (broadsheet/partitioned.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from broadsheet import site
from conftest import ROOT
from test_engine import PATIENCE, _files, _stop_a_worker_holding_a_batch, installed, started_cluster  # noqa: F401
from test_rebuild import Project, contents, make_source, write_dump

#: Partitions of at most this many articles: the sample makes several, for both workers.
MOST = "7"


@pytest.fixture(scope="module")
def sample_content(tmp_path_factory) -> Path:
    from broadsheet.ingest import ingest

    content = tmp_path_factory.mktemp("cluster-sample") / "content"
    ingest(ROOT / "raw", content, "Asia/Tehran")
    return content


def _build(content: Path, out: Path, **kw) -> dict[str, bytes]:
    site.build(content, out / "site", "local", partitioned=True, PARTITION_MAX_ARTICLES=int(MOST),
               SEARCH_INDEX_PATH=str(out / "index"), RELATED_GRAPH_REPORT=str(out / "graph.json"), **kw)
    return _files(out / "site")


def test_a_build_through_a_scheduler_renders_on_its_workers_what_a_local_build_writes(
        tmp_path, installed, sample_content):
    local = _build(sample_content, tmp_path / "local")
    with started_cluster(tmp_path, installed) as cluster:
        client = cluster.client
        workers = {addr for addr in client.scheduler_info(n_workers=-1)["workers"]}
        client.get_task_stream()  # from now on the scheduler records which worker ran what
        started = time.time()
        remote = _build(sample_content, tmp_path / "remote", scheduler=cluster.address)
        stream = [t for t in client.get_task_stream(start=started) if t["key"].startswith("broadsheet-partition-")]
    assert remote == local
    assert len({t["key"] for t in stream}) >= 4  # a task per partition
    assert {t["worker"] for t in stream} == workers  # both workers rendered partitions


def _rebuild_killing_a_worker(project: Project, base: Path, installed: Path, env: dict[str, str],
                              scheduler_env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`invoke rebuild --scheduler` on a cluster started for it, one of whose workers is killed
    (SIGKILL) while it renders a partition; the rebuild's exit status and output."""
    with started_cluster(base, installed, scheduler_env=scheduler_env) as cluster:
        running = subprocess.Popen([*project.command(), "--scheduler", cluster.address], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        victim = _stop_a_worker_holding_a_batch(cluster, running, prefix="broadsheet-partition-")
        victim.kill()
        victim.wait()
        out, err = running.communicate(timeout=PATIENCE)
    return running.returncode, out, err


def test_a_worker_killed_during_a_rebuild_costs_no_page(tmp_path, installed):
    """SIGKILL a worker that holds a partition: the scheduler gives it to the other worker, and
    the rebuild publishes what a local rebuild publishes."""
    env = {**os.environ, "BROADSHEET_PARTITION_MAX_ARTICLES": "1"}
    local, remote = Project(tmp_path / "local"), Project(tmp_path / "remote")
    for p in (local, remote):
        make_source(p.base, range(1, 9))
    ran = subprocess.run(local.command(), cwd=ROOT, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    returncode, out, err = _rebuild_killing_a_worker(remote, tmp_path, installed, env)
    assert returncode == 0, err
    assert contents(remote.output) == contents(local.output)


def test_a_partition_the_cluster_gives_up_fails_the_rebuild_and_keeps_the_previous_site(tmp_path, installed):
    env = {**os.environ, "BROADSHEET_PARTITION_MAX_ARTICLES": "1"}
    project = Project(tmp_path / "archive")
    make_source(project.base, range(1, 9))
    ran = subprocess.run(project.command(), cwd=ROOT, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    before = contents(project.output)
    write_dump(project.source, 3, variant=" (updated)")
    no_retry = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    returncode, out, err = _rebuild_killing_a_worker(project, tmp_path, installed, env, no_retry)
    assert returncode != 0
    assert "the workers running it died" in err + out
    assert contents(project.output) == before
