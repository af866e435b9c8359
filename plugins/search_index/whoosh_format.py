"""Reading Whoosh 3 segments below Whoosh's public API: the one module that knows how
whoosh-reloaded WHOOSH_VERSION lays out its files.

Whoosh reads a posting a Python call at a time; a common word at 100,000 articles is 85,000
postings, and a query over it took most of a second that way. These readers take the same
numbers out of the same files a block at a time: posting blocks (`read_postings`), the
positions in them (`gaps_of`, `position_gaps`) and the field length column (`length_codes`).
Each checks what it reads (types, counts) and answers None when the files are not what it
knows, and the caller then reads through Whoosh's own matchers. With another version of
whoosh-reloaded installed, every reader answers None (`KNOWN`): the layout is checked by
`tests/test_search.py::test_whoosh_format_reads_the_installed_version`, which fails until
this module has been checked against the new version and WHOOSH_VERSION changed.
"""

from __future__ import annotations

import operator
import zlib
from importlib.metadata import PackageNotFoundError, version
from itertools import accumulate, compress
from pickle import loads

from whoosh import matching
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, W3PerDocReader, _lenfield
from whoosh.columns import NumericColumn
from whoosh.system import _INT_SIZE
from whoosh.util.numeric import byte_to_length

#: The whoosh-reloaded release whose files these readers were written for (requirements.txt pins it).
WHOOSH_VERSION = "2.7.5"


def installed_version() -> str | None:
    try:
        return version("whoosh-reloaded")
    except PackageNotFoundError:
        return None


#: Whether the installed Whoosh is the one this module reads; if not, every reader says None.
KNOWN = installed_version() == WHOOSH_VERSION


#: What `doc_field_length` makes of a length code (a code of 0, no length, gives None).
LENGTH_OF_CODE = [None] + [byte_to_length(code) for code in range(1, 256)]


def length_codes(reader, fieldname: str) -> bytes | None:
    """A Whoosh 3 segment's one-byte length codes of a field, every document's, read in one
    piece (a call of `doc_field_length` per document took 1.4 s at 100,000 articles);
    None for any other reader."""
    perdoc = getattr(reader, "_perdoc", None)
    if not KNOWN or type(perdoc) is not W3PerDocReader or not reader.schema[fieldname].scorable:
        return None
    column = perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
    count = reader.doc_count_all()
    if column is None or type(column) is not NumericColumn.Reader or column._fixedlen != 1:
        return None
    codes = column._dbfile.get(column._basepos, min(column._count, count))
    return codes + bytes(count - len(codes))



def read_postings(reader, fieldname: str, text: bytes, values: bool = False, blocks: list | None = None):
    """(document numbers, weights, values or None) of a term's postings in one segment,
    a block at a time; None when they are not in Whoosh 3 blocks.

    Values (positions) are unpickled only when asked for. A list given as `blocks` receives
    each block's document numbers (deleted ones too) and inflated data, for `gaps_of`."""
    matcher = _block_matcher(reader, fieldname, text)
    if matcher is None:
        return None
    ids: list[int] = []
    weights: list[float] = []
    found: list[bytes] | None = [] if values else None
    # The matcher's own block readers; document numbers are stored as gaps from the
    # previous one (`_read_ids` adds them up in a generator, a tenth of the reading time).
    while matcher.is_active():
        if values:
            matcher._read_data()
            matcher._read_values()
            found.extend(matcher._values)
            ids.extend(accumulate(matcher._data[0]))
        elif blocks is not None:
            data = _inflated(matcher)
            _read_ids_and_weights(matcher, data)
            block_ids = list(accumulate(matcher._data[0]))
            blocks.append((block_ids, data))
            ids.extend(block_ids)
        else:
            _read_ids_and_weights(matcher)
            ids.extend(accumulate(matcher._data[0]))
        matcher._read_weights()
        weights.extend(matcher._weights)
        matcher._next_block()
    if reader.has_deletions():
        deleted = reader.deleted_docs_set  # made once per segment reader
        live = list(map(operator.not_, map(deleted.__contains__, ids)))
        ids, weights = list(compress(ids, live)), list(compress(weights, live))
        found = list(compress(found, live)) if values else None
    return ids, weights, found


