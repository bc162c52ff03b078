"""One forward pass that returns probabilities and every attention map as NumPy.

`inspect` serves models built by `tal.build_model` (the app's Inspect and
Predict pages, the CLI's `predict --maps`); `attention_maps` reads the maps of
tal's attention layers inside any functional Keras model a user built.
"""
from __future__ import annotations

import weakref

import numpy as np

from tal.core.models import build_probe, head_probabilities
from tal.core.config import PRESENT_THRESHOLD

_PROBES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def as_batch(images, input_shape=None) -> np.ndarray:
    """Images as float32 `(N, H, W, C)` in [0, 1], C = 1 (gray) or 3 (colour).

    Accepts one image `(H, W)`, `(H, W, 1)` or `(H, W, 3)`, or a batch
    `(N, H, W)` / `(N, H, W, C)`; uint8 input is scaled by 1/255. With
    `input_shape`, a gray image for a colour model is repeated into 3 channels.
    """
    x = np.asarray(images)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    x = x.astype("float32") / scale
    channels = None if input_shape is None else int(input_shape[-1])
    one = x.ndim == 3 and x.shape[-1] in (1, 3) and (
        input_shape is None and x.shape[-1] == 3 or input_shape is not None and x.shape[:2] == tuple(input_shape[:2]))
    if x.ndim == 2 or one:
        x = x[None]
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"Expected images (N, H, W) or (N, H, W, C) with C = 1 or 3. Received shape {np.shape(images)}")
    if channels == 3 and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if channels is not None and x.shape[-1] != channels:
        raise ValueError(f"The model expects {'gray' if channels == 1 else 'colour'} images ({channels} channel(s)). "
                         f"Received {x.shape[-1]} channels")
    if input_shape is not None and tuple(x.shape[1:3]) != tuple(input_shape[:2]):
        raise ValueError(
            f"The model expects {input_shape[0]}x{input_shape[1]} images. Received {x.shape[1]}x{x.shape[2]}"
        )
    return x


