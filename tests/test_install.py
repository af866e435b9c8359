"""pyproject.toml: a wheel of the checkout gives a Dask worker everything it renders with."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from conftest import ROOT

#: What a worker renders with, besides the broadsheet package: packaged under broadsheet/project/.
PROJECT_FILES = ["pelicanconf.py", "publishconf.py", "offlineconf.py"]
PROJECT_FOLDERS = ["plugins", "theme", "mappings"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("wheel")
    # no build isolation: hatchling is pinned in requirements-test.txt, so no download is needed
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(ROOT), "-w", str(dest)], check=True, capture_output=True)
    (built,) = dest.glob("broadsheet-*.whl")
    return built


def _tracked(folder: str) -> list[str]:
    listed = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True)
    return [p for p in listed.stdout.split() if "/test_" not in p and "test_data/" not in p]


def test_pyproject_names_every_pinned_library_at_its_pinned_version_or_lower():
    declared = {Requirement(d).name.lower(): Requirement(d)
                for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        pinned = Requirement(line)
        (version,) = [s.version for s in pinned.specifier]
        assert pinned.name.lower() in declared, f"{pinned.name} is pinned in requirements.txt but not in pyproject.toml"
        assert declared[pinned.name.lower()].specifier.contains(version), pinned.name


def test_wheel_holds_the_package_settings_plugins_and_theme(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    want = [p for p in _tracked("broadsheet")]
    want += [f"broadsheet/project/{p}" for p in PROJECT_FILES]
    want += [f"broadsheet/project/{p}" for folder in PROJECT_FOLDERS for p in _tracked(folder)]
    missing = [p for p in want if p not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert not [n for n in names if "__pycache__" in n or n.startswith(("content/", "tests/", "raw/"))]


def test_a_site_built_from_the_installed_wheel_equals_one_built_from_the_checkout(wheel, tmp_path):
    """Installed into a folder of its own and run from elsewhere, the wheel's copy of the
    settings, plugins and theme is what renders, and it renders the same bytes."""
    target, work = tmp_path / "installed", tmp_path / "work"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    work.mkdir()
    script = """if True:
        import sys
        from pathlib import Path
        import broadsheet
        from broadsheet import site
        from broadsheet.ingest import ingest
        source, base = Path(sys.argv[1]), Path(sys.argv[2])
        print(broadsheet.__file__, site.PROJECT)
        ingest(source, base / "content", site.source_timezone())
        site.build(base / "content", base / "output", CACHE_PATH=str(base / "cache"),
                   RELATED_GRAPH_REPORT=str(base / "graph.json"), INGEST_REPORT=sys.argv[3])
    """
    outputs = {}
    for name, pythonpath in [("installed", target), ("checkout", ROOT)]:
        base = tmp_path / name
        env = {**os.environ, "PYTHONPATH": str(pythonpath)}
        ran = subprocess.run([sys.executable, "-c", script, str(ROOT / "raw"), str(base), str(tmp_path / "no-report.json")],
                             cwd=work, env=env, capture_output=True, text=True)
        assert ran.returncode == 0, ran.stderr[-3000:]
        module, project = ran.stdout.splitlines()[0].split()
        assert Path(module).is_relative_to(pythonpath) and Path(project).is_relative_to(pythonpath)
        outputs[name] = base / "output"
    assert len(list(outputs["installed"].rglob("*.html"))) > 40
    compared = filecmp.dircmp(outputs["installed"], outputs["checkout"])
    assert _differences(compared) == []


def _differences(d: filecmp.dircmp) -> list[str]:
    found = [*d.left_only, *d.right_only, *d.diff_files, *d.funny_files]
    for sub in d.subdirs.values():
        found += _differences(sub)
    return found
