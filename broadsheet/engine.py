"""Where Broadsheet's parallel work runs: a Dask cluster, and the one way work is mapped onto it.

`connect()` gives an `Engine`: on the cluster whose scheduler is named (`--scheduler
tcp://HOST:8786`, or DASK_SCHEDULER_ADDRESS, which Dask reads as its `scheduler-address`
setting); else on a local cluster of this machine's cores, started for the run and stopped
after it (nothing to set up); or, for work too small to pay for starting one, in this process.
`Engine.map` runs a function over jobs in batches and gives the results in job order,
whichever task finishes first, so that what is made from them does not depend on timing.

Workers import Broadsheet's code by name: on a cluster of other machines, install it there
(`pip install` of the checkout or of its wheel, see pyproject.toml and the README).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import uuid
from collections import deque
from contextlib import contextmanager
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

#: Batches a worker thread is given at a time, at most: enough that none waits for the next, few
#: enough that results held for ordering stay bounded (the caller's memory is what they cost).
_BATCHES_IN_FLIGHT_PER_THREAD = 3
#: Batches per worker thread for a whole map: a slow batch then holds up little of the rest.
_BATCHES_PER_THREAD = 4
#: A batch holds at most this many jobs, so a large map still gives early results and progress.
_BATCH_MAX = 256
#: Seconds a local cluster costs a run, measured on the bench machine (2 cores): importing Dask
#: (0.35 s), starting a worker per core (0.4 s), and the scheduler's upkeep and the receiving of
#: results in this process, which also places what the workers send (0.4 s for 10,000 dumps).
_LOCAL_CLUSTER_COST = 1.2
#: How long to wait for a named scheduler before saying it cannot be reached.
_CONNECT_TIMEOUT = "10s"
#: Seconds to wait for a named scheduler's first worker: work sent to a cluster without workers
#: would wait for one for ever.
_WORKERS_TIMEOUT = 120


class EngineError(RuntimeError):
    """The cluster could not be reached, or a batch could not be run on it."""


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to use: `scheduler` if given, else Dask's `scheduler-address` setting
    (DASK_SCHEDULER_ADDRESS, or a Dask configuration file); None for a local cluster."""
    if scheduler:
        return scheduler
    import dask

    return dask.config.get("scheduler-address", None) or None


class Engine:
    """What `connect` gives: a Dask client, or None to run in this process.

    A local cluster starts in the background (`starting`): until it is up, `map` does the jobs
    in this process, so that the second or so it takes to start is not time lost. `client`
    waits for it."""

    def __init__(self, client: Any = None, shares_files: bool = True, starting: Future | None = None):
        self._client = client
        #: Whether the workers read this machine's files (a local cluster, or this process): jobs
        #: may then name files; on another cluster they carry what they read (`carried`).
        self.shares_files = shares_files
        self._starting = starting

    @property
    def client(self) -> Any:
        self.wait_until_started()
        return self._client

    def wait_until_started(self) -> None:
        """Wait for a local cluster starting in the background: `map` then sends every job to it."""
        if self._starting is not None:
            self._client = self._starting.result()
            self._starting = None

    def _in_this_process(self) -> bool:
        """Whether jobs are done here: always without a cluster, and while a local one starts."""
        if self._starting is not None:
            return not self._starting.done()
        return self._client is None

    @property
    def threads(self) -> int:
        """Worker threads (1 in this process)."""
        if self.client is None:
            return 1
        return max(1, sum(self.client.nthreads().values()))

    def map(self, func: Callable[[Any], Any], jobs: Iterable[Any], total: int, *, name: str = "map",
            on_progress: Callable[[int, int], None] | None = None, batch_size: int | None = None,
            ) -> Iterator[Any]:
        """`func(job)` for each of `total` jobs, yielded in job order as soon as it and every
        job before it are done. `jobs` is read lazily, as batches are sent: a job may carry
        bytes read for it without all of them being held at once. `on_progress(done, total)`
        follows the jobs as they finish. Task keys start with `broadsheet-<name>-`."""
        jobs = iter(jobs)
        done = 0
        while self._in_this_process():
            job = next(jobs, _END)
            if job is _END:
                return
            result = func(job)
            done += 1
            if on_progress:
                on_progress(done, total)
            yield result
        progress = (lambda d, t: on_progress(done + d, t + done)) if on_progress else None
        size = batch_size or batch_size_for(total - done, self.threads)
        yield from _map_on_cluster(self.client, func, _batches(jobs, size), total - done, name, progress,
                                   in_flight=max(2, _BATCHES_IN_FLIGHT_PER_THREAD * self.threads))