def inspect(model, images, *, prediction: str = "main", batch_size: int = 256,
            interventions: dict | None = None) -> dict[str, np.ndarray]:
    """Probabilities and attention maps for `images`, from one forward pass.

    Args:
        model: a model built by `tal.build_model` (or loaded from a run).
        images: one image or a batch, see `as_batch`.
        prediction: `"main"` (the main head) or `"mean"` (average of the main
            and auxiliary heads' probabilities).
        batch_size: images per forward pass.
        interventions: what-ifs applied inside the model for this pass, e.g.
            `{"A": "uniform"}` (every A = 1/(H·W): the score becomes the mean
            of S), `{"channel_gate": 1}`, `{"scale_weights": "uniform"}`,
            `{"M": 0}` (features pass the element branch unchanged); see
            `tal.core.catalogue.interventions()`. One on a branch the model
            lacks raises `ValueError`.

    Returns:
        A dict of NumPy arrays: `probabilities` `(N, C)`, `prediction` `(N,)`,
        `main` and (if present) `aux` probabilities, plus the maps of the
        model's attention modules under their `tal.core.catalogue` names, e.g.
        `scale_weights` `(N, n)`, `channel_gate` `(N, K)`, `A`, `S`, `U`
        `(N, h, w, C)`, `M` `(N, h, w)` and `score` `(N, C)`
        (`tal.core.catalogue.map_spec(key)` describes each). Multi-label
        models also give `present` `(N, C)`: probability above 0.5.

    Example:
    >>> out = tal.inspect(model, x_test[:4])
    >>> out["A"].sum(axis=(1, 2))  # every class's attention sums to 1
    """
    key = tuple(sorted((k, repr(v)) for k, v in (interventions or {}).items()))
    probes = _PROBES.setdefault(model, {})
    probe = probes.get(key)
    if probe is None:  # one traced probe per set of interventions
        probe = probes[key] = build_probe(model, interventions)
    x = as_batch(images, model.inputs[0].shape[1:])
    # predict_on_batch runs a traced (tf.function) forward pass: ~6x faster than an
    # eager call for one image, which is what Inspect and Predict mostly ask for.
    chunks = [probe.predict_on_batch(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    out = {key: np.concatenate([np.asarray(c[key]) for c in chunks]) for key in chunks[0]}
    out["probabilities"] = head_probabilities(out, prediction)
    out["prediction"] = out["probabilities"].argmax(axis=-1)
    if is_multi_label(model):
        out["present"] = out["probabilities"] > PRESENT_THRESHOLD
    return out


def attention_maps(model, images, *, batch_size: int = 256) -> dict[str, dict[str, np.ndarray]]:
    """The maps of every tal attention layer in a functional Keras model of your own.

    Runs the model up to each attention layer, then calls the layer with
    `return_attention_maps=True`; nothing of the model changes.

    Args:
        model: a functional `keras.Model` with tal attention layers at its top
            level (e.g. `ElementWiseAttention` after a DenseNet121).
        images: a batch the model accepts, as it accepts it (no rescaling here).
        batch_size: images per forward pass.

    Returns:
        `{layer name: {map name: array}}`, e.g. `maps["element"]["A"]` of shape
        `(N, h, w, C)` and `maps["element"]["S"]`, or `maps["channel"]["gate"]`
        `(N, K)`: the names each layer's docstring lists.

    Raises:
        ValueError: when the model has no tal attention layer at its top level,
            calls one attention layer at several places, or holds one first
            called in another model. The calls are counted in the model's
            config: a model whose config cannot be written (a layer of your
            own without `get_config`) is not checked, and a layer it calls
            twice gives the maps of its first call.

    Example:
    >>> maps = tal.attention_maps(model, x_test[:4])
    >>> maps["element"]["A"].sum(axis=(1, 2))  # every class's attention sums to 1
    """
    import keras

    from tal.core.layers import AttentionLayer

    attention = [layer for layer in model.layers if isinstance(layer, AttentionLayer)]
    if not attention:
        raise ValueError(
            f"Model {model.name!r} has no tal attention layer at its top level "
            "(tal.layers.ChannelAttention, ElementWiseAttention, …), so it has no attention maps to read."
        )
    calls = _calls_per_layer(model)
    shared = [layer.name for layer in attention if calls.get(layer.name, 0) > 1]
    if shared:
        raise ValueError(f"Each attention layer must be called once in the model. Called more than once: {shared}")
    try:  # outputs by name: a list of one would come back as a bare array, not a list
        feeds = keras.Model(model.inputs, {layer.name: layer.input for layer in attention})
    except ValueError as error:  # `layer.input` is the input of a layer's first call, wherever that was
        raise ValueError(
            f"The input of an attention layer of model {model.name!r} cannot be reached from the model's inputs: "
            f"was one of {[layer.name for layer in attention]} first called in another model? ({error})"
        ) from error
    x = np.asarray(images, dtype="float32")
    if x.ndim == len(model.inputs[0].shape) - 1:  # one image
        x = x[None]
    chunks = []
    for start in range(0, len(x), batch_size):
        inputs = feeds.predict_on_batch(x[start : start + batch_size])
        chunks.append({layer.name: layer(inputs[layer.name], return_attention_maps=True)[1] for layer in attention})
    return {layer.name: {key: np.concatenate([np.asarray(c[layer.name][key]) for c in chunks])
                         for key in chunks[0][layer.name]}
            for layer in attention}


def _calls_per_layer(model) -> dict[str, int]:
    """How many times the model calls each of its top-level layers, by name.

    Read from the public config (one `inbound_nodes` entry per call inside
    this model), so calls of the same layer in other models do not count.
    Empty when the config cannot be written.
    """
    try:
        config = model.get_config()
    except NotImplementedError:  # a layer that cannot describe itself; nothing to count
        return {}
    return {layer["name"]: len(layer.get("inbound_nodes", ())) for layer in config.get("layers", ())}


def is_multi_label(model) -> bool:
    """Whether the model's main head is a sigmoid (several classes per image) rather than a softmax."""
    return model.get_layer("main").get_config().get("activation") == "sigmoid"
