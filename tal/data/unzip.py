"""Unpacking an uploaded .zip of one's own images, safely.

A zip from a browser may hold anything: entries named ``/etc/passwd`` or
``../../x`` (zip-slip), links, a few KB that unpack to gigabytes (a zip bomb),
or a header that lies about the sizes. Every entry's name is checked before
anything is written; sizes are limited by the header and again while bytes
are copied. The files go to a folder beside the final one, which takes its
place only when everything is unpacked: a refused or broken zip leaves
nothing behind. The folder is named by the zip's content hash, so the same
upload is unpacked once.
"""
from __future__ import annotations

import hashlib
import shutil
import stat
import uuid
import zipfile
from pathlib import Path, PurePosixPath

MAX_BYTES = 2 * 1024**3  # unpacked, in all
MAX_FILES = 200_000
MAX_RATIO = 250  # unpacked / packed, per entry: images compress far less than that
_CHUNK = 1 << 20


class UnpackError(ValueError):
    """The zip cannot be unpacked safely or at all; the message says why, and nothing was written."""


def _safe_name(name: str) -> PurePosixPath | None:
    """The entry's relative path, None for a folder entry; raises for a path that leaves the folder."""
    clean = name.replace("\\", "/")
    path = PurePosixPath(clean)
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in path.parts:
        raise UnpackError(f"The zip holds an entry named {name!r}, which would land outside its folder "
                          "(an absolute path or '..'); nothing was unpacked.")
    return None if clean.endswith("/") or not path.parts else path


def unpack(source, into, *, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES) -> Path:
    """Unpacks the zip `source` (bytes, a path or a binary file) into a new folder under `into`; returns it.

    The folder's name is the zip's SHA-256 (its first 16 hex digits); an upload unpacked before is
    found again, not unpacked twice.

    Raises:
        UnpackError: not a zip, an entry outside the folder, a link, too many files, too large unpacked,
            a compression ratio like a zip bomb's, or a corrupt entry.
    """
    data = _read(source)
    digest = hashlib.sha256(data).hexdigest()[:16]
    target = Path(into) / digest
    if target.is_dir():
        return target
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnpackError("The upload is not a .zip file (or it is damaged).") from None
    with archive:
        entries = _checked_entries(archive, max_bytes, max_files)
        staging = Path(into) / f".{digest}.{uuid.uuid4().hex[:8]}.partial"
        staging.mkdir(parents=True)
        try:
            written = 0
            for info, rel in entries:
                out = staging / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                written += _copy(archive, info, out, max_bytes - written)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


def _read(source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if hasattr(source, "getvalue"):
        return source.getvalue()
    if hasattr(source, "read"):
        return source.read()
    return Path(source).read_bytes()


def _checked_entries(archive: zipfile.ZipFile, max_bytes: int, max_files: int):
    entries, total = [], 0
    for info in archive.infolist():
        rel = _safe_name(info.filename)
        if rel is None:
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnpackError(f"The zip holds a link ({info.filename}); only plain files and folders can be "
                              "unpacked. Nothing was unpacked.")
        if rel.parts[0] == "__MACOSX" or rel.name.startswith("._"):
            continue  # what macOS's archiver adds beside the real files
        total += info.file_size
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > _CHUNK:
            raise UnpackError(f"{info.filename} would unpack to {info.file_size / 1e6:,.0f} MB from "
                              f"{info.compress_size / 1e3:,.0f} KB, like a zip bomb; nothing was unpacked.")
        entries.append((info, rel))
    if len(entries) > max_files:
        raise UnpackError(f"The zip holds {len(entries):,} files; at most {max_files:,} can be unpacked.")
    if total > max_bytes:
        raise UnpackError(f"The zip would unpack to {total / 1e9:.1f} GB; at most {max_bytes / 1e9:.1f} GB can be "
                          "unpacked. Nothing was unpacked.")
    return entries


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: Path, allowed: int) -> int:
    """Copies one entry, never more bytes than its header says or than `allowed`; returns the bytes written."""
    limit = min(info.file_size, allowed)
    written = 0
    try:
        with archive.open(info) as src, open(out, "wb") as dst:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise UnpackError(f"{info.filename} unpacks to more than its header says (or than the limit); "
                                      "nothing was unpacked.")
                dst.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise UnpackError(f"{info.filename} in the zip cannot be unpacked ({exc}); nothing was unpacked.") from None
    return written


def data_folder(folder: Path) -> Path:
    """Where the images are in an unpacked zip: the one top folder when there is only one, else the folder."""
    inside = [p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
    return inside[0] if len(inside) == 1 and inside[0].is_dir() else folder
