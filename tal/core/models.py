"""Build the triple-attention model from a `ModelConfig`, and its probe.

Data flow [A3Net cascade; CBAM and extra-module placement ours]:
`stages → [scale] → [channel] → [cbam] → [extra] → [element] → GAP → Dense(C)`
= main head; the element branch adds the auxiliary head `softmax(score)`.
Every bracket is a toggle; with all off this is the plain baseline of the
backbone. The extra module is one of the literature's attention blocks
(`ModelConfig.extra_attention`); "pay_attention" replaces GAP with
attention-pooled descriptors of every stage, steered by the final features.

The training model and the probe share one function, `_assemble`, and the
same layer objects: the probe only asks each attention layer for its maps.
"""
from __future__ import annotations

import keras
from keras import layers

from tal.core.backbones import build_backbone
from tal.core.config import ModelConfig
from tal.core.layers import create_attention

# Layer names the probe looks up in a (possibly reloaded) model.
PART_NAMES = ("backbone", "scale_attention", "channel_attention", "cbam", "extra_attention", "element_attention",
              "pay_attention", "pool", "dropout", "main", "aux")
# How each extra module's maps are named in the probe's outputs.
EXTRA_MAP_NAMES = {
    "weights": "sw_weights",
    "position_attention": "danet_position",
    "channel_affinity": "danet_channel",
    "attention": "nonlocal_attention",
    "heads": "mhsa_heads",
}


def build_model(config: ModelConfig | None = None, **overrides) -> keras.Model:
    """Build the (uncompiled) model described by `config`.

    Args:
        config: a `tal.ModelConfig` (default: the default full configuration).
        **overrides: fields to replace, e.g. `build_model(element=False)`.

    Returns:
        A functional `keras.Model` mapping images `(B, H, W, 1)` to a dict of
        probabilities: `{"main": (B, C)}` plus `"aux"` when the element branch is on.

    Example:
    >>> model = build_model(tal.ModelConfig(scale=False))
    >>> sorted(model.output_names)
    ['aux', 'main']
    """
    config = (config or ModelConfig()).replace(**overrides) if overrides else (config or ModelConfig())
    backbone = build_backbone(config)
    stage_widths = [s.shape[-1] for s in backbone.outputs]
    head = "sigmoid" if config.multi_label else "softmax"
    parts = {
        "backbone": backbone,
        "pool": layers.GlobalAveragePooling2D(name="pool"),
        "dropout": layers.Dropout(config.dropout, name="dropout") if config.dropout else None,
        "main": layers.Dense(config.num_classes, activation=head, name="main"),
    }
    common = {"reduction_ratio": config.reduction_ratio, "min_hidden": config.min_hidden}
    if config.scale:
        parts["scale_attention"] = create_attention(
            "scale", dim=config.scale_dim or stage_widths[-1], bn_momentum=config.bn_momentum,
            name="scale_attention", **common,
        )
    if config.channel:
        parts["channel_attention"] = create_attention("channel", name="channel_attention", **common)
    if config.cbam:
        parts["cbam"] = create_attention("cbam", name="cbam", **common)
    if config.extra_attention == "pay_attention":
        parts["pay_attention"] = create_attention("pay_attention", name="pay_attention")
    elif config.extra_attention != "none":
        parts["extra_attention"] = create_attention(
            config.extra_attention, name="extra_attention", **_extra_kwargs(config)
        )
    if config.element:
        parts["element_attention"] = create_attention(
            "element", num_classes=config.num_classes, width=config.element_width,
            feature_mode=config.feature_mode, name="element_attention",
        )
        parts["aux"] = layers.Activation(head, name="aux")
    inputs = keras.Input(tuple(config.input_shape), name="image")
    outputs, _ = _assemble(inputs, parts, with_maps=False)
    return keras.Model(inputs, outputs, name=f"tal_{config.label.replace('+', '_')}")