_END = object()


def carried(jobs: Iterable[tuple], run: Engine, read: Callable[[str], Any] | None = None,
            errors: tuple[type[Exception], ...] = (OSError,)) -> Iterator[tuple]:
    """The jobs as `run`'s workers can do them. A job is a tuple whose first item is a file's path
    and whose last is None, meaning "the worker reads the file". On a cluster that does not share
    this machine's files, that last item is the file's content instead, `read(path)` (default: its
    bytes), read here as the job is sent, so that not all of them are held at once; or the
    exception of `errors` that `read` raised, for the worker to report as it reports its own."""
    if run.shares_files:
        yield from jobs
        return
    read = read or _read_bytes
    for job in jobs:
        try:
            content = read(job[0])
        except errors as exc:
            content = exc
        yield (*job[:-1], content)


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def batch_size_for(total: int, threads: int) -> int:
    """Jobs per task: a few batches per worker thread, so that the per-task cost (a scheduler
    round trip, a few milliseconds) is small beside the work, and no batch is huge."""
    return max(1, min(_BATCH_MAX, math.ceil(total / (threads * _BATCHES_PER_THREAD))))


@dataclass
class Batch:
    """Jobs sent as one task. A list given to Dask as a task's argument would be searched,
    item by item and within each item, for Dask futures to wait on; this object is not."""

    jobs: list[Any]


def _batches(jobs: Iterable[Any], size: int) -> Iterator[Batch]:
    batch: list[Any] = []
    for job in jobs:
        batch.append(job)
        if len(batch) == size:
            yield Batch(batch)
            batch = []
    if batch:
        yield Batch(batch)


def run_batch(func: Callable[[Any], Any], batch: Batch) -> list[Any]:
    """One task: `func` over a batch of jobs, on a worker."""
    return [func(job) for job in batch.jobs]


def _map_on_cluster(client, func, batches: Iterator[Batch], total: int, name: str,
                    on_progress: Callable[[int, int], None] | None, in_flight: int) -> Iterator[Any]:
    from distributed import wait

    prefix = f"broadsheet-{name}-{uuid.uuid4().hex[:8]}"
    pending: deque = deque()  # futures in batch order: results are given in this order
    sizes: dict[str, int] = {}
    counted: set[str] = set()
    done = 0

    def count(future) -> None:
        nonlocal done
        if future.key in counted:
            return
        if future.status != "finished":
            _result(future, prefix)  # raises: a failed batch stops the map at once
        counted.add(future.key)
        done += sizes[future.key]
        if on_progress:
            on_progress(done, total)

    def send() -> bool:
        batch = next(batches, None)
        if batch is None:
            return False
        future = client.submit(run_batch, func, batch, key=f"{prefix}-{len(sizes)}", pure=False)
        sizes[future.key] = len(batch.jobs)
        pending.append(future)
        return True

    try:
        while len(pending) < in_flight and send():
            pass
        while pending:
            if not pending[0].done():
                with client.as_current():
                    wait([f for f in pending if not f.done()], return_when="FIRST_COMPLETED")
            # progress follows batches as they finish, results are given in batch order
            for future in pending:
                if future.done():
                    count(future)
            while pending and pending[0].done():
                future = pending.popleft()
                count(future)
                results = _result(future, prefix)
                future.release()
                send()
                yield from results
    finally:
        for future in pending:
            future.cancel()


