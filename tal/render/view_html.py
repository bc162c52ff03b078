"""The pieces of an image's view (Inspect, Predict) as self-contained HTML.

UI-free: pictures are inline PNGs (`data:` URIs), formulas MathML (drawn by the
browser itself), and every text is escaped, so the result can be shown as one
block: the app swaps it in place (`tal.ui.html_view`, which adds `STYLE` and
the switches' script; a notebook showing the HTML gets neither). One block instead of ~30 page elements is what keeps
an Inspect update cheap for the browser (bench/README.md, "Inspect while the
app trains").

A *switch* is a `<select data-tal-switch="name">` with one
`<div data-tal-case="name" data-tal-value="…">` per option; only the chosen
case is shown (`hidden` on the others). The few lines of script that flip them
live with the app's block; without script the case chosen when drawn stays.

The pieces are Jinja2 templates with autoescaping (`tal.render.templates`). Each
returns `markupsafe.Markup`: pieces nest in one another as HTML, while a plain
`str` passed in or added to them is escaped, never taken as HTML.
"""

from __future__ import annotations

import base64

from markupsafe import Markup, escape

from tal.render import templates
from tal.render.htmlbars import MUTED

CLASS = "tal-view"  # every rule of STYLE is scoped under it

STYLE = f"""
.{CLASS} {{ display: flex; flex-direction: column; gap: 1rem; }}
.{CLASS} .tal-row {{ display: flex; gap: 1.5rem; align-items: flex-start; flex-wrap: wrap; }}
.{CLASS} .tal-grow {{ flex: 1 1 20rem; min-width: 0; }}
.{CLASS} figure {{ margin: 0; }}
.{CLASS} figure img {{ display: block; max-width: 100%; }}
.{CLASS} .tal-small, .{CLASS} figcaption {{ font-size: 14px; color: {MUTED}; line-height: 1.4; margin-top: 0.25rem; }}
.{CLASS} .tal-label {{ font-size: 14px; }}
.{CLASS} .tal-value {{ font-size: 2.25rem; line-height: 1.3; }}
.{CLASS} .tal-note {{ display: inline-block; font-size: 14px; padding: 0 0.4rem; border-radius: 0.75rem; }}
.{CLASS} .tal-good {{ color: var(--st-green-text-color, rgb(21, 130, 55));
  background: var(--st-green-background-color, rgba(33, 195, 84, 0.15)); }}
.{CLASS} .tal-bad {{ color: var(--st-red-text-color, rgb(189, 65, 65));
  background: var(--st-red-background-color, rgba(255, 43, 43, 0.12)); }}
.{CLASS} .tal-off {{ color: {MUTED}; background: rgba(128, 128, 128, 0.12); }}
.{CLASS} .tal-callout {{ padding: 0.75rem 1rem; border-radius: 0.5rem; background: rgba(28, 131, 225, 0.1); }}
.{CLASS} .tal-box {{ border: 1px solid rgba(128, 128, 128, 0.3); border-radius: 0.5rem; padding: 1rem;
  display: flex; flex-direction: column; gap: 0.5rem; }}
.{CLASS} h3 {{ margin: 0; padding: 0; }}
.{CLASS} select {{ font: inherit; padding: 0.25rem 0.5rem; border-radius: 0.5rem;
  color: var(--st-text-color, inherit); background: var(--st-secondary-background-color, transparent);
  border: 1px solid var(--st-border-color, rgba(128, 128, 128, 0.3)); }}
.{CLASS} math {{ font-size: 1.15rem; }}
"""


def data_uri(png: bytes) -> Markup:
    """A PNG as an inline `data:` URI (base64: nothing in it needs escaping)."""
    return Markup("data:image/png;base64," + base64.b64encode(png).decode("ascii"))


