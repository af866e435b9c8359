"""Zips whose bytes depend on their entries alone, compressed and read back on every core.

Every entry has the same time and mode and is deflated at one level, so a zip of the same files
in the same (sorted) order has the same bytes. Deflating is most of a zip's time: `deflate_files`
compresses files in worker processes, each file hashed (SHA-256) and CRC'd from the bytes it
compresses, and gives the results in job order, so that `ZipWriter` writes the entries in the
order the caller chose whichever worker finishes first. `read_digests` reads entries back the
same way. Only standard library modules are imported here, so that workers start quickly.

zipfile has no call to write an entry compressed elsewhere, nor to read one entry without
parsing the whole central directory; `ZipWriter._append` and `_EntryReader` do those with
ZipFile's own header writer and reader. They are the only code that touches zipfile's
internals; tests/test_reproducible_zip.py compares their bytes with ZipFile.writestr's on the
Python in use and fails when an upgrade changes them (ZIPFILE_CHECKED names the versions).
"""

from __future__ import annotations

import copy
import hashlib
import multiprocessing
import os
import struct
import sys
import zipfile
import zlib
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterable, Iterator

#: Every entry carries this timestamp (the earliest a zip can hold), so the build time never shows.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
#: zlib's level for every entry: its default, and what every zip Broadsheet made so far used.
LEVEL = 6
#: Python versions whose zipfile internals ZipWriter and _EntryReader were checked against.
ZIPFILE_CHECKED = ((3, 11),)
#: Files (or entries) per task sent to a worker: enough that a task's round trip is small beside
#: its work, few enough that results held for ordering stay small.
BATCH = 64
#: Tasks per worker in flight at once.
IN_FLIGHT_PER_WORKER = 4
#: Files from which zipping and reading back run on every core: fewer take less time in this
#: process than starting the worker processes (a few tenths of a second).
PARALLEL_FROM_FILES = 2000
LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
#: What zipfile raises for a damaged zip, besides OSError: a bad signature or CRC, a damaged
#: deflate stream, a cut-off entry, header fields that make no sense, an encrypted entry.
UNREADABLE_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, struct.error, NotImplementedError,
                  RuntimeError)


class WorkersLost(RuntimeError):
    """A worker process stopped in the middle of its work (killed, or out of memory)."""


def entry(name: str) -> zipfile.ZipInfo:
    """An entry as every zip of this module has it: fixed time and mode, deflated."""
    info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
    info.create_system = 3  # unix, so the mode below is honoured
    info.external_attr = (0o100000 | FILE_MODE) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


@dataclass(frozen=True, slots=True)
class Deflated:
    """A file as an entry holds it: the SHA-256 and CRC-32 of its bytes, their length and the
    deflated bytes (None when the caller said it needs only the digest)."""

    sha256: str
    crc: int
    size: int
    data: bytes | None


