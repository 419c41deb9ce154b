"""A minimal driver for Debian's headless Chromium over the DevTools protocol.

Streamlit renders in the browser after a websocket round trip, so ``chromium --screenshot`` alone
photographs a skeleton. This driver opens a page, waits until a JavaScript condition holds (the
charts are drawn), reads the page text and takes the screenshot, with nothing but the system
``/usr/bin/chromium`` and the ``websockets`` client. Nothing is downloaded.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--no-first-run", "--disable-component-update",
    "--disable-sync", "--hide-scrollbars", "--remote-debugging-port=0",
)


def chromium_path() -> str | None:
    """Debian's chromium if installed (``apt-get install chromium``), else None."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


class Chromium:
    """One headless browser with one page; a context manager that always stops the browser."""

    def __init__(self, binary: str, profile: Path, width: int = 1400, height: int = 1800) -> None:
        self.binary, self.profile = binary, profile
        self.width, self.height = width, height
        self._ids = itertools.count(1)
        self._stack = contextlib.ExitStack()
        self._process: subprocess.Popen[bytes] | None = None
        self._ws: ClientConnection | None = None

    def __enter__(self) -> Chromium:
        self._process = subprocess.Popen(
            [self.binary, *FLAGS, f"--user-data-dir={self.profile}",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._stack.callback(self._stop_browser)
        try:
            port = self._debugging_port(timeout_s=30)
            url = f"http://127.0.0.1:{port}/json/list"
            with urllib.request.urlopen(url, timeout=10) as reply:
                targets = json.load(reply)
            page = next(t for t in targets if t["type"] == "page")
            self._ws = self._stack.enter_context(
                connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
            )
            self.resize(self.width, self.height)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _stop_browser(self) -> None:
        assert self._process is not None
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def resize(self, width: int, height: int) -> None:
        """Set the page's viewport, which is what a screenshot shows."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def _debugging_port(self, timeout_s: float) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self._process.returncode}")
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            time.sleep(0.1)
        raise TimeoutError(f"chromium wrote no {marker} within {timeout_s} s")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are skipped)."""
        assert self._ws is not None
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=60))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float, settle_s: float = 1.0) -> None:
        """Wait until ``expression`` is truthy, then ``settle_s`` more for animations to end."""
        deadline = time.monotonic() + timeout_s
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never satisfied {expression!r} in {timeout_s} s")
            time.sleep(0.25)
        time.sleep(settle_s)

    def click_text(self, selector: str, words: str) -> None:
        """Click the first element matching ``selector`` whose text contains ``words``."""
        found = self.evaluate(
            f"(() => {{ const el = [...document.querySelectorAll({json.dumps(selector)})]"
            f".find(e => e.innerText.includes({json.dumps(words)}));"
            " if (el) { el.click(); return true; } return false; })()"
        )
        if not found:
            raise LookupError(f"no {selector!r} with text {words!r} on the page")

    def text(self) -> str:
        return str(self.evaluate("document.body.innerText"))

    def screenshot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
