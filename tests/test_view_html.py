"""The view's HTML pieces (tal.render.view_html) and the Inspect/Predict blocks built from them, with hand-made numbers."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest
from markupsafe import Markup

from tal.render import htmlbars, templates, view_html
from tal.render.figures import score_check

HOSTILE = "<script>alert('x & \"y\"')</script>"  # a tag, an ampersand, both quotes


class _Parsed(HTMLParser):
    """What a browser would make of the HTML: the tags opened, the texts, every attribute value."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags, self.texts, self.attrs = [], [], []
        self.feed(str(html))
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [v for _, v in attrs if v is not None]

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.texts.append(data)


def assert_escaped(html, *, text: int = 0, attrs: int = 0):
    """`HOSTILE` is nowhere markup: no <script> tag, not raw in the HTML, and it comes back whole,
    as text at least `text` times and as an attribute value (no quote broke out) at least `attrs` times."""
    parsed = _Parsed(html)
    assert "script" not in parsed.tags and "<script>" not in html
    assert sum(t.count(HOSTILE) for t in parsed.texts) >= text, parsed.texts
    assert sum(v.count(HOSTILE) for v in parsed.attrs) >= attrs, parsed.attrs


def outputs_2x2(score=(3.0, 0.0)):
    """One image, a 2×2 grid, two classes. Class 0: A = [[.1, .2], [.3, .4]], S = [[1, 2], [3, 4]], so
    Σ A⊙S = .1 + .4 + .9 + 1.6 = 3.0; the largest terms are (1, 1) 1.6, (1, 0) 0.9 and (0, 1) 0.4.
    `score` is the aux head's logit vector (its probabilities are its softmax)."""
    A = np.zeros((1, 2, 2, 2))
    S = np.zeros((1, 2, 2, 2))
    A[0, ..., 0] = [[0.1, 0.2], [0.3, 0.4]]
    S[0, ..., 0] = [[1, 2], [3, 4]]
    A[0, ..., 1] = 0.25
    score = np.array([score], dtype="float64")
    e = np.exp(score - score.max())
    return {"A": A, "S": S, "score": score, "aux": e / e.sum(), "probabilities": e / e.sum(),
            "prediction": np.array([0])}


def test_text_escapes_and_bolds_only_on_request():
    assert view_html.text("a **b** <c> & d", markup=True) == "a <b>b</b> &lt;c&gt; &amp; d"
    assert view_html.text("a **b**") == "a **b**"


def test_data_uri_is_base64_png():
    assert view_html.data_uri(b"\x89PNG") == "data:image/png;base64,iVBORw=="


def test_verdict_tones():
    good = view_html.verdict("Prediction", "7", "99.0% confidence ✓ correct", "good")
    assert 'aria-label="Prediction"' in good and "tal-good" in good and ">7<" in good
    with pytest.raises(ValueError, match="tone"):
        view_html.verdict("Prediction", "7", "", "green")


def test_switch_shows_only_the_chosen_case():
    html = view_html.switch("c", "Class", [("0", "zero", "<p>A</p>"), ("1", "one", "<p>B</p>")], "1")
    assert '<option value="1" selected>one</option>' in html and '<option value="0">zero</option>' in html
    assert re.findall(r'data-tal-value="(\d)"( hidden)?>', html) == [("0", " hidden"), ("1", "")]


def test_equation_has_the_hand_computed_numbers():
    chk = score_check(outputs_2x2(), 0, 0)
    assert chk["sum_AS"] == pytest.approx(3.0)
    math = view_html.equation_mathml(chk, 0, ["zero", "one"])
    assert "<mn>3.00000</mn>" in math  # Σ A⊙S
    terms = re.findall(r"<mn>([0-9.]+)</mn><mo>·</mo><mo>\(</mo><mn>([^<]+)</mn>", math)
    assert terms == [("0.400", "+4.000"), ("0.300", "+3.000"), ("0.200", "+2.000")]
    p0 = np.exp(3.0) / (np.exp(3.0) + 1.0)  # softmax([3, 0])_0 = 0.952574…
    assert math.count(f"<mn>{p0:.4f}</mn>") == 2 and "0.9526" in math  # softmax(score)_0 and p_aux_0
    assert "<mi>softmax</mi>" in math and "<mi>σ</mi>" not in math
    checks = view_html.checks_html(chk)
    values = re.findall(r"<div data-value[^>]*>([^<]+)<", checks)
    assert values == ["3.00000", "3.00000", "0.0e+00", "1.0000"]  # Σ A = .1 + .2 + .3 + .4


