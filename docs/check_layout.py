"""Check, in a real headless browser, that nothing on the docs pages is clipped.

Opens pages of a built site (``python -m sphinx docs OUT``) in headless Chromium at a
desktop viewport (1280 x 900 by default), waits for MathJax to typeset, and reports
every code block (``pre``, ``div.highlight``) and every display equation (MathJax's
``mjx-container[display="true"]``, Sphinx's ``div.math``) whose content is wider than
its box (``scrollWidth > clientWidth``): a reader would have to scroll sideways to
see all of it. Optionally saves full-page PNG screenshots.

The browser is driven through the Chrome DevTools Protocol over a websocket
(``websocket-client``), the site served from a local HTTP server on 127.0.0.1 (so
MathJax can load its fonts and extensions): no network, no selenium.

Usage::

    python docs/check_layout.py docs/_build/html                     # mapping + derivations
    python docs/check_layout.py SITE --pages mapping/lstm.html --shots /tmp/shots
    python docs/check_layout.py --build /tmp/site                    # build first, then check

Exit status 0 when nothing is clipped, 1 otherwise, 2 when Chromium is missing.
``tests/test_docs_layout.py`` runs it on the mapping and derivation pages.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

DOCS = Path(__file__).resolve().parent
WIDTH, HEIGHT = 1280, 900
SHOT_PAGES = ("mapping/lstm.html", "derivations/lstm.html")
MAX_SHOT_HEIGHT = 16000  # px; a taller page is cut there

# Every element a reader could find clipped, with a label to find it again.
MEASURE = r"""
(() => {
  const items = (window.MathJax && MathJax.startup && MathJax.startup.document)
    ? Array.from(MathJax.startup.document.math) : [];
  const texOf = (el) => {
    const item = items.find((m) => m.typesetRoot === el);
    return item ? item.math.trim().replace(/\s+/g, " ") : "";
  };
  const found = [];
  const selector = 'pre, div.highlight, mjx-container[display="true"], div.math';
  for (const el of document.querySelectorAll(selector)) {
    if (el.clientWidth === 0 || el.closest("mjx-assistive-mml")) continue;
    const over = el.scrollWidth - el.clientWidth;
    if (over <= 1) continue;
    let kind = "code", label = "";
    if (el.matches('mjx-container, div.math')) {
      kind = "math";
      const mjx = el.matches("mjx-container") ? el : el.querySelector("mjx-container");
      label = mjx ? texOf(mjx) : el.textContent;
    } else {
      const block = el.closest("div.literal-block-wrapper, div.highlight") || el;
      const caption = block.querySelector && block.querySelector(".caption-text");
      const lines = el.textContent.split("\n");
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
      label = (caption ? caption.textContent + ": " : "") + longest.trim();
    }
    found.push({kind, tag: el.tagName.toLowerCase(), client: el.clientWidth,
                scroll: el.scrollWidth, over, label: label.slice(0, 120)});
  }
  return found;
})()
"""

WAIT_FOR_MATH = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await document.fonts.ready;
  return true;
})()
"""


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable: ``$CHROMIUM``, else the first one on PATH."""
    candidates = [os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser",
                  "google-chrome", "google-chrome-stable"]
    for name in candidates:
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request on stderr
        pass


@contextmanager
def serve(site: Path):
    """Serve ``site`` on 127.0.0.1 (a free port) for the duration of the block."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Browser:
    """Headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self, executable: str, width: int = WIDTH, height: int = HEIGHT,
                 timeout: float = 30.0):
        import websocket  # websocket-client

        self.width, self.height, self.timeout = width, height, timeout
        self._profile = tempfile.mkdtemp(prefix="minis2s-chromium-")
        self._process = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--hide-scrollbars", "--remote-debugging-port=0",
             f"--user-data-dir={self._profile}", f"--window-size={width},{height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            port = self._debugging_port()
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
            page = next(t for t in targets if t.get("type") == "page")
            self._ws = websocket.create_connection(page["webSocketDebuggerUrl"],
                                                   timeout=timeout, suppress_origin=True)
            self._id = 0
            self.call("Page.enable")
            self.call("Runtime.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def _debugging_port(self) -> int:
        marker = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self._process.returncode}")
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its debugging port")

    def call(self, method: str, **params):
        """Send one command and return its result (events arriving meanwhile are dropped)."""
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str, await_promise: bool = False):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=await_promise)
        if "exceptionDetails" in result:
            raise RuntimeError(f"javascript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Load ``url`` and wait until it has loaded and MathJax has typeset it."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + self.timeout
        while True:
            ready = self.evaluate("document.readyState + ' ' + location.href")
            if ready == f"complete {url}":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load ({ready})")
            time.sleep(0.05)
        self.evaluate(WAIT_FOR_MATH, await_promise=True)

    def screenshot(self, path: Path) -> None:
        """The whole page (up to MAX_SHOT_HEIGHT px) as a PNG at ``path``."""
        height = self.evaluate("document.documentElement.scrollHeight")
        height = min(int(height), MAX_SHOT_HEIGHT)
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": self.width, "height": height,
                               "scale": 1})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            try:
                ws.close()
            except Exception:
                pass
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def default_pages(site: Path) -> list[str]:
    """The math-to-code pages and the derivations: where the wide code and math live."""
    return sorted(p.relative_to(site).as_posix()
                  for folder in ("mapping", "derivations")
                  for p in (site / folder).glob("*.html"))


def check(site: Path, pages: list[str] | None = None, shots: Path | None = None,
          shot_pages: tuple[str, ...] = SHOT_PAGES, width: int = WIDTH, height: int = HEIGHT,
          chromium: str | None = None) -> dict[str, list[dict]]:
    """``{page: [clipped element, ...]}`` for ``pages`` of the built ``site``.

    Screenshots of ``shot_pages`` (those among ``pages``) go to ``shots`` as
    ``mapping_lstm.png`` etc. when ``shots`` is given.
    """
    site = Path(site).resolve()
    pages = default_pages(site) if pages is None else list(pages)
    missing = [page for page in pages if not (site / page).is_file()]
    if missing:
        raise FileNotFoundError(f"not in {site}: {', '.join(missing)}")
    executable = chromium or find_chromium()
    if executable is None:
        raise FileNotFoundError("no chromium found (set $CHROMIUM)")
    report: dict[str, list[dict]] = {}
    with serve(site) as base, Browser(executable, width, height) as browser:
        for page in pages:
            browser.open(f"{base}/{page}")
            report[page] = browser.evaluate(MEASURE)
            if shots is not None and page in shot_pages:
                browser.screenshot(Path(shots) / (page.removesuffix(".html").replace("/", "_")
                                                  + ".png"))
    return report


def build(out: Path) -> None:
    """Build the site into ``out`` (warnings are errors, notebooks not executed)."""
    env = dict(os.environ, MINIS2S_SMALL="1", MINIS2S_DOCS_EXECUTE="off")
    subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                    str(DOCS), str(out)], check=True, env=env, cwd=DOCS.parent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?", type=Path, help="a built HTML site")
    parser.add_argument("--build", type=Path, metavar="OUT",
                        help="build the docs into OUT first and check that")
    parser.add_argument("--pages", nargs="+", help="pages relative to the site "
                        "(default: mapping/*.html and derivations/*.html)")
    parser.add_argument("--shots", type=Path, help="folder for PNG screenshots of "
                        + " and ".join(SHOT_PAGES))
    parser.add_argument("--width", type=int, default=WIDTH)
    parser.add_argument("--height", type=int, default=HEIGHT)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if (args.site is None) == (args.build is None):
        parser.error("give either a built SITE or --build OUT")
    if find_chromium() is None:
        print("check_layout: no chromium found (set $CHROMIUM)", file=sys.stderr)
        return 2
    site = args.site
    if args.build is not None:
        build(args.build)
        site = args.build
    report = check(site, args.pages, args.shots, width=args.width, height=args.height)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for page, clipped in report.items():
            print(f"{page}: {len(clipped)} clipped")
            for item in clipped:
                print(f"    {item['kind']:4} {item['tag']:14} {item['scroll']:5} > "
                      f"{item['client']:4} px  {item['label']}")
    total = sum(len(clipped) for clipped in report.values())
    print(f"{total} clipped element(s) on {len(report)} page(s) at {args.width}x{args.height}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
