"""Content, sources and outputs at fsspec URLs (broadsheet/remote.py) through the real commands."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import fsspec
import pytest
from invoke import Collection, Program

import tasks
from broadsheet import remote
from conftest import ROOT
from test_rebuild import Project, contents, make_source, write_dump


def run_task(*argv: str) -> int:
    """`invoke ARGV` in this process (memory:// lives in this process only): its exit status."""
    try:
        Program(namespace=Collection.from_module(tasks)).run(["invoke", *argv])
    except SystemExit as exc:
        return exc.code or 0
    return 0


@pytest.fixture
def memory(tmp_path, monkeypatch):
    """fsspec's in-memory file system, under a bucket of this test's own; working copies in tmp_path."""
    monkeypatch.setenv("BROADSHEET_REMOTE_CACHE", str(tmp_path / "working-copies"))
    fs = fsspec.filesystem("memory")
    bucket = f"/{tmp_path.name}"
    yield fs, bucket
    if fs.exists(bucket):
        fs.rm(bucket, recursive=True)


def memory_files(fs, folder: str) -> dict[str, str]:
    """sha256 of every file under `folder` in memory, by relative path."""
    return {name[len(folder) + 1:]: hashlib.sha256(fs.cat_file(name)).hexdigest()
            for name in sorted(fs.find(folder))}


def test_urls_and_local_paths_are_told_apart():
    assert remote.is_url("s3://bucket/site") and remote.is_url("memory://bucket/content")
    assert not remote.is_url("content") and not remote.is_url("/srv/archive/output")
    assert not remote.is_url("file:///srv/archive/output")
    assert remote.local_path("file:///srv/archive/output") == Path("/srv/archive/output")
    assert remote.local_path("output") == Path("output")


def test_a_rebuild_at_memory_urls_equals_the_local_rebuild(tmp_path, memory):
    fs, bucket = memory
    local = Project(tmp_path / "local")
    make_source(local.base, range(1, 6))
    fs.put(str(local.source), f"{bucket}/raw", recursive=True)
    urls = ["--source", f"memory://{bucket}/raw", "--content", f"memory://{bucket}/content",
            "--output", f"memory://{bucket}/output", "--zip", f"memory://{bucket}/dist/broadsheet-archive.zip",
            "--reports", str(tmp_path / "reports")]

    def same_bytes():
        assert local.rebuild().status == "ok"
        assert run_task("rebuild", *urls) == 0
        published = memory_files(fs, f"{bucket}/output")
        assert published.pop(remote.MANIFEST)
        assert published == contents(local.output)
        assert memory_files(fs, f"{bucket}/content") == contents(local.content)
        assert fs.cat_file(f"{bucket}/dist/broadsheet-archive.zip") == local.zip.read_bytes()

    same_bytes()
    # one dump added and one removed, at the source URL as locally (a changed text would keep
    # a version seen at the time of each run): the published site follows, and the pages of
    # the removed article are gone from it
    added = write_dump(local.source, 7)
    fs.put_file(str(added), f"{bucket}/raw/{added.name}")
    (local.source / "003.txt").unlink()
    fs.rm_file(f"{bucket}/raw/003.txt")
    before = set(memory_files(fs, f"{bucket}/output"))
    same_bytes()
    assert before - set(memory_files(fs, f"{bucket}/output")), "the removed article's pages stay published"


def test_file_urls_behave_as_the_local_paths(tmp_path):
    plain, by_url = Project(tmp_path / "plain"), Project(tmp_path / "by-url")
    for p in (plain, by_url):
        make_source(p.base, range(1, 4))
    cache = tmp_path / "working-copies"
    env = {**os.environ, "BROADSHEET_REMOTE_CACHE": str(cache)}
    subprocess.run(plain.command(), cwd=ROOT, check=True, capture_output=True, env=env)
    command = by_url.command()
    for option in ("--source", "--content", "--output", "--zip"):  # --reports takes a path only
        at = command.index(option) + 1
        command[at] = Path(command[at]).as_uri()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env=env)
    assert by_url.output.is_symlink()  # the rebuild's own layout, at the path itself
    assert contents(by_url.output) == contents(plain.output)
    assert by_url.zip.read_bytes() == plain.zip.read_bytes()
    assert not cache.exists()  # no working copy: file:// is the path