def test_multi_label_equation_uses_sigma_and_negative_terms_get_a_real_minus():
    out = outputs_2x2(score=(1.0, 2.0))
    out["aux"] = 1 / (1 + np.exp(-out["score"]))  # sigmoid heads
    out["S"][0, 0, 0, 0] = -5.0  # A·S = -0.5 at (0, 0): Σ = 3.0 - 0.1 - 0.5 = 2.4
    chk = score_check(out, 0, 0, multi_label=True)
    math = view_html.equation_mathml(chk, 0, ["zero", "one"], multi_label=True)
    assert "<mi>σ</mi>" in math and math.count("<mn>0.7311</mn>") == 2  # σ(1) and the aux head's p_0
    assert "0.2689" not in math  # softmax([1, 2])_0: not what a multi-label head computes
    assert "<mn>2.40000</mn>" in math and "<mn>−5.000</mn>" in math


def test_user_text_is_escaped_and_never_markup():
    assert view_html.text("upload '**draft**.png'") == "upload &#39;**draft**.png&#39;"
    assert view_html.text("**No A** maps", markup=True) == "<b>No A</b> maps"  # the library's own notes
    chk = score_check(outputs_2x2(), 0, 0)
    math = view_html.equation_mathml(chk, 0, ["<b>x</b>", "one"])
    assert "<b>x</b>" not in math and "&lt;b&gt;x&lt;/b&gt;" in math
    switch = view_html.switch("c", "Class", [("0", "<i>", "")], "0")
    assert "<i>" not in switch and "&lt;i&gt;" in switch
    figure = view_html.figure(b"", caption="a <script> in a caption")
    assert "<script>" not in figure and "&lt;script&gt;" in figure


def test_summary_and_equation_blocks_of_the_app():
    pytest.importorskip("streamlit")
    from tal.ui import maps

    out = outputs_2x2()
    right = maps.summary_html(out, 0, true_label=0, class_names=["zero", "one"], image=np.zeros((28, 28)))
    wrong = maps.summary_html(out, 0, true_label=1, class_names=["zero", "<one>"])
    assert "tal-good" in right and "✓ correct" in right and "<img" in right
    assert "tal-bad" in wrong and "✗ true class &lt;one&gt;" in wrong and "<img" not in wrong
    eq = maps.equation_html(out, 0, ["zero", "one"])
    assert eq.count("<math") == 2 and '<option value="0" selected>zero</option>' in eq  # starts at the prediction


def test_templates_escape_every_value_unless_markup():
    assert templates.ENV.autoescape is True
    assert templates.render("small", message="<i>") == '<div class="tal-small">&lt;i&gt;</div>'
    assert templates.render("small", message=Markup("<i>x</i>")) == '<div class="tal-small"><i>x</i></div>'
    assert templates.join(["<i>", Markup("<b>b</b>")]) == "&lt;i&gt;<b>b</b>"
    # the pieces are Markup: added to them, a plain str is escaped, never taken as HTML
    assert isinstance(view_html.small("a"), Markup) and "<u>" not in view_html.small("a") + "<u>"


