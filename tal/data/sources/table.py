"""An image folder and a label table: ChestX-ray14's layout, or one 0/1 column per class (CheXpert's).

Two table layouts are read as they come:

- ChestX-ray14's ``Data_Entry_2017.csv``: ``Image Index`` (the file name) and
  ``Finding Labels`` (findings joined by ``|``, ``No Finding`` for none). Its
  header splits ``OriginalImage[Width,Height]`` into two columns and ends with
  an empty one; only the named columns are read, so that does not matter.
- One column per class holding 1, 0, -1 (uncertain) or blank, beside a path
  column (``Path``, ``Image Index``, ``image``, ``file`` …): CheXpert's
  ``train.csv``. Columns holding anything else (age, sex, view) are not classes.

A ``Patient ID`` column (or ``patientNNNNN`` in the paths) groups the images, so
that a split keeps each patient on one side. Files are looked up under the
image folder, by their path, else by their name anywhere below it (the real
ChestX-ray14 download spreads them over ``images_001/images/`` …
``images_012/images/``). A path that leaves the image folder is refused.

Boxes come in ChestX-ray14's ``BBox_List_2017.csv`` layout: ``Image Index``,
``Finding Label``, then x, y, w, h (its header splits ``Bbox [x,y,w,h]`` into
four columns and ends with three empty ones, so the four are taken by
position).
"""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import numpy as np

from tal.data.preprocess import has_image_suffix
from tal.data.sources.listing import Listing, SourceError, named

NONE_LABEL = "No Finding"
PATH_COLUMNS = ("image index", "path", "image", "file", "filename", "image_path", "file_name")
PATIENT_COLUMNS = ("patient id", "patient_id", "patientid", "patient")
_VALUES = {"": 0.0, "0": 0.0, "1": 1.0, "-1": -1.0, "0.0": 0.0, "1.0": 1.0, "-1.0": -1.0}
_PATIENT_IN_PATH = re.compile(r"(patient\d+)", re.IGNORECASE)


def resolve(path, root: Path | None = None) -> Path:
    """A table or list file's path as given, else inside `root`."""
    given = Path(path).expanduser()
    if given.is_file() or root is None or given.is_absolute():
        return given
    inside = root / given
    return inside if inside.is_file() else given


def read_table(path, what: str):
    """A CSV as strings (pandas), with one clear error when it cannot be read."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"The {what} {path} does not exist (or is not a file).")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"The {what} {path} is not a readable CSV table ({' '.join(str(exc).split())}).") from None
    table.columns = [str(c).strip() for c in table.columns]
    if not len(table):
        raise SourceError(f"The {what} {path} has no rows.")
    return table


def _column(table, names) -> str | None:
    lower = {c.lower(): c for c in table.columns}
    return next((lower[n] for n in names if n in lower), None)


def _safe_relative(text: str, row: int, table_path, root: Path) -> PurePosixPath:
    rel = PurePosixPath(text.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or re.match(r"^[A-Za-z]:", text):
        raise SourceError(f"Row {row + 2} of {table_path} names {text!r}, which leaves the image folder {root}; "
                          "the table's paths must lie inside it.")
    return rel


class _Finder:
    """Finds a table's file under the image folder: by its path, by its path less leading folders, by its name."""

    def __init__(self, root: Path):
        self.root, self._by_name = root, None

    def __call__(self, rel: PurePosixPath) -> str | None:
        for start in range(len(rel.parts)):
            candidate = PurePosixPath(*rel.parts[start:])
            if (self.root / candidate).is_file():
                return str(candidate)
        if self._by_name is None:  # one walk of the folder, only when a name is not where the table says
            self._by_name = {}
            for p in sorted(self.root.rglob("*")):
                if p.is_file() and has_image_suffix(p):
                    self._by_name.setdefault(p.name, str(p.relative_to(self.root)))
        return self._by_name.get(rel.name)


