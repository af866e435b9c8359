"""Content, sources and outputs at fsspec URLs (s3://, gs://, memory://...): local working copies in, publishing out.

The pipeline reads and writes folders on this machine. `local_copies` gives it one for each
option that names a URL: a mirror of the URL's files, brought up to date before the command
(only files whose listing changed are downloaded), and for content that ingest writes, sent back
after it (only the files it changed). A `file://` URL is the local path itself, so it behaves
exactly as that path does. The working copies live under BROADSHEET_REMOTE_CACHE (default
~/.cache/broadsheet/remote), one folder per URL, locked while a command uses it.

Publishing a site to a URL uploads first and removes afterwards. A static host (an S3 or GCS
website, a CDN in front of a bucket) serves one fixed prefix and fsspec has no atomic rename of a
folder on an object store, so a new versioned prefix would need a pointer the host cannot follow
(a redirect page breaks canonical URLs). What fsspec does make reliable is one object written
whole: each changed file is uploaded as one object (readers see the old bytes or the new),
data and assets before pages, and deeper pages before the listings that link to them; only when
every upload succeeded are the files that the previous publication had and this one lacks
removed. A manifest at the destination (`.broadsheet-published.json`, file to SHA-256) says what
Broadsheet put there: only those files are ever replaced or removed, unchanged files are not sent
again, and a destination holding files without a manifest is refused. A publication that fails
midway leaves every file whole and the old pages in place; the next one completes it. A zip is
uploaded under a temporary name and moved into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from contextlib import ExitStack, contextmanager
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from broadsheet.cache import stamp

#: What Broadsheet published at a site's URL, at the URL itself (see the module docstring).
MANIFEST = ".broadsheet-published.json"
#: Exit status for a URL that cannot be used (nothing was read, built or published), as for
#: other refusals; 1 for a transfer that failed after the command's work; 75 when another
#: command is using the same working copy (as a running rebuild).
EXIT_UNUSABLE, EXIT_TRANSFER, EXIT_BUSY = 2, 1, 75
#: The fsspec implementation each cloud protocol needs and Broadsheet's extra that installs it
#: (pyproject.toml), for the error that names what to install.
BACKENDS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs")}


class RemoteError(RuntimeError):
    """A URL could not be used or a transfer failed; the message names the option and the URL."""

    def __init__(self, message: str, exit_status: int = EXIT_UNUSABLE):
        super().__init__(message)
        self.exit_status = exit_status


def is_url(place: str | os.PathLike) -> bool:
    """Whether `place` is a URL of a file system other than this machine's (`file://` is not)."""
    from fsspec.utils import get_protocol

    return isinstance(place, str) and "://" in place and get_protocol(place) not in ("file", "local")


def local_path(place: str | os.PathLike) -> Path:
    """The local path `place` names: a path as given, or the path of a `file://` URL."""
    if isinstance(place, str) and place.startswith(("file://", "local://")):
        from fsspec.core import url_to_fs

        return Path(url_to_fs(place)[1])
    return Path(place)


