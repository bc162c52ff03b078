"""A functional Keras model written out as a standalone Python file of plain Keras code [ours].

`model_code(model)` reads the model's functional config (`model.get_config()`:
its layers, how each is called, its inputs and outputs) and writes one line
per layer: `stage1_conv = layers.Conv2D(16, (3, 3), padding="same", name=...)(image)`.
Only arguments that differ from the layer's defaults are written. A nested
functional model (tal's "backbone") becomes its own `build_<name>()`
function, so the rebuilt model has the same structure, parameter count and
weight layout as the original, and `model.load_weights(run's .keras)` fills it.
"""
from __future__ import annotations

import inspect
import json
import keyword
import re
from pathlib import Path

import keras

import tal.layers

# Names the generated file defines or imports itself.
_RESERVED = {"keras", "layers", "sys", "Path", "WEIGHTS", "build_model", "model", "main"}


class ExportError(ValueError):
    """The model has a part this exporter cannot write as code."""


def model_code(model: keras.Model, *, weights: str, title: str) -> str:
    """Python source that rebuilds `model` (untrained) and, run as a script, loads `weights`.

    Args:
        model: a functional `keras.Model` (e.g. a run's, built by `tal.build_model`).
        weights: path of the `.keras` (or `.weights.h5`) file the script loads by
            default; a relative path is read beside the script.
        title: the docstring's first line, e.g. "Run mnist-full (tal explorer)".

    Returns:
        The file's text: `build_model()`, and a `__main__` block that loads the
        weights (path from the command line, else `weights`) and prints the summary.

    Raises:
        ExportError: for a model that is not functional, a layer called more
            than once, or a layer class that cannot be imported by name.
    """
    writer = _Writer()
    writer.function("build_model", model)
    imports = ["import sys", "from pathlib import Path", ""]
    for module, names in sorted(writer.imports.items()):  # first: a missing tal fails fast, in one line
        imports += [
            "try:",
            f"    from {module} import {', '.join(sorted(names))}",
            "except ModuleNotFoundError:",
            "    sys.exit(\"This file needs tal's layers: pip install tal-explorer, \"",
            "             \"or put the TAL explorer folder on PYTHONPATH.\")",
            "",
        ]
    imports += ["import keras  # noqa: E402", "from keras import layers  # noqa: E402"]
    header = [
        f'"""{title}: the architecture in plain Keras code, with tal\'s attention layers.',
        "",
        "`build_model()` returns the model, untrained. Run this file to load the trained",
        "weights into it and print its summary:",
        "",
        "    python THIS_FILE.py [WEIGHTS_FILE]",
        "",
        f"WEIGHTS_FILE defaults to {weights}. Needs `pip install tal-explorer`",
        "(or the tal folder on PYTHONPATH) for tal's layers.",
        '"""',
    ]
    # a path on this machine (the CLI's export) is used as is; a bare file name (a download) sits beside the script
    default = "Path(WEIGHTS)" if Path(weights).is_absolute() else "Path(__file__).parent / WEIGHTS"
    main = [
        'if __name__ == "__main__":',
        "    model = build_model()",
        f"    path = Path(sys.argv[1]) if len(sys.argv) > 1 else {default}",
        "    model.load_weights(path)",
        "    model.summary()",
        '    print(f"Loaded the weights of {path}")',
    ]
    parts = [*header, "", *imports, "", f"WEIGHTS = {_py(weights)}", "", "", *writer.lines, *main]
    return "\n".join(parts) + "\n"


