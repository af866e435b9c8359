"""The parser fuzzed: arbitrary bytes and mutated real dumps give an Article or a named reason."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from broadsheet.article import Article
from broadsheet.dumps import Rejection, parse_dump
from conftest import DATA, SEED

REAL = [SEED.read_bytes()] + [p.read_bytes() for p in sorted((DATA / "dumps").glob("*.txt"))]
NAMED = {"empty", "binary", "undecodable", "no-dateline", "no-title", "unexpected-header", "impossible-date"}


def check(raw: bytes):
    out = parse_dump(raw, "fuzz.txt")
    assert isinstance(out, (Article, Rejection))
    if isinstance(out, Rejection):
        # "parser-error" is the catch-all for bugs: the fuzzer must never reach it
        assert out.reason in NAMED, out
        assert out.detail
    else:
        assert out.title and out.date.tzinfo is not None
        assert out.related_status in {"ok", "absent", "length-mismatch", "truncated", "invalid"}
        out.to_markdown()


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(raw):
    check(raw)


@st.composite
def mutated(draw):
    raw = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete", "dup"]))
        if not raw:
            break
        i = draw(st.integers(0, len(raw) - 1))
        if op == "flip":
            raw[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del raw[i:]
        elif op == "insert":
            raw[i:i] = draw(st.sampled_from([b'"', b"\n", b"\r", b"string(5) \"", b"\\u12", b"]", b" ,{", b"\xef\xbb\xbf", b"\x00", b"\xff"]))
        elif op == "delete":
            del raw[i:i + draw(st.integers(1, 50))]
        else:
            j = draw(st.integers(i, min(len(raw), i + 200)))
            raw[j:j] = raw[i:j]
    return bytes(raw)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_dumps(raw):
    check(raw)