def cache_root() -> Path:
    root = os.environ.get("BROADSHEET_REMOTE_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "broadsheet" / "remote"


class _Remote:
    """One option's URL: its file system, its path there, and its local working folder."""

    def __init__(self, option: str, url: str, work_key: str):
        self.option, self.url = option, url
        self.fs, self.path = _connect(option, url)
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        self.work = cache_root() / f"{protocol}-{hashlib.sha256(work_key.encode()).hexdigest()[:16]}"
        self.local = self.work / (PurePosixPath(self.path).name or "root")
        self.info = self.info_of(self.path)
        self.is_file = self.info is not None and self.info.get("type") != "directory"

    def info_of(self, path: str) -> dict | None:
        try:
            return self.fs.info(path)
        except FileNotFoundError:
            return None
        except Exception as exc:  # whatever the backend raises for a host, bucket or key it cannot use
            raise self.unusable(exc) from exc

    def unusable(self, exc: BaseException) -> RemoteError:
        return _unreachable(self.option, self.url, exc)

    def remote(self, rel: str) -> str:
        return self.path if self.is_file else f"{self.path}/{rel}"

    def local_file(self, rel: str) -> Path:
        return self.local if self.is_file else self.local / rel

    def listing(self) -> dict[str, dict]:
        """The files at the URL (itself, when it is one), by path relative to it."""
        if self.is_file:
            return {self.local.name: self.fs.info(self.path)}
        try:
            found = self.fs.find(self.path, detail=True, withdirs=False)
        except FileNotFoundError:
            return {}
        prefix = self.path.rstrip("/") + "/"
        return {name[len(prefix):]: info for name, info in found.items() if name.startswith(prefix)}

    def upload(self, source: Path, rel: str, made: set[str]) -> None:
        target = self.remote(rel)
        parent = posixpath.dirname(target)
        if parent not in made:  # object stores need no folders; other file systems (sftp) do
            self.fs.makedirs(parent, exist_ok=True)
            made.add(parent)
        self.fs.put_file(str(source), target)


def _connect(option: str, url: str):
    from fsspec.core import url_to_fs
    from fsspec.utils import get_protocol

    try:
        fs, path = url_to_fs(url)
    except ImportError as exc:
        backend, extra = BACKENDS.get(get_protocol(url), (None, None))
        hint = f"install {backend} (pip install 'broadsheet[{extra}]')" if backend else str(exc)
        raise RemoteError(f"{option}: cannot reach {url}: {hint}; nothing was read, built or published") from exc
    except Exception as exc:
        raise _unreachable(option, url, exc) from exc
    return fs, path.rstrip("/") or path


def _unreachable(option: str, url: str, exc: BaseException) -> RemoteError:
    """One line naming the option, the URL and the backend's reason (its message may span lines)."""
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())
    return RemoteError(f"{option}: cannot reach {url} ({reason}); nothing was read, built or published")


def _fingerprint(info: dict) -> str:
    """What stands for a remote file's bytes: its listing entry (size, and the ETag, generation,
    or modification time that the backend gives), as fsspec's own `ukey` does."""
    return hashlib.sha256(repr(sorted((k, repr(v)) for k, v in info.items())).encode()).hexdigest()


def _stat(path: Path) -> list[int] | None:
    """The file's stamp (broadsheet.cache.stamp) as the record keeps it (JSON: a list)."""
    found = stamp(path)
    return None if found is None else list(found)


def _local_files(root: Path) -> dict[str, Path]:
    if root.is_file():
        return {root.name: root}
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    from broadsheet.files import atomic_write

    atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


class _Mirror:
    """A local copy of a URL's files; `record` keeps, per file, the listing entry it was
    downloaded at or uploaded with and the local stat it then had."""

    def __init__(self, remote: _Remote):
        self.r = remote
        self.record_path = remote.work / ".mirror.json"

    def pull(self, exact: bool) -> int:
        """Download what changed at the URL. `exact`: also drop local files the URL lacks;
        otherwise local changes not yet sent (`push`) are kept. Returns files downloaded."""
        r, record = self.r, _read_json(self.record_path)
        try:
            listing = r.listing()
        except Exception as exc:
            raise r.unusable(exc) from exc
        fetched = 0
        for rel, info in sorted(listing.items()):
            mark, target, entry = _fingerprint(info), r.local_file(rel), record.get(rel)
            now = _stat(target)
            if entry and entry["remote"] == mark and now is not None and (now == entry["stat"] or not exact):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.download")
            try:
                r.fs.get_file(r.remote(rel), str(partial))
                os.replace(partial, target)
            except Exception as exc:
                partial.unlink(missing_ok=True)
                raise r.unusable(exc) from exc
            record[rel] = {"remote": mark, "stat": _stat(target)}
            fetched += 1
        for rel in [rel for rel in record if rel not in listing]:  # removed at the URL
            r.local_file(rel).unlink(missing_ok=True)
            del record[rel]
        if exact:
            for rel, path in _local_files(r.local).items():
                if rel not in listing:
                    path.unlink()
        if not listing and not r.is_file:
            r.local.mkdir(parents=True, exist_ok=True)
        _write_json(self.record_path, record)
        return fetched

    def push(self) -> tuple[int, int]:
        """Send back what changed locally since `pull`: changed files uploaded, removed files
        removed at the URL. Returns (uploaded, removed)."""
        r, record = self.r, _read_json(self.record_path)
        local = _local_files(r.local)
        changed = [rel for rel, path in local.items() if record.get(rel, {}).get("stat") != _stat(path)]
        removed = sorted(rel for rel in record if rel not in local)
        if not changed and not removed:
            return 0, 0
        made: set[str] = set()
        try:
            for rel in changed:
                r.upload(local[rel], rel, made)
            for rel in removed:
                try:
                    r.fs.rm_file(r.remote(rel))
                except FileNotFoundError:
                    pass
            listing = r.listing() if changed else {}
        except Exception as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise RemoteError(f"{r.option}: the changed files could not all be written to {r.url} "
                              f"({reason}); they are kept in {r.local} and sent by the next run",
                              EXIT_TRANSFER) from exc
        for rel in changed:
            record[rel] = {"remote": _fingerprint(listing[rel]), "stat": _stat(local[rel])}
        for rel in removed:
            del record[rel]
        _write_json(self.record_path, record)
        return len(changed), len(removed)


