"""In CI (CI=true) a missing browser or PostgreSQL stops the run; elsewhere it is a skip or a
warning.

``make system-deps`` runs under a PATH holding only fake ``id`` and ``apt-get`` (nothing is
installed), and the browser test runs in a child pytest with ``AIDASH_CHROMIUM`` pointing at a
file that does not exist.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

MAKE = shutil.which("make")
PACKAGES = "chromium fonts-wqy-microhei fonts-noto-cjk poppler-utils postgresql"


def fake_bin(tmp_path: Path, uid: int) -> tuple[Path, Path]:
    """A folder with ``id`` (prints ``uid``) and ``apt-get`` (logs its arguments; ``update``
    works, ``install`` fails as with an unreachable mirror), and the log's path."""
    folder, log = tmp_path / "bin", tmp_path / "apt-get.log"
    folder.mkdir()
    scripts = {
        "id": f"#!/bin/sh\necho {uid}\n",
        "apt-get": (f'#!/bin/sh\necho "$*" >> "{log}"\n[ "$1" = update ] && exit 0\n'
                    'echo "E: Unable to locate package chromium" >&2\nexit 100\n'),
    }
    for name, text in scripts.items():
        (folder / name).write_text(text, encoding="utf-8")
        (folder / name).chmod(0o755)
    return folder, log


def system_deps(folder: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(folder)} | ({"CI": ci} if ci is not None else {})
    assert MAKE is not None
    return subprocess.run([MAKE, "-s", "system-deps"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


needs_make = pytest.mark.skipif(MAKE is None, reason="no make on this machine")


@needs_make
def test_a_failed_install_stops_make_in_ci(tmp_path: Path) -> None:
    folder, log = fake_bin(tmp_path, uid=0)
    result = system_deps(folder, "true")
    assert result.returncode != 0
    assert (f"system-deps: ERROR could not install {PACKAGES} (apt-get failed, see above); in "
            "CI (CI=true) the browser test fails without them: fix the package sources and "
            "rerun") in result.stderr.splitlines()
    # The package lists are refreshed before the install.
    assert log.read_text(encoding="utf-8").splitlines() == ["update -qq",
                                                            f"install -y -qq {PACKAGES}"]


@needs_make
def test_a_failed_install_is_a_warning_outside_ci(tmp_path: Path) -> None:
    folder, log = fake_bin(tmp_path, uid=0)
    result = system_deps(folder, None)
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "system-deps: WARNING could not install chromium; the browser test will skip"]
    assert log.read_text(encoding="utf-8").splitlines() == ["update -qq",
                                                            f"install -y -qq {PACKAGES}"]


@needs_make
@pytest.mark.parametrize(("ci", "code", "line"), [
    ("true", 2, (f"system-deps: ERROR not root, so {PACKAGES} cannot be installed; in CI "
                 "(CI=true) the browser test fails without them: install them in the CI image "
                 "or run as root")),
    (None, 0, "system-deps: WARNING not root, chromium not installed; the browser test will skip"),
])
def test_without_root_make_fails_only_in_ci(tmp_path: Path, ci: str | None, code: int,
                                            line: str) -> None:
    folder, log = fake_bin(tmp_path, uid=1000)
    result = system_deps(folder, ci)
    assert result.returncode == code
    assert line in (result.stderr if code else result.stdout).splitlines()
    assert not log.exists()  # apt-get is not even tried


def run_browser_test(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """pytest on tests/test_browser.py in a child process, with no Chromium to be found."""
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("PYTEST")}
    env["AIDASH_CHROMIUM"] = str(tmp_path / "no-chromium")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_browser.py", "-q", "-p", "no:cacheprovider",
         "-p", "no:xdist"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        check=False)


@pytest.mark.slow
def test_the_browser_test_fails_without_chromium_in_ci(tmp_path: Path) -> None:
    result = run_browser_test(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    message = (f"BROWSER TEST FAILED: no Chromium at {tmp_path / 'no-chromium'}, and CI is set, "
               "so the browser test may not skip; install Debian's `chromium` package (`make "
               "system-deps` as root)")
    assert message in result.stdout
    # Every test errs at set-up (none is skipped, none passes).
    assert re.fullmatch(r"\d+ errors in [\d.]+s", result.stdout.splitlines()[-1])


@pytest.mark.slow
def test_the_browser_test_skips_without_chromium_outside_ci(tmp_path: Path) -> None:
    result = run_browser_test(tmp_path, None)
    assert result.returncode == 0, result.stdout
    assert (f"BROWSER TEST SKIPPED: no Chromium at {tmp_path / 'no-chromium'}; install Debian's "
            "`chromium` package (make test does so when it runs as root)") in result.stdout
    assert re.fullmatch(r"\d+ skipped in [\d.]+s", result.stdout.splitlines()[-1])


def run_postgres_test(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """pytest on a test that needs the PostgreSQL server, in a child process, with no
    PostgreSQL to be found."""
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("PYTEST")}
    env["AIDASH_POSTGRES_BIN"] = str(tmp_path / "no-postgres")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_postgres.py", "-q", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-k", "killed_loads"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300, check=False)


@pytest.mark.slow
@pytest.mark.parametrize(("ci", "code", "last", "suffix"), [
    ("true", 1, r"\d+ deselected, 1 error in [\d.]+s", " (CI=true: PostgreSQL is required)"),
    (None, 0, r"1 skipped, \d+ deselected in [\d.]+s", "")])
def test_the_postgres_tests_fail_without_postgresql_in_ci_and_skip_elsewhere(
        tmp_path: Path, ci: str | None, code: int, last: str, suffix: str) -> None:
    result = run_postgres_test(tmp_path, ci)
    assert result.returncode == code, result.stdout
    reason = (f"PostgreSQL is not installed (no pg_ctl in {tmp_path / 'no-postgres'}); run "
              "`make system-deps` as root")
    if ci:
        assert reason + suffix in result.stdout
    assert re.fullmatch(last, result.stdout.splitlines()[-1]), result.stdout