def _block_matcher(reader, fieldname: str, text: bytes) -> W3LeafMatcher | None:
    """The term's Whoosh 3 posting reader, deleted documents included; None for another kind."""
    if not KNOWN:
        return None
    matcher = reader.postings(fieldname, text)
    if isinstance(matcher, matching.FilterMatcher) and reader.has_deletions():
        matcher = matcher.child
    if type(matcher) is not W3LeafMatcher or matcher._byteids:
        return None
    return matcher


def _inflated(matcher: W3LeafMatcher) -> bytes:
    """The current block's data, decompressed: what `_read_data` unpickles."""
    data = matcher._postfile.get(matcher._dataoffset, matcher._nextoffset - matcher._dataoffset)
    return zlib.decompress(data) if matcher._compression else data


#: A Whoosh 3 posting block is the pickle (protocol 2) of (id gaps, weights, values), in that
#: order. Protocol 2 writes each bytes value as a call of `_codecs.encode`, and unpickling
#: those calls took nine tenths of the unpickling time (and more than zlib): a query
#: that needs no positions cuts the pickle where the values begin (the MARK of their tuple,
#: then the first call) and closes it with an empty tuple instead.
_VALUES_START = b"(c_codecs\nencode\n"
_NO_VALUES = b")\x87."  # EMPTY_TUPLE, TUPLE3, STOP
#: Bytes inflated at a time while looking for the values: the gaps and weights of a full
#: block (128 postings) take about 1.4 KB.
_INFLATE_STEP = 2048


def _read_ids_and_weights(matcher: W3LeafMatcher, data: bytes | None = None) -> None:
    """Set the matcher's block data as `_read_data` does, but with an empty tuple of values
    (the whole block is unpickled when the values do not start where expected). Without the
    inflated `data`, only as much of the block as holds the gaps and weights is inflated."""
    if data is not None:
        head, at = data, data.find(_VALUES_START)
    elif matcher._compression:
        raw = matcher._postfile.get(matcher._dataoffset, matcher._nextoffset - matcher._dataoffset)
        inflate = zlib.decompressobj()
        head = inflate.decompress(raw, _INFLATE_STEP)
        at = head.find(_VALUES_START)
        while at < 0 and inflate.unconsumed_tail:
            searched = max(0, len(head) - len(_VALUES_START))
            head += inflate.decompress(inflate.unconsumed_tail, _INFLATE_STEP)
            at = head.find(_VALUES_START, searched)
    else:
        head = _inflated(matcher)
        at = head.find(_VALUES_START)
    found = None
    if at > 0:
        try:
            found = loads(head[:at] + _NO_VALUES)
        except Exception:
            found = None
    if type(found) is tuple and len(found) == 3 and len(found[0]) == matcher._blocklength:
        matcher._data = found
    elif data is not None:
        matcher._data = loads(data)
    else:
        matcher._read_data()


#: How `formats.Positions.encode` stores a posting's positions: a 4-byte count, then the
#: gaps between positions as a list pickled with protocol 2 (a 2-byte header, the list's
#: opcodes, a final STOP).
_PICKLE_HEADER, _PICKLE_STOP = b"\x80\x02", b"."


#: The start of a posting's positions as a block's pickle holds them: the value's bytes
#: (`_INT_SIZE` bytes of count, then the pickled list of gaps) are the argument of the
#: `_codecs.encode` call, as text, which the pickle stores in UTF-8.
_GAPS_START = (_PICKLE_HEADER + b"]q\x00").decode("latin-1").encode("utf-8")
#: Each pickled list of gaps ends with a STOP, and the text is followed by a BINPUT (one
#: byte of memo index) or a LONG_BINPUT (four): neither pair occurs inside a list whose
#: gaps are all below 28,974 (a list with a larger one fails the checks of `gaps_of`).
_GAPS_ENDS = (_PICKLE_STOP + b"q", _PICKLE_STOP + b"r")