def _nih_labels(table, column, class_names, path):
    findings = [[f.strip() for f in text.split("|") if f.strip() and f.strip() != NONE_LABEL]
                for text in table[column]]
    found = sorted({f for row in findings for f in row})
    classes = tuple(class_names) or tuple(found)
    unknown = sorted(set(found) - set(classes))
    if unknown:
        rows = sum(any(f in unknown for f in row) for row in findings)
        raise SourceError(f"{rows} row(s) of {path} have labels outside class_names: {named(unknown)}. Add them to "
                          "class_names, or leave class_names empty to take every label of the table.")
    index = {c: k for k, c in enumerate(classes)}
    labels = np.zeros((len(table), len(classes)), np.float32)
    for i, row in enumerate(findings):
        labels[i, [index[f] for f in row]] = 1.0
    return labels, classes, []


def _column_labels(table, path_column, class_names, uncertain, path):
    candidates = [c for c in table.columns if c != path_column and c
                  and not c.lower().startswith("unnamed")
                  and set(table[c].str.strip()) <= set(_VALUES) and set(table[c].str.strip()) - {""}]
    classes = tuple(class_names) or tuple(candidates)
    missing = [c for c in classes if c not in candidates]
    if missing:
        raise SourceError(f"{path} has no 0/1 column for the class(es) {named(missing)}; its label columns are "
                          f"{named(candidates) or 'none'}.")
    if len(classes) < 1:
        raise SourceError(f"{path} has neither a 'Finding Labels' column (ChestX-ray14's layout) nor columns of "
                          "0/1 labels, one per class (CheXpert's layout).")
    values = np.array([[_VALUES[v.strip()] for v in table[c]] for c in classes], np.float32).T
    notes, keep = [], np.ones(len(table), bool)
    uncertain_rows = (values == -1).any(axis=1)
    if uncertain_rows.any():
        if uncertain == "skip":
            keep = ~uncertain_rows
            notes.append(f"{int(uncertain_rows.sum())} image(s) with an uncertain (-1) label were left out "
                         "(uncertain='skip').")
        else:
            notes.append(f"{int((values == -1).sum())} uncertain (-1) label(s) read as "
                         f"{'present' if uncertain == 'ones' else 'absent'} (uncertain={uncertain!r}).")
        values[values == -1] = 1.0 if uncertain == "ones" else 0.0
    return values, classes, notes, keep


