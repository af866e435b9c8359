"""Reusing the previous build's files whose inputs did not change, so an incremental rebuild
renders only what a change touches.

Each output file reused this way is recorded with a key: a digest of everything that shapes it
(for an article page: the article's text, metadata and every value the plugins computed for it;
the build's settings, theme, plugins and code are covered by the rebuild's cache key, which
starts a fresh record when they change). When the previous build recorded the same key for the
same file and that file is still in the previous version, the file is hard-linked from there
instead of being rendered again: same bytes, same modification time. A key that cannot be
computed (a value with no stable form) means the file is rendered, never that it goes stale.

`invoke rebuild` turns this on with the REUSE_PREVIOUS setting; plain builds render everything.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable

from broadsheet.cache import Store, stamp
from broadsheet.files import atomic_write

#: The setting `invoke rebuild` passes: {"previous": folder, "record": previous record, "save": new record}.
SETTING = "REUSE_PREVIOUS"
#: Attributes of a Pelican content object that are not its own inputs (the whole settings and
#: context: covered by the cache key, and far too large to digest for every page), and
#: `record_of`'s copy of the content file, which the page's own `_content` and `metadata` come
#: from too (and which archive_pages' `display.record` repeats): digesting it twice took a
#: third of the time of the keys.
_SKIP_ATTRS = {"settings", "_context", "_broadsheet_record"}


def _is_content(value: Any) -> bool:
    return hasattr(value, "source_path") and hasattr(value, "url") and hasattr(value, "metadata")


#: Set on each Pelican content object as it is made (see `mark_read`).
READ_ATTRS = "_broadsheet_read"


def mark_read(content) -> None:
    """content_object_init: remember which attributes the object had when Pelican made it.
    Those come from its source file and the settings alone, so its key stands for them by the
    file's stamp (broadsheet.cache.stamp; see `key_of`) instead of digesting them (the text twice: the record and the
    rendered HTML) at every rebuild."""
    names = frozenset(vars(content))
    # Objects of one kind have the same names: one set for them all (10,000 copies weighed 12 MiB).
    setattr(content, READ_ATTRS, _READ_NAMES.setdefault(names, names))


_READ_NAMES: dict[frozenset, frozenset] = {}


def _stands_for(page: Any) -> Any:
    """What stands for a Pelican page in a key: its source file's path and stamp for what was
    read from it (see `mark_read`), the values of everything attached since (by Pelican's
    generators and the plugins). Without a mark or a stamp, all its attributes' values."""
    read = getattr(page, READ_ATTRS, None)
    found = stamp(page.source_path) if read else None
    attached = sorted((k, v) for k, v in vars(page).items()
                      if k not in _SKIP_ATTRS and k != READ_ATTRS and not callable(v)
                      and (found is None or k not in read))
    return tuple(attached) if found is None else (page.source_path, found, tuple(attached))


def key_of(*parts: Any) -> str | None:
    """A digest of `parts` through their `repr`, or None when one of them has no stable form.

    A Pelican page among `parts` stands for itself as `_stands_for` says (not the settings,
    which the cache key covers). Values inside show as their `repr`: builtins, dates,
    dataclasses and Pelican's tags are exact; an object that would show its memory address
    (another Pelican page kept inside a value, say) makes the key None, so its file is
    rendered rather than trusted. Two equal inputs that print differently (dicts filled in
    another order) only cost a render; different inputs never print the same. A plugin that
    changes an attribute Pelican read, after the fact and from other articles, would escape
    the key: the plugins here only add attributes."""
    plain = [_stands_for(p) if _is_content(p) else p for p in parts]
    try:
        text = repr(plain)
    except Exception:  # noqa: BLE001 -- a repr that fails is a value with no stable form
        return None
    if " at 0x" in text:
        return None
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class Reuse:
    """The previous build's record and folder, and this build's record."""

    def __init__(self, output: Path, previous: Path | None = None, record: Path | None = None,
                 save: Path | None = None):
        self.output = Path(output)
        self.previous = Path(previous) if previous else None
        self.save_to = Path(save) if save else None
        self.old: dict[str, str] = {}
        if record and self.previous:
            try:
                self.old = json.loads(Path(record).read_text(encoding="utf-8"))["files"]
            except (OSError, ValueError, KeyError, TypeError):
                self.old = {}
        self.new: dict[str, str] = {}
        self.reused = 0
        self.rendered = 0
        self._folders: set[Path] = set()
        self.hand_to: dict[str, Any] | None = None  # settings to leave the record in, not a file
        self.unkeyed = 0  # files written without a key: a later build cannot tell them unchanged

    @classmethod
    def from_settings(cls, output: Path, settings: dict[str, Any]) -> Reuse:
        """A partition of a partitioned build (broadsheet.partitioned) gives its record to the
        driver in the settings instead of saving it; the driver saves it with its own."""
        from broadsheet import partitioned

        conf = settings.get(SETTING) or {}
        made = cls(output, conf.get("previous"), conf.get("record"), conf.get("save"))
        if conf and partitioned.is_partition(settings):
            made.hand_to = settings
        adopted = settings.get(partitioned.KEYS) if partitioned.is_driver(settings) else None
        if adopted and made.enabled:
            made.new.update(adopted["files"])
            made.reused += adopted["reused"]
            made.rendered += adopted["rendered"]
        return made

    @staticmethod
    def counts(record: Path) -> dict[str, int]:
        """How many files a saved record's build linked and wrote."""
        try:
            data = json.loads(Path(record).read_text(encoding="utf-8"))
            return {"reused": int(data["reused"]), "rendered": int(data["rendered"])}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    @property
    def enabled(self) -> bool:
        return self.save_to is not None or self.hand_to is not None

    def take(self, rel: str, key: str | None) -> bool:
        """Link `rel` from the previous build when it was made from the same `key`; record the key.
        False means: write the file."""
        if not self.enabled or key is None:
            self.rendered += 1
            self.unkeyed += key is None
            return False
        self.new[rel] = key
        if self.old.get(rel) != key or self.previous is None:
            self.rendered += 1
            return False
        source, dest = self.previous / rel, self.output / rel
        if dest.parent not in self._folders:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(dest.parent)
        # One system call in the usual case (tens of thousands of files in a rebuild).
        try:
            try:
                os.link(source, dest)
            except FileExistsError:
                dest.unlink()
                os.link(source, dest)
        except OSError as exc:
            if exc.errno != errno.EXDEV or not source.is_file():  # gone from the previous version
                self.rendered += 1
                return False
            shutil.copy2(source, dest)  # another file system: a copy keeps the bytes and the time
        self.reused += 1
        return True

    def key_for(self, rel: str) -> str | None:
        """The key this build recorded for `rel` (None: not recorded, or not yet)."""
        return self.new.get(rel)

    def save(self) -> None:
        if self.hand_to is not None:
            from broadsheet import partitioned

            self.hand_to[partitioned.KEYS] = {"files": self.new, "reused": self.reused, "rendered": self.rendered,
                                              "unkeyed": self.unkeyed}
            return
        if self.save_to is None:
            return
        atomic_write(self.save_to, json.dumps({"files": self.new, "reused": self.reused, "rendered": self.rendered},
                                              sort_keys=True))


