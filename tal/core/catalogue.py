"""Every attention module, declared once.

An entry says what a module is called, where it sits in the model's cascade,
which configuration fields it reads, which maps it exposes and how each is
drawn, its papers and provenance badges, and its text for the Overview page.
The model builder, the probe, `tal.inspect`, the renderers, the app's pages,
the configuration's choices and the ablation presets iterate over this table,
so a new module is one layer file in `tal/core/layers/`, one entry in
`MODULES` and its tests.

No Keras import: the configs, the CLI's argument parsing and the app's form
read this module without loading TensorFlow.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

# How a map is drawn (tal.ui.maps dispatches on these):
#   class_grid: one tile per class, one row per map, shared colour scale per row
#   bars:       one bar per stage or channel
#   picture:    a small 2-D map as a PNG, over the input when it has the input's aspect
#   query:      position-to-position attention, shown for one query position
#   matrix:     an affinity matrix (rows: queries, columns: keys)
#   scores:     a vector per class, not drawn as a map (the equation panel uses it)
VIEWS = ("class_grid", "bars", "picture", "query", "matrix", "scores")


@dataclass(frozen=True)
class MapSpec:
    """One map a module exposes with `return_attention_maps=True`.

    `key` is the layer's own name for it; `output` the key in `tal.inspect`'s
    result (prefixed so that two modules never collide). A `{k}` in both names
    stands for a stage number (one map per backbone stage). `shape` names the
    axes: B batch, H W the feature grid, K channels, C classes, N = H·W
    positions, n stages, heads attention heads, H_k W_k stage k's grid.
    `computed` maps are not layer outputs: the renderer derives them (A⊙S).
    """

    key: str
    output: str
    title: str
    view: str
    shape: tuple[str, ...]
    symbol: str
    colorscale: str = "Viridis"
    signed: bool = False
    note: str = ""
    axis: str = ""  # bars: what one bar is ("stage", "channel")
    computed: bool = False

    def __post_init__(self):
        if self.view not in VIEWS:
            raise ValueError(f"Expected view in {VIEWS}. Received: view={self.view!r}")

    @property
    def spatial_picture(self) -> bool:
        """A class-agnostic map over the feature grid, one value per position (`M`, CBAM's
        spatial gate): drawn as a picture, and scored against every present class's boxes."""
        return self.view == "picture" and tuple(self.shape) == ("B", "H", "W")


# The choices of the module options below (the layers validate against the same tuples).
FEATURE_MODES = ("residual", "gate", "none")
MHSA_SCORES = ("dot", "additive")


@dataclass(frozen=True)
class Option:
    """A setting only its module reads, declared with the module; it becomes a `ModelConfig` field.

    `hint` is the field's type as text ("int", "str", "int | None"); `setting`
    holds the keyword arguments of `tal.core.config.setting` (bounds, `choices`
    naming a tuple such as "FEATURE_MODES", the Train `form` group).
    """

    name: str
    hint: str
    default: object
    label: str
    help: str
    setting: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Intervention:
    """A what-if on one module: its map `output` forced to `value` while the rest of the model runs.

    `argument` is the layer's call argument that does it (set to True);
    `title` and `text` say what it does, for the app and the errors.
    """

    output: str
    value: object
    argument: str
    title: str
    text: str


@dataclass(frozen=True)
class Equation:
    """A block of the Overview page: title, provenance badges, LaTeX lines, text, where it shows."""

    title: str
    badges: tuple[str, ...]
    latex: tuple[str, ...]
    text: str
    where: str


@dataclass(frozen=True)
class Reference:
    badge: str
    citation: str
    color: str = "red"  # Streamlit badge colour; literature modules share red