def gaps_of(blocks: list[tuple[list[int], bytes]], wanted: set[int], counts: list[float]) -> list[list[int]]:
    """The position gaps of the postings of the `wanted` documents, in order (`counts`:
    their weights, the number of positions of each).

    Unpickling a block's values calls `_codecs.encode` once per posting, and unpickling
    each value's list took as long again. Here the pickled lists are cut out of the
    blocks' bytes where they start and end, and unpickled in one call as a list of lists;
    if anything does not add up (the number of pieces, of lists, of gaps in each), the
    values are unpickled as Whoosh does instead."""
    lists = _pickled_lists(blocks, wanted)
    if lists is None:
        return position_gaps(_values_of(blocks, wanted))
    try:
        text = b"".join([b"(]", b"]".join(lists), b"l", _PICKLE_STOP]).decode("utf-8")
        gaps = loads(_PICKLE_HEADER + text.encode("latin-1"))
    except Exception:
        gaps = None
    if type(gaps) is not list or len(gaps) != len(counts) or list(map(len, gaps)) != counts:
        return position_gaps(_values_of(blocks, wanted))
    return gaps


def flat_gaps_of(blocks: list[tuple[list[int], bytes]], wanted: set[int], counts: list[float]) -> list[int]:
    """The position gaps of the postings of the `wanted` documents, all in one list, in order
    (`counts`: their weights, the number of positions of each): `gaps_of` flattened.

    A phrase over two common words needs the positions of most of the corpus, and making a
    list per document (and iterating over them to flatten them) was most of its time. The
    lists cut out of the blocks are joined with no list opcode between them: each appends
    its items to the one list the pickle starts with. If the pieces or the number of gaps
    do not add up, `gaps_of` (and its own checks) is flattened instead."""
    lists = _pickled_lists(blocks, wanted)
    flat = None
    if lists is not None:
        try:
            text = b"".join([b"]", b"".join(lists), _PICKLE_STOP]).decode("utf-8")
            flat = loads(_PICKLE_HEADER + text.encode("latin-1"))
        except Exception:
            flat = None
    if type(flat) is not list or len(flat) != sum(counts):
        return [gap for gaps in gaps_of(blocks, wanted, counts) for gap in gaps]
    return flat


def _pickled_lists(blocks: list[tuple[list[int], bytes]], wanted: set[int]) -> list[bytes] | None:
    """The pickled gap lists of the `wanted` documents' postings, cut out of the blocks' bytes
    in order; None when a block does not cut into one list per posting."""
    lists: list[bytes] = []
    for block_ids, data in blocks:
        mask = list(map(wanted.__contains__, block_ids))
        if not any(mask):
            continue
        at = data.find(_VALUES_START)
        section = data[at:] if at > 0 else b""
        # Every end becomes a start: the pieces alternate between what lies around the
        # lists (the count, the pickle's own opcodes) and the lists.
        for end in _GAPS_ENDS:
            section = section.replace(end, _GAPS_START)
        pieces = section.split(_GAPS_START)
        if len(pieces) != 2 * len(block_ids) + 1:
            return None
        lists.extend(compress(pieces[1::2], mask))
    return lists


def _values_of(blocks: list[tuple[list[int], bytes]], wanted: set[int]) -> list[bytes]:
    """The posting values of the `wanted` documents, in order, each block unpickled whole."""
    found: list[bytes] = []
    for block_ids, data in blocks:
        mask = list(map(wanted.__contains__, block_ids))
        if any(mask):
            found.extend(compress(loads(data)[2], mask))
    return found



def position_gaps(values: list[bytes]) -> list[list[int]]:
    """The position gaps of each posting value, unpickled in one call for all of them.

    Unpickling the values one by one took longer than everything else a phrase query
    does. Their list opcodes, one after another between a MARK and a LIST opcode, are one
    pickle of the list of their lists."""
    if not values:
        return []
    body = operator.itemgetter(slice(_INT_SIZE + len(_PICKLE_HEADER), -len(_PICKLE_STOP)))
    try:
        gaps = loads(b"".join([_PICKLE_HEADER, b"(", *map(body, values), b"l", _PICKLE_STOP]))
    except Exception:
        gaps = None
    if not (type(gaps) is list and len(gaps) == len(values)
            and type(gaps[0]) is list and type(gaps[-1]) is list):
        # One at a time, as `decode_positions` does (older Whoosh left out the STOP).
        gaps = [loads(v[_INT_SIZE:] if v.endswith(_PICKLE_STOP) else v[_INT_SIZE:] + _PICKLE_STOP)
                for v in values]
    return gaps