def text(value: str, *, markup: bool = False) -> Markup:
    """Text, escaped; with `markup` (the library's own notes only) `**bold**` spans become <b>.
    Never markup for what users name: a file called `**draft**.png` keeps its asterisks."""
    if not markup:
        return escape(value)
    return templates.render("bold_spans", parts=str(value).split("**"))


def figure(png: bytes, *, caption: str = "", width: int | None = None, alt: str = "", title: str = "") -> Markup:
    """A picture with an optional bold title above and a caption below."""
    return templates.render("figure", src=data_uri(png), alt=alt or title or caption,
                            width=int(width) if width else None, title=title, caption=caption)


def verdict(label: str, value: str, note: str, tone: str = "off") -> Markup:
    """A headline number: small label, large value, and a note coloured by `tone` (good, bad, off)."""
    if tone not in ("good", "bad", "off"):
        raise ValueError(f"tone must be 'good', 'bad' or 'off', not {tone!r}.")
    return templates.render("verdict", label=label, value=value, note=note, tone=tone)


def callout(message: str) -> Markup:
    """A note in a tinted box; `message` is the library's own text (its `**bold**` is drawn bold)."""
    return templates.render("callout", message=text(message, markup=True))


def small(message: str) -> Markup:
    return templates.render("small", message=message)


def heading(title: str) -> Markup:
    """A section heading of the view (`<h3>`)."""
    return templates.render("heading", title=title)


def switch(name: str, label: str, options: list[tuple[str, str, object]], chosen: str) -> Markup:
    """A labelled `<select>` and one block per option: `options` is `(value, option text, block)`;
    a block is HTML only as `Markup` (the pieces of this module are), a plain `str` is shown as text."""
    return templates.render("switch", name=name, label=label, options=options, chosen=chosen)


# ----------------------------------------------------------------------------- the auxiliary logit's check

CHECK_VALUE = "font-size:1.6rem;line-height:1.4"


def checks_html(chk: dict) -> Markup:
    """The four numbers of the check (sum from the maps, model's logit, difference, Σ A) in one row."""
    cells = [
        ("Σ A⊙S from the maps", f"{chk['sum_AS']:.5f}"),
        ("aux logit from the model", f"{chk['score']:.5f}"),
        ("|difference|", f"{chk['abs_error']:.1e}"),
        (f"Σ A over {chk['cells']} cells", f"{chk['A_sum']:.4f}"),
    ]
    return templates.render("checks", cells=cells, value_style=CHECK_VALUE)


def _signed(value: float, digits: int) -> str:
    """`+1.234` / `−1.234` with a real minus sign."""
    return f"{value:+.{digits}f}".replace("-", "−")


def equation_mathml(chk: dict, c: int, names, *, multi_label: bool = False) -> Markup:
    """`score_c = Σ_{h,w} A_{h,w,c} S_{h,w,c}`, its largest terms, and softmax(score)_c (σ(score_c) for
    multi-label models) = p_aux_c, with this image's numbers, as one MathML block of three rows."""
    return templates.render(
        "equation",
        name=str(names[c]),
        total=f"{chk['sum_AS']:.5f}",
        terms=[(f"{a:.3f}", _signed(s, 3)) for _, _, a, s, _ in chk["top_cells"]],
        soft=f"{chk['softmax'][c]:.4f}",
        p_aux=f"{chk['aux'][c]:.4f}",
        multi_label=multi_label,
    )


def top_contributions(chk: dict, *, multi_label: bool = False) -> str:
    """The caption under the check: the largest A·S cells and how far σ/softmax(score) is from the aux head."""
    f = "σ" if multi_label else "softmax"
    cells = "; ".join(f"({r}, {c}) A={a:.3f}, S={s:+.3f}, A·S={p:+.4f}" for r, c, a, s, p in chk["top_cells"])
    return (f"Top contributions (row, col): {cells}. Over all classes, {f}(score) and the aux head's "
            f"probabilities differ by at most {chk['softmax_error']:.1e}: the aux head is {f}(Σ A⊙S).")
