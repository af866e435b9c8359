"""Same content, same bytes: two builds in fresh interpreters with different hash seeds."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT, ingest_into

BUILD = "from pathlib import Path; from broadsheet import site; import sys; site.build(Path(sys.argv[1]), Path(sys.argv[2]), CACHE_PATH=sys.argv[3])"


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_is_byte_identical_across_interpreters(tmp_path):
    content = tmp_path / "content"
    ingest_into(ROOT / "raw", content)
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", BUILD, str(content), str(out), str(tmp_path / f"cache{seed}")],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        outs.append(tree(out))
    assert outs[0].keys() == outs[1].keys()
    differing = [k for k in outs[0] if outs[0][k] != outs[1][k]]
    assert differing == []
