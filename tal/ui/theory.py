"""Content of the Overview page: where to start (a line on every page), the data-flow diagram and the
equations with provenance.

The attention modules' equations, papers and badges are declared in
`tal.core.catalogue`; this module adds the loss (not a module) and the
diagram. Badges: [A3Net] stated in Wang et al. 2021; [SRN] verified in Zhu
et al. 2017 (the element-wise estimator A3Net follows); [SE] Hu et al.;
[CBAM] Woo et al.; [ours] a design choice of this project (docs/maths.md).
"""

from __future__ import annotations

from tal.core import catalogue
from tal.core.catalogue import Equation
from tal.core.config import ModelConfig

REFERENCES = tuple((ref.badge, ref.citation) for ref in catalogue.references())
BADGE_COLORS = {ref.badge: ref.color for ref in catalogue.references()}

LOSS = Equation(
    "Loss",
    ("A3Net", "ours"),
    (
        r"L = \mathrm{CE}_w(p^{\mathrm{main}}, y) + \lambda\, \mathrm{CE}_w\big(\operatorname{softmax}(\mathrm{score}), y\big)",
    ),
    "CE_w is the cross-entropy weighted per class (inverse class frequency, mean 1). λ lives in a "
    "Keras variable, so it can be changed while the model trains.",
    "Train: the λ setting, the live λ slider and the λ curve.",
)

MULTI_LABEL_LOSS = Equation(
    "Multi-label loss (several digits per image)",
    ("A3Net",),
    (
        r"L = \mathrm{BCE}_w(p^{\mathrm{main}}, y) + \lambda\, \mathrm{BCE}_w\big(\sigma(\mathrm{score}), y\big),"
        r"\qquad y \in \{0, 1\}^C",
        r"\mathrm{BCE}_w(p, y) = -\tfrac{1}{C} \sum_c \big[\beta_P[c]\, y_c \log p_c"
        r" + \beta_N[c]\, (1 - y_c) \log (1 - p_c)\big],\quad"
        r"\beta_P[c] = \frac{N}{|P_c|},\; \beta_N[c] = \frac{N}{|N_c|}",
    ),
    "A3Net's own task is multi-label: a chest X-ray can show several findings, each somewhere else. The "
    "multidigit canvases are the digit analogue (1–3 digits per image). Both heads become sigmoids, each class "
    "a yes/no question, and the class-weighted binary cross-entropy weighs a class's rare positives up "
    "(|P_c| and |N_c| count the training images with and without class c). Runs are scored by per-class "
    "ROC AUC, and each class's A map can be checked against the box of its digit.",
    "Train: the multidigit dataset; Compare: per-class AUC; Localization: where each class's map points.",
)

# A3Net's branches and the losses, then CBAM; the literature modules have a section of their own.
EQUATIONS = (
    *(eq for m in catalogue.of_group("triple") for eq in m.equations),
    LOSS,
    MULTI_LABEL_LOSS,
    *(eq for m in catalogue.of_group("comparison") for eq in m.equations),
)
LITERATURE = tuple(eq for m in catalogue.literature() for eq in m.equations)


def badge_markdown(badges) -> str:
    """Streamlit markdown badges, e.g. ':blue-badge[A3Net]'."""
    return " ".join(f":{BADGE_COLORS.get(b, 'gray')}-badge[{b}]" for b in badges)


def dataflow_dot(config: ModelConfig | None = None) -> str:
    """Graphviz source of the model's data flow, one node per cascade slot; slots the
    configuration leaves empty (default: the default model) are drawn dashed."""
    config = config or ModelConfig()
    filled = {m.slot for m in catalogue.selected(config)}

    def node(name, label, on=True, shape="box"):
        style = "rounded,filled" if on else "rounded,dashed"
        fill = "#E8F0FA" if on else "#FFFFFF"
        font = "#000000" if on else "#999999"
        return f'{name} [label="{label}", shape={shape}, style="{style}", fillcolor="{fill}", fontcolor="{font}"];'

    element = "element" in filled
    chain = ["img", "bb", *(slot.name for slot in catalogue.SLOTS), "gap", "main"]
    edges = " ".join(
        f"{a} -> {b}" + (' [label="F₁…Fₙ"]' if a == "bb" else "") + ";" for a, b in zip(chain, chain[1:])
    )
    return "\n".join(
        [
            "digraph TAL {",
            '  rankdir=LR; bgcolor="transparent"; nodesep=0.2; ranksep=0.25; '
            'node [fontname="Helvetica", fontsize=13, margin="0.08,0.04"]; '
            'edge [fontname="Helvetica", fontsize=9, color="#555555"];',
            "  " + node("img", "image", shape="oval"),
            "  " + node("bb", "backbone\\nstages"),
            *("  " + node(slot.name, slot.diagram, slot.name in filled) for slot in catalogue.SLOTS),
            "  " + node("gap", "GAP →\\nDense(C)"),
            "  " + node("main", "main\\nhead", shape="oval"),
            "  " + node("aux", "aux head\\nsoftmax(Σ A⊙S)", element, shape="oval"),
            f"  {edges}",
            '  element -> aux [label="score"];',
            "}",
        ]
    )


# What each page of the app is for, by its title in the page table (`tal.ui.router.PAGES`).
PAGE_GUIDE = {
    "Overview": "This page: what the three branches compute, the data flow and every equation (below).",
    "Train": "Switch branches on and off, set λ, and watch losses, accuracies and the maps form live; "
             "change λ mid-run. A 1-epoch run on 2,000 images takes well under a minute.",
    "Inspect": "One image through a trained model: probabilities, the per-class A, S, A⊙S and U grid, the "
               "channel gate, scale weights and mask M, and score_c = Σ A⊙S with real numbers.",
    "Predict": "Your own images (digits, or pictures like a run's own training images): the input the model "
               "sees, its prediction and the maps.",
    "Localization": "Do the maps point at the right place? Pointing game and energy in the boxes for A, U, S "
                    "and Grad-CAM, against chance, with a sanity check; every hit and miss opens on Inspect.",
    "Compare": "Runs side by side: configuration, scores, curves, confusion matrices and one image's maps.",
    "Studies": "Ablations: every subset of the branches (or the literature modules) over several seeds, "
               "mean ± std and whether a difference is beyond the seeds' noise; stop and resume.",
}
START_HERE = ("New here? Open **Inspect** first: the shipped demo models show every map at once. Then "
              "train a small model of your own on **Train** and watch its maps form.")


def page_guide() -> list[tuple[str, str, str, str]]:
    """(script, title, icon, what it is for) for every page of the app, in menu order: taken from
    the page table, so a new page is never left out (its text is empty until PAGE_GUIDE has one)."""
    from tal.ui.router import PAGES

    return [(path, title, icon, PAGE_GUIDE.get(title, "")) for path, title, icon in PAGES]