def _publish_order(rel: str) -> tuple:
    """Data and assets first, then pages, deepest first, the home page last: a page that
    appears links to files that are already there."""
    return rel.endswith(".html"), -rel.count("/"), rel == "index.html", rel


def _check_site_destination(r: _Remote) -> None:
    if r.info is None:
        return
    if r.is_file:
        raise RemoteError(f"{r.option}: {r.url} is a file, not a folder; nothing was built or published")
    try:
        foreign = r.info_of(f"{r.path}/{MANIFEST}") is None and r.listing()
    except RemoteError:
        raise
    except Exception as exc:
        raise r.unusable(exc) from exc
    if foreign:
        raise RemoteError(f"{r.option}: {r.url} holds files that Broadsheet did not publish (it has no {MANIFEST}); "
                          "choose an empty or new location; nothing was built or published")


def publish_site(r: _Remote, site: Path) -> tuple[int, int]:
    """Upload the site folder `site` to the URL (see the module docstring). Returns (uploaded, removed)."""
    site = site.resolve()  # a rebuild's output is a link to its current version
    files = _local_files(site)
    new = {rel: _sha256(path) for rel, path in files.items()}
    try:
        old = json.loads(r.fs.cat_file(f"{r.path}/{MANIFEST}")).get("files", {})
    except FileNotFoundError:
        old = {}
    except (ValueError, AttributeError) as exc:
        raise RemoteError(f"{r.option}: {r.url}/{MANIFEST} cannot be read ({exc}); nothing was published") from exc
    there = r.listing()
    send = sorted((rel for rel in new if old.get(rel) != new[rel] or rel not in there
                   or there[rel].get("size") != files[rel].stat().st_size), key=_publish_order)
    stale = sorted(rel for rel in old if rel not in new)
    made: set[str] = set()
    for rel in send:
        r.upload(files[rel], rel, made)
    for rel in stale:
        try:
            r.fs.rm_file(f"{r.path}/{rel}")
        except FileNotFoundError:
            pass
    r.fs.pipe_file(f"{r.path}/{MANIFEST}", (json.dumps({"files": new}, indent=0, sort_keys=True) + "\n").encode())
    return len(send), len(stale)


def _check_file_destination(r: _Remote) -> None:
    if r.info is None:
        return
    if not r.is_file:
        raise RemoteError(f"{r.option}: {r.url} is a folder, not a file; nothing was built or published")
    if _read_json(r.work / ".published.json").get("url") != r.url:
        raise RemoteError(f"{r.option}: {r.url} exists and was not published from this machine; remove it or "
                          "choose another name; nothing was built or published")


def publish_file(r: _Remote, path: Path) -> bool:
    """Upload one file (the zip) under a temporary name, then move it into place. False when
    the URL already holds these bytes."""
    record_path = r.work / ".published.json"
    digest = _sha256(path)
    record = _read_json(record_path)
    try:
        current = r.fs.info(r.path)
    except FileNotFoundError:
        current = None
    if current and record.get("sha256") == digest and current.get("size") == path.stat().st_size:
        return False
    partial = f"{posixpath.dirname(r.path)}/.{PurePosixPath(r.path).name}.{os.getpid()}.partial"
    r.fs.makedirs(posixpath.dirname(r.path), exist_ok=True)
    r.fs.put_file(str(path), partial)
    r.fs.mv(partial, r.path)
    _write_json(record_path, {"url": r.url, "sha256": digest})
    return True


