"""One block of HTML that the browser swaps in place: how Inspect and Predict draw an image's view.

Why not Streamlit elements: every element of a re-run costs the browser a React
update, a layout and a repaint. Inspect's view was ~30 elements, ~250–375 ms of
browser CPU per update, and with the browser on the same two cores a training
lost 12–19 % of its speed while someone clicked through Inspect; the same
content as one block costs a fraction of that (bench/load.py, bench/README.md).

The block is a custom component (`st.components.v2`) whose script sets the
container's HTML when it changed and wires the switches of
`tal.render.view_html`. It sends nothing back, so it never re-runs the script.
"""

from __future__ import annotations

import streamlit as st

from tal.render import view_html

_SCRIPT = """
export default function ({ parentElement, data }) {
  const root = parentElement.querySelector('.tal-view');
  if (root.talHtml === data.html) return;  // a re-run with the same view: nothing to redraw
  root.talHtml = data.html;
  root.innerHTML = data.html;
  for (const select of root.querySelectorAll('select[data-tal-switch]')) {
    const name = select.dataset.talSwitch;
    select.addEventListener('change', () => {
      for (const c of root.querySelectorAll('[data-tal-case]'))
        if (c.dataset.talCase === name) c.hidden = c.dataset.talValue !== select.value;
    });
  }
}
"""

_COMPONENT = st.components.v2.component(
    "tal_view",
    html=f'<div class="{view_html.CLASS}"></div>',
    css=view_html.STYLE,
    js=_SCRIPT,
    isolate_styles=False,  # the app's fonts and colours; its text stays searchable (tests, the load benchmark)
)


def show(html: str, *, key: str) -> None:
    """Draw `html` (built with `tal.render.view_html`) as one block; `key` keeps it in place across re-runs."""
    _COMPONENT(data={"html": html}, key=key)
