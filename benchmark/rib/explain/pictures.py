"""``rib explain``'s picture: a PNG grid of inputs, their attributions, adversarial examples and their attributions.

Columns: input, saliency, Integrated Gradients, SmoothGrad, CAM, then the adversarial example and its saliency, IG
and CAM. Signed maps use a diverging colormap centred at zero. The PNG carries no timestamp or version text, so the
same inputs give the same bytes. The adversarial examples are given (``rib.workflows.explain`` runs the attack), so
explain imports no attack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from rib.evaluation import predict
from rib.explain.attributions import attribute
from rib.files import atomic_write

CLEAN_COLUMNS = ("saliency", "ig", "smoothgrad", "cam")
ADV_COLUMNS = ("saliency", "ig", "cam")
TITLES = {"saliency": "saliency", "ig": "IG", "smoothgrad": "SmoothGrad", "cam": "CAM"}


def _image(x: torch.Tensor) -> torch.Tensor:
    return x.permute(1, 2, 0).squeeze(-1) if x.shape[0] in (1, 3) else x[0]


def _show(ax: object, tile: torch.Tensor, signed: bool) -> None:
    import numpy as np

    a = tile.detach().cpu().double()
    if a.dim() == 3:  # an attribution over channels: sum them
        a = a.sum(dim=0)
    arr = np.asarray(a.tolist())
    if signed:
        bound = float(np.abs(arr).max()) or 1.0
        ax.imshow(arr, cmap="bwr", vmin=-bound, vmax=bound, interpolation="nearest")  # type: ignore[attr-defined]
    else:
        ax.imshow(arr, cmap="gray", vmin=0, vmax=1, interpolation="nearest")  # type: ignore[attr-defined]
    ax.set_xticks([])  # type: ignore[attr-defined]
    ax.set_yticks([])  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FigureImages:
    """What a figure shows: the images ``x`` with labels ``y``, and their adversarial examples ``x_adv`` under the
    column title ``adv_title``."""

    x: torch.Tensor
    y: torch.Tensor
    x_adv: torch.Tensor
    adv_title: str


def attribution_figure(model: nn.Module, out: Path, images: FigureImages, *, title: str, seed: int = 0) -> Path:
    """Write ``out`` (a PNG) of ``images`` with every attribution of the true class, under ``title`` (the model and
    the dataset); returns the path."""
    x, y, x_adv, adv_title = images.x, images.y, images.x_adv, images.adv_title
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(x)
    pred, pred_adv = predict(model, x, 256), predict(model, x_adv, 256)
    has_cam = bool(getattr(model, "supports_cam", False))
    clean_cols = [c for c in CLEAN_COLUMNS if c != "cam" or has_cam]
    adv_cols = [c for c in ADV_COLUMNS if c != "cam" or has_cam]
    maps = {c: attribute(c, model, x, y, **({"seed": seed} if c == "smoothgrad" else {})) for c in clean_cols}
    adv_maps = {c: attribute(c, model, x_adv, y) for c in adv_cols}
    ncols = 2 + len(clean_cols) + len(adv_cols)
    fig, axes = plt.subplots(n, ncols, figsize=(1.3 * ncols, 1.35 * n + 0.6), squeeze=False)
    for i in range(n):
        row = axes[i]
        _show(row[0], _image(x[i]), signed=False)
        row[0].set_ylabel(f"y={int(y[i])} ŷ={int(pred[i])}", fontsize=7)
        for j, c in enumerate(clean_cols, start=1):
            _show(row[j], maps[c][i], signed=True)
        k = 1 + len(clean_cols)
        _show(row[k], _image(x_adv[i]), signed=False)
        row[k].set_ylabel(f"adv ŷ={int(pred_adv[i])}", fontsize=7)
        for j, c in enumerate(adv_cols, start=k + 1):
            _show(row[j], adv_maps[c][i], signed=True)
    titles = ["input", *[TITLES[c] for c in clean_cols], adv_title, *[f"adv {TITLES[c]}" for c in adv_cols]]
    for ax, title in zip(axes[0], titles, strict=True):
        ax.set_title(title, fontsize=8)
    fig.suptitle(f"{title}: attributions of the true class", fontsize=9)
    fig.tight_layout()
    try:
        atomic_write(out, lambda fh: fig.savefig(fh, format="png", dpi=100, metadata={"Software": None}))
    finally:
        plt.close(fig)
    return out
