"""broadsheet.engine: the local cluster, and a real Dask cluster started as a user starts one.

The cluster tests start `dask scheduler` and two `dask worker` processes, each worker in a
folder of its own and importing Broadsheet from a wheel installed outside the checkout, and run
`invoke ingest --scheduler` against them as an archivist would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

from broadsheet import engine
from broadsheet.corpus import generate_corpus, write_corpus
from broadsheet.ingest import ingest

TIMEZONE = "Asia/Tehran"
#: Enough dumps for a dozen batches on two workers: a worker can be stopped while it has work.
CORPUS_DUMPS = 3000
#: How long to wait for a state of the cluster before the test fails (a safety net, not a timing).
PATIENCE = 180


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _squares(x: int) -> int:
    # the first jobs are the slowest, so that batches finish out of order
    time.sleep(0.002 * max(0, 60 - x))
    return x * x


def _boom(x: int) -> int:
    if x == 7:
        raise ValueError("job 7 is bad")
    return x


def _worker_pid(_: int) -> int:
    return os.getpid()


# -- the engine on this machine ----------------------------------------------------------------

def test_a_local_cluster_gives_results_in_job_order_with_progress():
    progress: list[int] = []
    with engine.connect() as run:
        assert run.client is not None and run.shares_files
        results = list(run.map(_squares, iter(range(300)), 300, name="squares",
                               on_progress=lambda d, t: progress.append(d), batch_size=10))
        pids = set(run.map(_worker_pid, range(40), 40, batch_size=1))
    assert results == [x * x for x in range(300)]
    assert progress == sorted(progress) and progress[-1] == 300
    assert os.getpid() not in pids  # the work ran in the cluster's worker processes


def test_a_local_cluster_is_started_only_when_the_other_cores_save_more_than_its_cost(monkeypatch):
    monkeypatch.setattr(engine, "local_workers", lambda: 2)
    assert not engine.pays_for_a_local_cluster(9000, 0.00025)  # 1.125 s of work saved, 1.2 s to start
    assert engine.pays_for_a_local_cluster(10_000, 0.00025)
    monkeypatch.setattr(engine, "local_workers", lambda: 1)
    assert not engine.pays_for_a_local_cluster(10**9, 1.0)


def test_in_process_engine_runs_the_same_map_here():
    with engine.connect(in_process=True) as run:
        assert run.client is None
        assert list(run.map(_squares, range(70), 70)) == [x * x for x in range(70)]
        assert set(run.map(_worker_pid, range(3), 3)) == {os.getpid()}


def test_jobs_carry_their_files_bytes_only_to_a_cluster_that_does_not_share_this_machines_files(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"alpha")
    jobs = [(str(tmp_path / "a.txt"), "a.txt", None), (str(tmp_path / "gone.txt"), "gone.txt", None)]
    assert list(engine.carried(jobs, engine.Engine())) == jobs  # the workers read the files themselves
    (alpha, gone) = engine.carried(jobs, engine.Engine(shares_files=False))
    assert alpha == (str(tmp_path / "a.txt"), "a.txt", b"alpha")
    assert isinstance(gone[2], FileNotFoundError)  # for the worker to report, as it reports its own
    (upper, _) = engine.carried(jobs, engine.Engine(shares_files=False), lambda path: Path(path).read_text().upper())
    assert upper[2] == "ALPHA"


def test_a_table_job_carries_its_mapping_or_why_it_has_none(tmp_path):
    from broadsheet.ingest import _job, _parse_file
    from broadsheet.tables import Mapping, MappingError

    for name in ("outlets.csv", "orphan.csv"):
        (tmp_path / name).write_bytes(b"id,title\n")
    shutil.copy(ROOT / "mappings" / "fa-kes.yaml", tmp_path / "outlets.mapping.yaml")
    assert isinstance(_job(str(tmp_path / "outlets.csv"), "outlets.csv", TIMEZONE, None)[3], Mapping)
    orphan = _job(str(tmp_path / "orphan.csv"), "orphan.csv", TIMEZONE, None)
    assert isinstance(orphan[3], MappingError)
    (rejection,) = _parse_file(orphan)
    assert rejection.reason == "no-mapping" and "orphan.mapping.yaml" in rejection.detail


def test_a_failing_job_stops_the_map_with_its_own_error():
    with engine.connect() as run:
        with pytest.raises(ValueError, match="job 7 is bad"):
            list(run.map(_boom, range(50), 50, batch_size=5))


def test_a_scheduler_that_cannot_be_reached_is_named(monkeypatch):
    monkeypatch.setattr(engine, "_CONNECT_TIMEOUT", "1s")
    with pytest.raises(engine.EngineError, match=r"tcp://127\.0\.0\.1:9 .*dask scheduler"):
        with engine.connect("tcp://127.0.0.1:9"):
            pass


def test_a_scheduler_without_workers_is_named_rather_than_waited_on_for_ever(monkeypatch):
    from distributed import LocalCluster

    monkeypatch.setattr(engine, "_WORKERS_TIMEOUT", 1)
    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=None,
                      scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as empty:
        with pytest.raises(engine.EngineError, match="has had no workers for 1 s; start some with `dask worker"):
            with engine.connect(empty.scheduler_address):
                pass


def test_dask_scheduler_address_setting_is_read(monkeypatch):
    import dask

    with dask.config.set({"scheduler-address": "tcp://10.0.0.1:8786"}):
        assert engine.scheduler_address() == "tcp://10.0.0.1:8786"
        assert engine.scheduler_address("tcp://h:1") == "tcp://h:1"
    assert engine.scheduler_address() is None


def test_ingest_on_a_local_cluster_writes_what_ingest_in_process_writes(tmp_path, monkeypatch):
    here, there = tmp_path / "here", tmp_path / "cluster"
    ingest(ROOT / "raw", here, TIMEZONE)  # few files: in this process
    monkeypatch.setattr(engine, "_LOCAL_CLUSTER_COST", 0)  # a cluster whatever the input's size
    monkeypatch.setattr(engine, "local_workers", lambda: 2)
    ingest(ROOT / "raw", there, TIMEZONE)
    assert _files(there) == _files(here) and len(_files(here)) > 40


# -- a cluster started by hand -------------------------------------------------------------------

@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Broadsheet's wheel installed into a folder of its own: what the cluster's processes import."""
    base = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(base / "wheel")], check=True, capture_output=True)
    (wheel,) = (base / "wheel").glob("broadsheet-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(base / "site"),
                    str(wheel)], check=True, capture_output=True)
    return base / "site"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """Synthetic dumps (a few broken) and their local ingest, the reference."""
    base = tmp_path_factory.mktemp("corpus")
    write_corpus(generate_corpus(CORPUS_DUMPS, seed=13, malformed=0.02, timezone=TIMEZONE), base / "raw")
    ingest(base / "raw", base / "local", TIMEZONE)
    return {"raw": base / "raw", "local": base / "local"}