@dataclass(frozen=True)
class Slot:
    """A place in the cascade `stages → scale → channel → cbam → extra → element → pool`.

    `layer_name` is the Keras layer's name inside a built model (the probe
    finds the module by it, also in saved models); `takes` / `gives` say what
    flows in and out: "stages" (every backbone stage), "features" (one
    feature map), "features+score" (features and the auxiliary logits),
    "stages+features" → "pooled" (replaces global average pooling).
    """

    name: str
    layer_name: str
    takes: str
    gives: str
    diagram: str  # node label in the Overview's data-flow diagram


SLOTS = (
    Slot("scale", "scale_attention", "stages", "features", "scale-wise\\nF = Σ wₖPₖ"),
    Slot("channel", "channel_attention", "features", "features", "channel-wise\\nX⊙g"),
    Slot("cbam", "cbam", "features", "features", "CBAM\\n(comparison)"),
    Slot("extra", "extra_attention", "features", "features", "extra module\\n(literature)"),
    Slot("element", "element_attention", "features", "features+score", "element-wise\\nA, S, U, M"),
    Slot("pool", "pay_attention", "stages+features", "pooled", "attention pooling\\n(replaces GAP)"),
)
SLOTS_BY_NAME = {s.name: s for s in SLOTS}


@dataclass(frozen=True)
class Module:
    """One attention module.

    Args:
        name: the string configs and `create_attention` use.
        title: a human name.
        layer: `"file:Class"` under `tal.core.layers`.
        slot: where it sits in the cascade (a `Slot` name).
        group: "triple" (A3Net's branches), "comparison" (CBAM) or "literature"
            (chosen as `ModelConfig.extra_attention`).
        toggle: the `ModelConfig` bool field that switches it on; `None` for
            literature modules, which `extra_attention == name` selects.
        arguments: the layer's keyword arguments for a `ModelConfig` and the
            backbone's stage widths.
        options: the settings only this module reads, declared here once
            (`ModelConfig` gains a field for each).
        settings: the shared configuration fields it also reads (the Train form
            greys out what no chosen module reads).
        maps: what `return_attention_maps=True` gives, and how to draw it.
        references: its papers, by provenance badge.
        equations: its Overview text.
        variants: its ablation variants, `(name, ModelConfig overrides)`.
        label: its part of a configuration's label (default: `name`).
        absent: shown on Inspect when a model lacks the module (triple branches).
        interventions: the what-ifs `tal.inspect(..., interventions=…)` can apply to it.
    """

    name: str
    title: str
    layer: str
    slot: str
    group: str
    arguments: Callable
    maps: tuple[MapSpec, ...]
    references: tuple[Reference, ...]
    equations: tuple[Equation, ...]
    toggle: str | None = None
    options: tuple[Option, ...] = ()
    settings: tuple[str, ...] = ()
    variants: tuple[tuple[str, dict], ...] = ()
    label: Callable | None = None
    absent: str = ""
    interventions: tuple[Intervention, ...] = ()

    @property
    def reads(self) -> tuple[str, ...]:
        """Every configuration field the module reads: its own options, then shared settings."""
        return (*(o.name for o in self.options), *self.settings)

    @property
    def layer_name(self) -> str:
        return SLOTS_BY_NAME[self.slot].layer_name

    @property
    def class_name(self) -> str:
        return self.layer.split(":")[1]

    def selected(self, config) -> bool:
        """Whether a `ModelConfig` switches this module on."""
        return bool(getattr(config, self.toggle)) if self.toggle else config.extra_attention == self.name

    def label_of(self, config) -> str:
        return self.label(config) if self.label else self.name

    def ablation_variants(self) -> tuple[tuple[str, dict], ...]:
        """`(variant name, ModelConfig overrides)` that switch this module on, alone."""
        on = {self.toggle: True} if self.toggle else {"extra_attention": self.name}
        return tuple((name, {**on, **overrides}) for name, overrides in self.variants or ((self.name, {}),))

    def output_key(self, layer_key: str) -> str:
        """The `tal.inspect` key of one of the layer's own map names."""
        for spec in self.maps:
            if spec.key == layer_key:
                return spec.output
            if "{k}" in spec.key:
                match = re.fullmatch(re.escape(spec.key).replace(r"\{k\}", r"(\d+)"), layer_key)
                if match:
                    return spec.output.format(k=match.group(1))
        raise KeyError(f"{self.name} has no map named {layer_key!r}; its maps: {[m.key for m in self.maps]}")