def deflate(data: bytes) -> bytes:
    """What ZipFile.writestr writes for `data` at LEVEL: one raw deflate stream."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def deflate_file(job: tuple[str, str | None, str | None]) -> Deflated:
    """job = (path, its SHA-256 if known, a SHA-256 for which no compressing is needed): the file
    read, hashed and deflated; not read at all when the two digests are given and equal."""
    path, known, enough = job
    if known is not None and known == enough:
        return Deflated(known, 0, 0, None)
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest == enough:
        return Deflated(digest, 0, len(data), None)
    return Deflated(digest, zlib.crc32(data), len(data), deflate(data))


def deflate_files(jobs: Iterable[tuple[str, str | None, str | None]], workers: int) -> Iterator[Deflated]:
    """deflate_file over `jobs`, on `workers` processes, in job order."""
    return ordered_map(deflate_file, jobs, workers)


def read_digests(zip_path: str | os.PathLike, infos: Iterable[zipfile.ZipInfo], workers: int) -> Iterator[str | Exception]:
    """For each entry of `zip_path` (ZipInfos from its central directory), in order: the SHA-256
    of its bytes, read and inflated by zipfile (so its CRC-32 and size are checked), or the
    exception that reading it raised."""
    try:
        yield from ordered_map(_read_digest, ((str(zip_path), _entry_fields(i)) for i in infos), workers)
    finally:
        _close_readers()  # when the entries were read in this process


def _entry_fields(info: zipfile.ZipInfo) -> tuple:
    return (info.filename, info.header_offset, info.compress_size, info.file_size, info.CRC,
            info.compress_type, info.flag_bits)


def _read_digest(job: tuple[str, tuple]) -> str | Exception:
    zip_path, (name, offset, compress_size, file_size, crc, compress_type, flag_bits) = job
    info = zipfile.ZipInfo(name)
    info.header_offset, info.compress_size, info.file_size, info.CRC = offset, compress_size, file_size, crc
    info.compress_type, info.flag_bits = compress_type, flag_bits
    try:
        reader = _READERS.get(zip_path)
        if reader is None:
            _close_readers()
            reader = _READERS[zip_path] = _EntryReader(zip_path)
        return hashlib.sha256(reader.read(info)).hexdigest()
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError, ValueError, struct.error, NotImplementedError,
            RuntimeError) as exc:
        return exc


#: The zip a worker process reads, open between tasks (one at a time).
_READERS: dict[str, Any] = {}


def _close_readers() -> None:
    for reader in _READERS.values():
        reader.close()
    _READERS.clear()


class _EntryReader(zipfile.ZipFile):
    """A zip opened to read entries whose ZipInfo the caller gives, without parsing its central
    directory (which the caller has parsed: 400,000 entries take seconds)."""

    def _RealGetContents(self):
        pass


# -- writing -------------------------------------------------------------------------------

class ZipWriter:
    """A zip written entry by entry in the caller's order, as ZipFile writes it."""

    def __init__(self, file: str | os.PathLike | BinaryIO):
        self.zf = zipfile.ZipFile(file, "w")

    def add_bytes(self, name: str, data: bytes) -> None:
        self.zf.writestr(entry(name), data, compresslevel=LEVEL)

    def add_deflated(self, name: str, deflated: Deflated) -> None:
        """An entry compressed by deflate_file: the bytes writestr would write for that file."""
        self.add_compressed(name, deflated.crc, deflated.size, deflated.data)

    def add_compressed(self, name: str, crc: int, size: int, data: bytes) -> zipfile.ZipInfo:
        info = entry(name)
        info.CRC, info.compress_size, info.file_size = crc, len(data), size
        # writestr's choice of a zip64 local header, from the file's size
        self._append(info, info.FileHeader(size * 1.05 > zipfile.ZIP64_LIMIT) + data)
        return info

    def copy_from(self, source: zipfile.ZipFile, name: str) -> bool:
        """Copy the entry `name` of `source` (a zip this module wrote) still compressed, its local
        header as it is. False when it is not there or is not an entry this module writes (a data
        descriptor, an extra field, not deflated): the caller then compresses the file."""
        try:
            info = source.getinfo(name)
        except KeyError:
            return False
        if info.flag_bits & 0x08 or info.extra or info.compress_type != zipfile.ZIP_DEFLATED:
            return False
        fp = source.fp
        fp.seek(info.header_offset)
        header = fp.read(LOCAL_HEADER.size)
        fields = LOCAL_HEADER.unpack(header)
        if fields[0] != b"PK\x03\x04" or fields[10]:
            return False
        copied = copy.copy(info)
        self._append(copied, header + fp.read(fields[9] + info.compress_size))
        return True

    def _append(self, info: zipfile.ZipInfo, local_entry: bytes) -> None:
        """What ZipFile.writestr does once the entry is compressed: the local header and data at
        the end of the file, and the entry recorded for the central directory."""
        zf = self.zf
        info.header_offset = zf.fp.tell()
        zf.fp.write(local_entry)
        zf.start_dir = zf.fp.tell()
        zf.filelist.append(info)
        zf.NameToInfo[info.filename] = info

    def close(self) -> None:
        self.zf.close()

    def __enter__(self) -> ZipWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- reading -------------------------------------------------------------------------------

def one_whole_stream(data: bytes) -> bool:
    """Whether `data` is one raw deflate stream that ends exactly at its last byte."""
    stream = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        while data:  # in slices, so a damaged length cannot ask for unbounded memory at once
            stream.decompress(data, 1 << 24)
            data = stream.unconsumed_tail
        stream.flush()
    except zlib.error:
        return False
    return stream.eof and not stream.unused_data


def compressed_data(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The entry's data as stored (compressed), read after its local header."""
    fp = zf.fp
    fp.seek(info.header_offset)
    fields = LOCAL_HEADER.unpack(fp.read(LOCAL_HEADER.size))
    fp.seek(info.header_offset + LOCAL_HEADER.size + fields[9] + fields[10])
    return fp.read(info.compress_size)


# -- processes -----------------------------------------------------------------------------

def ordered_map(func: Callable[[Any], Any], jobs: Iterable[Any], workers: int) -> Iterator[Any]:
    """func(job) for each job, in job order, on `workers` processes (in this one when fewer than
    two), with a bounded number of batches in flight so that results waiting for their turn, and
    jobs read ahead, stay few. Entries are deterministic functions of their job, so the order in
    which workers finish changes nothing written."""
    if workers < 2:
        yield from map(func, jobs)
        return
    # forkserver: the workers start from a clean process (this one may hold threads and a
    # large heap) and import only this module.
    context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
                                          else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque = deque()
        batches = _batches(jobs, BATCH)
        try:
            for batch in batches:
                pending.append(pool.submit(_run_batch, func, batch))
                if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
        except BrokenProcessPool as exc:
            raise WorkersLost(f"a process running {func.__name__} stopped before it was done (killed, or "
                              f"out of memory?); nothing it made was used ({exc})") from None
        finally:
            for future in pending:
                future.cancel()


def _batches(jobs: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for job in jobs:
        batch.append(job)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _run_batch(func: Callable[[Any], Any], batch: list[Any]) -> list[Any]:
    return [func(job) for job in batch]


def zipfile_internals_checked() -> bool:
    """Whether this Python's zipfile is one ZipWriter and _EntryReader were checked against."""
    return sys.version_info[:2] in ZIPFILE_CHECKED