def list_table(root, labels_file, *, boxes_file=None, test_list=None, class_names=(), uncertain="zeros",
               box_aliases=()) -> Listing:
    """The images of an image folder and a label table (multi-label), with boxes and a test list if given.

    Raises:
        SourceError: a file is missing or unreadable, a path leaves the image folder, no row's file
            exists, labels or box labels fall outside the classes, or the table has no label columns.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SourceError(f"The image folder {root} does not exist (or is not a folder).")
    table_path = resolve(labels_file, root)
    table = read_table(table_path, "label table")
    nih = _column(table, ("finding labels",))
    path_column = _column(table, PATH_COLUMNS)
    if path_column is None:
        raise SourceError(f"{table_path} has no column naming the image files (one of: Image Index, Path, image, "
                          f"file); its columns are {named(table.columns, len(table.columns))}.")
    if nih:
        labels, classes, notes = _nih_labels(table, nih, class_names, table_path)
        keep = np.ones(len(table), bool)
    else:
        labels, classes, notes, keep = _column_labels(table, path_column, class_names, uncertain, table_path)
    if len(classes) < 1:
        raise SourceError(f"{table_path} names no class.")
    patient_column = _column(table, PATIENT_COLUMNS)
    finder = _Finder(root)
    files, rows, groups, missing = [], [], [], []
    for i, text in enumerate(table[path_column]):
        if not keep[i]:
            continue
        rel = _safe_relative(text.strip(), i, table_path, root)
        found = finder(rel)
        if found is None:
            missing.append(text.strip())
            continue
        files.append(found)
        rows.append(i)
        if patient_column:
            groups.append(table[patient_column].iloc[i].strip())
        else:
            match = _PATIENT_IN_PATH.search(text)
            groups.append(match.group(1) if match else None)
    if missing:
        notes.append(f"{len(missing)} row(s) of {table_path.name} name a file that is not in {root}: "
                     f"{named(missing, len(missing))}.")
    if not files:
        raise SourceError(f"None of the {len(table)} files that {table_path} names is in {root}.")
    rows = np.array(rows)
    group_array = np.array(groups, dtype=object) if all(g is not None for g in groups) else None
    listing = Listing(root=root, files=files, labels=labels[rows], class_names=classes,
                      split=np.full(len(files), "", dtype=object), groups=group_array, notes=notes,
                      describe=f"{table_path.name} over {root}" + (" (split by patient)" if group_array is not None
                                                                   else ""))
    if test_list:
        _apply_test_list(listing, resolve(test_list, root))
    if boxes_file:
        _read_boxes(listing, resolve(boxes_file, root), box_aliases)
    return listing


def _apply_test_list(listing: Listing, path: Path) -> None:
    if not path.is_file():
        raise SourceError(f"The test list {path} does not exist (or is not a file).")
    names = {line.strip().replace("\\", "/") for line in path.read_text(errors="replace").splitlines() if line.strip()}
    if not names:
        raise SourceError(f"The test list {path} names no image.")
    by_name = {PurePosixPath(n).name for n in names}
    hit = np.array([f in names or PurePosixPath(f).name in by_name for f in listing.files])
    if not hit.any():
        raise SourceError(f"None of the {len(names)} images the test list {path} names is among the table's images.")
    listing.split[hit] = "test"
    unknown = len(by_name - {PurePosixPath(f).name for f in listing.files})
    if unknown:
        listing.notes.append(f"{unknown} image(s) of the test list {path.name} are not among the table's images.")


def _read_boxes(listing: Listing, path: Path, aliases) -> None:
    table = read_table(path, "box table")
    image_col = _column(table, PATH_COLUMNS)
    label_col = _column(table, ("finding label", "label", "finding", "class"))
    if image_col is None or label_col is None:
        raise SourceError(f"{path} needs an image column (Image Index) and a label column (Finding Label), then "
                          f"x, y, w, h; its columns are {named(table.columns, len(table.columns))}.")
    after = list(table.columns).index(label_col) + 1
    coordinate_cols = list(table.columns)[after : after + 4]
    try:
        coords = table[coordinate_cols].apply(lambda c: c.str.strip()).astype(float).to_numpy()
    except (ValueError, KeyError):
        raise SourceError(f"{path}: the four columns after {label_col!r} must hold the boxes' x, y, w and h "
                          "(numbers, in the original image's pixels).") from None
    if coords.shape[1] != 4:
        raise SourceError(f"{path}: expected x, y, w, h after {label_col!r}; found {coords.shape[1]} column(s).")
    alias = dict(a.split("=", 1) for a in aliases)
    index = {c: k for k, c in enumerate(listing.class_names)}
    by_name = {PurePosixPath(f).name: f for f in listing.files}
    unknown_labels, not_listed, bad = {}, [], 0
    for name, label, (x, y, w, h) in zip(table[image_col], table[label_col], coords):
        label = alias.get(label.strip(), label.strip())
        file = by_name.get(PurePosixPath(name.strip().replace("\\", "/")).name)
        if label not in index:
            unknown_labels[label] = unknown_labels.get(label, 0) + 1
            continue
        if file is None:
            not_listed.append(name.strip())
            continue
        if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
            bad += 1
            continue
        listing.boxes.setdefault(file, []).append((index[label], x, y, w, h))
    if unknown_labels:
        hint = ", ".join(f"{k}=CLASS" for k in sorted(unknown_labels)[:2])
        raise SourceError(f"{path} has box labels that match no class: "
                          f"{named(f'{k} ({v} boxes)' for k, v in sorted(unknown_labels.items()))}. Map them with "
                          f"box_aliases (--box-aliases {hint}); the classes are {', '.join(listing.class_names)}.")
    if not_listed:
        listing.notes.append(f"{len(not_listed)} box(es) of {path.name} are for images that are not in the label "
                             f"table or not in the folder: {named(not_listed, len(not_listed))}.")
    if bad:
        listing.notes.append(f"{bad} box(es) of {path.name} have no area (w or h not above 0) and were left out.")
