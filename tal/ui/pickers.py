"""Run and image pickers shared by Inspect, Predict and Compare."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from tal.core.config import DataConfig

from tal.ui import state

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]
# What an upload is prepared for when the caller names no model: an MNIST digit.
_DIGITS = (DataConfig(), (28, 28, 1))
IMAGE_SOURCES = ("By class", "Misclassified", "Random", "By number", "Upload")
# each source as a link names it (`image=…`, tal.ui.inspect_url)
SOURCE_NAMES = {"By class": "class", "Misclassified": "misclassified", "Random": "random",
                "By number": "number", "Upload": "upload"}


def run_label(run) -> str:
    """'name · scale+channel+element · 97.1% test acc. · 300 training images, 1 epoch [· shipped demo]'
    (mean AUC for multi-label runs; "2 of 8 epochs" for a run stopped early)."""
    from tal.engine.evaluation import headline

    m = run.metrics
    label, value = headline(m)
    acc_text = ""
    if value is not None:
        acc_text = f" · {value:.1%} test acc." if label == "test accuracy" else f" · mean AUC {value:.3f}"
    training = training_text(run)
    status = " · stopped early" if m.get("status") == "stopped" else ""
    shipped = " · shipped demo" if run.shipped else ""
    return f"{run.name} · {m.get('label') or run.model_config.label}{acc_text}{training}{status}{shipped}"


def training_text(run) -> str:
    """' · 300 training images, 1 epoch': what the run trained on (its images, validation split included,
    as the Train form's "Training images" counts them) and for how long; '' when the run does not say."""
    data, train = run.config.get("data", {}), run.config.get("train", {})
    images = data["train"] + data.get("val", 0) if isinstance(data.get("train"), int) else \
        train.get("data", {}).get("train_size")
    planned, done = train.get("epochs"), run.metrics.get("epochs_completed", train.get("epochs"))
    parts = []
    if isinstance(images, int):
        parts.append(f"{images:,} training images")
    if isinstance(done, int):
        unit = "epoch" if (planned or done) == 1 else "epochs"
        parts.append(f"{done} of {planned} {unit}" if isinstance(planned, int) and done < planned else f"{done} {unit}")
    return f" · {', '.join(parts)}" if parts else ""


def no_runs_message() -> None:
    st.info(
        "**No runs yet** — train one on the Train page (a 1-epoch run on 2,000 images takes well "
        "under a minute), or from a terminal run `python -m tal train`.",
        icon=":material/info:",
    )
    st.page_link("app_pages/train.py", label="Go to Train", icon=":material/model_training:")


def runs_or_stop() -> list:
    """Every run (trained and shipped); shows listing problems, and stops the page
    with the call to action when there is none."""
    from tal.ui import loaders

    runs, problems = loaders.list_runs()
    for problem in problems:
        st.warning(problem)
    if not runs:
        no_runs_message()
        st.stop()
    return runs


def default_run(runs: list):
    """What a page shows first: the newest own run that finished on real digits and has the
    element-wise maps, else the fullest MNIST demo, else the newest own run with maps, else the first.

    A synthetic-digit run or one stopped early is a poor first impression of the maps; the
    Train page still opens its own run right after training ("Inspect its maps").
    """
    def with_maps(r):
        return r.model_config.element

    def finished_on_real_digits(r):
        return r.train_config.data.dataset != "synthetic" and r.metrics.get("status", "completed") == "completed"

    own = [r for r in runs if not r.shipped and with_maps(r)]
    shipped = sorted((r for r in runs if r.shipped and with_maps(r)),
                     key=lambda r: (r.model_config.input_shape[0] != 28, -len(r.model_config.branches)))
    return ([r for r in own if finished_on_real_digits(r)] or shipped or own or runs)[0]


def select_run(path) -> None:
    """The run the run pickers start from on the next page (a run just trained, one sent from Localization)."""
    st.session_state[state.SELECTED_RUN] = str(path)


def show_test_number(index: int, *, key: str) -> None:
    """The test-image picker `key` opens on test image `index` (its "By number" source) when next drawn."""
    st.session_state[f"{key}.source"] = "By number"
    st.session_state[f"{key}.number"] = int(index)


def run_picker(runs: list, *, key: str, label: str = "Model run"):
    """Select one run; the choice is shared between pages of this session."""
    options = [str(r.path) for r in runs]
    by_path = {str(r.path): r for r in runs}
    current = st.session_state.get(state.SELECTED_RUN)
    if current not in options:
        current = str(default_run(runs).path)
    index = options.index(current)
    choice = st.selectbox(
        label,
        options,
        index=index,
        key=key,
        format_func=lambda p: run_label(by_path[p]),
        help="Runs saved by the Train page or `python -m tal train`, then the shipped demo models.",
    )
    st.session_state[state.SELECTED_RUN] = choice
    return by_path[choice]


@dataclass
class ImageChoice:
    """The image to inspect: pixels in [0, 1], true label when known, and its story."""

    image: np.ndarray  # (H, W)
    label: int | tuple | None  # the class, or for multi-label images the tuple of classes present
    description: str
    index: int | None = None  # position in the test set
    box: tuple | None = None  # ink box (y0, x0, y1, x1)
    notes: tuple = ()
    objects: np.ndarray | None = None  # (K, 5) boxes with their class, for multi-object images


def test_image_picker(test, predictions, *, key: str, sources=IMAGE_SOURCES, upload_for=None):
    """Choose a test image by class, among the misclassified, at random, or upload one.

    Args:
        test: a `tal.ui.loaders.TestSet`, or None when the data is unavailable
            (only "Upload" is offered then).
        predictions: a callable returning the model's predicted class for every
            test image (only called for "Misclassified").
        upload_for: (DataConfig, input shape) of the model: uploads are prepared as its training images
            were (default: MNIST digits, 28×28).

    Returns an `ImageChoice`, or None when nothing is chosen yet.
    """
    sources = _offered(test, sources)
    if st.session_state.get(f"{key}.source") not in sources:  # seeded here, never as default= too:
        st.session_state[f"{key}.source"] = sources[0]  # another page or a link may have set it
    source = (
        st.segmented_control(
            "Image",
            sources,
            key=f"{key}.source",
            help="Pick a test image or upload your own digit.",
        )
        or sources[0]
    )
    if source == "Upload":
        return _upload(key, upload_for or _DIGITS)
    names = list(test.class_names)
    if source == "By class":
        c1, c2 = st.columns([3, 2])
        _seed(f"{key}.class", names[0], lambda v: v in names)  # a link may have set these
        digit = c1.segmented_control("Class", names, key=f"{key}.class") or names[0]
        candidates = np.flatnonzero(test.has_class(names.index(digit)))
        if len(candidates) == 0:
            st.info(f"The test subset has no images of class {digit}.")
            return None
        _seed(f"{key}.k", 1, lambda v: 1 <= v <= len(candidates))
        k = c2.number_input(f"Which one (of {len(candidates)})", 1, len(candidates), key=f"{key}.k")
        index = int(candidates[int(k) - 1])
        what = f"test image #{index} (number {int(k)} among the images {_showing(test, digit)})"
    elif source == "Misclassified":
        with st.spinner("Classifying the test set to find the mistakes…"):
            predicted = predictions()
        wrong = _mistakes(test, predicted)
        if len(wrong) == 0:
            st.success(f"This model classifies all {len(test.y)} test images correctly.")
            return None
        _seed(f"{key}.wrong", 1, lambda v: 1 <= v <= len(wrong))
        k = st.number_input(
            f"Misclassified image (of {len(wrong)} among {len(test.y)} test images)",
            1,
            len(wrong),
            key=f"{key}.wrong",
        )
        index = int(wrong[int(k) - 1])
        if test.multi_label:
            said = _class_list(np.flatnonzero(predicted[index]), names)
            what = f"test image #{index}: classes {_class_list(test.classes_of(index), names)}, said present {said}"
        else:
            what = f"test image #{index}: class {names[test.y[index]]}, predicted {names[predicted[index]]}"
    elif source == "By number":
        number = f"{key}.number"
        if not 0 <= st.session_state.get(number, -1) < len(test.y):  # seeded, never passed as value= too
            st.session_state[number] = 0
        index = int(st.number_input(
            f"Test image # (0–{len(test.y) - 1})", 0, len(test.y) - 1, key=number,
            help="The position in the test set, as the Localization page and the CLI's JSON name images.",
        ))
        what = f"test image #{index}"
    else:
        if (
            st.button("Draw another random image", key=f"{key}.draw", icon=":material/casino:")
            or state.RANDOM_INDEX not in st.session_state
            or st.session_state[state.RANDOM_INDEX] >= len(test.y)
        ):
            st.session_state[state.RANDOM_INDEX] = int(
                np.random.default_rng().integers(len(test.y))
            )
        index = st.session_state[state.RANDOM_INDEX]
        what = f"random test image #{index}"
    classes = test.classes_of(index)
    return ImageChoice(
        test.x[index, ..., 0],
        classes if test.multi_label else classes[0],
        what,
        index,
        tuple(test.boxes[index]),
        objects=None if test.objects is None or not test.multi_label else test.objects[index],
    )


def _offered(test, sources) -> list:
    """The image sources there are: only "Upload" without the test images."""
    return [s for s in sources if test is not None or s == "Upload"]


def _mistakes(test, predicted) -> np.ndarray:
    """The test images the model gets wrong (multi-label: the set of classes said present is not the true set)."""
    if test.multi_label:
        return np.flatnonzero((predicted != (test.y > 0)).any(axis=1))
    return np.flatnonzero(predicted != test.y)


def _seed(widget: str, default, valid) -> None:
    """Give widget key `widget` the value `default` unless it holds one that `valid` accepts (set by a link,
    another page or the user); the widget is then drawn without default= or value=."""
    value = st.session_state.get(widget)
    try:
        ok = value is not None and bool(valid(value))
    except TypeError:
        ok = False
    if not ok:
        st.session_state[widget] = default


def image_link(test, *, key: str, sources=IMAGE_SOURCES) -> dict[str, str]:
    """The link parameters that choose the test-image picker `key`'s current image again (after it is drawn):
    `image` (its source) and, by source, `class` and `nth` (which of that class's images, from 1), `nth`
    (which mistake), `number` (the test image's position, also the random draw's)."""
    sources = _offered(test, sources)
    source = st.session_state.get(f"{key}.source") or sources[0]
    out = {"image": SOURCE_NAMES[source]}
    if source == "By class":
        out.update({"class": st.session_state.get(f"{key}.class") or test.class_names[0],
                    "nth": str(st.session_state.get(f"{key}.k", 1))})
    elif source == "Misclassified":
        out["nth"] = str(st.session_state.get(f"{key}.wrong", 1))
    elif source == "By number":
        out["number"] = str(st.session_state.get(f"{key}.number", 0))
    elif source == "Random" and state.RANDOM_INDEX in st.session_state:
        out["number"] = str(st.session_state[state.RANDOM_INDEX])
    return out


def open_image_link(test, predictions, params, *, key: str, sources=IMAGE_SOURCES) -> list[str]:
    """Start the test-image picker `key` from a link's parameters (`image_link`'s), when it has no state
    yet (the page's first load); returns a warning for each value that cannot be used (its default is
    used instead). `predictions` is only called for a link to a mistake (to check its `nth`)."""
    from tal.ui.query import Field, ignored, parse

    if f"{key}.source" in st.session_state or "image" not in params:
        return []
    sources, warnings = _offered(test, sources), []

    def value(name, kind, default, says=None, **bounds):
        raw = params.get(name)
        if raw is None:
            return default
        try:
            return parse(Field(name, kind, default, name, **bounds), raw)
        except ValueError as exc:
            warnings.append(ignored(name, raw, exc, default if says is None else says))
            return default

    by_name = {SOURCE_NAMES[s]: s for s in sources}
    if params["image"] not in by_name:
        reason = (f"expected one of {', '.join(by_name)}" if test is not None or params["image"] not in
                  SOURCE_NAMES.values() else "the test images are not on this machine")
        return [ignored("image", params["image"], reason, SOURCE_NAMES[sources[0]])]
    source = by_name[params["image"]]
    st.session_state[f"{key}.source"] = source
    if source == "By class":
        names = list(test.class_names)
        digit = value("class", "choice", names[0], choices=tuple(names))
        st.session_state[f"{key}.class"] = digit
        count = int(np.count_nonzero(test.has_class(names.index(digit))))
        if count:
            st.session_state[f"{key}.k"] = value("nth", "int", 1, min=1, max=count)
    elif source == "Misclassified" and "nth" in params:
        count = len(_mistakes(test, predictions()))
        if count:
            st.session_state[f"{key}.wrong"] = value("nth", "int", 1, min=1, max=count)
    elif source == "By number":
        st.session_state[f"{key}.number"] = value("number", "int", 0, min=0, max=len(test.y) - 1)
    elif source == "Random" and "number" in params:
        drawn = value("number", "int", None, "a new random draw", min=0, max=len(test.y) - 1)
        if drawn is not None:
            st.session_state[state.RANDOM_INDEX] = drawn
    return warnings


def _showing(test, digit: str) -> str:
    return f"showing a {digit}" if test.multi_label else f"of class {digit}"


def _class_list(classes, names) -> str:
    """'3, 7' (or 'none')."""
    return ", ".join(names[int(c)] for c in classes) or "none"


def _upload(key: str, upload_for):
    from tal.data.inputs import describe

    data, shape = upload_for
    file = st.file_uploader(
        "Upload an image" if data.own else "Upload a digit image",
        type=UPLOAD_TYPES,
        key=f"{key}.upload",
        help=f"PNG, JPEG, BMP, GIF, TIFF or WebP. It becomes {describe(data, shape)}, shown below.",
    )
    if file is None:
        st.caption("Drop a picture like the training images." if data.own else
                   "Drop a picture of a handwritten digit; dark-on-light and light-on-dark both work.")
        return None
    (upload,) = prepare_uploads([file], data, shape)
    if upload.error is not None:
        st.error(upload.error, icon=":material/broken_image:")
        return None
    return ImageChoice(upload.image, None, f"upload '{file.name}'", notes=upload.notes)


@dataclass
class Upload:
    """One uploaded file after preprocessing: the image, or the reason it was refused."""

    name: str
    image: np.ndarray | None = None
    notes: tuple = ()
    error: str | None = None
    details: str | None = None


def prepare_uploads(files, data, input_shape) -> list[Upload]:
    """Prepare every file on its own, as the model's training images were (`tal.data.inputs`), so one
    bad file never stops the others. Images come out (H, W, C)."""
    import traceback

    from tal.data.inputs import prepare_input
    from tal.data.preprocess import ImageError

    out = []
    for file in files:
        try:
            image, notes = prepare_input(file, data, input_shape, name=file.name)
            out.append(Upload(file.name, image, notes))
        except ImageError as exc:
            out.append(Upload(file.name, error=str(exc)))
        except Exception as exc:  # noqa: BLE001 - report it for this file and carry on
            out.append(
                Upload(
                    file.name,
                    error=f"'{file.name}' could not be read ({type(exc).__name__}: {exc}).",
                    details=traceback.format_exc(),
                )
            )
    return out
