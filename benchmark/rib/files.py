"""Atomic file writes: a reader sees the old file or the whole new one, never a part, even after a crash.

The content goes to a uniquely named temporary file beside the target (``.<name>.<random>.tmp``, so concurrent
writers never share one), is flushed and fsynced, renamed over the target with ``os.replace``, and the folder is
fsynced so that the rename itself survives a crash. The new file gets the permissions of a plain ``open`` (0666
less the umask), not ``mkstemp``'s private 0600.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def temp_files(path: Path) -> list[Path]:
    """Temporary files that unfinished atomic writes of ``path`` left behind."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def atomic_write(path: Path | str, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` atomically through ``write(fh)``, ``fh`` a binary file open for writing; returns the path.

    The parent folder is created when missing. On any failure the target is left as it was and the temporary
    file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_UMASK)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""

    def write(fh: BinaryIO) -> None:
        fh.write(data)

    return atomic_write(path, write)


def atomic_write_text(path: Path | str, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (``encoding`` UTF-8 unless told, no newline translation)."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_copy(source: Path | str, path: Path | str) -> Path:
    """Copy the file ``source`` to ``path`` atomically."""
    with Path(source).open("rb") as src:

        def write(fh: BinaryIO) -> None:
            shutil.copyfileobj(src, fh, 1 << 20)

        return atomic_write(path, write)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
