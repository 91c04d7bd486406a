"""Authors' weight releases stored as Python pickles of numpy arrays, read without executing anything.

A pickle is a program: unpickling one calls whatever functions it names. rib reads such a release in two passes:

1. a static scan of the opcode stream (``pickletools.genops``): every global it would import must be one of numpy's
   array-reconstruction functions, and no opcode that imports or calls through another door (``INST``, ``OBJ``,
   extension codes, persistent ids) may appear. Anything else is refused in one line before a single object is built;
2. only then the unpickler runs, and its ``find_class`` allows the same globals again (defence in depth).

What comes out must be a list of tuples of float arrays; anything else is refused. (Placeholder entries, such as
a max-pool's, may hold uninitialized values: the weights a network uses are checked finite when they are loaded.)
"""

from __future__ import annotations

import io
import pickle
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

from rib.errors import WeightsError
from rib.files import sha256_file
from rib.zoo.weights import MAX_WEIGHTS_BYTES

# (module, name) of every global a release may name: numpy's array and scalar reconstruction, nothing else
ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
})
# opcodes that import or call through something other than GLOBAL/STACK_GLOBAL + REDUCE/BUILD
_FORBIDDEN_OPCODES = frozenset({"INST", "OBJ", "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID", "NEWOBJ", "NEWOBJ_EX"})
_STRING_OPCODES = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
                             "SHORT_BINSTRING"})

ReleaseLayers = list[tuple[np.ndarray, ...]]


def _resolve(module: str, name: str) -> Any:
    """The numpy object an allowed global names (numpy 2 moved ``numpy.core`` to ``numpy._core``)."""
    if module == "numpy":
        return getattr(np, name)
    core = getattr(np, "_core", None) or np.core  # numpy 2 moved numpy.core to numpy._core
    return getattr(core.multiarray, name)


_MEMO_OPCODES = frozenset({"MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT", "FRAME"})  # leave the stack as it is
_GET_OPCODES = frozenset({"BINGET", "LONG_BINGET", "GET"})


def scan_globals(data: bytes, source: str) -> list[tuple[str, str]]:
    """Every global the pickle ``data`` would import, found without running it; a ``WeightsError`` for a
    forbidden opcode, a global outside ``ALLOWED_GLOBALS``, a global whose name cannot be told statically, or a
    stream that is not a complete pickle.

    ``STACK_GLOBAL`` takes its module and name from the stack: they must be the values of the two opcodes right
    before it (memo writes aside), each a string push or a memo read of a string that was memoized right after its
    push. Anything else (a string pushed earlier and exposed by ``POP``, ``DUP``, a tuple, ...) is refused."""
    found: list[tuple[str, str]] = []
    recent: list[str | None] = []  # the value of each value-producing opcode: its string, or None for non-strings
    memo: dict[int, str | None] = {}
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            name = opcode.name
            if name in _FORBIDDEN_OPCODES:
                raise WeightsError(f"{source}: refused, the pickle uses opcode {name}, which can run code; rib "
                                   f"reads only numpy arrays")
            if name in _MEMO_OPCODES:
                if name != "FRAME":  # memoize the top of the stack: a string only if a string was just pushed
                    index = len(memo) if name == "MEMOIZE" else int(arg or 0)
                    memo[index] = recent[-1] if recent else None
                continue
            if name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                found.append((module, attr))
            elif name == "STACK_GLOBAL":
                if len(recent) < 2 or recent[-2] is None or recent[-1] is None:
                    raise WeightsError(f"{source}: refused, a global whose name cannot be read without running the "
                                       f"pickle")
                found.append((str(recent[-2]), str(recent[-1])))
            if name in _STRING_OPCODES:
                recent.append(arg.decode("latin1") if isinstance(arg, bytes) else str(arg))
            elif name in _GET_OPCODES:
                recent.append(memo.get(int(arg or 0)))
            else:
                recent.append(None)
            del recent[:-2]
    except WeightsError:
        raise
    except Exception as exc:  # pickletools raises ValueError on a truncated or malformed stream
        raise WeightsError(f"{source}: not a complete pickle ({exc})") from None
    bad = sorted({f"{m}.{n}" for m, n in found if (m, n) not in ALLOWED_GLOBALS})
    if bad:
        raise WeightsError(f"{source}: refused, the pickle names {', '.join(bad)}; rib reads only numpy arrays "
                           f"from an authors' release")
    return found


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that resolves only ``ALLOWED_GLOBALS`` (the static scan has already checked them)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return _resolve(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing a persistent id")


def read_release_pickle(path: Path, expected_sha256: str | None) -> ReleaseLayers:
    """A release file's layers (a list of tuples of float32 arrays), after checking size and sha256, scanning its
    opcodes and unpickling with numpy's array globals only; every failure is one ``WeightsError``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} is missing")
    if path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise WeightsError(f"weights file {path} is larger than {MAX_WEIGHTS_BYTES} bytes")
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256.lower():
            raise WeightsError(f"sha256 of {path.name} is {actual}, its card says {expected_sha256}: refusing to load")
    data = path.read_bytes()
    scan_globals(data, str(path))
    try:
        obj = _ArraysOnly(io.BytesIO(data), encoding="latin1").load()
    except Exception as exc:  # a stream the scan accepted but numpy cannot rebuild
        raise WeightsError(f"{path}: not a readable release pickle ({type(exc).__name__}: {exc})") from None
    return _check_layers(obj, str(path))


def _check_layers(obj: Any, source: str) -> ReleaseLayers:
    if not isinstance(obj, list) or not obj:
        raise WeightsError(f"{source}: expected a non-empty list of layers, got {type(obj).__name__}")
    layers: ReleaseLayers = []
    for i, entry in enumerate(obj):
        if not isinstance(entry, (tuple, list)) or not entry:
            raise WeightsError(f"{source}: layer {i} is not a tuple of arrays")
        arrays = []
        for value in entry:
            array = np.asarray(value)
            if array.dtype.kind != "f":
                raise WeightsError(f"{source}: layer {i} holds {array.dtype} values, not floats")
            arrays.append(array.astype(np.float32, copy=False))
        layers.append(tuple(arrays))
    return layers
