"""tbvar.html: self-contained pages, escaped text, inline SVG figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from tbvar.html import figure_svg, page, paragraph, section, table  # noqa: E402


def test_page_is_self_contained_and_escaped() -> None:
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    html = page("a <b> & c", [section("x & y", table(["name", "p"], [["<i>", 0.5],
                                                                     ["t", float("nan")]],
                                                     sortable=True, numeric=[False, True])),
                              figure_svg(fig, "caption <1>")], sortable=True)
    assert html.startswith("<!DOCTYPE html>") and "<title>a &lt;b&gt; &amp; c</title>" in html
    assert "<td>&lt;i&gt;</td>" in html and '<td class="num" data-value="0.5">0.5</td>' in html
    assert ">NA</td>" in html and "caption &lt;1&gt;" in html
    assert html.count("<svg") == 1 and "<?xml" not in html and "<!DOCTYPE svg" not in html
    for reference in ('src="http', "href=\"http", "url(http", "<metadata>"):
        assert reference not in html  # nothing to fetch (xmlns names are not requests)
    assert "<script>" in html and 'class="sortable"' in html
    assert not plt.get_fignums()  # the figure was closed


def test_table_id() -> None:
    assert table(["a"], [[1]], table_id='top "1"').startswith('<table id="top &quot;1&quot;">')
    assert table(["a"], [[1]], sortable=True, table_id="t").startswith(
        '<table class="sortable" id="t">')


def test_paragraph() -> None:
    assert paragraph("a < b") == "<p>a &lt; b</p>"
    assert paragraph("x", note=True) == '<p class="note">x</p>'