@dataclass
class Cluster:
    address: str
    client: object  # a distributed.Client the test watches the scheduler with
    workers: dict[str, subprocess.Popen]  # by worker name


def _wait_for(what: str, condition, *processes: subprocess.Popen):
    """Polls until `condition()` is true; fails naming `what` if a process dies or patience ends."""
    deadline = time.monotonic() + PATIENCE
    while True:
        value = condition()
        if value:
            return value
        dead = [p.args for p in processes if p.poll() is not None]
        assert not dead, f"waiting for {what}: {dead} exited"
        assert time.monotonic() < deadline, f"waiting for {what}: gave up after {PATIENCE} s"
        time.sleep(0.01)


@contextmanager
def started_cluster(base: Path, site: Path, scheduler_env: dict[str, str] | None = None):
    """`dask scheduler` and two `dask worker`s as separate processes on free ports, each worker
    in its own folder; yields once the scheduler counts both workers; always stops them."""
    from distributed import Client

    dask_cli = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    processes: list[subprocess.Popen] = []
    client = None
    try:
        (base / "scheduler").mkdir()
        info = base / "scheduler" / "scheduler.json"
        scheduler = subprocess.Popen(
            [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(info)],
            cwd=base / "scheduler", env={**env, **(scheduler_env or {})},
            stdout=subprocess.DEVNULL, stderr=open(base / "scheduler" / "log", "wb"))
        processes.append(scheduler)
        address = _wait_for("the scheduler's address", lambda: info.exists() and _address(info), scheduler)
        workers = {}
        for name in ("w1", "w2"):
            folder = base / name
            folder.mkdir()
            workers[name] = subprocess.Popen(
                [dask_cli, "worker", address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--local-directory", str(folder)],
                cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "log", "wb"))
            processes.append(workers[name])
        client = Client(address, set_as_default=False)
        _wait_for("two workers", lambda: len(client.scheduler_info(n_workers=-1)["workers"]) == 2, *processes)
        yield Cluster(address, client, workers)
    finally:
        if client is not None:
            client.close()
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        for p in processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _address(info: Path) -> str | None:
    try:
        return json.loads(info.read_text())["address"]
    except (OSError, ValueError, KeyError):
        return None