#: The running build's Reuse, by the identity of its settings dict (plugins share that dict).
_running: list[tuple[dict[str, Any], Reuse]] = []


def start(settings: dict[str, Any], output: Path) -> Reuse:
    """The Reuse of a build that is starting (called by the build's writer)."""
    made = Reuse.from_settings(output, settings)
    _running[:] = [(settings, made)]
    return made


def for_settings(settings: dict[str, Any]) -> Reuse | None:
    """The running build's Reuse when reuse is on, for plugins that write their own files."""
    return next((r for s, r in _running if s is settings and r.enabled), None)


def finish(settings: dict[str, Any]) -> Reuse | None:
    """Save the running build's record; returns its Reuse (None when reuse was off)."""
    done = for_settings(settings)
    _running.clear()
    if done is not None:
        done.save()
    return done


def _store_of(path: Path) -> tuple[Store, str]:
    """The store a kept path names (broadsheet.cache): its folder's, the namespace its name
    without a suffix ("state/digests.pickle": namespace "digests" of "state/cache.sqlite")."""
    path = Path(path)
    return Store(path.parent), path.stem


def load_kept(path: Path | None, default: Any = None) -> Any:
    """What `keep` saved at `path`, or `default` when there is nothing readable there (a cache
    that cannot be read only means the work is done again)."""
    if path is None:
        return default
    store, namespace = _store_of(path)
    return store.get(namespace, default=default)


def keep(path: Path, data: Any) -> None:
    """Save `data` for a later build at `path` (see `_store_of`), in one transaction (a killed
    run leaves the old or the new)."""
    store, namespace = _store_of(path)
    store.put(namespace, data)


def load_kept_map(folder: Path | None) -> dict[str, Any]:
    """What `keep_map` saved in `folder` ({} when nothing readable is there)."""
    if folder is None:
        return {}
    store, namespace = _store_of(folder)
    return store.load(namespace)


def keep_map(folder: Path, data: dict[str, Any], changed: Iterable[str]) -> int:
    """Save a map of many entries (one per article) for a later build, a row per key, writing
    only the rows of `changed` keys (new, changed or gone): a rebuild that changes ten
    articles of ten thousand writes ten rows. Returns how many rows were written or deleted."""
    store, namespace = _store_of(folder)
    return store.save(namespace, data, changed)


def forget_map(folder: Path) -> None:
    """Forget everything `keep_map` saved in `folder`."""
    store, namespace = _store_of(folder)
    store.clear(namespace)


def kept_folder(settings: dict[str, Any], name: str) -> Path | None:
    """Where a build that keeps a content cache (a rebuild: LOAD_CONTENT_CACHE, under its keyed
    CACHE_PATH, so a change of settings, theme or code starts afresh) keeps `name` for the next
    one; None for a build that keeps nothing."""
    if not (settings.get("LOAD_CONTENT_CACHE") and settings.get("CACHE_PATH")):
        return None
    return Path(settings["CACHE_PATH"]) / name


class KeptValues:
    """Values computed one per article (per content file, per page), kept between the builds of
    a rebuild in a kept map (`folder`, see `keep_map`; None: nothing kept), each with the stamp
    of what it was computed from: `value` gives the kept value while the stamp is the same,
    else computes it.
    `save` before the values are changed in place (they are pickled as they are then)."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.old = load_kept_map(folder) if folder is not None else {}
        self.new: dict[str, tuple[Any, Any]] = {}
        self.changed: list[str] = []

    def value(self, key: str, stamp_of: Callable[[], Any], compute: Callable[[], Any]) -> Any:
        """The value for `key`: kept while `stamp_of()` is the stamp it was kept with, else
        `compute()`. Nothing kept (no folder): `compute()`, without taking a stamp."""
        if self.folder is None:
            return compute()
        stamp = stamp_of()
        old = self.old.get(key)
        if isinstance(old, tuple) and len(old) == 2 and old[0] == stamp:
            value = old[1]
        else:
            value = compute()
            self.changed.append(key)
        self.new[key] = (stamp, value)
        return value

    def save(self) -> int:
        """Keep the values for the next build; returns how many rows were written or deleted."""
        if self.folder is None:
            return 0
        return keep_map(self.folder, self.new, [*self.changed, *(self.old.keys() - self.new.keys())])

