"""An ONNX model against the module it was exported from: conversion time, evaluation time and the numbers.

Exports the committed zoo's ``standard`` model (evaluated on mnist, cam-cnn, 127k parameters) or the tiny test model to
ONNX (TorchScript exporter, opset 17), then times: reading + checking + converting the file (``model_from_card``:
sha256, onnx checker, operator check, onnx2torch, probe), the first import of onnx/onnx2torch apart; and one
``rib.evaluate`` of each model (the converted one through a card, the original module) on the same cells. Prints
both models' numbers side by side with their largest difference. Asserts nothing.

Run: ``python tests/perf/bench_onnx.py [--model standard|tiny] [--n 50] [--attacks pgd-linf,fgsm-l2]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import rib
from rib.data import DEFAULT_DATASET
from rib.zoo import build_model, create_model, read_card
from rib.zoo.factory import model_from_card, parameter_count

from tests.helpers import export_onnx, trained_tiny_state, write_onnx_card

KEY = ["attack", "metric", "eps", "n"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="standard", help="a committed zoo model, or 'tiny'")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--attacks", default="pgd-linf,fgsm-l2")
    parser.add_argument("--metrics", default="alignment,grad-norm")
    args = parser.parse_args()
    if args.model == "tiny":
        module = build_model("tiny", DEFAULT_DATASET)
        module.net.load_state_dict(trained_tiny_state())
    else:
        module = create_model(args.model, DEFAULT_DATASET)
    module.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        start = time.perf_counter()
        export_onnx(module, path)
        export_s = time.perf_counter() - start
        card = read_card(write_onnx_card(Path(tmp), "m", path))
        start = time.perf_counter()
        import onnx  # noqa: F401  (timed apart: a one-off per process)
        import onnx2torch  # noqa: F401

        import_s = time.perf_counter() - start
        times = []
        for _ in range(3):
            start = time.perf_counter()
            converted = model_from_card(card)
            times.append(time.perf_counter() - start)
        kw = {"attacks": args.attacks, "metrics": args.metrics.split(","), "n": args.n, "device": "cpu"}
        start = time.perf_counter()
        via_onnx = rib.evaluate(converted.net, DEFAULT_DATASET, **kw)
        onnx_eval_s = time.perf_counter() - start
        start = time.perf_counter()
        direct = rib.evaluate(module, DEFAULT_DATASET, **kw)
        direct_eval_s = time.perf_counter() - start
    print(f"model {args.model}: {parameter_count(module):,} parameters, ONNX file {path.name}")
    print(f"export {export_s:.2f} s; import onnx+onnx2torch {import_s:.2f} s; read+check+convert "
          f"{min(times):.3f} s (best of 3; {', '.join(f'{t:.3f}' for t in times)})")
    print(f"rib.evaluate n={args.n} ({args.attacks}; {args.metrics}): ONNX {onnx_eval_s:.1f} s, module "
          f"{direct_eval_s:.1f} s, ratio {onnx_eval_s / direct_eval_s:.2f}")
    merged = via_onnx.merge(direct, on=KEY, suffixes=("_onnx", "_module"))
    merged["abs_diff"] = (merged["value_onnx"] - merged["value_module"]).abs()
    with pd.option_context("display.width", 160):
        print(merged[[*KEY, "value_onnx", "value_module", "abs_diff"]].to_string(index=False))
    print(f"largest difference {merged['abs_diff'].max():.3g}")


if __name__ == "__main__":
    main()