def test_an_unreachable_url_is_one_line_exit_2_and_nothing_is_done(tmp_path):
    project = Project(tmp_path / "archive")
    make_source(project.base, range(1, 3))
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site_url = f"ftp://127.0.0.1:{port}/site"
    command = project.command()
    command[command.index("--output") + 1] = site_url
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "BROADSHEET_REMOTE_CACHE": str(tmp_path / "working-copies")})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"output: cannot reach {site_url}"), proc.stderr
    assert not project.content.exists() and not project.zip.exists()  # nothing ingested, built or published


def test_missing_content_url_is_refused_and_nothing_published(tmp_path, memory, capsys):
    fs, bucket = memory
    status = run_task("build", "--content", f"memory://{bucket}/nowhere", "--output", f"memory://{bucket}/site")
    assert status == 2
    assert capsys.readouterr().err.strip() == (f"content: memory://{bucket}/nowhere does not exist; "
                                               "nothing was read, built or published")
    assert not fs.exists(f"{bucket}/site")


def test_a_destination_holding_other_files_is_refused(tmp_path, memory, capsys):
    fs, bucket = memory
    fs.pipe_file(f"{bucket}/site/index.html", b"the archivist's own page")
    project = Project(tmp_path / "archive")
    make_source(project.base, range(1, 3))
    status = run_task("rebuild", "--source", str(project.source), "--content", str(project.content),
                      "--output", f"memory://{bucket}/site", "--zip", str(project.zip),
                      "--reports", str(project.reports))
    assert status == 2
    assert "holds files that Broadsheet did not publish" in capsys.readouterr().err
    assert fs.cat_file(f"{bucket}/site/index.html") == b"the archivist's own page"
    assert not project.content.exists()


def test_an_edit_made_at_the_content_url_is_built_and_kept(tmp_path, memory):
    fs, bucket = memory
    project = Project(tmp_path / "archive")
    make_source(project.base, range(1, 3))
    content, site = f"memory://{bucket}/content", f"memory://{bucket}/site"
    args = ["--source", str(project.source), "--content", content, "--reports", str(project.reports)]
    assert run_task("ingest", *args[:4], "--report", str(project.reports / "ingest.json")) == 0
    (article,) = [n for n in fs.find(f"{bucket}/content") if n.endswith(".md") and "report-1" in n]
    edited = fs.cat_file(article).replace(b"Report 1 from", b"Report 1 (checked by the archivist) from")
    fs.pipe_file(article, edited)
    assert run_task("build", "--content", content, "--output", site) == 0
    pages = [n for n in fs.find(f"{bucket}/site") if n.endswith(".html") and "report-1" in n]
    assert any(b"checked by the archivist" in fs.cat_file(p) for p in pages)
    # ingest again: the archivist's edit is not overwritten, at the URL either
    assert run_task("ingest", *args[:4], "--report", str(project.reports / "ingest.json")) == 0
    assert fs.cat_file(article) == edited


def test_the_readme_section_on_clusters_uses_real_commands_and_options():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## When one machine is not enough"):readme.index("## Settings")]
    commands = re.findall(r"^\./invoke (\S+)((?:.*\\\n)*.*)", section, flags=re.MULTILINE)
    assert {name for name, _ in commands} >= {"ingest", "rebuild"}
    namespace = Collection.from_module(tasks)
    for name, rest in commands:
        task = namespace[name]
        options = {arg.name.replace("_", "-") for arg in task.get_arguments()}
        for option in re.findall(r"--([a-z][a-z-]*)", rest.split("#")[0]):
            assert option in options, f"./invoke {name} has no --{option}"