def _nested(remotes: list[_Remote]) -> None:
    """Refuse two options naming one place, or one inside the other (a site published over its content)."""
    for i, a in enumerate(remotes):
        for b in remotes[i + 1:]:
            if a.fs.protocol == b.fs.protocol and (a.path == b.path or a.path.startswith(b.path + "/")
                                                   or b.path.startswith(a.path + "/")):
                raise RemoteError(f"{a.option} {a.url} and {b.option} {b.url} overlap; give each its own "
                                  "place; nothing was read, built or published")


@contextmanager
def local_copies(command: str, *, read: dict[str, str] | None = None, read_write: dict[str, str] | None = None,
                 publish_folders: dict[str, str] | None = None, publish_files: dict[str, str] | None = None,
                 say: Callable[[str], None] = lambda line: None) -> Iterator[dict[str, Path]]:
    """Local paths for a command's options (option name -> path or URL): `read` ones are
    brought up to date from their URL first, `read_write` ones too, and their changes are sent
    back afterwards (even when the command failed after writing); `publish_folders` and
    `publish_files` are published to their URL when the command succeeds. Paths and `file://`
    URLs are given back as local paths, untouched. Every URL is checked before anything is
    transferred: RemoteError (exit_status 2) names the one that cannot be used."""
    read, read_write = read or {}, read_write or {}
    publish_folders, publish_files = publish_folders or {}, publish_files or {}
    places = {**read, **read_write, **publish_folders, **publish_files}
    paths = {option: local_path(place) for option, place in places.items() if not is_url(place)}
    remotes: dict[str, _Remote] = {}
    for option, place in places.items():
        if is_url(place):  # outputs get a working folder of their own per command
            key = place if option in read or option in read_write else f"{command} {place}"
            remotes[option] = _Remote(option, place, key)
    _nested(list(remotes.values()))
    for option, r in remotes.items():
        if option in read and r.info is None:
            raise RemoteError(f"{option}: {r.url} does not exist; nothing was read, built or published")
        if option in publish_folders:
            _check_site_destination(r)
        if option in publish_files:
            _check_file_destination(r)
    with ExitStack() as stack:
        for r in remotes.values():
            stack.enter_context(_locked(r))
        mirrors = {}
        for option, r in remotes.items():
            if option in read or option in read_write:
                mirrors[option] = _Mirror(r)
                fetched = mirrors[option].pull(exact=option in read)
                say(f"{option}: {r.url} -> {r.local} ({fetched} files downloaded)")
            paths[option] = r.local
        try:
            yield paths
        finally:
            for option in read_write:
                if option in mirrors:
                    uploaded, removed = mirrors[option].push()
                    if uploaded or removed:
                        say(f"{option}: {uploaded} files written to {remotes[option].url}, {removed} removed")
        for option in publish_folders:
            if option in remotes:
                r = remotes[option]
                uploaded, removed = _transfer(r, lambda: publish_site(r, r.local))
                say(f"{option}: published to {r.url} ({uploaded} files uploaded, {removed} removed)")
        for option in publish_files:
            if option in remotes:
                r = remotes[option]
                changed = _transfer(r, lambda: publish_file(r, r.local))
                say(f"{option}: published to {r.url}" + ("" if changed else " (unchanged)"))


def _transfer(r: _Remote, fn):
    try:
        return fn()
    except RemoteError:
        raise
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise RemoteError(f"{r.option}: publishing {r.local} to {r.url} failed ({reason}); "
                          "every file there is whole, old or new, and the next run completes it",
                          EXIT_TRANSFER) from exc


@contextmanager
def _locked(r: _Remote) -> Iterator[None]:
    from filelock import FileLock, Timeout

    r.work.mkdir(parents=True, exist_ok=True)
    lock = FileLock(r.work / ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RemoteError(f"{r.option}: another command is using the working copy of {r.url} ({r.work}); "
                          "wait for it to finish", EXIT_BUSY) from None
    try:
        yield
    finally:
        lock.release()
