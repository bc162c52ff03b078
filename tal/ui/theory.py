"""Content of the Overview page: the data-flow diagram and the equations with provenance.

Badges (DESIGN §1): [A3Net] stated in Wang et al. 2021; [SRN] verified in
Zhu et al. 2017 (the element-wise estimator A3Net follows); [SE] Hu et al.;
[CBAM] Woo et al.; [ours] a design choice of this project.
"""

from __future__ import annotations

from dataclasses import dataclass

BADGE_COLORS = {"A3Net": "blue", "SRN": "violet", "SE": "green", "CBAM": "orange", "ours": "gray",
                "SW": "red", "DANet": "red", "NL": "red", "LTPA": "red", "MHSA": "red"}

REFERENCES = (
    (
        "A3Net",
        "H. Wang et al., “Triple attention learning for classification of 14 thoracic diseases using "
        "chest radiography”, Medical Image Analysis 67:101846 (2021). DenseNet-121 backbone, "
        "mean AUC 0.826 on ChestX-ray14.",
    ),
    (
        "SRN",
        "F. Zhu et al., “Learning spatial regularization with image-level supervisions for multi-label "
        "image classification”, CVPR 2017, arXiv:1702.05891.",
    ),
    ("SE", "J. Hu et al., “Squeeze-and-excitation networks”, arXiv:1709.01507."),
    (
        "CBAM",
        "S. Woo et al., “CBAM: convolutional block attention module”, ECCV 2018, arXiv:1807.06521.",
    ),
    ("SW", "X. Zhang et al., “It’s written all over your face: full-face appearance-based gaze "
           "estimation”, CVPR Workshops 2017."),
    ("DANet", "J. Fu et al., “Dual attention network for scene segmentation”, CVPR 2019."),
    ("NL", "X. Wang et al., “Non-local neural networks”, CVPR 2018."),
    ("LTPA", "S. Jetley et al., “Learn to pay attention”, ICLR 2018."),
    ("MHSA", "A. Vaswani et al., “Attention is all you need”, NeurIPS 2017 (dot-product); "
             "D. Bahdanau et al., ICLR 2015 (additive); M.-T. Luong et al., EMNLP 2015 (dot)."),
    ("ours", "A choice made in this project where the published text does not specify it."),
)


@dataclass(frozen=True)
class Equation:
    title: str
    badges: tuple[str, ...]
    latex: tuple[str, ...]
    text: str
    where: str  # where the quantity shows up in the app


