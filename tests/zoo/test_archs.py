import pytest
import torch
from rib.zoo import ARCHS, build_model
from rib.zoo.archs import CAMNet

CASES = [("tiny", "mnist-5k", {}), ("cam-cnn", "mnist-5k", {}), ("mnist-cnn", "mnist", {}),
         ("mnist-cnn", "mnist", {"batch_norm": True}), ("preact-resnet18", "cifar10", {}),
         ("wrn-28-10", "cifar10", {}), ("tiny", "cifar10", {})]


@pytest.mark.parametrize(("arch", "dataset", "kwargs"), CASES)
def test_forward_and_backward_on_cpu(arch: str, dataset: str, kwargs: dict) -> None:
    torch.manual_seed(0)
    model = build_model(arch, dataset, kwargs)
    channels = 3 if dataset == "cifar10" else 1
    size = 32 if dataset == "cifar10" else 28
    x = torch.rand(2, channels, size, size, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(("arch", "dataset"), [("tiny", "mnist-5k"), ("cam-cnn", "mnist-5k"),
                                               ("preact-resnet18", "cifar10")])
def test_cam_mean_equals_logits(arch: str, dataset: str) -> None:
    torch.manual_seed(0)
    model = build_model(arch, dataset).eval()
    x = torch.rand(3, *( (3, 32, 32) if dataset == "cifar10" else (1, 28, 28)))
    assert model.supports_cam
    cam = model.cam(x)
    assert cam.shape[:2] == (3, 10)
    torch.testing.assert_close(cam.mean(dim=(2, 3)), model(x), rtol=1e-4, atol=1e-5)


def test_cam_cnn_size_and_head() -> None:
    model = build_model("cam-cnn", "mnist-5k")
    assert isinstance(model.net, CAMNet)
    assert model.net.classifier.bias is None
    assert sum(p.numel() for p in model.parameters()) == 127_232


def test_papers_mnist_cnn_has_no_cam() -> None:
    from rib.errors import ConfigError

    model = build_model("mnist-cnn", "mnist")
    assert not model.supports_cam
    with pytest.raises(ConfigError, match="no CAM head"):
        model.cam(torch.rand(1, 1, 28, 28))


def test_normalization_lives_inside_the_model() -> None:
    model = build_model("tiny", "mnist-5k")
    x = torch.full((1, 1, 28, 28), 0.1307)
    assert torch.allclose(model.normalize(x), torch.zeros_like(x), atol=1e-6)


def test_registry_knows_every_architecture() -> None:
    builtin = [name for name in ARCHS.names() if not name.startswith("tiny-")]  # tests/masked.py adds tiny-*
    assert builtin == ["boopathy-pool", "boopathy-smallgap", "boopathy-wresnet", "cam-cnn", "mnist-cnn",
                       "preact-resnet18", "tiny", "wrn-28-10"]
    assert ARCHS.get("wideresnet") is ARCHS.get("wrn-28-10")
