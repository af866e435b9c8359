"""What a build remembers between runs: one stamp of a file, one store of kept values.

A **stamp** stands for a file's bytes without reading them: its size, modification time,
inode, device and permissions. Ingest writes a changed file anew (a temporary file renamed
over it), so a changed file never keeps its inode, even when its size and time happen to
match; the permissions are there because a file that cannot be read is a different input.
A value computed from a file stays good while the file's stamp does.

The **store** is one SQLite file per cache folder (`STORE_FILE`), rows of (namespace, key,
pickled value): a namespace per stage ("archive_pages-displays", "articles" of a partition,
"digests.pickle" of the bag...). A save writes only the rows that changed, in one
transaction, so a killed run leaves the old rows or the new ones. Stores in different folders
never share a lock; writers of one folder (a partition's worker and the driver, the two link
checks of a rebuild) wait for each other through SQLite's lock (`BUSY_SECONDS`). A store
that cannot be read only means the work is done again.

An **inputs key** (`inputs_key`) says what an output depends on: a digest of the inputs a
stage names explicitly, plain values only (an object that is not one is refused, so nothing
can slip into a key through its `repr`).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import pickle
import sqlite3
import time
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import Any, Iterable, Iterator

#: The store's file in each cache folder.
STORE_FILE = "cache.sqlite"
#: How long a writer waits for another process writing the same store before giving up.
BUSY_SECONDS = 600

Stamp = tuple[int, int, int, int, int]


def stamp_of(st: os.stat_result) -> Stamp:
    """The stamp of a file from its `os.stat` result (see the module's docstring)."""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_mode)


def stamp(path: str | Path) -> Stamp | None:
    """The stamp of the file (or folder) at `path`; None when it cannot be looked at."""
    try:
        return stamp_of(os.stat(path))
    except OSError:
        return None


#: A stamp stands for a file's bytes only when the file last changed clearly before it was
#: looked at: a change in the same clock tick would keep its mtime. File systems with
#: whole-second times (FAT, ext3) need the larger margin.
_TICK_NS = 50_000_000
_COARSE_TICK_NS = 2_000_000_000


def looked_at(path: str | Path) -> list[int] | None:
    """The stamp of `path` and when it was taken (for a store kept as JSON: a list), to be
    compared with `unchanged`."""
    seen = time.time_ns()
    found = stamp(path)
    return None if found is None else [*found, seen]


def unchanged(old: list[int] | None, new: list[int] | None) -> bool:
    """True when `new` (`looked_at`) shows the file as `old` saw it, and `old` can be trusted
    for that (the file had not changed in the clock tick `old` was taken in)."""
    if not old or not new or len(old) != len(new) or old[:-1] != new[:-1]:
        return False
    mtime, seen = old[1], old[-1]
    tick = _COARSE_TICK_NS if mtime % 1_000_000_000 == 0 else _TICK_NS
    return mtime < seen - tick


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off while many objects that hold no cycles are made (a
    store's values unpickled, a query's postings): the collections their allocations set
    off, each walking every object of a process that holds a whole corpus, took about as
    long as making them. They are freed as usual afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def inputs_key(*inputs: Any) -> str:
    """A digest of `inputs`: None, booleans, numbers, strings, bytes, paths, dates and times
    (with their zone's name: two zones with one offset can print differently), and tuples,
    lists and dicts of those. Anything else is a TypeError: name its inputs instead."""
    text = json.dumps(_plain(inputs), ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return [type(value).__name__, repr(value)]
    if isinstance(value, bytes):
        return ["bytes", value.hex()]
    if isinstance(value, PurePath):
        return ["path", str(value)]
    if isinstance(value, datetime):
        return ["datetime", value.isoformat(), str(value.tzinfo)]
    if isinstance(value, date):
        return ["date", value.isoformat()]
    if isinstance(value, (tuple, list)):
        return [type(value).__name__, [_plain(v) for v in value]]
    if isinstance(value, dict):
        return ["dict", sorted([_plain(k), _plain(v)] for k, v in value.items())]
    raise TypeError(f"{type(value).__qualname__} is not a plain input of a cache key; name the values it stands for")


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The keys of rows new, changed or gone between `old` and `new` (for `Store.save`)."""
    return [k for k, v in new.items() if old.get(k, _ABSENT) != v] + [k for k in old if k not in new]


_ABSENT = object()
_UNREADABLE = (OSError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError,
               pickle.UnpicklingError, sqlite3.Error)


_TABLE = ("CREATE TABLE IF NOT EXISTS kept (namespace TEXT, key TEXT, value BLOB, PRIMARY KEY (namespace, key))"
          " WITHOUT ROWID")


class Store:
    """The store of one cache folder (see the module's docstring)."""

    def __init__(self, folder: str | Path, name: str = STORE_FILE):
        self.path = Path(folder) / name

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if not create and not self.path.is_file():
            return None
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
        if create:
            try:
                db.execute(_TABLE)
            except sqlite3.DatabaseError:  # not an SQLite file (a damaged cache): start it afresh
                db.close()
                self.path.unlink(missing_ok=True)
                db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
                db.execute(_TABLE)
        return db

    def load(self, namespace: str) -> dict[str, Any]:
        """Every row of `namespace` ({} when there is nothing readable)."""
        try:
            db = self._connect(create=False)
            if db is None:
                return {}
            with contextlib.closing(db), collection_paused():
                rows = db.execute("SELECT key, value FROM kept WHERE namespace = ?", (namespace,)).fetchall()
                return {key: pickle.loads(value) for key, value in rows}
        except _UNREADABLE:
            return {}

    def get(self, namespace: str, key: str = "", default: Any = None) -> Any:
        """One row's value, `default` when there is none readable."""
        try:
            db = self._connect(create=False)
            if db is None:
                return default
            with contextlib.closing(db), collection_paused():
                row = db.execute("SELECT value FROM kept WHERE namespace = ? AND key = ?",
                                 (namespace, key)).fetchone()
                return default if row is None else pickle.loads(row[0])
        except _UNREADABLE:
            return default

    def save(self, namespace: str, values: dict[str, Any], changed: Iterable[str] | None = None) -> int:
        """Write the rows of `changed` keys (new, changed or gone: a key of `changed` not in
        `values` is deleted) in one transaction; `changed` None: `namespace` becomes `values`.
        Returns how many keys were written or deleted."""
        return self.save_all({namespace: (values, changed)})

    def save_all(self, changes: dict[str, tuple[dict[str, Any], Iterable[str] | None]]) -> int:
        """`save` of several namespaces ({namespace: (values, changed)}) in one transaction."""
        deletes, rows, wholes = [], [], []
        for namespace, (values, changed) in changes.items():
            keys = list(values) if changed is None else list(dict.fromkeys(changed))
            if changed is None:
                wholes.append((namespace,))
            deletes += [(namespace, k) for k in keys if k not in values]
            rows += [(namespace, k, pickle.dumps(values[k], protocol=pickle.HIGHEST_PROTOCOL))
                     for k in keys if k in values]
        if not (deletes or rows or wholes):
            return 0
        db = self._connect(create=True)
        with contextlib.closing(db):
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("DELETE FROM kept WHERE namespace = ?", wholes)
                db.executemany("DELETE FROM kept WHERE namespace = ? AND key = ?", deletes)
                db.executemany("INSERT OR REPLACE INTO kept VALUES (?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return len(deletes) + len(rows)

    def put(self, namespace: str, value: Any, key: str = "") -> None:
        """One value, alone in its namespace's row `key`."""
        self.save(namespace, {key: value}, [key])

    def clear(self, namespace: str) -> None:
        """Forget every row of `namespace`."""
        if self.path.is_file():
            self.save(namespace, {})
