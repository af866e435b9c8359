"""What the test suite needs from the machine, named exactly when it is missing."""

from __future__ import annotations

import importlib.util
import os
import shutil

CHROMIUM = "/usr/bin/chromium"
TEST_MODULES = ("pytest", "xdist", "hypothesis", "playwright", "bibtexparser", "rispy", "citeproc")


def missing_test_tools(browser: bool = True) -> list[str]:
    missing = [f"Python module {m} (pip install -r requirements-test.txt)"
               for m in TEST_MODULES if importlib.util.find_spec(m) is None]
    if browser and not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Chromium at {CHROMIUM} (Debian/Ubuntu: sudo apt-get install chromium)")
    if browser and shutil.which("java") is None:
        missing.append("Java, for the W3C HTML checker (Debian/Ubuntu: sudo apt-get install default-jre-headless)")
    return missing
