"""Headless Chromium for page tests: screenshot, rendered DOM, and the network requests a page
made (from Chromium's net log), plus checks of screenshots and of tables in HTML.

``python -m tests.browser OUT.png`` renders the example run's report and saves the README
screenshot (``docs/img/report.png``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Chromium's own traffic (component updates, time sync, accounts) goes out even with
# --disable-background-networking; it carries no initiating origin, a page's requests do.
BROWSER_INITIATOR = "not an origin"
README_COMMAND = ("tbvar score examples/variants.vcf --genome "
                  "examples/hg19_chr17_region_padded.fa.gz --model examples/model.safetensors "
                  "--background examples/background.safetensors --scores lod,p -o "
                  "example.parquet")


def find_browser() -> str | None:
    """The path of a Chromium binary, or ``None``."""
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def _run(browser: str, page: Path, profile: Path, extra: list[str]) -> str:
    command = [browser, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
               f"--user-data-dir={profile}", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-extensions",
               "--hide-scrollbars", '--host-resolver-rules=MAP * ~NOTFOUND', *extra,
               page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{browser} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def screenshot(browser: str, page: Path, png: Path, size: tuple[int, int],
               net_log: Path) -> None:
    """Render ``page`` (``file://``) at ``size`` (width, height) into ``png``, logging every
    network event into ``net_log``."""
    with tempfile.TemporaryDirectory() as profile:
        _run(browser, page, Path(profile), [f"--screenshot={png}",
                                            f"--window-size={size[0]},{size[1]}",
                                            f"--log-net-log={net_log}"])


def dump_dom(browser: str, page: Path) -> str:
    """The DOM of ``page`` after loading and running its scripts, serialised."""
    with tempfile.TemporaryDirectory() as profile:
        return _run(browser, page, Path(profile), ["--dump-dom"])


def page_requests(net_log: Path) -> list[str]:
    """URLs of every network request started on behalf of a page (not by the browser itself).

    ``file://`` loads do not go through the network stack, so a self-contained page opened
    from a file gives none.
    """
    text = net_log.read_text()
    try:
        log = json.loads(text)
    except ValueError:  # a log whose writer stopped before closing the event list
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [event["params"]["url"] for event in log["events"]
            if event["type"] == start and "url" in event.get("params", {})
            and event["params"].get("initiator") != BROWSER_INITIATOR]


def image_stats(png: Path) -> tuple[tuple[int, int], float, float]:
    """(width, height), pixel standard deviation and the share of pixels that are not near
    white, of a PNG."""
    import matplotlib.image

    pixels = matplotlib.image.imread(png)[..., :3]
    inked = float((pixels.min(axis=2) < 0.9).mean())
    return (pixels.shape[1], pixels.shape[0]), float(np.std(pixels)), inked


class _Tables(HTMLParser):
    """Text of the body cells of the table with a given id, row by row."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0  # > 0 inside the wanted table
        self.in_body = False
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth == 1 and tag == "tbody":
            self.in_body = True
        elif self.depth == 1 and self.in_body and tag == "tr":
            self.rows.append([])
        elif self.depth == 1 and self.in_body and tag == "td":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif tag == "tbody":
            self.in_body = False
        elif tag == "td" and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """The body rows (cell texts) of ``<table id=table_id>`` in ``html``."""
    parser = _Tables(table_id)
    parser.feed(html)
    return parser.rows


def _save_readme_screenshot(target: Path, size: tuple[int, int] = (1300, 2100)) -> None:
    """Score the example as the README does, report it and save a palette PNG screenshot."""
    from PIL import Image

    import tbvar
    from tests.conftest import EXAMPLES

    browser = find_browser()
    if browser is None:
        raise SystemExit("no chromium binary found")
    target = target.resolve()
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)  # relative paths in the provenance, as in the README's command
        Path("examples").symlink_to(EXAMPLES)
        tbvar.score_vcf("examples/variants.vcf", "examples/hg19_chr17_region_padded.fa.gz",
                        "examples/model.safetensors", output="example.parquet",
                        scores=("lod", "p"), progress=False,
                        background="examples/background.safetensors",
                        command=README_COMMAND)
        page = tbvar.report("example.parquet", "example.parquet.report.html", top=8)
        screenshot(browser, page, Path("shot.png"), size, Path("net.json"))
        Image.open("shot.png").convert("RGB").quantize(64).save(target, optimize=True)
    print(f"wrote {target} ({size[0]}x{size[1]})")


if __name__ == "__main__":
    _save_readme_screenshot(Path(sys.argv[1]))
