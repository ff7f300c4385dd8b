"""Headless Chromium from the system's packages (Debian `chromium`), driven by Playwright
(PyPI `playwright`, whose own browser download is never used). `scripts/test` installs
the package when missing; a machine without it fails here with the exact package to
install, never a skip.

Chromium starts with no network of its own (no background requests, no sync, no
component updates), as on the probe that checked this machine. `only_local(page, base)`
fails a test whose page asks for anything but the node it was served by."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("YIMEN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]
SHOTS = Path(os.environ.get("YIMEN_SCREENSHOTS", Path(__file__).resolve().parents[2] / "data" / "screenshots"))


def launch(playwright: Any) -> Any:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Chromium at {CHROMIUM}: install the Debian packages "
                    "`chromium` and `fonts-wqy-microhei` (scripts/test does when it may use apt-get)", pytrace=False)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def only_local(page: Any, base: str) -> list[str]:
    """Record every request the page makes that is not to `base` (the list a test checks
    is empty at its end)."""
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) or r.url.startswith("data:") else outside.append(r.url))
    return outside


def screenshot(page: Any, name: str) -> Path:
    """A full-page picture of the page under data/screenshots/ (for the eye, not compared)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, base: str, clerk_id: str, password: str) -> None:
    page.goto(f"{base}/signin")
    page.fill("input[name=clerk_id]", clerk_id)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
