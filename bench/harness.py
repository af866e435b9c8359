"""How the bench runs a step: in a fresh Python process, timed, its memory sampled.

Each step runs as `python -m bench child STEP ARGS.json RESULT.json` (`bench/__main__.py`), so
that nothing warm survives from one step to the next and each step's peak memory is its own:
`os.wait4` returns the child's rusage, and `TreeMemory` samples the child and every process
under it (Dask's nannies and workers, which the step never waits for).

A step's result is a dict with a `status`: "ok" with its figures, "failed" with the error,
"not available" when a tool that a machine may lack (Chromium, Node, Pagefind, the FA-KES
table) is missing, "skipped" when the run was told to leave it out or what it measures was not
made. No figure is ever made up.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

PROJECT = Path(__file__).resolve().parent.parent
PLUGINS_DIR = PROJECT / "plugins"
DEFAULT_SEED = 7
DEFAULT_WORK = PROJECT / "bench" / "work"
#: The command line of a step's process, after the interpreter (see `bench/__main__.py`).
CHILD_COMMAND = ["-m", "bench", "child"]

#: A step that takes longer than this is killed (with its process group) and reported failed.
STEP_TIMEOUT = 45 * 60
#: The same for the rebuilds of `--scale` (past its 15-minute target a rebuild still runs to
#: its end, so that how far it misses is measured, not guessed).
SCALE_STEP_TIMEOUT = 120 * 60


# -- step results ---------------------------------------------------------------------------

def not_available(reason: str) -> dict[str, Any]:
    """A tool this machine may lack (Chromium, Node, Pagefind, the FA-KES table): never a piece
    of Broadsheet, whose absence is a failure."""
    return {"status": "not available", "reason": f"not available on this machine ({reason})"}


def skipped(reason: str) -> dict[str, Any]:
    """Left out: the run was told to, or what the step measures was not made (a failed build)."""
    return {"status": "skipped", "reason": f"skipped ({reason})"}


def failed(reason: str) -> dict[str, Any]:
    return {"status": "failed", "reason": reason}


def ok(step: dict[str, Any] | None) -> bool:
    return bool(step) and step.get("status") == "ok"


def run_step(name: str, args: dict[str, Any], work: Path, label: str | None = None,
             timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
    """Run step `name` (`bench/__main__.py`) in a fresh Python process; its result plus wall
    time and peak RSS. `label` names its files in `work` (default: the step's name)."""
    work.mkdir(parents=True, exist_ok=True)
    label = label or name
    args_path, result_path, log_path = (work / f"{label}.{ext}" for ext in ("args.json", "result.json", "log"))
    args_path.write_text(json.dumps(args, default=str), encoding="utf-8")
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, *CHILD_COMMAND, name, str(args_path), str(result_path)]
    return run_process(cmd, log_path, timeout, result_path)


def run_process(cmd: list[str], log_path: Path, timeout: float = STEP_TIMEOUT,
                result_path: Path | None = None) -> dict[str, Any]:
    """Run `cmd` and wait for it with `os.wait4`, which gives its own peak RSS. The working
    directory is the log's folder (inside the run), so that whatever a plugin writes relative
    to the working directory (the graph report's default, reports/graph.json) stays in the run."""
    env = child_env()
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=log_path.parent, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        sampler = TreeMemory(proc.pid)
        timed_out = threading.Event()

        def kill_group():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the child's own session: it and its children only
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill_group)
        timer.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
    # ru_maxrss covers the step's process and the children it waited for; Dask's worker
    # processes are not among those, so the sampled tree may show a larger single process.
    measured = {"process_seconds": round(wall, 3),
                "peak_rss_mib": round(max(rusage.ru_maxrss / 1024, sampler.largest_mib), 1),
                "tree_peak_rss_mib": round(max(sampler.total_mib, rusage.ru_maxrss / 1024), 1),
                "largest_process": sampler.largest_name,
                "processes_seen": sampler.processes_seen}
    if timed_out.is_set():
        return {**failed(f"killed after {timeout:.0f} s; log {log_path}"), **measured}
    if result_path is not None and result_path.exists():
        return {**json.loads(result_path.read_text(encoding="utf-8")), **measured}
    if proc.returncode != 0 or result_path is not None:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-6:]
        return {**failed(f"exit {proc.returncode}: " + " | ".join(tail) + f" (log {log_path})"), **measured}
    return {"status": "ok", **measured}


def child_env() -> dict[str, str]:
    """The environment of a step's process: the project on the path (broadsheet, bench), and
    plugins/, so that the search steps import the search plugin's modules by the names Pelican
    loads them under (search_index.query) from PLUGIN_PATHS."""
    paths = [str(PROJECT), str(PLUGINS_DIR), os.environ.get("PYTHONPATH")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}


class TreeMemory:
    """Samples the resident memory of a process and all its descendants (Dask's nanny and worker
    processes included) every `interval` seconds, in a thread, until `stop`: the peak of the
    largest single process and the peak of their sum. RSS counts pages shared between processes
    (the interpreter, imported libraries) once per process, so the sum is an upper bound."""

    def __init__(self, pid: int, interval: float = 0.25):
        import psutil

        self._psutil, self._root, self._interval = psutil, psutil.Process(pid), interval
        self.largest_mib = self.total_mib = 0.0
        self.largest_name = ""
        self._seen: set[int] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def processes_seen(self) -> int:
        return len(self._seen)

    def _run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self._interval)

    def sample(self) -> None:
        psutil = self._psutil
        try:
            tree = [self._root, *self._root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return
        total = 0.0
        for proc in tree:
            try:
                mib = proc.memory_info().rss / 1048576
                if mib > self.largest_mib:
                    self.largest_mib, self.largest_name = mib, _process_name(proc, proc.pid == self._root.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            self._seen.add(proc.pid)
            total += mib
        self.total_mib = max(self.total_mib, total)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _process_name(proc, root: bool) -> str:
    """What a process is, in a few words: the step itself, a fork of it (as the search plugin's
    background indexing is), a Dask worker or nanny, or its command."""
    try:
        cmd = proc.cmdline()
    except Exception:
        return "?"
    line = " ".join(cmd)
    try:
        what = proc.environ().get("BROADSHEET_BACKGROUND")
    except Exception:
        what = None
    if what and "spawn_main" in line:  # broadsheet.background's fresh process
        return f"background process ({what})"
    if " ".join(CHILD_COMMAND) in line:
        return "step process (driver)" if root else "fork of the step process (background work)"
    if "multiprocessing" in line or "spawn_main" in line or "forkserver" in line:
        return "Dask worker/nanny (spawned)"
    return " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd[:3]))[:60]


# -- in the step's process ------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """`fn()` and the wall-clock seconds it took."""
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def child_main(steps: dict[str, Callable[..., dict[str, Any]]], argv: list[str]) -> int:
    """Run step `argv[0]` of `steps` with the arguments in file `argv[1]`; its result goes to file
    `argv[2]`. A step that raises is reported failed, its traceback in the step's log."""
    name, args_path, result_path = argv
    args = json.loads(Path(args_path).read_text(encoding="utf-8"))
    try:
        result = steps[name](**args)
    except Exception as exc:  # reported as the step's failure, with the traceback in its log
        import traceback

        traceback.print_exc()
        result = failed(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    Path(result_path).write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return 0


# -- the run ---------------------------------------------------------------------------------

def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram, "python": platform.python_version(),
            "platform": platform.platform(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "load_average": [round(x, 2) for x in os.getloadavg()], "git_commit": commit}


def fresh(path: Path) -> Path:
    """`path` as an empty folder."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