def _result(future, prefix: str) -> list[Any]:
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker as exc:
        raise EngineError(f"batch {future.key.removeprefix(prefix + '-')} of {prefix} was given up: the workers "
                          f"running it died ({exc}); nothing was written. Look at the workers' logs "
                          "(memory limit, killed by the system).") from exc


@contextmanager
def connect(scheduler: str | None = None, *, in_process: bool = False) -> Iterator[Engine]:
    """The engine to map work on, closed on leaving: the cluster at `scheduler` (see
    `scheduler_address`) when one is named; else, unless `in_process`, a local cluster of this
    machine's cores; else this process. Raises EngineError when a named scheduler cannot be reached."""
    address = scheduler_address(scheduler)
    if address is None and in_process:
        yield Engine()
        return
    with _quiet_dask():
        with _connected(address) as run:
            yield run


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask logs every worker and connection it opens or closes; the person running a build
    wants to see its progress, and Dask's warnings and errors only."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _connected(address: str | None) -> Iterator[Engine]:
    if address is not None:
        from distributed import Client

        try:
            client = Client(address, timeout=_CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise EngineError(f"cannot reach the Dask scheduler at {address} ({exc}); start one with "
                              "`dask scheduler` and workers with `dask worker ADDRESS` (see the README), "
                              "or leave out --scheduler and DASK_SCHEDULER_ADDRESS to use this machine's "
                              "cores") from exc
        try:
            try:
                client.wait_for_workers(1, timeout=_WORKERS_TIMEOUT)
            except TimeoutError:
                raise EngineError(f"the Dask scheduler at {address} has had no workers for {_WORKERS_TIMEOUT} s; "
                                  f"start some with `dask worker {address}` (see the README)") from None
            yield Engine(client, shares_files=False)
        finally:
            client.close()
        return

    def start():
        from distributed import Client

        cluster = _local_cluster()
        return cluster, Client(cluster, set_as_default=False)

    with ThreadPoolExecutor(max_workers=1) as starter:
        starting = starter.submit(start)
        try:
            yield Engine(shares_files=True, starting=_client_of(starting))
        finally:
            cluster, client = starting.result()
            client.close()
            cluster.close()


def _client_of(starting: Future) -> Future:
    """A future of the client alone, from the future of (cluster, client)."""
    client: Future = Future()
    starting.add_done_callback(lambda f: client.set_exception(f.exception()) if f.exception()
                               else client.set_result(f.result()[1]))
    return client


def pays_for_a_local_cluster(jobs: int, seconds_per_job: float) -> bool:
    """Whether a local cluster saves more than it costs to start: the other cores take their
    share of `jobs` jobs of `seconds_per_job` (on one core) off this process. Never with one core."""
    workers = local_workers()
    return workers > 1 and jobs * seconds_per_job * (1 - 1 / workers) > _LOCAL_CLUSTER_COST


def in_a_worker() -> bool:
    """Whether this runs in a task on a worker (of a Dask cluster, or a process pool): there the
    cores are the cluster's already, and work is done in the process rather than sent on."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        return True
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


def local_workers() -> int:
    """Worker processes of a local cluster: one per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _local_cluster():
    """Worker processes on this machine, one thread each (the work holds the GIL), listening on
    the loopback interface only, without a dashboard, with only errors logged.

    Workers are forked from a fork server rather than spawned: a spawned worker starts a fresh
    interpreter and imports Dask again, which costs about half a second more per cluster; the
    fork server is started once per process and has Dask imported already. The scheduler's
    HTTP endpoint takes a free port, so two builds at once do not contend for Dask's 8787."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        return LocalCluster(n_workers=local_workers(), threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address=None,
                            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                            silence_logs=logging.ERROR)
