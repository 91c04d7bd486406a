"""Weights as safetensors, always checked against the sha256 in their card before anything is read."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from rib.errors import WeightsError
from rib.files import atomic_write_bytes, sha256_file

MAX_WEIGHTS_BYTES = 2 * 1024**3
TORCH_SUFFIXES = (".pt", ".pth")


def save_weights(state: dict[str, torch.Tensor], path: Path) -> str:
    """Write ``state`` as safetensors atomically; returns the file's sha256."""
    return sha256_file(atomic_write_bytes(path, save({k: v.contiguous() for k, v in state.items()})))


def read_weights(path: Path, expected_sha256: str | None) -> dict[str, torch.Tensor]:
    """Read a safetensors file after checking its size and sha256; every failure is one ``WeightsError``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} is missing")
    if path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise WeightsError(f"weights file {path} is larger than {MAX_WEIGHTS_BYTES} bytes")
    if path.suffix not in (".safetensors", *TORCH_SUFFIXES):
        raise WeightsError(f"weights file {path} is neither .safetensors nor a PyTorch state dict (.pt, .pth)")
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256.lower():
            raise WeightsError(
                f"sha256 of {path.name} is {actual}, its card says {expected_sha256}: refusing to load"
            )
    if path.suffix in TORCH_SUFFIXES:
        return _read_torch_state(path)
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"weights file {path} is not a readable safetensors file ({exc})") from exc


def _read_torch_state(path: Path) -> dict[str, torch.Tensor]:
    """A PyTorch state dict through ``torch.load(weights_only=True)``: tensors and plain containers only, so a
    pickle that would run code is refused instead of executed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError … on hostile or broken files
        raise WeightsError(f"weights file {path} is not a safe PyTorch state dict: torch.load(weights_only=True) "
                           f"refused it ({type(exc).__name__})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise WeightsError(f"weights file {path} does not hold a state dict of tensors")
    return obj


def load_into(net: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``net`` exactly: same keys, same shapes, finite values."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise WeightsError(
            f"{source} does not fit the architecture: missing {missing[:3]}{'…' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'…' if len(unexpected) > 3 else ''}"
        )
    for key, tensor in state.items():
        if tensor.shape != own[key].shape:
            raise WeightsError(
                f"{source}: {key} has shape {tuple(tensor.shape)}, the architecture expects {tuple(own[key].shape)}"
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise WeightsError(f"{source}: {key} holds NaN or infinite values")
    net.load_state_dict(state, strict=True)
