"""broadsheet.background: a call in a fresh interpreter (spawn) with its module's folder on the path."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

from broadsheet.background import WHAT_VARIABLE, Background, BackgroundFailed


@pytest.fixture
def module(tmp_path, monkeypatch):
    (tmp_path / "fresh_probe.py").write_text(
        "import os, sys\n"
        "def where(x):\n"
        f"    return x * 2, os.getpid(), os.environ.get({WHAT_VARIABLE!r}), 'fresh_probe' in sys.modules\n"
        "def fails():\n"
        "    raise ValueError('no such article')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("fresh_probe"), tmp_path
    sys.modules.pop("fresh_probe", None)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: the call is made in this process")
def test_a_fresh_process_runs_the_call_and_names_what_it_does(module):
    probe, folder = module
    value, pid, what, loaded = Background(probe.where, 21, what="joining", fresh=[str(folder)]).result()
    assert (value, what, loaded) == (42, "joining", True) and pid != os.getpid()
    assert WHAT_VARIABLE not in os.environ
    with pytest.raises(BackgroundFailed, match="no such article"):
        Background(probe.fails, what="failing", fresh=[str(folder)]).result()
