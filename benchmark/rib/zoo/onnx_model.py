"""Outside architectures: an ONNX graph, checked and converted by onnx2torch into a differentiable ``nn.Module``.

The contract of an ONNX submission: one graph input ``[N, C, H, W]`` float32 pixels in [0, 1] (the dataset's C, H,
W; N free), one output ``[N, classes]`` logits, finite weights stored inside the file. The sha256 is checked
before a byte is parsed; the file is data (a protobuf), and onnx2torch builds the module from its own converters,
so nothing in the file is executed as Python. Every failure is one ``WeightsError`` line.

``onnx`` and ``onnx2torch`` are imported inside the functions that need them: ``import rib`` stays light and rib
works without them until an ONNX card is loaded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rib.data import DATASETS
from rib.errors import ConfigError, WeightsError
from rib.files import sha256_file
from rib.zoo.weights import MAX_WEIGHTS_BYTES

PROBE_BATCH = 2  # the probe's batch: 2, so a graph that folds or fixes the batch dimension is caught


def _onnx() -> tuple[Any, Any]:
    """The ``onnx`` and ``onnx2torch`` modules, or a one-line error saying how to install them."""
    try:
        import onnx  # heavy, and only needed for ONNX cards: imported here, not at module level
        import onnx2torch
    except ImportError:
        raise ConfigError("ONNX models need onnx and onnx2torch: pip install 'rib[onnx]'") from None
    return onnx, onnx2torch


def read_onnx(path: Path, expected_sha256: str | None) -> Any:
    """The parsed ``onnx.ModelProto`` of ``path`` after checking its size and sha256 (before parsing), that it is
    ONNX, passes onnx's checker and keeps every tensor inside the file."""
    onnx, _ = _onnx()
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} is missing")
    if path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise WeightsError(f"weights file {path} is larger than {MAX_WEIGHTS_BYTES} bytes")
    if path.suffix != ".onnx":
        raise WeightsError(f"weights file {path} of an onnx card must end in .onnx")
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256.lower():
            raise WeightsError(f"sha256 of {path.name} is {actual[:12]}…, its card says {expected_sha256[:12]}…: "
                               "refusing to parse it")
    data = path.read_bytes()
    try:  # from bytes: onnx.load(path) would also read external data files named inside the model
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends on truncated or foreign bytes
        raise WeightsError(f"{path.name} is not an ONNX model (truncated or another format: "
                           f"{type(exc).__name__})") from None
    if not len(model.graph.node) or not model.opset_import:
        raise WeightsError(f"{path.name} is not an ONNX model (no graph nodes or no opset: truncated or another "
                           "format)")
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise WeightsError(f"{path.name} keeps tensors in external files ({', '.join(external[:3])}): save the "
                           "model with its weights inside the .onnx file")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx.checker.ValidationError, and C++ errors surfaced as others
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path.name} is not a valid ONNX model ({first})") from None
    return model