def _extra_kwargs(config: ModelConfig) -> dict:
    """Arguments of the extra attention module, in the configuration's vocabulary."""
    if config.extra_attention == "danet":
        return {"reduction_ratio": max(config.reduction_ratio // 2, 1)}  # the paper's 8 where SE uses 16
    if config.extra_attention == "mhsa":
        return {"num_heads": config.num_heads, "score": config.mhsa_score}
    return {}


def _call(layer, x, with_maps, maps, rename):
    """Call an attention layer, collecting its maps under new names when asked."""
    if not with_maps:
        return layer(x)
    out, layer_maps = layer(x, return_attention_maps=True)
    maps.update({rename.get(k, k): v for k, v in layer_maps.items()})
    return out


def _assemble(inputs, parts, with_maps):
    maps = {}
    stages = parts["backbone"](inputs)
    stages = stages if isinstance(stages, (list, tuple)) else [stages]
    x = stages[-1]
    if parts.get("scale_attention") is not None:
        x = _call(parts["scale_attention"], list(stages), with_maps, maps, {"weights": "scale_weights"})
    if parts.get("channel_attention") is not None:
        x = _call(parts["channel_attention"], x, with_maps, maps, {"gate": "channel_gate"})
    if parts.get("cbam") is not None:
        x = _call(parts["cbam"], x, with_maps, maps, {"channel_gate": "cbam_channel_gate", "spatial": "cbam_spatial"})
    if parts.get("extra_attention") is not None:
        x = _call(parts["extra_attention"], x, with_maps, maps, EXTRA_MAP_NAMES)
    score = None
    if parts.get("element_attention") is not None:
        x, score = _call(parts["element_attention"], x, with_maps, maps, {})
    if parts.get("pay_attention") is not None:
        rename = {f"stage_{k + 1}": f"ltpa_stage_{k + 1}" for k in range(len(stages))}
        pooled = _call(parts["pay_attention"], [*stages, x], with_maps, maps, rename)
    else:
        pooled = parts["pool"](x)
    if parts.get("dropout") is not None:
        pooled = parts["dropout"](pooled)
    outputs = {"main": parts["main"](pooled)}
    if score is not None:
        outputs["aux"] = parts["aux"](score)
    return outputs, maps


def model_parts(model: keras.Model) -> dict:
    """The named parts of a model built by `build_model` (absent toggles map to None)."""
    names = {layer.name for layer in model.layers}
    return {name: model.get_layer(name) if name in names else None for name in PART_NAMES}


def attention_branches(model: keras.Model) -> tuple[str, ...]:
    """Which attention branches a built or reloaded model contains."""
    parts = model_parts(model)
    keys = {"scale": "scale_attention", "channel": "channel_attention", "cbam": "cbam",
            "extra": "extra_attention", "pay_attention": "pay_attention", "element": "element_attention"}
    return tuple(b for b, name in keys.items() if parts[name] is not None)


class ProbeModel(keras.Model):
    """Shares a built model's layers and also returns every attention map.

    A subclassed model rather than a functional one: Keras's functional graph
    check assumes a layer returns the same structure at every call, and the
    attention layers return extra maps here.
    """

    def __init__(self, model: keras.Model, **kwargs):
        super().__init__(name=f"{model.name}_probe", **kwargs)
        self.parts = {k: v for k, v in model_parts(model).items() if v is not None}
        if "backbone" not in self.parts or "main" not in self.parts:
            raise ValueError("This model was not built by tal.build_model (no 'backbone' or 'main' layer).")

    def call(self, images, training=False):
        outputs, maps = _assemble(images, self.parts, with_maps=True)
        return {**outputs, **maps}


def build_probe(model: keras.Model) -> ProbeModel:
    """A model sharing `model`'s weights that also outputs every attention map.

    Outputs: `main`, `aux` (if present) and the maps: `scale_weights`,
    `channel_gate`, `cbam_channel_gate`, `cbam_spatial`, `A`, `S`, `U`, `M`,
    `score` — whichever the model's branches provide.
    """
    return ProbeModel(model)