EQUATIONS = (
    Equation(
        "Channel-wise attention (squeeze-and-excitation)",
        ("A3Net", "SE"),
        (
            r"z = \mathrm{GAP}(X) \in \mathbb{R}^{K}",
            r"g = \sigma\big(W_2\,\mathrm{ReLU}(W_1 z + b_1) + b_2\big),\qquad W_1: K \to \max(K/r,\ \text{min\_hidden})",
            r"X_{CA} = X \odot g \quad\text{(broadcast over } H, W)",
        ),
        "Each of the K feature channels is rescaled by a gate in (0, 1) computed from the whole image. "
        "The SE paper's reduction ratio r = 16 is the default.",
        "Inspect and Predict: the *channel gate* bar chart.",
    ),
    Equation(
        "Element-wise attention: attention maps A",
        ("SRN", "A3Net"),
        (
            r"Z = \mathrm{conv}_{1\times1}^{(C)}\Big(\mathrm{ReLU}\big(\mathrm{conv}_{3\times3}^{(w)}"
            r"(\mathrm{ReLU}(\mathrm{conv}_{1\times1}^{(w)}(E)))\big)\Big)",
            r"A_{h,w,c} = \frac{\exp Z_{h,w,c}}{\sum_{h',w'} \exp Z_{h',w',c}}",
        ),
        "E is the channel-attended features (A3Net cascades the modules). The softmax runs over the "
        "positions separately for every class, so each class's map sums to 1: it says *where* to look "
        "for that class. (A softmax over classes would be a different, wrong operation.)",
        "Inspect: row **A** of the per-class grid; Compare: A across runs.",
    ),
    Equation(
        "Element-wise attention: confidence maps S and the score",
        ("SRN", "A3Net"),
        (
            r"S = \mathrm{conv}_{1\times1}^{(C)}(E) \quad\text{(a linear classifier at every position)}",
            r"\mathrm{score}_c = \sum_{h,w} A_{h,w,c}\, S_{h,w,c}",
            r"p^{\mathrm{aux}} = \operatorname{softmax}(\mathrm{score})",
        ),
        "The auxiliary head's logits are the attention-weighted average of the per-position logits. "
        "If A were uniform, score would be global average pooling plus a linear layer and S a class "
        "activation map.",
        "Inspect: rows **S** and **A⊙S**, and the equation panel that recomputes score from the maps.",
    ),
    Equation(
        "Weighted attention and the mask passed on",
        ("SRN", "ours"),
        (
            r"U = \sigma(S) \odot A",
            r"M_{h,w} = \frac{\sum_c U_{h,w,c}}{\max_{h',w'} \sum_c U_{h',w',c}}",
            r"X_{EA} = E \odot (1 + M)\ \text{(residual)},\quad E \odot M\ \text{(gate)},\quad E\ \text{(none)}",
        ),
        "U [SRN] keeps attention where the class is also confident. How the branch feeds the main path "
        "(M and the residual form, so a poor early mask cannot erase features) is this project's choice.",
        "Inspect: row **U** and the *mask M* heatmap; Train: the *feature mode* setting.",
    ),
    Equation(
        "Scale-wise attention",
        ("ours", "A3Net"),
        (
            r"P_k = W_k\,\mathrm{AvgPool}_k(F_k)\ \text{(a linear 1×1 projection to } D \text{ on the last stage's grid)}",
            r"s = \mathrm{GAP}\Big(\sum_k P_k\Big),\qquad w = \operatorname{softmax}_k\big(\mathrm{Dense}(n)(\mathrm{ReLU}(\mathrm{Dense}(D/r)(s)))\big)",
            r"F = \mathrm{ReLU}\Big(\mathrm{BN}\Big(\sum_k w_k P_k\Big)\Big)",
        ),
        "A3Net names scale-wise attention; the exact form here is ours: a learned, image-dependent "
        "mixture of the backbone stages F_1 … F_n. Because each P_k is linear, the weighted sum is a "
        "single 1×1 convolution of the stage-weighted, stacked inputs, which keeps the branch cheap.",
        "Inspect and Predict: the *scale weights* bar chart.",
    ),
    Equation(
        "Loss",
        ("A3Net", "ours"),
        (
            r"L = \mathrm{CE}_w(p^{\mathrm{main}}, y) + \lambda\, \mathrm{CE}_w\big(\operatorname{softmax}(\mathrm{score}), y\big)",
        ),
        "CE_w is the cross-entropy weighted per class (inverse class frequency, mean 1). λ lives in a "
        "Keras variable, so it can be changed while the model trains.",
        "Train: the λ setting, the live λ slider and the λ curve.",
    ),
    Equation(
        "CBAM (for comparison)",
        ("CBAM",),
        (r"X' = X \odot M_c(X),\qquad X'' = X' \odot M_s(X')",),
        "Channel then spatial attention from pooled statistics; offered as a well-known baseline, "
        "not part of A3Net.",
        "Inspect: the *CBAM spatial gate* (when a CBAM model is chosen).",
    ),
)


