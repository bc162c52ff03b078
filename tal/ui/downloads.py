"""Download buttons for a run: its model file and its architecture as Keras code."""
from __future__ import annotations

import streamlit as st

from tal.ui import loaders

CODE_HELP = (
    "A Python file whose build_model() rebuilds this architecture in plain Keras code with tal's layers. "
    "Save it beside the downloaded .keras file and run it to load the trained weights and print the summary."
)


def model_file(container, run, *, key: str) -> bool:
    """A button downloading `<run>.keras`; False (with a warning) when the file is gone."""
    try:
        data = (run.path / "model.keras").read_bytes()
    except OSError:
        container.warning("The run folder is gone (deleted from disk?).")
        return False
    container.download_button(
        "Download model.keras", data, file_name=f"{run.name}.keras", mime="application/octet-stream",
        icon=":material/download:", on_click="ignore", key=key,
    )
    return True


def keras_code(container, run, *, key: str) -> None:
    """A button downloading `<run>.py`, the Keras code that rebuilds the run's model."""
    from tal.core.keras_code import ExportError

    try:
        code = loaders.keras_code(run)
    except (ExportError, OSError) as exc:
        container.caption(f"No Keras code for this run: {exc}")
        return
    container.download_button(
        "Keras code (.py)", code, file_name=f"{run.name}.py", mime="text/x-python",
        icon=":material/code:", on_click="ignore", key=key, help=CODE_HELP,
    )
