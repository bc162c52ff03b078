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
"""

from __future__ import annotations

import base64
import html

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


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def text(value: str, *, markup: bool = False) -> str:
    """Text, escaped; with `markup` (the library's own notes only) `**bold**` spans become <b>.
    Never markup for what users name: a file called `**draft**.png` keeps its asterisks."""
    escaped = html.escape(value)
    if not markup:
        return escaped
    return "".join(f"<b>{p}</b>" if k % 2 else p for k, p in enumerate(escaped.split("**")))


def figure(png: bytes, *, caption: str = "", width: int | None = None, alt: str = "", title: str = "") -> str:
    """A picture with an optional bold title above and a caption below."""
    size = f' width="{int(width)}"' if width else ""
    head = f'<div><b>{html.escape(title)}</b></div>' if title else ""
    foot = f"<figcaption>{text(caption)}</figcaption>" if caption else ""
    return (f'<figure>{head}<img src="{data_uri(png)}" alt="{html.escape(alt or title or caption)}"{size}>'
            f"{foot}</figure>")


def verdict(label: str, value: str, note: str, tone: str = "off") -> str:
    """A headline number: small label, large value, and a note coloured by `tone` (good, bad, off)."""
    if tone not in ("good", "bad", "off"):
        raise ValueError(f"tone must be 'good', 'bad' or 'off', not {tone!r}.")
    return (f'<div class="tal-verdict" role="group" aria-label="{html.escape(label)}">'
            f'<div class="tal-label">{html.escape(label)}</div>'
            f'<div class="tal-value">{html.escape(value)}</div>'
            f'<div class="tal-note tal-{tone}">{html.escape(note)}</div></div>')


def callout(message: str) -> str:
    """A note in a tinted box; `message` is the library's own text (its `**bold**` is drawn bold)."""
    return f'<div class="tal-callout" role="note">{text(message, markup=True)}</div>'


def small(message: str) -> str:
    return f'<div class="tal-small">{text(message)}</div>'


def switch(name: str, label: str, options: list[tuple[str, str, str]], chosen: str) -> str:
    """A labelled `<select>` and one block per option: `options` is `(value, option text, block html)`."""
    choices = "".join(
        f'<option value="{html.escape(v)}"{" selected" if v == chosen else ""}>{html.escape(t)}</option>'
        for v, t, _ in options
    )
    cases = "".join(
        f'<div data-tal-case="{html.escape(name)}" data-tal-value="{html.escape(v)}"'
        f'{"" if v == chosen else " hidden"}>{block}</div>'
        for v, _, block in options
    )
    return (f'<label class="tal-label">{html.escape(label)} '
            f'<select data-tal-switch="{html.escape(name)}">{choices}</select></label>{cases}')


# ----------------------------------------------------------------------------- the auxiliary logit's check

CHECK_VALUE = "font-size:1.6rem;line-height:1.4"


def checks_html(chk: dict) -> str:
    """The four numbers of the check (sum from the maps, model's logit, difference, Σ A) in one row."""
    cells = [
        ("Σ A⊙S from the maps", f"{chk['sum_AS']:.5f}"),
        ("aux logit from the model", f"{chk['score']:.5f}"),
        ("|difference|", f"{chk['abs_error']:.1e}"),
        (f"Σ A over {chk['cells']} cells", f"{chk['A_sum']:.4f}"),
    ]
    return '<div class="tal-checks" style="display:flex;gap:16px">' + "".join(
        f'<div style="flex:1;min-width:0"><div class="tal-small">{html.escape(label)}</div>'
        f'<div data-value style="{CHECK_VALUE}">{html.escape(value)}</div></div>'
        for label, value in cells
    ) + "</div>"


def _mi(name: str) -> str:
    return f"<mi>{html.escape(name)}</mi>"


def _mn(value: str) -> str:
    return f"<mn>{html.escape(value)}</mn>"


def _sub(base: str, sub: str) -> str:
    return f"<msub><mrow>{base}</mrow><mrow>{sub}</mrow></msub>"


def _signed(value: float, digits: int) -> str:
    """`(+1.234)` / `(−1.234)` with a real minus sign."""
    return f"<mo>(</mo>{_mn(f'{value:+.{digits}f}'.replace('-', '−'))}<mo>)</mo>"


def equation_mathml(chk: dict, c: int, names, *, multi_label: bool = False) -> str:
    """`score_c = Σ_{h,w} A_{h,w,c} S_{h,w,c}`, its largest terms, and softmax(score)_c (σ(score_c) for
    multi-label models) = p_aux_c, with this image's numbers, as one MathML block of three rows."""
    n = f"<mtext>{html.escape(str(names[c]))}</mtext>"
    score = _sub(_mi("score"), n)
    hwc = f"<mi>h</mi><mo>,</mo><mi>w</mi><mo>,</mo>{n}"
    total = (f"<munder><mo>∑</mo><mrow><mi>h</mi><mo>,</mo><mi>w</mi></mrow></munder>"
             f"{_sub(_mi('A'), hwc)}<mo>&#x2062;</mo>{_sub(_mi('S'), hwc)}")
    terms = "<mo>+</mo>".join(f"{_mn(f'{a:.3f}')}<mo>·</mo>{_signed(s, 3)}" for _, _, a, s, _ in chk["top_cells"])
    if multi_label:
        head = f"<mi>σ</mi><mo>(</mo>{score}<mo>)</mo>"
    else:
        head = _sub(f"<mi>softmax</mi><mo>(</mo>{_mi('score')}<mo>)</mo>", n)
    aux = f"<msubsup><mi>p</mi>{n}<mtext>aux</mtext></msubsup>"
    total_value, soft, p_aux = (f"{chk['sum_AS']:.5f}", f"{chk['softmax'][c]:.4f}", f"{chk['aux'][c]:.4f}")
    rows = [
        (score, f"<mo>=</mo>{total}<mo>=</mo>{_mn(total_value)}"),
        ("", f"<mo>=</mo>{terms}<mo>+</mo><mo>…</mo><mspace width='1em'/><mtext>(largest terms)</mtext>"),
        (head, f"<mo>=</mo>{_mn(soft)}<mspace width='2em'/>{aux}<mo>=</mo>{_mn(p_aux)}"),
    ]
    body = "".join(f'<mtr><mtd style="text-align:right">{lhs}</mtd><mtd style="text-align:left">{rhs}</mtd></mtr>'
                   for lhs, rhs in rows)
    return f'<math display="block"><mtable displaystyle="true">{body}</mtable></math>'


def top_contributions(chk: dict, *, multi_label: bool = False) -> str:
    """The caption under the check: the largest A·S cells and how far σ/softmax(score) is from the aux head."""
    f = "σ" if multi_label else "softmax"
    cells = "; ".join(f"({r}, {c}) A={a:.3f}, S={s:+.3f}, A·S={p:+.4f}" for r, c, a, s, p in chk["top_cells"])
    return (f"Top contributions (row, col): {cells}. Over all classes, {f}(score) and the aux head's "
            f"probabilities differ by at most {chk['softmax_error']:.1e}: the aux head is {f}(Σ A⊙S).")
