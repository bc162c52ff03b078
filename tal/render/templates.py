"""The Jinja2 templates of the app's HTML views, in one environment with autoescaping on.

UI-free, like the rest of `tal.render`: `tal.render.view_html` (an image's view),
`tal.render.htmlbars` (bar charts) and the app's layouts (`tal.ui.maps`,
`tal.ui.whatif`) render these templates instead of formatting strings.

Every value a template receives is escaped on output, unless it is a
`markupsafe.Markup`. Only HTML the library built itself is: what `render`
returns (the pieces nest as they are), inline PNG `data:` URIs, and the
`**bold**` of the library's own notes (`view_html.text(..., markup=True)`).
What users name (file names, class names, run names) is always passed as plain
text, so a class called `<script>` arrives as text, never as markup.

The templates are adjacent string literals with no whitespace between tags:
the HTML is one line, as the tests and the switch script of `tal.ui.html_view`
(which reads the `data-tal-*` attributes) expect.
"""

from __future__ import annotations

from jinja2 import DictLoader, Environment, StrictUndefined
from markupsafe import Markup

SOURCES: dict[str, str] = {
    # ------------------------------------------------------------------ tal.render.view_html
    # `parts` alternate plain and bold: the text split at its `**`.
    "bold_spans": (
        "{% for part in parts %}{% if loop.index is even %}<b>{{ part }}</b>{% else %}{{ part }}{% endif %}"
        "{% endfor %}"
    ),
    "figure": (
        "<figure>{% if title %}<div><b>{{ title }}</b></div>{% endif %}"
        '<img src="{{ src }}" alt="{{ alt }}"{% if width %} width="{{ width }}"{% endif %}>'
        "{% if caption %}<figcaption>{{ caption }}</figcaption>{% endif %}</figure>"
    ),
    "verdict": (
        '<div class="tal-verdict" role="group" aria-label="{{ label }}">'
        '<div class="tal-label">{{ label }}</div>'
        '<div class="tal-value">{{ value }}</div>'
        '<div class="tal-note tal-{{ tone }}">{{ note }}</div></div>'
    ),
    "callout": '<div class="tal-callout" role="note">{{ message }}</div>',
    "small": '<div class="tal-small">{{ message }}</div>',
    "heading": "<h3>{{ title }}</h3>",
    # `options`: (value, option text, block) triples; only the `chosen` value's block is shown.
    "switch": (
        '<label class="tal-label">{{ label }} <select data-tal-switch="{{ name }}">'
        "{% for value, option, _ in options %}"
        '<option value="{{ value }}"{% if value == chosen %} selected{% endif %}>{{ option }}</option>'
        "{% endfor %}</select></label>"
        "{% for value, _, block in options %}"
        '<div data-tal-case="{{ name }}" data-tal-value="{{ value }}"{% if value != chosen %} hidden{% endif %}>'
        "{{ block }}</div>"
        "{% endfor %}"
    ),
    "checks": (
        '<div class="tal-checks" style="display:flex;gap:16px">'
        "{% for label, value in cells %}"
        '<div style="flex:1;min-width:0"><div class="tal-small">{{ label }}</div>'
        '<div data-value style="{{ value_style }}">{{ value }}</div></div>'
        "{% endfor %}</div>"
    ),
    # score_c = Σ_{h,w} A_{h,w,c} S_{h,w,c}, its largest terms, and softmax(score)_c (σ(score_c)) = p_aux_c.
    # Numbers arrive formatted; `name` is the class name (text).
    "equation": (
        "{% macro sub(index) %}<msub><mrow>{{ caller() }}</mrow><mrow>{{ index }}</mrow></msub>{% endmacro %}"
        '{% macro row(lhs) %}<mtr><mtd style="text-align:right">{{ lhs }}</mtd>'
        '<mtd style="text-align:left">{{ caller() }}</mtd></mtr>{% endmacro %}'
        "{% set n %}<mtext>{{ name }}</mtext>{% endset %}"
        "{% set hwc %}<mi>h</mi><mo>,</mo><mi>w</mi><mo>,</mo>{{ n }}{% endset %}"
        "{% set score %}{% call sub(n) %}<mi>score</mi>{% endcall %}{% endset %}"
        "{% if multi_label %}{% set head %}<mi>σ</mi><mo>(</mo>{{ score }}<mo>)</mo>{% endset %}"
        "{% else %}{% set head %}{% call sub(n) %}<mi>softmax</mi><mo>(</mo><mi>score</mi><mo>)</mo>"
        "{% endcall %}{% endset %}{% endif %}"
        '<math display="block"><mtable displaystyle="true">'
        "{% call row(score) %}<mo>=</mo>"
        "<munder><mo>∑</mo><mrow><mi>h</mi><mo>,</mo><mi>w</mi></mrow></munder>"
        "{% call sub(hwc) %}<mi>A</mi>{% endcall %}<mo>&#x2062;</mo>{% call sub(hwc) %}<mi>S</mi>{% endcall %}"
        "<mo>=</mo><mn>{{ total }}</mn>{% endcall %}"
        "{% call row('') %}<mo>=</mo>"
        "{% for a, s in terms %}{% if not loop.first %}<mo>+</mo>{% endif %}"
        "<mn>{{ a }}</mn><mo>·</mo><mo>(</mo><mn>{{ s }}</mn><mo>)</mo>{% endfor %}"
        "<mo>+</mo><mo>…</mo><mspace width='1em'/><mtext>(largest terms)</mtext>{% endcall %}"
        "{% call row(head) %}<mo>=</mo><mn>{{ soft }}</mn><mspace width='2em'/>"
        "<msubsup><mi>p</mi>{{ n }}<mtext>aux</mtext></msubsup><mo>=</mo><mn>{{ p_aux }}</mn>{% endcall %}"
        "</mtable></math>"
    ),
    # ------------------------------------------------------------------ tal.render.htmlbars
    # `groups`: (mark text or None, [(tooltip, height in %, colour) per bar]); `ticks`: label texts ("" for none).
    "bar_chart": (
        '<div class="tal-bars" style="font-size:12px;line-height:1.3">'
        '{% if title %}<div style="font-weight:600;font-size:14px;margin-bottom:2px">{{ title }}</div>{% endif %}'
        "{% if legend %}"
        '<div style="display:flex;gap:12px;justify-content:flex-end;font-size:12px">'
        "{% for name, color in legend %}"
        '<span><span style="display:inline-block;width:10px;height:10px;background:{{ color }};'
        'margin-right:4px"></span>{{ name }}</span>'
        "{% endfor %}</div>{% endif %}"
        '<div style="display:flex;gap:6px;margin-top:18px">'
        '<div style="writing-mode:vertical-rl;transform:rotate(180deg);text-align:center;'
        'font-size:11px;color:{{ muted }};height:{{ height }}px">{{ ylabel }}</div>'
        '<div style="display:flex;flex-direction:column;justify-content:space-between;'
        "align-items:flex-end;height:{{ height + 14 }}px;font-size:11px;color:{{ muted }};margin-top:-7px;"
        'line-height:14px"><span>{{ top }}</span><span>{{ mid }}</span><span>0</span></div>'
        '<div style="flex:1;min-width:0">'
        '<div style="display:flex;gap:{{ gap }};align-items:flex-end;height:{{ height }}px;{{ grid }}">'
        "{% for mark, bars in groups %}"
        '<div style="flex:1;position:relative;display:flex;align-items:flex-end;gap:1px;height:100%">'
        "{% if mark is not none %}"
        '<div style="position:absolute;top:-16px;left:0;right:0;text-align:center;'
        'font-size:11px;color:#54A24B">{{ mark }}</div>{% endif %}'
        "{% for tip, height, color in bars %}"
        '<div title="{{ tip }}" style="flex:1;height:{{ height }}%;background:{{ color }};'
        'min-width:1px"></div>'
        "{% endfor %}</div>"
        "{% endfor %}</div>"
        '<div style="display:flex;gap:{{ gap }};font-size:11px;color:{{ muted }};margin-top:2px">'
        '{% for tick in ticks %}<div style="flex:1;text-align:center;overflow:visible;white-space:nowrap">'
        "{{ tick }}</div>{% endfor %}</div>"
        '<div style="text-align:center;font-size:11px;color:{{ muted }}">{{ xlabel }}</div>'
        "</div></div></div>"
    ),
    # `cells`: (flex grow, chart) pairs side by side.
    "bar_row": (
        '<div style="display:flex;gap:24px">'
        '{% for grow, chart in cells %}<div style="flex:{{ grow }};min-width:0">{{ chart }}</div>{% endfor %}'
        "</div>"
    ),
    # ------------------------------------------------------------------ the app's layouts (tal.ui)
    # maps.summary_html: the input and the verdict on the left, the probability bars beside.
    "summary": (
        '<div class="tal-row"><div style="width:224px">{{ left }}</div>'
        '<div class="tal-grow">{{ bars }}</div></div>'
    ),
    "grid_heading": "<div><b>Per-class maps</b>{{ text }}{{ note }}</div>",
    # maps._bars_and_pictures_html: the bars (with their note) first, then the pictures.
    "bars_and_pictures": (
        '<div class="tal-row">{% if bars %}<div class="tal-grow">{{ bars }}{{ note }}</div>{% endif %}'
        "{% for picture in pictures %}{{ picture }}{% endfor %}</div>"
    ),
    "picture": '<div style="width:242px">{{ figure }}</div>',
    "equation_box": '<div class="tal-box"><b>The auxiliary logit, recomputed from the maps</b>{{ switch }}</div>',
}

ENV = Environment(loader=DictLoader(SOURCES), autoescape=True, undefined=StrictUndefined)

_COMPILED = {name: ENV.get_template(name) for name in SOURCES}  # compiled once, at import


def render(name: str, /, **context) -> Markup:
    """Template `name` filled with `context` (escaped unless `Markup`), as `Markup` that nests in others."""
    return Markup(_COMPILED[name].render(**context))


def join(pieces) -> Markup:
    """Rendered pieces one after another (a plain `str` among them is escaped, never taken as HTML)."""
    return Markup("").join(pieces)
