"""The browser tests' toolchain: Debian's Chromium and axe-core (from the npm registry).

`plenary stack install` installs both (idempotent), so `make test` can drive a real browser:
- Chromium: Debian's package at /usr/bin/chromium, installed with apt-get when missing and we are root. Playwright's
  own browser download is not used (it fails here); tests launch with `executable_path=CHROMIUM` and `CHROMIUM_ARGS`.
- axe-core: `npm install --prefix .plenary/cache/npm axe-core@4`; the tests inject `axe_script(paths)` into pages.
Nothing third-party is copied into the repository.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from plenary_kit.stack.infra import Echo, _apt_install, _install_lock, _run_logged, _stderr, can_apt_install
from plenary_kit.stack.processes import StackError, StackPaths

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_PACKAGE = "chromium"
AXE_SPEC = "axe-core@4"
# Headless, no sandbox (we run as root in a container), and none of the background traffic Chromium starts by
# itself (updates, sync, QUIC probes): without these its connections are refused in this environment.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


@dataclass(frozen=True)
class BrowserTools:
    chromium: Path
    axe: Path


def npm_prefix(paths: StackPaths) -> Path:
    return paths.cache / "npm"


def axe_script(paths: StackPaths) -> Path:
    return npm_prefix(paths) / "node_modules" / "axe-core" / "axe.min.js"


def chromium_installed() -> bool:
    return os.access(CHROMIUM, os.X_OK)


def axe_installed(paths: StackPaths) -> bool:
    marker = npm_prefix(paths) / "installed.txt"
    return axe_script(paths).is_file() and marker.is_file() and marker.read_text() == f"{AXE_SPEC}\n"


def _missing(what: str, package: str) -> StackError:
    return StackError(f"{what} is not installed and only root can install it: run `sudo apt-get install -y "
                      f"--no-install-recommends {package}` (or `make test` as root) and try again.")


def install_chromium(*, auto_install: bool = True, echo: Echo = _stderr) -> Path:
    """Debian's Chromium; apt-get installs it when missing and we are root."""
    if chromium_installed():
        return CHROMIUM
    if not (auto_install and can_apt_install()):
        raise _missing(f"Chromium ({CHROMIUM}, for the browser tests)", CHROMIUM_PACKAGE)
    _apt_install(CHROMIUM_PACKAGE, echo)
    if not chromium_installed():
        raise StackError(f"apt-get installed {CHROMIUM_PACKAGE} but {CHROMIUM} is still missing; install Debian's "
                         "chromium package by hand and run `plenary stack install` again.")
    return CHROMIUM


def _npm(auto_install: bool, echo: Echo) -> str:
    found = shutil.which("npm")
    if found:
        return found
    if not (auto_install and can_apt_install()):
        raise _missing("npm (for axe-core, the browser tests' accessibility checker)", "npm")
    _apt_install("npm", echo)
    found = shutil.which("npm")
    if not found:
        raise StackError("apt-get installed npm but it is not on PATH; install it by hand and run "
                         "`plenary stack install` again.")
    return found


def install_axe(paths: StackPaths, *, auto_install: bool = True, echo: Echo = _stderr) -> Path:
    """axe-core from the npm registry into .plenary/cache/npm (once per AXE_SPEC)."""
    with _install_lock(paths, "npm"):
        if axe_installed(paths):
            return axe_script(paths)
        npm = _npm(auto_install, echo)
        prefix = npm_prefix(paths)
        prefix.mkdir(parents=True, exist_ok=True)
        paths.logs.mkdir(parents=True, exist_ok=True)
        log = paths.logs / "install-npm.log"
        echo(f"Fetching {AXE_SPEC} from the npm registry (log: {log}) ...")
        code = _run_logged([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                            "--no-update-notifier", "--loglevel=error", AXE_SPEC], log)
        if code != 0 or not axe_script(paths).is_file():
            raise StackError(f"npm could not install {AXE_SPEC} (see {log}); check that the npm registry is "
                             "reachable and run `plenary stack install` again.")
        (prefix / "installed.txt").write_text(f"{AXE_SPEC}\n")
        return axe_script(paths)


def install_browser_tools(paths: StackPaths, *, auto_install: bool = True, echo: Echo = _stderr) -> BrowserTools:
    """Chromium and axe-core, installing what is missing."""
    chromium = install_chromium(auto_install=auto_install, echo=echo)
    return BrowserTools(chromium=chromium, axe=install_axe(paths, auto_install=auto_install, echo=echo))