def test_hostile_names_are_escaped_in_every_piece():
    assert_escaped(view_html.text(HOSTILE), text=1)
    assert_escaped(view_html.text(f"**{HOSTILE}**", markup=True), text=1)  # bold, still escaped
    assert_escaped(view_html.figure(b"", title=HOSTILE, caption=HOSTILE), text=2, attrs=1)  # title, caption, alt
    assert_escaped(view_html.figure(b"", alt=HOSTILE), attrs=1)
    assert_escaped(view_html.verdict(HOSTILE, HOSTILE, HOSTILE, "bad"), text=3, attrs=1)  # aria-label
    assert_escaped(view_html.callout(HOSTILE), text=1)
    assert_escaped(view_html.small(HOSTILE), text=1)
    assert_escaped(view_html.heading(HOSTILE), text=1)
    # name, values and option texts: the select's and cases' data attributes keep the exact strings
    switch = view_html.switch(HOSTILE, HOSTILE, [(HOSTILE, HOSTILE, HOSTILE), ("1", "one", "")], HOSTILE)
    assert_escaped(switch, text=3)  # the label, the option, the block (a str: text)
    assert re.findall(r'data-tal-value="[^"]*"( hidden)?>', switch) == ["", " hidden"]
    # data-tal-switch, the option's value, 2 × data-tal-case, the chosen case's data-tal-value
    assert _Parsed(switch).attrs.count(HOSTILE) == 5
    chk = score_check(outputs_2x2(), 0, 0)
    assert_escaped(view_html.equation_mathml(chk, 0, [HOSTILE, "one"]), text=5)  # every <mtext> of the class
    assert_escaped(view_html.equation_mathml(chk, 0, [HOSTILE, "one"], multi_label=True), text=5)
    bars = htmlbars.bar_chart_html([(HOSTILE, [0.5, 0.2], "red"), ("b", [0.1, 0.3], "blue")], [HOSTILE, "x"],
                                   title=HOSTILE, ylabel=HOSTILE, xlabel=HOSTILE, marks={0: HOSTILE}, item=HOSTILE)
    assert_escaped(bars, text=6, attrs=3)  # title, legend, axis labels, mark, tick; 3 tooltips name it
    assert_escaped(htmlbars.probability_html([0.4, 0.6], class_names=[HOSTILE, "b"], true_label=0), text=1, attrs=1)
    assert_escaped(htmlbars.whatif_html([0.4, 0.6], [0.6, 0.4], class_names=[HOSTILE, "b"]), text=1, attrs=2)


def test_switch_takes_markup_blocks_as_html_and_str_blocks_as_text():
    html = view_html.switch("c", "Class", [("0", "zero", view_html.small("A")), ("1", "one", "<p>B</p>")], "0")
    assert '<div class="tal-small">A</div></div>' in html and "&lt;p&gt;B&lt;/p&gt;" in html


def test_hostile_names_are_escaped_in_the_blocks_of_the_app():
    pytest.importorskip("streamlit")
    from tal.ui import maps, whatif

    names = [HOSTILE, "one"]
    out = outputs_2x2()
    out["scale_weights"], out["M"] = np.array([[0.2, 0.3, 0.5]]), np.full((1, 2, 2), 0.5)
    image = np.zeros((28, 28))
    summary = maps.summary_html(out, 0, true_label=1, class_names=names, image=image, caption=HOSTILE)
    assert_escaped(summary, text=3, attrs=2)  # caption, the prediction, the bars' tick; alt, tooltip
    assert "✗ true class one" in summary and "tal-bad" in summary
    head, picture, tail = maps.attention_html(out, 0, class_names=names, image=image)
    assert_escaped(head, text=1)  # the orange frame's class
    assert picture.count("<img") == 1 and tail.count("<img") == 1 and "Scale weights" in tail
    assert_escaped(tail, text=2)  # the equation's option, its <mtext>s
    assert_escaped(maps.equation_html(out, 0, names), text=6)
    multi = dict(out, present=np.array([[1, 0]]))
    assert_escaped(maps.summary_html(multi, 0, true_label=[1], class_names=names), text=1)
    after = dict(out, probabilities=out["probabilities"][:, ::-1], prediction=np.array([1]))
    comparison = whatif.comparison_html(out, after, 0, {"A": 1.0}, class_names=names, true_label=0)
    assert_escaped(comparison, text=2, attrs=2)  # "prediction … → …" note, tick; two tooltips
    assert "With A uniform: prediction" in _Parsed(comparison).texts[-1]
