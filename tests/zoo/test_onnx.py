"""ONNX cards: a graph exported from PyTorch converts into a differentiable rib model that every attack and metric
runs on; Grad-CAM at a named layer stands in for a CAM; every bad file is one line, through the CLI too, and
leaves the result store untouched."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from rib import load_dataset
from rib.attacks import ATTACKS, create_attack
from rib.cli import main
from rib.errors import ConfigError, RibError, WeightsError
from rib.explain.metrics import METRICS, MetricInputs, compute_metric_values
from rib.verify import load_submission
from rib.zoo import build_model, read_card
from rib.zoo.factory import model_from_card, model_resolver, parameter_count

from tests.helpers import export_onnx, write_onnx_card

CAM_LAYER = "net/relu2/Relu"  # onnx2torch names modules after the exported graph's nodes


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("tiny", "mnist-5k").eval()


@pytest.fixture
def onnx_file(tiny: torch.nn.Module, tmp_path: Path) -> Path:
    path = tmp_path / "sub" / "tiny.onnx"
    export_onnx(tiny, path)
    return path


def test_an_exported_model_converts_to_the_same_differentiable_function(tiny: torch.nn.Module,
                                                                        onnx_file: Path) -> None:
    card = read_card(write_onnx_card(onnx_file.parent, "tiny-onnx", onnx_file))
    assert card.outside and card.mean == [0.0] and card.std == [1.0]  # no [normalization]: none applied
    model = model_from_card(card)
    x = load_dataset("mnist", "test")[0][:16]
    assert torch.allclose(model(x), tiny(x), atol=1e-5)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xg).sum(), xg)
    xt = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(tiny(xt).sum(), xt)
    assert torch.allclose(grad, want, atol=1e-5)
    assert not model.supports_cam
    # the tiny net's weights plus the exported mean and std constants
    assert parameter_count(model) == sum(p.numel() for p in tiny.net.parameters()) + 2


def test_grad_cam_at_the_cards_layer_is_the_models_cam(onnx_file: Path) -> None:
    model = model_from_card(read_card(write_onnx_card(onnx_file.parent, "c", onnx_file, cam_layer=CAM_LAYER)))
    assert model.supports_cam and not model.cam_mean_is_logits
    x = load_dataset("mnist", "test")[0][:4].requires_grad_(True)
    maps = model.cam(x)
    assert maps.shape == (4, 10, 14, 14) and (maps >= 0).all()
    (grad,) = torch.autograd.grad(maps[:, 3].sum(), x)  # differentiable: the top-k CAM attack steps on it
    assert grad.shape == x.shape
    with torch.no_grad():
        assert not model.cam(x).requires_grad
    bad = write_onnx_card(onnx_file.parent, "d", onnx_file, cam_layer="net/relu2/Rleu")
    with pytest.raises(ConfigError, match="did you mean 'net/relu2/Relu'"):
        model_from_card(read_card(bad))


# one attack per family and adapter (rib's loop, foolbox, AutoAttack's, black-box, transfer, the CAM attack);
# the slow test runs every registered attack
FAST_ATTACKS = ("fgsm-linf", "pgd-l2", "deepfool-l2", "fmn-linf", "apgd-ce-linf", "square-linf", "transfer-pgd-linf",
                "topk-cam-linf")


def _attacks_and_metrics(onnx_file: Path, attacks: list[str]) -> None:
    model = model_from_card(read_card(write_onnx_card(onnx_file.parent, "c", onnx_file, cam_layer=CAM_LAYER)))
    x, y = (t[:3] for t in load_dataset("mnist", "test"))
    resolve = model_resolver("mnist")  # transfer attacks' surrogate: the committed zoo
    for name in attacks:
        attack = create_attack(name)
        attack.bind(resolve)
        result = attack(model, x, y, [0.3 if attack.norm_name == "linf" else 2.0], seed=0, batch_size=3)
        assert result.robust.shape == (3, 1) and torch.isfinite(result.x_adv).all(), name
    x_adv = create_attack("pgd-linf")(model, x, y, [0.1]).x_adv
    values = compute_metric_values(METRICS.names(), MetricInputs(model, x, y, x_adv, batch_size=3), baselines=False)
    assert {o for m in METRICS.names() for o in METRICS.get(m).outputs} == set(values)
    for name, v in values.items():  # NaN only with a reason (a degenerate Grad-CAM, a changed label)
        assert all(r or math.isfinite(a) for a, r in zip(v.value.tolist(), v.reason, strict=True)), name


def test_attacks_of_every_family_and_every_metric_run_on_a_converted_model(onnx_file: Path) -> None:
    _attacks_and_metrics(onnx_file, list(FAST_ATTACKS))


@pytest.mark.slow
def test_every_attack_runs_on_a_converted_model(onnx_file: Path) -> None:
    _attacks_and_metrics(onnx_file, ATTACKS.names())


def _graph(*, dims: list[int | str] | None = None, out_dims: list[int | str] | None = None, op: str = "",
           weight: np.ndarray | None = None, no_grad: bool = False) -> onnx.ModelProto:
    """A one-layer ONNX classifier x [N, 1, 28, 28] → Flatten → MatMul → logits [N, 10], or a broken variant."""
    dims = dims if dims is not None else ["N", 1, 28, 28]
    features = int(np.prod([d for d in dims[1:] if isinstance(d, int)]))
    w = weight if weight is not None else np.random.default_rng(0).normal(size=(features, 10)).astype(np.float32)
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], axis=1), helper.make_node("MatMul", ["flat", "w"], ["z"])]
    inits = [numpy_helper.from_array(w, "w")]
    if op:
        nodes.append(helper.make_node(op, ["z"], ["logits"]))
    elif no_grad:  # logits built from the input's shape only: a constant with no gradient
        nodes = [helper.make_node("Shape", ["x"], ["shape"]),
                 helper.make_node("Slice", ["shape", "zero", "one"], ["n"]),
                 helper.make_node("Concat", ["n", "ten"], ["size"], axis=0),
                 helper.make_node("ConstantOfShape", ["size"], ["logits"],
                                  value=numpy_helper.from_array(np.array([0.5], dtype=np.float32)))]
        inits = [numpy_helper.from_array(np.array(v, dtype=np.int64), name)
                 for name, v in (("zero", [0]), ("one", [1]), ("ten", [10]))]
    else:
        nodes.append(helper.make_node("Identity", ["z"], ["logits"]))
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_dims or ["N", "K"])
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)], [out], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_hand_built_graph_converts(tmp_path: Path) -> None:
    onnx.save(_graph(out_dims=["N", 10]), tmp_path / "ok.onnx")
    model = model_from_card(read_card(write_onnx_card(tmp_path, "ok", tmp_path / "ok.onnx")))
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 10)


GOOD = _graph().SerializeToString()
CLAIM = '\n[[claims]]\nattack = "clean"\nmetric = "clean_accuracy"\nvalue = 0.5\nn = 100\n'
BAD_INPUTS = {
    "truncated": (GOOD[: len(GOOD) // 3], "is not an ONNX model"),
    "not onnx": (b"<html><body>404 Not Found</body></html>\n", "is not an ONNX model"),
    "unsupported operator": (_graph(op="Cosh").SerializeToString(), r"cannot convert operator Cosh \(opset 17\)"),
    "input rank": (_graph(dims=["N", 784]).SerializeToString(), "the graph input has rank 2"),
    "channels": (_graph(dims=["N", 3, 28, 28]).SerializeToString(), "has 3 channels, mnist images have 1"),
    "declared output": (_graph(out_dims=["N", 5]).SerializeToString(), r"declared \['N', 5\], rib needs \[N, 10\]"),
    "actual output": (_graph(weight=np.ones((784, 7), np.float32)).SerializeToString(),
                      r"the model returns \[2, 7\], rib needs \[N, classes\] = \[2, 10\]"),
    "nan weights": (_graph(weight=np.full((784, 10), np.nan, np.float32)).SerializeToString(),
                    "weight 'w' holds NaN"),
    "no gradient": (_graph(no_grad=True).SerializeToString(), "no gradient with respect to the input"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_each_bad_onnx_file_is_one_line_and_leaves_the_store_untouched(case: str, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data, message = BAD_INPUTS[case]
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "m.onnx").write_bytes(data)
    write_onnx_card(sub, "m", sub / "m.onnx", extra=CLAIM)
    with pytest.raises(WeightsError, match=message):
        load_submission(sub)
    results, models = tmp_path / "results", tmp_path / "models"
    code = main(["submit", str(sub), "--models", str(models), "--results", str(results),
                 "--reports", str(tmp_path / "reports"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1 and err.startswith("rib: error: m.onnx"), err
    assert not results.exists() and not models.exists()


def test_the_sha256_is_checked_before_the_file_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"not onnx at all")
    card = write_onnx_card(tmp_path, "m", path, extra=CLAIM)
    card.write_text(card.read_text().replace(card.read_text().split('sha256 = "')[1][:64], "0" * 64))
    with pytest.raises(WeightsError, match="refusing to parse it"):
        load_submission(card)


def test_onnx_card_schema(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(_graph(), path)
    card = write_onnx_card(tmp_path, "m", path)
    text = card.read_text()
    card.write_text(text.replace('file = "m.onnx"', 'file = "m.safetensors"'))
    with pytest.raises(ConfigError, match=r"weights\.file of an onnx card must be a bare file name ending in \.onnx"):
        read_card(card)
    card.write_text(text.replace('name = "onnx"', 'name = "tiny"'))
    with pytest.raises(ConfigError, match=r"missing field normalization\.mean.*weights\.file must be"):
        read_card(card)
    card.write_text(text + "\n[normalization]\nmean = [0.5]\n")
    with pytest.raises(ConfigError, match="needs both mean and std"):
        read_card(card)
    card.write_text(text + "\n[normalization]\nmean = [0.5]\nstd = [0.25]\n")
    assert read_card(card).std == [0.25]
    assert isinstance(WeightsError("x"), RibError)