def _common(config) -> dict:
    return {"reduction_ratio": config.reduction_ratio, "min_hidden": config.min_hidden}


_QUERY_NOTE = "Each map sums to 1 over the grid."

MODULES = (
    Module(
        name="scale",
        title="Scale-wise attention",
        layer="scale:ScaleAttention",
        slot="scale",
        group="triple",
        toggle="scale",
        arguments=lambda c, widths: {"dim": c.scale_dim or widths[-1], "bn_momentum": c.bn_momentum, **_common(c)},
        options=(Option("scale_dim", "int | None", None, "Scale-wise width",
                        "Width the scale-wise branch projects every stage to.",
                        {"min": 1, "none": "the last stage's width"}),),
        settings=("reduction_ratio", "min_hidden", "bn_momentum"),
        maps=(
            MapSpec("weights", "scale_weights", "Scale weights w_k (softmax over stages)", "bars", ("B", "n"),
                    "w", axis="stage", note="Stage 1 is the finest grid; the weights sum to 1."),
        ),
        references=(),
        equations=(Equation(
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
        ),),
        absent="**No scale weights** — scale-wise attention was off; the model uses the last backbone stage alone.",
        interventions=(Intervention("scale_weights", "uniform", "uniform_weights", "Scale weights uniform",
                                    "every stage weighs 1/n: the fusion no longer depends on the image"),),
    ),
    Module(
        name="channel",
        title="Channel-wise attention (squeeze-and-excitation)",
        layer="channel:ChannelAttention",
        slot="channel",
        group="triple",
        toggle="channel",
        arguments=lambda c, widths: _common(c),
        settings=("reduction_ratio", "min_hidden"),
        maps=(
            MapSpec("gate", "channel_gate", "Channel gate g", "bars", ("B", "K"), "g", axis="channel",
                    note="Channel gate (squeeze-and-excitation): each feature channel is multiplied by its gate."),
        ),
        references=(Reference("SE", "J. Hu et al., “Squeeze-and-excitation networks”, arXiv:1709.01507.", "green"),),
        equations=(Equation(
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
        ),),
        absent="**No channel gate** — channel-wise (SE) attention was off for this model.",
        interventions=(Intervention("channel_gate", 1, "gate_one", "Channel gate = 1",
                                    "every channel passes the SE gate unchanged"),),
    ),
    Module(
        name="element",
        title="Element-wise attention",
        layer="element:ElementWiseAttention",
        slot="element",
        group="triple",
        toggle="element",
        arguments=lambda c, widths: {"num_classes": c.num_classes, "width": c.element_width,
                                     "feature_mode": c.feature_mode},
        options=(
            Option("element_width", "int", 16, "Element-wise width w",
                   "Hidden width of the attention estimator (the paper uses 512).",
                   {"min": 1, "ui_max": 512, "form": "model"}),
            Option("feature_mode", "str", "residual", "Feature mode",
                   "How the element branch feeds the main path: residual E⊙(1+M), gate E⊙M, or none.",
                   {"choices": "FEATURE_MODES", "form": "model"}),
        ),
        settings=("aux_weight", "prediction"),
        maps=(
            MapSpec("A", "A", "A: attention (spatial softmax per class)", "class_grid", ("B", "H", "W", "C"), "A"),
            MapSpec("S", "S", "S: confidence (per-pixel class logit)", "class_grid", ("B", "H", "W", "C"), "S",
                    colorscale="RdBu_r", signed=True),
            MapSpec("AS", "AS", "A⊙S: contribution to the aux logit", "class_grid", ("B", "H", "W", "C"), "A⊙S",
                    colorscale="RdBu_r", signed=True, computed=True),
            MapSpec("U", "U", "U = σ(S)⊙A: weighted attention", "class_grid", ("B", "H", "W", "C"), "U",
                    colorscale="Magma"),
            MapSpec("M", "M", "M = Σ_c U, rescaled to [0, 1]", "picture", ("B", "H", "W"), "M",
                    colorscale="Magma", note="The features passed on are E⊙(1+M) in residual mode."),
            MapSpec("score", "score", "score = Σ A⊙S: the auxiliary logits", "scores", ("B", "C"), "score"),
        ),
        references=(Reference("SRN", "F. Zhu et al., “Learning spatial regularization with image-level "
                                     "supervisions for multi-label image classification”, CVPR 2017, "
                                     "arXiv:1702.05891.", "violet"),),
        equations=(
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
        ),
        absent="**No A, S, U or M maps** — this model was trained without the element-wise branch, so it "
               "has no per-class maps and no auxiliary head.",
        interventions=(
            Intervention("A", "uniform", "uniform_attention", "A uniform",
                         "every A = 1/(H·W): the score becomes the mean of S over positions (the CAM identity)"),
            Intervention("M", 0, "bypass_mask", "M = 0",
                         "the features pass the element branch unchanged"),
        ),
    ),
    Module(
        name="cbam",
        title="CBAM (for comparison)",
        layer="cbam:CBAM",
        slot="cbam",
        group="comparison",
        toggle="cbam",
        arguments=lambda c, widths: _common(c),
        settings=("reduction_ratio", "min_hidden"),
        maps=(
            MapSpec("channel_gate", "cbam_channel_gate", "CBAM channel gate", "bars", ("B", "K"), "gate",
                    axis="channel", note="CBAM's channel gate, from average- and max-pooled features."),
            MapSpec("spatial", "cbam_spatial", "CBAM spatial gate", "picture", ("B", "H", "W"), "gate",
                    colorscale="Cividis", note="CBAM's spatial gate (for comparison)."),
        ),
        references=(Reference("CBAM", "S. Woo et al., “CBAM: convolutional block attention module”, ECCV 2018, "
                                      "arXiv:1807.06521.", "orange"),),
        equations=(Equation(
            "CBAM (for comparison)",
            ("CBAM",),
            (r"X' = X \odot M_c(X),\qquad X'' = X' \odot M_s(X')",),
            "Channel then spatial attention from pooled statistics; offered as a well-known baseline, "
            "not part of A3Net.",
            "Inspect: the *CBAM spatial gate* and channel gate (when a CBAM model is chosen).",
        ),),
    ),
    Module(
        name="spatial_weights",
        title="Spatial weights",
        layer="spatial_weights:SpatialWeights",
        slot="extra",
        group="literature",
        arguments=lambda c, widths: {},
        maps=(
            MapSpec("weights", "sw_weights", "Spatial weights W (one weight per position)", "picture",
                    ("B", "H", "W"), "W", note="Every channel at a position is multiplied by its weight."),
        ),
        references=(Reference("SW", "X. Zhang et al., “It’s written all over your face: full-face appearance-based "
                                    "gaze estimation”, CVPR Workshops 2017."),),
        equations=(Equation(
            "Spatial weights (extra module: spatial_weights)",
            ("SW", "ours"),
            (r"W = \mathrm{ReLU}\big(\mathrm{conv}_{1\times1}^{(1)}(\mathrm{ReLU}(\mathrm{conv}_{1\times1}(\cdots X)))\big),"
             r"\qquad X' = X \odot W",),
            "A few 1×1 convolutions produce one non-negative weight per position that multiplies every channel "
            "(full-face gaze estimation). The number of convolutions and their width are ours.",
            "Inspect: the *spatial weights* map.",
        ),),
    ),
    Module(
        name="danet",
        title="DANet: position and channel attention",
        layer="danet:DANet",
        slot="extra",
        group="literature",
        # the paper's reduction 8 where SE uses 16
        arguments=lambda c, widths: {"reduction_ratio": max(c.reduction_ratio // 2, 1)},
        settings=("reduction_ratio",),
        maps=(
            MapSpec("position_attention", "danet_position", "DANet position attention of the query", "query",
                    ("B", "N", "N"), "P", note=_QUERY_NOTE),
            MapSpec("channel_affinity", "danet_channel", "DANet channel affinity (rows sum to 1)", "matrix",
                    ("B", "K", "K"), "C", axis="channel"),
        ),
        references=(Reference("DANet", "J. Fu et al., “Dual attention network for scene segmentation”, CVPR 2019."),),
        equations=(Equation(
            "DANet: position and channel attention (extra module: danet)",
            ("DANet", "ours"),
            (r"P = \operatorname{softmax}_j(Q_i^\top K_j),\quad X_p = \gamma_p\, V P^\top",
             r"C = \operatorname{softmax}(\max E - E),\ E = X X^\top,\quad X_c = \gamma_c\, C X",
             r"X' = X + X_p + X_c"),
            "Two modules in parallel: every position attends to every other position, and every channel to every "
            "channel; γ starts at 0 so the block starts as the identity. Summing both onto one residual is ours.",
            "Inspect: one query position's attention over all positions, and the channel affinity matrix.",
        ),),
    ),
    Module(
        name="nonlocal",
        title="Non-local block",
        layer="nonlocal_block:NonLocalBlock",
        slot="extra",
        group="literature",
        arguments=lambda c, widths: {},
        maps=(
            MapSpec("attention", "nonlocal_attention", "Non-local attention of the query", "query",
                    ("B", "N", "N"), "f", note=_QUERY_NOTE),
        ),
        references=(Reference("NL", "X. Wang et al., “Non-local neural networks”, CVPR 2018."),),
        equations=(Equation(
            "Non-local block, embedded Gaussian (extra module: nonlocal)",
            ("NL", "ours"),
            (r"f_{ij} = \operatorname{softmax}_j(\theta(x_i)^\top \phi(x_j)),\qquad z_i = W_z \sum_j f_{ij}\, g(x_j) + x_i",),
            "Self-attention over all positions with a residual connection. W_z starts at zero (instead of the "
            "paper's zero-initialised BatchNorm), so the block starts as the identity.",
            "Inspect: one query position's attention over all positions.",
        ),),
    ),
    Module(
        name="pay_attention",
        title="Learn to Pay Attention",
        layer="pay_attention:LearnToPayAttention",
        slot="pool",
        group="literature",
        arguments=lambda c, widths: {},
        maps=(
            MapSpec("stage_{k}", "ltpa_stage_{k}", "Learn to Pay Attention, stage {k} (softmax over positions)",
                    "picture", ("B", "H_k", "W_k"), "a", note="Each stage's map sums to 1 over its grid."),
        ),
        references=(Reference("LTPA", "S. Jetley et al., “Learn to pay attention”, ICLR 2018."),),
        equations=(Equation(
            "Learn to Pay Attention (extra module: pay_attention)",
            ("LTPA", "ours"),
            (r"c_i^{s} = \langle u, \ell_i^{s} + g \rangle,\quad a^{s} = \operatorname{softmax}_i(c^{s}),\quad "
             r"g_a^{s} = \sum_i a_i^{s}\, \ell_i^{s}",
             r"p = \operatorname{softmax}\big(\mathrm{Dense}(C)([g_a^{1}; \dots; g_a^{n}])\big)"),
            "Every backbone stage is pooled by its own attention map, steered by the global feature g (here the "
            "average of the final features); the descriptors replace global average pooling.",
            "Inspect: one attention map per stage.",
        ),),
    ),
    Module(
        name="mhsa",
        title="Multi-head self-attention over positions",
        layer="self_attention:PositionSelfAttention",
        slot="extra",
        group="literature",
        arguments=lambda c, widths: {"num_heads": c.num_heads, "score": c.mhsa_score},
        options=(
            Option("mhsa_score", "str", "dot", "MHSA score",
                   "Score of multi-head self-attention: scaled dot product or additive.",
                   {"choices": "MHSA_SCORES", "form": "model"}),
            Option("num_heads", "int", 2, "MHSA heads", "Attention heads of multi-head self-attention.",
                   {"min": 1, "ui_max": 8, "form": "model"}),
        ),
        variants=(("mhsa-dot", {"mhsa_score": "dot"}), ("mhsa-additive", {"mhsa_score": "additive"})),
        label=lambda c: f"mhsa-{c.mhsa_score}",
        maps=(
            MapSpec("heads", "mhsa_heads", "Self-attention of the query, head {h}", "query",
                    ("B", "heads", "N", "N"), "α", note=_QUERY_NOTE),
        ),
        references=(Reference("MHSA", "A. Vaswani et al., “Attention is all you need”, NeurIPS 2017 (dot-product); "
                                      "D. Bahdanau et al., ICLR 2015 (additive); M.-T. Luong et al., EMNLP 2015 (dot)."),),
        equations=(Equation(
            "Multi-head self-attention over positions (extra module: mhsa)",
            ("MHSA", "ours"),
            (r"\alpha_{ij} = \operatorname{softmax}_j\Big(\tfrac{q_i^\top k_j}{\sqrt{d}}\Big)\ \text{(dot)}\quad\text{or}\quad"
             r"\operatorname{softmax}_j\big(v^\top \tanh(W_q q_i + W_k k_j)\big)\ \text{(additive)}",
             r"X' = X + \mathrm{MHA}(X + \text{pos})"),
            "The sequence-attention family applied to the grid of positions, with Keras's MultiHeadAttention "
            "(dot-product, Luong/Transformer) or an additive (Bahdanau) score; a learned position embedding is ours.",
            "Inspect: one query position's attention for each head.",
        ),),
    ),
    Module(
        name="eca",
        title="ECA: efficient channel attention",
        layer="eca:EfficientChannelAttention",
        slot="extra",
        group="literature",
        arguments=lambda c, widths: {},
        maps=(
            MapSpec("gate", "eca_gate", "ECA channel gate ω", "bars", ("B", "K"), "ω", axis="channel",
                    note="ECA's gate: each channel's weight comes from its k neighbours' pooled values."),
        ),
        references=(Reference("ECA", "Q. Wang et al., “ECA-Net: efficient channel attention for deep "
                                     "convolutional neural networks”, CVPR 2020, arXiv:1910.03151."),),
        equations=(Equation(
            "ECA: efficient channel attention (extra module: eca)",
            ("ECA",),
            (r"\omega = \sigma\big(\mathrm{conv1d}_k(\mathrm{GAP}(X))\big),\qquad X' = X \odot \omega",
             r"k = \Big|\frac{\log_2 K + b}{\gamma}\Big|_{\mathrm{odd}},\quad \gamma = 2,\ b = 1"),
            "A channel gate like squeeze-and-excitation, without its bottleneck: one small convolution across the "
            "pooled channels, so each gate depends on its k neighbouring channels only (k grows with K).",
            "Inspect: the *ECA channel gate* bar chart.",
        ),),
    ),
)

# The paper every triple-attention branch comes from, and this project's own choices.
A3NET = Reference("A3Net", "H. Wang et al., “Triple attention learning for classification of 14 thoracic diseases "
                           "using chest radiography”, Medical Image Analysis 67:101846 (2021). DenseNet-121 "
                           "backbone, mean AUC 0.826 on ChestX-ray14.", "blue")
OURS = Reference("ours", "A choice made in this project where the published text does not specify it.", "gray")


# ----------------------------------------------------------------- lookups

def module(name: str) -> Module:
    """The entry called `name`; `ValueError` listing the valid names otherwise."""
    for m in MODULES:
        if m.name == name:
            return m
    raise ValueError(f"Unknown attention module {name!r}. Expected one of {sorted(m.name for m in MODULES)}. "
                     f"Received: name={name!r}")


def names() -> list[str]:
    return sorted(m.name for m in MODULES)


def toggles() -> tuple[str, ...]:
    """The `ModelConfig` bool fields that switch modules on, in catalogue order."""
    return tuple(m.toggle for m in MODULES if m.toggle)


def literature() -> tuple[Module, ...]:
    """Modules chosen as `ModelConfig.extra_attention`."""
    return tuple(m for m in MODULES if m.toggle is None)


def of_group(group: str) -> tuple[Module, ...]:
    return tuple(m for m in MODULES if m.group == group)


def selected(config) -> tuple[Module, ...]:
    """The modules a `ModelConfig` switches on, in catalogue order."""
    return tuple(m for m in MODULES if m.selected(config))


def by_class(class_name: str) -> Module:
    for m in MODULES:
        if m.class_name == class_name:
            return m
    raise ValueError(f"No catalogue entry for the layer class {class_name!r}.")


def settings_in_use(config) -> set[str]:
    """Settings read by the modules `config` switches on."""
    return {s for m in selected(config) for s in m.reads}


def module_settings() -> set[str]:
    """Every setting some module reads (a setting outside this set always matters)."""
    return {s for m in MODULES for s in m.reads}


def map_specs() -> tuple[tuple[Module, MapSpec], ...]:
    return tuple((m, spec) for m in MODULES for spec in m.maps)


def map_spec(output: str) -> MapSpec:
    """The spec of a `tal.inspect` output key (stage maps match their `{k}` pattern)."""
    for _, spec in map_specs():
        if spec.output == output:
            return spec
        if "{k}" in spec.output and re.fullmatch(re.escape(spec.output).replace(r"\{k\}", r"\d+"), output):
            return spec
    raise KeyError(f"No map called {output!r} in the catalogue.")


def owner(output: str) -> Module:
    """The module whose map `output` is."""
    spec = map_spec(output)
    return next(m for m in MODULES if spec in m.maps)


def interventions() -> tuple[tuple[Module, Intervention], ...]:
    """Every intervention of every module, in catalogue order."""
    return tuple((m, iv) for m in MODULES for iv in m.interventions)


def check_interventions(requested: dict, present_modules) -> dict[str, dict]:
    """Validate `{map output: value}` what-ifs against the modules a model has.

    Returns `{layer name: {call argument: True}}` for the probe. Raises
    `ValueError` naming the problem: an unknown name (with the valid ones), a
    value other than the allowed one, or a module the model does not have.
    """
    known = {iv.output: (m, iv) for m, iv in interventions()}
    present = {m.name for m in present_modules}
    out: dict[str, dict] = {}
    for key, value in (requested or {}).items():
        if key not in known:
            raise ValueError(f"Unknown intervention {key!r}. Expected one of {sorted(known)}. Received: {key}={value!r}")
        module_, iv = known[key]
        if value != iv.value or isinstance(value, bool):
            raise ValueError(f"The {key} intervention sets it to {iv.value!r} ({iv.text}). Received: {key}={value!r}")
        if module_.name not in present:
            raise ValueError(f"This model has no {module_.title.lower()}, so the {key} intervention cannot apply.")
        out.setdefault(module_.layer_name, {})[iv.argument] = True
    return out


def references() -> tuple[Reference, ...]:
    """A3Net, every module's references (each badge once), then [ours]."""
    seen, out = {A3NET.badge}, [A3NET]
    for m in MODULES:
        for ref in m.references:
            if ref.badge not in seen:
                seen.add(ref.badge)
                out.append(ref)
    return (*out, OURS)