# Attention modules from the literature, selectable as the "extra module" for comparison.
LITERATURE = (
    Equation(
        "Spatial weights (extra module: spatial_weights)",
        ("SW", "ours"),
        (r"W = \mathrm{ReLU}\big(\mathrm{conv}_{1\times1}^{(1)}(\mathrm{ReLU}(\mathrm{conv}_{1\times1}(\cdots X)))\big),"
         r"\qquad X' = X \odot W",),
        "A few 1×1 convolutions produce one non-negative weight per position that multiplies every channel "
        "(full-face gaze estimation). The number of convolutions and their width are ours.",
        "Inspect: the *spatial weights* map.",
    ),
    Equation(
        "DANet: position and channel attention (extra module: danet)",
        ("DANet", "ours"),
        (r"P = \operatorname{softmax}_j(Q_i^\top K_j),\quad X_p = \gamma_p\, V P^\top",
         r"C = \operatorname{softmax}(\max E - E),\ E = X X^\top,\quad X_c = \gamma_c\, C X",
         r"X' = X + X_p + X_c"),
        "Two modules in parallel: every position attends to every other position, and every channel to every "
        "channel; γ starts at 0 so the block starts as the identity. Summing both onto one residual is ours.",
        "Inspect: one query position's attention over all positions, and the channel affinity matrix.",
    ),
    Equation(
        "Non-local block, embedded Gaussian (extra module: nonlocal)",
        ("NL", "ours"),
        (r"f_{ij} = \operatorname{softmax}_j(\theta(x_i)^\top \phi(x_j)),\qquad z_i = W_z \sum_j f_{ij}\, g(x_j) + x_i",),
        "Self-attention over all positions with a residual connection. W_z starts at zero (instead of the "
        "paper's zero-initialised BatchNorm), so the block starts as the identity.",
        "Inspect: one query position's attention over all positions.",
    ),
    Equation(
        "Learn to Pay Attention (extra module: pay_attention)",
        ("LTPA", "ours"),
        (r"c_i^{s} = \langle u, \ell_i^{s} + g \rangle,\quad a^{s} = \operatorname{softmax}_i(c^{s}),\quad "
         r"g_a^{s} = \sum_i a_i^{s}\, \ell_i^{s}",
         r"p = \operatorname{softmax}\big(\mathrm{Dense}(C)([g_a^{1}; \dots; g_a^{n}])\big)"),
        "Every backbone stage is pooled by its own attention map, steered by the global feature g (here the "
        "average of the final features); the descriptors replace global average pooling.",
        "Inspect: one attention map per stage.",
    ),
    Equation(
        "Multi-head self-attention over positions (extra module: mhsa)",
        ("MHSA", "ours"),
        (r"\alpha_{ij} = \operatorname{softmax}_j\Big(\tfrac{q_i^\top k_j}{\sqrt{d}}\Big)\ \text{(dot)}\quad\text{or}\quad"
         r"\operatorname{softmax}_j\big(v^\top \tanh(W_q q_i + W_k k_j)\big)\ \text{(additive)}",
         r"X' = X + \mathrm{MHA}(X + \text{pos})"),
        "The sequence-attention family applied to the grid of positions, with Keras's MultiHeadAttention "
        "(dot-product, Luong/Transformer) or an additive (Bahdanau) score; a learned position embedding is ours.",
        "Inspect: one query position's attention for each head.",
    ),
)


def badge_markdown(badges) -> str:
    """Streamlit markdown badges, e.g. ':blue-badge[A3Net]'."""
    return " ".join(f":{BADGE_COLORS.get(b, 'gray')}-badge[{b}]" for b in badges)


def dataflow_dot(*, scale=True, channel=True, cbam=False, extra=False, element=True) -> str:
    """Graphviz source of the model's data flow; switched-off branches are drawn dashed."""

    def node(name, label, on=True, shape="box"):
        style = "rounded,filled" if on else "rounded,dashed"
        fill = "#E8F0FA" if on else "#FFFFFF"
        font = "#000000" if on else "#999999"
        return f'{name} [label="{label}", shape={shape}, style="{style}", fillcolor="{fill}", fontcolor="{font}"];'

    return "\n".join(
        [
            "digraph TAL {",
            '  rankdir=LR; bgcolor="transparent"; nodesep=0.2; ranksep=0.25; '
            'node [fontname="Helvetica", fontsize=13, margin="0.08,0.04"]; '
            'edge [fontname="Helvetica", fontsize=9, color="#555555"];',
            "  " + node("img", "image", shape="oval"),
            "  " + node("bb", "backbone\\nstages"),
            "  " + node("sc", "scale-wise\\nF = Σ wₖPₖ", scale),
            "  " + node("ch", "channel-wise\\nX⊙g", channel),
            "  " + node("cb", "CBAM\\n(comparison)", cbam),
            "  " + node("ex", "extra module\\n(literature)", extra),
            "  " + node("el", "element-wise\\nA, S, U, M", element),
            "  " + node("gap", "GAP →\\nDense(C)"),
            "  " + node("main", "main\\nhead", shape="oval"),
            "  " + node("aux", "aux head\\nsoftmax(Σ A⊙S)", element, shape="oval"),
            '  img -> bb; bb -> sc [label="F₁…Fₙ"]; sc -> ch; ch -> cb; cb -> ex; ex -> el; el -> gap [label="E⊙(1+M)"]; gap -> main;',
            '  el -> aux [label="score"];',
            "}",
        ]
    )


WHERE_IN_APP = (
    (
        "Train",
        "Switch branches on and off, set λ, watch the losses, accuracies and λ live; change λ mid-run.",
    ),
    (
        "Inspect",
        "For one image: probabilities, the per-class A, S, A⊙S and U grid, the channel gate, scale "
        "weights and mask M, and score_c = Σ A⊙S with real numbers.",
    ),
    (
        "Predict",
        "Drop your own digit images: the 28×28 input the model sees, its prediction and the maps.",
    ),
    (
        "Compare",
        "Runs side by side: configuration, accuracy, curves, confusion matrices and the same image's maps.",
    ),
)
