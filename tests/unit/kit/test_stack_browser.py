"""The browser tests' toolchain installer (plenary_kit.stack.browser) without touching the machine: what it runs, what
it says when it cannot install, and that a second install does nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from plenary_kit.stack import browser
from plenary_kit.stack.processes import StackError, StackPaths


@pytest.fixture
def paths(tmp_path: Path) -> StackPaths:
    return StackPaths(tmp_path)


def test_without_root_a_missing_chromium_says_which_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "chromium_installed", lambda: False)
    monkeypatch.setattr(browser, "can_apt_install", lambda: False)
    with pytest.raises(StackError) as raised:
        browser.install_chromium()
    assert "apt-get install -y --no-install-recommends chromium" in str(raised.value)
    assert "root" in str(raised.value)


def test_as_root_a_missing_chromium_is_installed_with_apt_get(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[str] = []
    monkeypatch.setattr(browser, "chromium_installed", lambda: bool(installed))
    monkeypatch.setattr(browser, "can_apt_install", lambda: True)
    monkeypatch.setattr(browser, "_apt_install", lambda package, echo: installed.append(package))
    assert browser.install_chromium(echo=lambda _: None) == browser.CHROMIUM
    assert installed == ["chromium"]


def test_no_apt_refuses_to_install_even_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "chromium_installed", lambda: False)
    monkeypatch.setattr(browser, "can_apt_install", lambda: True)
    monkeypatch.setattr(browser, "_apt_install", lambda package, echo: pytest.fail("apt-get must not run"))
    with pytest.raises(StackError):
        browser.install_chromium(auto_install=False)


def test_axe_comes_from_npm_once(monkeypatch: pytest.MonkeyPatch, paths: StackPaths) -> None:
    calls: list[list[str]] = []

    def npm(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        calls.append(cmd)
        script = browser.axe_script(paths)
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("window.axe = {};")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(browser.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr("plenary_kit.stack.infra.subprocess.run", npm)
    first = browser.install_axe(paths, echo=lambda _: None)
    second = browser.install_axe(paths, echo=lambda _: None)
    assert first == second == browser.axe_script(paths)
    assert len(calls) == 1
    assert calls[0][:4] == ["/usr/bin/npm", "install", "--prefix", str(browser.npm_prefix(paths))]
    assert calls[0][-1] == browser.AXE_SPEC


def test_a_failed_npm_install_names_its_log(monkeypatch: pytest.MonkeyPatch, paths: StackPaths) -> None:
    monkeypatch.setattr(browser.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr("plenary_kit.stack.infra.subprocess.run",
                        lambda cmd, **kwargs: subprocess.CompletedProcess(cmd, 1))
    with pytest.raises(StackError) as raised:
        browser.install_axe(paths, echo=lambda _: None)
    assert str(paths.logs / "install-npm.log") in str(raised.value)
    assert not browser.axe_installed(paths)
