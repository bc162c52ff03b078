"""The Train form's "your own images" block: a folder on the server or an uploaded .zip / .npz, and a preview.

What the block shows follows the layout chosen (folder, csv, npz); the
settings themselves are ordinary form fields (`tal.core.config.DataConfig`).
An upload is unpacked safely (`tal.data.unzip`) into the app's upload folder
and the form then points at it. The preview lists the source (classes,
counts, what will be skipped) before anything trains, so a wrong folder is
found in a second, not after a training fails.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from tal.core.config import ConfigError, DataConfig
from tal.ui import state

LAYOUT_HELP = {
    "folder": "One subfolder of images per class (`cats/`, `dogs/`, …), optionally inside `train/`, `val/`, `test/`.",
    "csv": "A folder of images and a label table: ChestX-ray14's `Data_Entry_2017.csv` layout, or a `Path` "
           "column and one 0/1 column per class (CheXpert's). Optional: a box table and a test list.",
    "npz": "A MedMNIST-style `.npz` (`train_images`, `train_labels`, `val_…`, `test_…`).",
}
TABLE_FIELDS = ("labels_file", "boxes_file", "test_list", "box_aliases", "uncertain")
COMMON_FIELDS = ("image_size", "color", "class_names", "test_fraction")
FIELDS = ("data_dir", *TABLE_FIELDS, *COMMON_FIELDS)


def uploads_root() -> Path:
    from tal.data.image_cache import cache_root

    return cache_root().parent / "uploads"


def render(draw, dataset: str, mark) -> None:
    """The block for `dataset` ("folder", "csv" or "npz"); `draw(name, container=…)` draws one form field,
    `mark(name)` marks one as placed without drawing it (the label table's settings, for folder and npz)."""
    st.caption(":material/folder_open: **Your own images.** " + LAYOUT_HELP[dataset])
    c1, c2 = st.columns([3, 2])
    draw("data_dir", container=c1)
    c2.file_uploader("…or upload a .zip of it" if dataset != "npz" else "…or upload the .npz",
                     type=["npz"] if dataset == "npz" else ["zip"], key=state.OWN_UPLOAD, on_change=_uploaded,
                     help="Unpacked on the server (checked first: no paths outside its folder, no zip bombs); "
                          "the form then points at it.")
    note = st.session_state.get(state.OWN_UPLOAD_NOTE)
    if note:
        (st.success if note[0] == "ok" else st.error)(note[1], icon=":material/upload:" if note[0] == "ok"
                                                       else ":material/error:")
    if dataset != "csv":
        for name in TABLE_FIELDS:
            mark(name)
    else:
        c1, c2, c3 = st.columns(3)
        for col, name in zip((c1, c2, c3), ("labels_file", "boxes_file", "test_list")):
            draw(name, container=col)
        c1, c2 = st.columns([2, 1])
        draw("box_aliases", container=c1)
        draw("uncertain", container=c2)
    c1, c2, c3, c4 = st.columns(4)
    for col, name in zip((c1, c2, c3, c4), COMMON_FIELDS):
        draw(name, container=col)


def skip(draw_mark) -> None:
    """For the digit datasets: the block's fields are not drawn (`draw_mark(name)` marks each as placed)."""
    for name in FIELDS:
        draw_mark(name)


def preview(train_config) -> None:
    """What the source holds, listed without decoding anything; or why it cannot be used."""
    data = train_config.data
    try:
        summary = _summary(data.to_json(), _stamp(data))
    except Exception as exc:  # noqa: BLE001 - any problem with the user's files is shown, never raised
        from tal.engine.worker import friendly_error

        st.error(friendly_error(exc).replace("Training failed", "Your images cannot be read"),
                 icon=":material/folder_off:")
        return
    st.caption(":material/checklist: " + summary["text"])
    for note in summary["notes"]:
        st.caption(f":material/info: {note}")


def _stamp(data: DataConfig) -> float:
    """The source's modification time, so an edited folder or table is listed again."""
    stamps = []
    for path in (data.data_dir, data.labels_file, data.boxes_file, data.test_list):
        try:
            stamps.append(Path(path).stat().st_mtime) if path else None
        except OSError:
            stamps.append(0.0)
    return max(stamps or [0.0])


@st.cache_data(max_entries=16, show_spinner="Listing your images…")
def _summary(data_json: str, stamp: float) -> dict:
    """{text, notes}: the classes and counts of a source (cached per settings and modification time)."""
    data = DataConfig.from_json(data_json)
    if data.dataset == "npz":
        from tal.data.sources.medmnist import read_npz

        parts, names, notes = read_npz(data.data_dir, data.class_names)
        sizes = ", ".join(f"{len(p[1]):,} {split}" for split, p in parts.items())
        shape = parts["train"][0].shape[1:]
        return {"text": f"{len(names)} classes ({', '.join(names[:12])}{' …' if len(names) > 12 else ''}); {sizes}; "
                        f"{shape[0]}×{shape[1]} px, {'colour' if shape[-1] == 3 else 'gray'}.", "notes": notes}
    from tal.data.sources import list_source

    listing = list_source(data)
    counts = (listing.labels.sum(axis=0).astype(int) if listing.multi_label
              else [int((listing.labels == k).sum()) for k in range(len(listing.class_names))])
    classes = ", ".join(f"{n} {c:,}" for n, c in list(zip(listing.class_names, counts))[:12])
    more = " …" if len(listing.class_names) > 12 else ""
    kind = "several labels per image" if listing.multi_label else "one class per image"
    boxes = sum(map(len, listing.boxes.values()))
    return {"text": f"{len(listing.files):,} images, {len(listing.class_names)} classes ({kind}): {classes}{more}"
                    + (f"; {boxes:,} boxes" if boxes else "") + ".", "notes": list(listing.notes)}


def _uploaded() -> None:
    """Upload callback: unpack the zip (or keep the .npz) and point the form's fields at it."""
    from tal.data.unzip import UnpackError, data_folder, unpack
    from tal.ui import train_form

    file = st.session_state.get(state.OWN_UPLOAD)
    if file is None:
        return
    try:
        if file.name.lower().endswith(".npz"):
            path = _keep_npz(file)
            train_form.set_fields(dataset="npz", data_dir=str(path))
            st.session_state[state.OWN_UPLOAD_NOTE] = ("ok", f"Kept **{file.name}** on the server; the form reads it.")
            return
        folder = data_folder(unpack(file, uploads_root()))
        fields = {"data_dir": str(folder), **_table_fields(folder)}
        train_form.set_fields(**fields)
        found = "a label table" if "labels_file" in fields else "class folders"
        st.session_state[state.OWN_UPLOAD_NOTE] = ("ok", f"Unpacked **{file.name}** ({found}); the form points at it.")
    except (UnpackError, OSError) as exc:
        st.session_state[state.OWN_UPLOAD_NOTE] = ("error", f"{file.name}: {exc}")


def _keep_npz(file) -> Path:
    import hashlib

    from tal.engine.files import write_atomic

    data = file.getvalue()
    path = uploads_root() / f"{hashlib.sha256(data).hexdigest()[:16]}.npz"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda f: f.write(data), binary=True)
    return path


def _table_fields(folder: Path) -> dict:
    """A zip with a label table beside its images: the csv layout's fields, found by the files' names."""
    tables = sorted(folder.glob("*.csv"))
    if not tables:
        return {}
    labels = next((t for t in tables if _has_labels(t)), None)
    if labels is None:
        return {}
    out = {"dataset": "csv", "labels_file": str(labels)}
    boxes = next((t for t in tables if t != labels and "box" in t.name.lower()), None)
    if boxes:
        out["boxes_file"] = str(boxes)
    tests = sorted(folder.glob("*test*.txt"))
    if tests:
        out["test_list"] = str(tests[0])
    if (folder / "images").is_dir():
        out["data_dir"] = str(folder / "images")
    return out


def _has_labels(table: Path) -> bool:
    try:
        header = table.open(errors="replace").readline().lower()
    except OSError:
        return False
    return "finding labels" in header or header.startswith("path")
