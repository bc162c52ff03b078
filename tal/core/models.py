"""Build the triple-attention model from a `ModelConfig`, and its probe.

Data flow [A3Net cascade; CBAM and extra-module placement ours]:
`stages → [scale] → [channel] → [cbam] → [extra] → [element] → GAP → Dense(C)`
= main head; the element branch adds the auxiliary head `softmax(score)`.
Every bracket is a slot of `tal.core.catalogue.SLOTS`, filled by the modules
the configuration switches on; with none on this is the plain baseline of the
backbone. A module in the "pool" slot (Learn to Pay Attention) replaces GAP
with attention-pooled descriptors of every stage.

The training model and the probe share one function, `_assemble`, and the
same layer objects: the probe only asks each attention layer for its maps,
named as the catalogue says.
"""
from __future__ import annotations

import keras
from keras import layers

from tal.core import catalogue
from tal.core.backbones import build_backbone
from tal.core.config import ConfigError, ModelConfig
from tal.core.layers import create_attention

# Layers every built model has besides its attention modules (the probe finds parts by name).
HEAD_PARTS = ("backbone", "pool", "dropout", "main", "aux")


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
    for module in catalogue.selected(config):
        parts[module.layer_name] = create_attention(
            module.name, name=module.layer_name, **module.arguments(config, stage_widths)
        )
        if catalogue.SLOTS_BY_NAME[module.slot].gives == "features+score":
            parts["aux"] = layers.Activation(head, name="aux")
    inputs = keras.Input(tuple(config.input_shape), name="image")
    outputs, _ = _assemble(inputs, parts, with_maps=False)
    return keras.Model(inputs, outputs, name=f"tal_{config.label.replace('+', '_')}")


def _call(layer, x, with_maps, maps, whatif=None):
    """Call an attention layer, collecting its maps under the catalogue's output names when asked.

    `whatif`: the layer's intervention arguments (`{"gate_one": True}`), from
    `catalogue.check_interventions`.
    """
    whatif = whatif or {}
    if not with_maps:
        return layer(x, **whatif)
    out, layer_maps = layer(x, return_attention_maps=True, **whatif)
    module = catalogue.by_class(type(layer).__name__)
    maps.update({module.output_key(k): v for k, v in layer_maps.items()})
    return out


def _assemble(inputs, parts, with_maps, whatifs=None):
    x, score, pooled, maps = _features(inputs, parts, with_maps, whatifs)
    if pooled is None:
        pooled = parts["pool"](x)
    if parts.get("dropout") is not None:
        pooled = parts["dropout"](pooled)
    outputs = {"main": parts["main"](pooled)}
    if score is not None:
        outputs["aux"] = parts["aux"](score)
    return outputs, maps


def _features(inputs, parts, with_maps, whatifs=None):
    """The cascade up to the head: (features, aux score or None, pooled descriptor or None, maps).

    `whatifs`: `{layer name: call arguments}` of interventions (see `ProbeModel`).
    """
    maps, whatifs = {}, whatifs or {}
    stages = parts["backbone"](inputs)
    stages = list(stages) if isinstance(stages, (list, tuple)) else [stages]
    x, score, pooled = stages[-1], None, None
    for slot in catalogue.SLOTS:
        layer = parts.get(slot.layer_name)
        if layer is None:
            continue
        whatif = whatifs.get(slot.layer_name)
        if slot.takes == "stages":
            x = _call(layer, stages, with_maps, maps, whatif)
        elif slot.takes == "stages+features":
            pooled = _call(layer, [*stages, x], with_maps, maps, whatif)
        elif slot.gives == "features+score":
            x, score = _call(layer, x, with_maps, maps, whatif)
        else:
            x = _call(layer, x, with_maps, maps, whatif)
    return x, score, pooled, maps


def features_and_logits(model: keras.Model, images):
    """The last feature map before the head, `(B, h, w, K)`, and the main head's logits `(B, C)`.

    What Grad-CAM differentiates: the logits are the main Dense layer before
    its softmax / sigmoid. Runs in inference mode (dropout off).
    """
    parts = model_parts(model)
    x, _, pooled, _ = _features(images, parts, with_maps=False)
    if pooled is None:
        pooled = parts["pool"](x)
    main = parts["main"]
    return x, keras.ops.matmul(pooled, main.kernel) + main.bias


def head_probabilities(outputs: dict, prediction: str = "main"):
    """The probabilities a model predicts with: the main head, or the `"mean"` of main and aux.

    Args:
        outputs: the model's (or the probe's) outputs, with `"main"` and, for
            `"mean"`, `"aux"`.
        prediction: `"main"` or `"mean"` (`ModelConfig.prediction`).
    """
    if prediction not in ("main", "mean"):
        raise ConfigError(f"Expected one of {{'main', 'mean'}}. Received: prediction={prediction!r}")
    if prediction == "main":
        return outputs["main"]
    if "aux" not in outputs:
        raise ConfigError("prediction='mean' needs the element-wise branch (an auxiliary head).")
    return (outputs["main"] + outputs["aux"]) / 2.0


def model_parts(model: keras.Model) -> dict:
    """The named parts of a model built by `build_model` (absent ones are left out)."""
    names = {layer.name for layer in model.layers}
    wanted = (*HEAD_PARTS, *(slot.layer_name for slot in catalogue.SLOTS))
    return {name: model.get_layer(name) for name in wanted if name in names}


class ProbeModel(keras.Model):
    """Shares a built model's layers and also returns every attention map.

    A subclassed model rather than a functional one: Keras's functional graph
    check assumes a layer returns the same structure at every call, and the
    attention layers return extra maps here.
    """

    def __init__(self, model: keras.Model, interventions: dict | None = None, **kwargs):
        super().__init__(name=f"{model.name}_probe", **kwargs)
        self.parts = model_parts(model)
        if "backbone" not in self.parts or "main" not in self.parts:
            raise ValueError(
                "This model was not built by tal.build_model (no 'backbone' or 'main' layer). "
                "For a model of your own, tal.attention_maps(model, images) reads its attention layers' maps."
            )
        self.whatifs = catalogue.check_interventions(interventions, model_modules(model))

    def call(self, images, training=False):
        outputs, maps = _assemble(images, self.parts, with_maps=True, whatifs=self.whatifs)
        return {**outputs, **maps}


def model_modules(model: keras.Model) -> tuple:
    """The catalogue entries of the attention modules a built model has."""
    return tuple(catalogue.by_class(type(layer).__name__) for name, layer in model_parts(model).items()
                 if name not in HEAD_PARTS)


def build_probe(model: keras.Model, interventions: dict | None = None) -> ProbeModel:
    """A model sharing `model`'s weights that also outputs every attention map.

    Outputs: `main`, `aux` (if present) and the maps of the model's attention
    modules, under the `output` names of their `tal.core.catalogue` entries
    (`scale_weights`, `channel_gate`, `A`, `S`, `U`, `M`, `score`, …).

    `interventions`: what-ifs such as `{"A": "uniform", "channel_gate": 1}`
    (`tal.core.catalogue.interventions()` lists them); a what-if on a module
    the model lacks raises `ValueError`.
    """
    return ProbeModel(model, interventions)