class _Writer:
    """Accumulates the functions (nested models first) and the imports they need."""

    def __init__(self):
        self.lines: list[str] = []
        self.imports: dict[str, set[str]] = {}
        self.function_names: set[str] = set()

    def function(self, name: str, model) -> str:
        """Write `def name(): … return keras.Model(…)` for a functional model; return the name."""
        config = model.get_config()
        if "layers" not in config or "input_layers" not in config:
            raise ExportError(f"Only functional models can be exported. {model.name!r} is a {type(model).__name__}.")
        variables = _variable_names([layer["config"]["name"] for layer in config["layers"]])
        body = []
        for layer_config in config["layers"]:
            layer_name = layer_config["config"]["name"]
            var = variables[layer_name]
            if layer_config["class_name"] == "InputLayer":
                body.append(f"{var} = {_input(layer_config['config'])}")
                continue
            nodes = layer_config["inbound_nodes"]
            if len(nodes) != 1:
                raise ExportError(f"Layer {layer_name!r} is called {len(nodes)} times; only layers called once "
                                  "can be exported.")
            layer = model.get_layer(layer_name)
            if isinstance(layer, keras.Model):
                maker = self.function(_unique(f"build_{var}", self.function_names), layer) + "()"
            else:
                maker = self._constructor(layer, layer_config)
            args = [_render(a, model, variables) for a in nodes[0]["args"]]
            args += [f"{k}={_render(v, model, variables)}" for k, v in nodes[0]["kwargs"].items() if v is not None]
            body.append(f"{var} = {maker}({', '.join(args)})")
        inputs = _render_refs(config["input_layers"], model, variables)
        outputs = _render_refs(config["output_layers"], model, variables)
        body.append(f"return keras.Model({inputs}, {outputs}, name={_py(config['name'])})")
        self.lines += [f"def {name}():", *("    " + line for line in body), "", ""]
        self.function_names.add(name)
        return name

    def _constructor(self, layer, layer_config) -> str:
        cls = type(layer)
        prefix = self._import(cls, layer_config)
        config = layer.get_config()
        signature = inspect.signature(cls.__init__)
        required = [p.name for p in signature.parameters.values()
                    if p.name != "self" and p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        try:
            reference = cls(**{p: config[p] for p in required}).get_config()
        except Exception:  # noqa: BLE001 - then every argument is written out
            reference = {}
        # Keras's own layers read best with their leading arguments positional, tal's with names.
        if prefix.startswith("layers."):
            positional = [_literal(config[p]) for p in required]
        else:
            positional = [f"{p}={_literal(config[p])}" for p in required]
        keywords = [
            f"{key}={_literal(value)}" for key, value in config.items()
            if key not in required and key != "name"
            and (key not in reference or _normal(reference[key]) != _normal(value))
        ]
        name = f"name={_py(config['name'])}"
        return f"{prefix}({', '.join([*positional, *keywords, name])})"

    def _import(self, cls, layer_config) -> str:
        """How the file names `cls`: `layers.Dense`, or `ChannelAttention` imported from tal."""
        if getattr(keras.layers, cls.__name__, None) is cls:
            return f"layers.{cls.__name__}"
        if getattr(tal.layers, cls.__name__, None) is cls:
            self.imports.setdefault("tal.layers", set()).add(cls.__name__)
            return cls.__name__
        raise ExportError(
            f"Layer {layer_config['config']['name']!r} is a {cls.__module__}.{cls.__name__}, which is neither "
            "a Keras layer nor one of tal.layers, so it cannot be written as code."
        )


def _normal(value):
    """A config value in a form where tuples and lists (and their JSON twins) compare equal."""
    return json.loads(json.dumps(value, default=str))


def _literal(value) -> str:
    """Python source for a config value; serialized Keras objects are deserialized by Keras."""
    if isinstance(value, dict) and "class_name" in value:
        return f"keras.saving.deserialize_keras_object({_py(value)})"
    return _py(value)


def _py(value) -> str:
    """`repr` with double-quoted strings, as the rest of the file is written."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_py, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_py, value)) + (",)" if len(value) == 1 else ")")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _input(config: dict) -> str:
    shape = tuple(config["batch_shape"][1:])
    extra = "" if config.get("dtype") in (None, "float32") else f", dtype={_py(config['dtype'])}"
    return f"keras.Input(shape={_py(shape)}{extra}, name={_py(config['name'])})"


def _variable_names(layer_names: list[str]) -> dict[str, str]:
    """A valid, unique Python identifier per layer name."""
    taken: set[str] = set()
    names = {}
    for layer_name in layer_names:
        base = re.sub(r"\W", "_", layer_name)
        if not base or base[0].isdigit():
            base = f"x_{base}"
        if keyword.iskeyword(base) or base in _RESERVED or base.startswith("build_"):
            base = f"{base}_out"
        names[layer_name] = _unique(base, taken)
    return names


def _unique(base: str, taken: set[str]) -> str:
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _tensor(history, model, variables) -> str:
    """The expression for output `tensor_index` of a layer: `x`, or `x[1]` for a layer with several outputs."""
    layer_name, _, tensor_index = history
    var = variables[layer_name]
    output = model.get_layer(layer_name).output
    if isinstance(output, (list, tuple)):
        return f"{var}[{tensor_index}]"
    return var


def _render(value, model, variables) -> str:
    """A call argument from the config: keras tensors become variables; lists and dicts recurse."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return _tensor(value["config"]["keras_history"], model, variables)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_render(v, model, variables) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_render(v, model, variables)}" for k, v in value.items()) + "}"
    return _py(value)


def _render_refs(refs, model, variables) -> str:
    """A model's input_layers / output_layers: one `[name, node, index]` triple, a list or a dict of them."""
    if isinstance(refs, dict):
        return "{" + ", ".join(f"{_py(k)}: {_render_refs(v, model, variables)}" for k, v in refs.items()) + "}"
    if len(refs) == 3 and isinstance(refs[0], str):
        return _tensor(refs, model, variables)
    return "[" + ", ".join(_render_refs(r, model, variables) for r in refs) + "]"
