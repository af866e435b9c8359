"""One call run in a forked second process (the machine's second core) while this one goes on:
the rebuild's link check, the search plugin's indexing. A failure there reaches the caller as
BackgroundFailed naming the error and where it happened, never as a silent exit status."""

from __future__ import annotations

import functools
import gc
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

PROJECT = Path(__file__).resolve().parent.parent
#: In the environment of a background process: what it does.
WHAT_VARIABLE = "BROADSHEET_BACKGROUND"


class BackgroundFailed(RuntimeError):
    """The call raised in its process, or the process stopped without a result.
    `traceback` holds the whole traceback from the other process when there is one."""

    def __init__(self, message: str, traceback_text: str = ""):
        super().__init__(message)
        self.traceback = traceback_text


class Background:
    """`fn(*args, **kwargs)` in a forked process, or later in this one where there is no fork or
    no second core; `result()` returns its value either way. In the other process, an exception
    becomes BackgroundFailed("<what> failed: <the traceback's last line> (<file>:<line> in
    <function>)"). The process makes the one call, sends the outcome and exits, so a caller
    killed meanwhile leaves no process behind for long (filelock closes the rebuild lock's
    descriptor in forked children, so it never holds the lock)."""

    def __init__(self, fn: Callable[..., Any], *args: Any, what: str = "a background process",
                 fresh: list[str] | None = None, **kwargs: Any):
        """`fresh`: start a new interpreter (spawn) rather than a fork, with these folders put
        first on its path (where `fn`'s module is found): a fork of a large process counts all
        its pages as its own (RSS), a fresh one only what the call uses."""
        self.call = functools.partial(fn, *args, **kwargs)
        self.what = what
        self.process: multiprocessing.process.BaseProcess | None = None
        method = "spawn" if fresh is not None else "fork"
        if (os.cpu_count() or 1) > 1 and method in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context(method)
            self.reader, writer = context.Pipe(duplex=False)
            target, first = (_call_and_send, self.call) if fresh is None else (_load_call_and_send, (fresh, pickle.dumps(self.call)))
            self.process = context.Process(target=target, args=(first, writer), daemon=True,
                                           name="broadsheet-background")
            # What a fresh process does, for whoever lists the processes (`invoke bench`).
            saved = os.environ.get(WHAT_VARIABLE)
            os.environ[WHAT_VARIABLE] = what
            try:
                self.process.start()
            finally:
                if saved is None:
                    del os.environ[WHAT_VARIABLE]
                else:
                    os.environ[WHAT_VARIABLE] = saved
            writer.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def result(self) -> Any:
        if self.process is None:
            return self.call()
        try:
            done, value = self.reader.recv()
        except (EOFError, OSError):
            self.process.join()
            raise BackgroundFailed(f"{self.what} stopped without a result ({ending(self.process.exitcode)})") \
                from None
        finally:
            self.reader.close()
        self.process.join()
        self.process = None
        if not done:
            last_line, where, text = value
            raise BackgroundFailed(f"{self.what} failed: {last_line}" + (f" ({where})" if where else ""), text)
        return value

    def cancel(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.join()
            self.reader.close()
            self.process = None


def ending(exitcode: int | None) -> str:
    """How a process ended, for people."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (the system may have run out of memory)" if -exitcode == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit status {exitcode}"


def describe(exc: BaseException) -> tuple[str, str, str]:
    """(the traceback's last line, `file:line in function` of the innermost frame, the whole
    traceback): plain strings, which cross a pipe whatever the exception holds."""
    last_line = traceback.format_exception_only(type(exc), exc)[-1].strip()
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        path = Path(frames[-1].filename)
        shown = path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path
        where = f"{shown}:{frames[-1].lineno} in {frames[-1].name}"
    return last_line, where, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _load_call_and_send(fresh: tuple[list[str], bytes], writer) -> None:
    """In a fresh interpreter: the call, unpickled once its module's folders are on the path."""
    paths, payload = fresh
    sys.path[:0] = [p for p in paths if p not in sys.path]
    try:
        call = pickle.loads(payload)
    except BaseException as exc:  # noqa: BLE001 -- described to the parent, which raises it
        writer.send((False, describe(exc)))
        os._exit(0)
    _call_and_send(call, writer)


def _call_and_send(call: Callable[[], Any], writer) -> None:
    # What the parent held when it forked is never collected here: walking it, the collector
    # would copy every memory page the two processes share.
    gc.freeze()
    try:
        outcome: tuple[bool, Any] = (True, call())
    except BaseException as exc:  # noqa: BLE001 -- described to the parent, which raises it
        outcome = (False, describe(exc))
    try:
        try:
            writer.send(outcome)
        except Exception as exc:  # noqa: BLE001 -- a result that cannot be pickled
            writer.send((False, describe(exc)))
    except OSError:  # the parent is gone
        pass
    finally:
        os._exit(0)