def _ingest_command(source: Path, content: Path, address: str, report: Path) -> list[str]:
    return [sys.executable, "-m", "invoke", "ingest", "--source", str(source), "--content", str(content),
            "--report", str(report), "--scheduler", address]


def test_ingest_through_a_scheduler_runs_on_its_workers_and_writes_what_a_local_ingest_writes(
        tmp_path, installed, corpus):
    with started_cluster(tmp_path, installed) as cluster:
        client = cluster.client
        workers = {w["name"]: addr for addr, w in client.scheduler_info(n_workers=-1)["workers"].items()}
        # the workers run Broadsheet from the installed wheel, not from the checkout
        for path in client.run(lambda: __import__("broadsheet").__file__).values():
            assert Path(path).is_relative_to(installed)
        client.get_task_stream()  # from now on the scheduler records which worker ran what
        started = time.time()
        ran = subprocess.run(_ingest_command(corpus["raw"], tmp_path / "content", cluster.address,
                                             tmp_path / "ingest.json"), cwd=ROOT, capture_output=True, text=True)
        stream = [t for t in client.get_task_stream(start=started) if t["key"].startswith("broadsheet-ingest-")]
    assert ran.returncode == 3, ran.stderr  # 3: some dumps were rejected, as they are locally
    assert _files(tmp_path / "content") == _files(corpus["local"])
    batches = {t["key"] for t in stream}
    assert len(batches) >= 8
    assert {t["worker"] for t in stream} == set(workers.values())


def test_a_worker_killed_during_ingest_loses_no_work(tmp_path, installed, corpus):
    """SIGKILL a worker that holds a batch: the scheduler gives the batch to the other worker,
    and the content folder is what a local ingest writes."""
    with started_cluster(tmp_path, installed) as cluster:
        running = subprocess.Popen(_ingest_command(corpus["raw"], tmp_path / "content", cluster.address,
                                                   tmp_path / "ingest.json"),
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        victim = _stop_a_worker_holding_a_batch(cluster, running)
        victim.kill()
        victim.wait()
        out, err = running.communicate(timeout=PATIENCE)
        assert len(cluster.client.scheduler_info(n_workers=-1)["workers"]) == 1
    assert running.returncode == 3, err
    assert _files(tmp_path / "content") == _files(corpus["local"])


def test_a_batch_the_cluster_gives_up_fails_the_ingest_clearly_and_changes_nothing(tmp_path, installed, corpus):
    """With no retry allowed, a worker killed while it holds a batch fails the run: a clear
    message, exit status 1, and the content folder as it was before."""
    content = tmp_path / "content"
    ingest(sorted(corpus["raw"].glob("*.txt"))[0], content, TIMEZONE)
    before = _files(content)
    no_retry = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    with started_cluster(tmp_path, installed, scheduler_env=no_retry) as cluster:
        running = subprocess.Popen(_ingest_command(corpus["raw"], content, cluster.address, tmp_path / "ingest.json"),
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        victim = _stop_a_worker_holding_a_batch(cluster, running)
        victim.kill()
        victim.wait()
        out, err = running.communicate(timeout=PATIENCE)
    assert running.returncode == 1, err
    assert "ingest: batch" in err and "the workers running it died" in err and "nothing was written" in err
    assert _files(content) == before


def _stop_a_worker_holding_a_batch(cluster: Cluster, running: subprocess.Popen,
                                   prefix: str = "broadsheet-ingest-") -> subprocess.Popen:
    """Freezes (SIGSTOP) the first worker seen running a task whose key starts with `prefix`
    (an ingest batch), then waits until the scheduler counts such a task as running on it: the
    frozen worker cannot finish it."""
    client = cluster.client
    names = {addr: w["name"] for addr, w in client.scheduler_info(n_workers=-1)["workers"].items()}

    def holder() -> str | None:
        return next((addr for addr, keys in client.processing().items()
                     if any(str(k).startswith(prefix) for k in keys)), None)

    address = _wait_for(f"a worker running a {prefix}* task", holder, running)
    victim = cluster.workers[names[address]]
    victim.send_signal(signal.SIGSTOP)
    _wait_for(f"the stopped worker to hold a {prefix}* task",
              lambda: any(str(k).startswith(prefix) for k in client.processing().get(address, ())),
              running)
    return victim