def _dims(value_info: Any) -> list[int | str] | None:
    """A graph value's declared shape: ints for fixed dimensions, names (or "?") for free ones; None if unknown."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]


def check_signature(model: Any, dataset: str, name: str) -> None:
    """The declared input is one float32 ``[N, C, H, W]`` of ``dataset``'s C (and H, W where fixed); the declared
    output is one ``[N, classes]`` (where its shape is declared)."""
    onnx, _ = _onnx()
    info = DATASETS.get(dataset)
    channels, height, width = info.shape
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise WeightsError(f"{name}: the graph must take one input [N, {channels}, {height}, {width}], it takes "
                           f"{len(inputs)}")
    elem = inputs[0].type.tensor_type.elem_type
    if elem != onnx.TensorProto.FLOAT:
        raise WeightsError(f"{name}: the graph input must be float32 pixels in [0, 1], it is "
                           f"{onnx.TensorProto.DataType.Name(elem)}")
    dims = _dims(inputs[0])
    if dims is not None:
        if len(dims) != 4:
            raise WeightsError(f"{name}: the graph input has rank {len(dims)} {dims}, rib gives [N, C, H, W] (rank 4)")
        if isinstance(dims[1], int) and dims[1] != channels:
            raise WeightsError(f"{name}: the graph input has {dims[1]} channels, {dataset} images have {channels}")
        if any(isinstance(d, int) and d != want for d, want in ((dims[2], height), (dims[3], width))):
            raise WeightsError(f"{name}: the graph input is {dims[2]}×{dims[3]}, {dataset} images are "
                               f"{height}×{width}")
    if len(model.graph.output) != 1:
        raise WeightsError(f"{name}: the graph must return one output [N, {info.num_classes}] of logits, it "
                           f"returns {len(model.graph.output)}")
    out = _dims(model.graph.output[0])
    if out is not None and (len(out) != 2 or (isinstance(out[1], int) and out[1] != info.num_classes)):
        raise WeightsError(f"{name}: the graph output is declared {out}, rib needs [N, {info.num_classes}] logits")


def check_finite(model: Any, name: str) -> None:
    """Every floating initializer (and Constant node) holds finite values; the first that does not is named."""
    onnx, _ = _onnx()
    import numpy as np

    tensors = [(t.name, t) for t in model.graph.initializer]
    tensors += [(node.name or node.output[0], attr.t) for node in model.graph.node if node.op_type == "Constant"
                for attr in node.attribute if attr.name == "value"]
    for tensor_name, tensor in tensors:
        array = onnx.numpy_helper.to_array(tensor)
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise WeightsError(f"{name}: weight {tensor_name!r} holds NaN or infinite values")


def check_operators(model: Any, name: str) -> None:
    """Every node's operator has an onnx2torch converter at the model's opset; all the missing ones are named."""
    _onnx()
    from importlib.metadata import version as installed

    from onnx2torch.node_converters.registry import get_converter

    opsets = {o.domain: o.version for o in model.opset_import}
    missing: list[str] = []
    for node in model.graph.node:
        opset = opsets.get(node.domain, opsets.get("", 0))
        try:
            get_converter(operation_type=node.op_type, version=opset, domain=node.domain)
        except NotImplementedError:
            where = f"{node.domain}." if node.domain else ""
            label = f"{where}{node.op_type} (opset {opset})"
            if label not in missing:
                missing.append(label)
    if missing:
        raise WeightsError(f"{name}: onnx2torch {installed('onnx2torch')} cannot convert operator "
                           f"{', '.join(missing)}: re-export with other operators or another opset (17 works "
                           "for torch.onnx.export)")


def convert(model: Any, name: str) -> nn.Module:
    """The onnx2torch ``GraphModule`` of a checked model, in eval mode."""
    _, onnx2torch = _onnx()
    try:
        net = onnx2torch.convert(model)
    except Exception as exc:  # onnx2torch raises NotImplementedError, ValueError, KeyError … on graphs it cannot map
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        op = re.search(r"operation_type='([^']+)'", text)
        detail = f"operator {op.group(1)}" if op else f"{type(exc).__name__}: {text}"
        raise WeightsError(f"{name}: onnx2torch could not convert the graph ({detail})") from None
    return net.eval()


def probe(net: nn.Module, dataset: str, name: str) -> None:
    """Run a module (a converted graph, or any module ``rib.evaluate`` is given) once on a batch of
    ``PROBE_BATCH`` inputs: the output must be one finite ``[N, classes]`` tensor with a gradient with respect to
    the input."""
    info = DATASETS.get(dataset)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((PROBE_BATCH, *info.shape), generator=gen).requires_grad_(True)
    try:
        with torch.enable_grad():
            out = net(x)
    except Exception as exc:  # anything the converted graph raises on a valid input batch
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsError(f"{name}: the model fails on a batch of {PROBE_BATCH} inputs "
                           f"{[PROBE_BATCH, *info.shape]} ({type(exc).__name__}: {text}); an ONNX graph needs a "
                           "free batch dimension") from None
    if not isinstance(out, torch.Tensor):
        got = f"{len(out)} outputs" if isinstance(out, (tuple, list)) else type(out).__name__
        raise WeightsError(f"{name}: the model must return one tensor [N, {info.num_classes}] of logits, got {got}")
    if tuple(out.shape) != (PROBE_BATCH, info.num_classes):
        raise WeightsError(f"{name}: on a batch of {PROBE_BATCH} the model returns {list(out.shape)}, rib needs "
                           f"[N, classes] = [{PROBE_BATCH}, {info.num_classes}] logits")
    if not out.is_floating_point() or not torch.isfinite(out).all():
        raise WeightsError(f"{name}: the model returns non-finite or non-float logits")
    grad = None
    if out.requires_grad:
        (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    if grad is None:
        raise WeightsError(f"{name}: the logits have no gradient with respect to the input (the gradient is None): "
                           "attacks and gradient-based metrics need a differentiable model")


def load_onnx_net(path: Path, expected_sha256: str | None, dataset: str) -> nn.Module:
    """The differentiable module of an ONNX file for ``dataset``, after every check of this module."""
    name = Path(path).name
    model = read_onnx(path, expected_sha256)
    check_signature(model, dataset, name)
    check_finite(model, name)
    check_operators(model, name)
    net = convert(model, name)
    for key, tensor in net.state_dict().items():  # values the converters derived (folded constants)
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise WeightsError(f"{name}: weight {key!r} holds NaN or infinite values")
    probe(net, dataset, name)
    return net
