"""tbvar report in a real headless browser (Chromium): the page renders (screenshot of the
stated size, not blank), no request leaves the file (Chromium's net log), and the rendered DOM
holds the expected top variants in order.

Skipped only when no Chromium binary is installed (``.ci/run`` installs it and sets
``TBVAR_REQUIRE_BROWSER=1``, which turns the skip into a failure).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import tbvar
from tbvar.run_report import TOP_TABLE_ID
from tests.browser import (
    dump_dom,
    find_browser,
    image_stats,
    page_requests,
    screenshot,
    table_rows,
)
from tests.test_report import expected_top

SIZE = (1200, 1600)
TOP = 12


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_browser()
    if path is None:
        reason = ("no Chromium binary (chromium, chromium-browser, google-chrome) on PATH; "
                  "install it with: apt-get install -y chromium")
        if os.environ.get("TBVAR_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (TBVAR_REQUIRE_BROWSER=1)")
        print(f"skipping browser tests: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return path


def test_report_renders_offline_with_the_top_variants(browser: str, tmp_path: Path,
                                                      example_runs: dict[str, Path]) -> None:
    page = tbvar.report(example_runs[".parquet"], tmp_path / "report.html", top=TOP)
    png, net_log = tmp_path / "report.png", tmp_path / "net.json"
    screenshot(browser, page, png, SIZE, net_log)
    size, spread, inked = image_stats(png)
    assert size == SIZE
    assert spread > 0.05 and inked > 0.02, (spread, inked)  # text, tables and figures drawn
    assert page_requests(net_log) == []
    rows = table_rows(dump_dom(browser, page), TOP_TABLE_ID)
    top = expected_top(example_runs[".parquet"], TOP)
    assert [(r[1], int(r[2]), r[3], r[4], r[5]) for r in rows] == list(zip(
        top["chrom"], top["pos"], top["id"].fillna(""), top["ref"], top["alt"], strict=True))


def test_checks_catch_requests_and_blank_pages(browser: str, tmp_path: Path) -> None:
    """The checks above are not vacuous: a page that fetches is caught, a blank page is."""
    fetching = tmp_path / "fetching.html"
    fetching.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" '
                        'href="https://cdn.example.invalid/style.css"></head><body>'
                        '<img src="http://example.invalid/logo.png"></body></html>')
    screenshot(browser, fetching, tmp_path / "f.png", (400, 300), tmp_path / "f.json")
    assert sorted(page_requests(tmp_path / "f.json")) == [
        "http://example.invalid/logo.png", "https://cdn.example.invalid/style.css"]
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    screenshot(browser, blank, tmp_path / "b.png", (400, 300), tmp_path / "b.json")
    size, spread, inked = image_stats(tmp_path / "b.png")
    assert size == (400, 300) and spread < 0.01 and inked == 0.0


def test_explain_page_and_report_with_panels_render_offline(browser: str, tmp_path: Path,
                                                            example_runs: dict[str, Path]
                                                            ) -> None:
    """explain.html, and a report with the top variants' explanation panels (``tbvar report
    --genome --model``), render with figures and fetch nothing."""
    from tbvar.cli import main

    from .conftest import EXAMPLE_GENOME, REPO

    model = str(REPO / "examples" / "model.safetensors")
    out = tmp_path / "explained"
    assert main(["explain", "chr17:7517295:C:G", "--genome", str(EXAMPLE_GENOME), "--model",
                 model, "-o", str(out), "--device", "cpu"]) == 0
    report_page = tmp_path / "report.html"
    assert main(["report", str(example_runs[".parquet"]), "-o", str(report_page), "--genome",
                 str(EXAMPLE_GENOME), "--model", model, "--explain", "2", "--device", "cpu",
                 "-q"]) == 0
    for page in (out / "explain.html", report_page):
        png, net_log = tmp_path / f"{page.stem}.png", tmp_path / f"{page.stem}.json"
        screenshot(browser, page, png, SIZE, net_log)
        size, spread, inked = image_stats(png)
        assert size == SIZE and spread > 0.05 and inked > 0.02, (page, spread, inked)
        assert page_requests(net_log) == [], page
    dom = dump_dom(browser, report_page)
    assert dom.count("<svg") >= 4  # the report's histograms and the panels' figures
    top = expected_top(example_runs[".parquet"], 2)
    for chrom, pos in zip(top["chrom"], top["pos"], strict=True):
        assert f"{chrom}:{pos}" in dom.replace(",", "")  # each explained variant is named
