"""Run-time facts: device choice, thread count, and the provenance stamped on every artifact."""

from __future__ import annotations

import datetime as _dt
import functools
import subprocess
from pathlib import Path
from typing import Any

import torch

from rib import __version__
from rib.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ConfigError(f"unknown device {name!r} (known: {', '.join(DEVICES)})")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but torch sees no CUDA device; use --device cpu")
    return torch.device(name)


def device_label(device: torch.device) -> str:
    """A human-readable device name for provenance."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{torch.get_num_threads()}threads"


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    """The git commit of the rib source tree, or ``unknown`` outside a checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def provenance(device: torch.device) -> dict[str, Any]:
    """rib version, git sha, torch version, device and a UTC timestamp."""
    return {
        "rib_version": __version__,
        "git_sha": git_sha(),
        "torch_version": torch.__version__,
        "device": device_label(device),
        "created_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
