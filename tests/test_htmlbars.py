"""HTML bar charts (tal.render.htmlbars): heights, tooltips, escaping (no browser)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tal.render import htmlbars


def test_bar_heights_are_percent_of_ymax_clipped():
    assert htmlbars.bar_heights([0.0, 0.25, 1.0, 2.0, -1.0, np.nan]) == [0, 25, 100, 100, 0, 0]
    assert htmlbars.bar_heights([5.0], ymax=10.0) == [50.0]


def test_probability_chart_has_one_bar_per_class_and_head_with_exact_tooltips():
    p = np.array([0.1, 0.7, 0.2])
    aux = np.array([0.2, 0.5, 0.3])
    html = htmlbars.probability_html(p, aux=aux, class_names=["a", "b", "<c>"], true_label=1)
    titles = re.findall(r'title="([^"]*)"', html)
    assert titles == [
        "class a · main head: 0.100", "class a · aux head softmax(score): 0.200",
        "class b · main head: 0.700", "class b · aux head softmax(score): 0.500",
        "class &lt;c&gt; · main head: 0.200", "class &lt;c&gt; · aux head softmax(score): 0.300",
    ]
    heights = [float(h) for h in re.findall(r"flex:1;height:([0-9.]+)%", html)]
    assert heights == pytest.approx([10, 20, 70, 50, 20, 30])
    assert ">true<" in html and "<c>" not in html  # names are escaped
    assert "aux head softmax(score)</span>" in html  # a legend with two series


def test_gates_chart_labels_few_channels_and_checks_lengths():
    html = htmlbars.gates_html({"scale_weights": [0.2, 0.3, 0.5], "channel_gate": np.linspace(0, 1, 64)})
    assert "Scale weights" in html and "Channel gate g (64 channels)" in html
    assert html.count('title="channel ') == 64 and "channel 63 · g: 1.000" in html
    assert "stage 3 · w: 0.500" in html
    with pytest.raises(ValueError, match="Expected 3 values"):
        htmlbars.bar_chart_html([("x", [1, 2], "red")], ["a", "b", "c"])
    with pytest.raises(ValueError, match="none"):
        htmlbars.gates_html({})
