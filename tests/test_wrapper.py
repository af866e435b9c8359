"""./invoke, the archivist's entry point: its own virtualenv, and the issues' `--n N` spelling."""

from __future__ import annotations

import subprocess

from conftest import ROOT


def test_long_n_option_reaches_the_task(tmp_path):
    for spelling in (["--n", "2"], ["--n=2"]):
        dest = tmp_path / spelling[0].replace("=", "")
        proc = subprocess.run([str(ROOT / "invoke"), "corpus", *spelling, "--dest", str(dest)],
                              cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert len(list(dest.glob("*.txt"))) == 2
