import pytest
import torch
import torch.nn.functional as F
from rib.attacks import PGDSettings, pgd_perturb
from rib.norms import NORMS
from rib.zoo import build_model


@pytest.mark.parametrize("name", ["linf", "l2"])
def test_random_init_and_projection_stay_in_ball(name: str) -> None:
    norm = NORMS.get(name)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=g)
    eps = torch.full((64,), 0.3 if name == "linf" else 1.5)
    delta = norm.random_init(x, eps, g)
    assert (norm.distance(x + delta, x) <= eps + 1e-5).all()
    big = torch.randn(64, 1, 28, 28, generator=g) * 10
    projected = norm.project(big, eps)
    assert (norm.distance(projected, torch.zeros_like(projected)) <= eps + 1e-5).all()
    small = big * 1e-4  # already inside: untouched
    torch.testing.assert_close(norm.project(small, eps), small)


def test_normalize_grad() -> None:
    g = torch.tensor([[3.0, -4.0]])
    assert NORMS.get("linf").normalize_grad(g).tolist() == [[1.0, -1.0]]
    torch.testing.assert_close(NORMS.get("l2").normalize_grad(g), torch.tensor([[0.6, -0.8]]))


def test_distances_by_hand() -> None:
    a, b = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, -4.0]])
    assert NORMS.get("linf").distance(a, b).item() == 4.0
    assert NORMS.get("l2").distance(a, b).item() == 5.0


@pytest.mark.parametrize(("name", "eps"), [("linf", 0.1), ("l2", 1.0)])
def test_pgd_stays_in_ball_and_box_and_raises_loss(name: str, eps: float) -> None:
    torch.manual_seed(0)
    model = build_model("tiny", "mnist-5k").eval()
    x = torch.rand(16, 1, 28, 28)
    y = torch.randint(0, 10, (16,))
    norm = NORMS.get(name)
    x_adv = pgd_perturb(model, x, y, norm, eps, PGDSettings(10), generator=torch.Generator().manual_seed(0))
    assert (norm.distance(x_adv, x) <= eps + 1e-5).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)
    assert all(p.grad is None for p in model.parameters())


def test_pgd_is_deterministic_under_a_seeded_generator() -> None:
    torch.manual_seed(0)
    model = build_model("tiny", "mnist-5k").eval()
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    runs = [pgd_perturb(model, x, y, NORMS.get("l2"), 1.0, PGDSettings(5), generator=torch.Generator().manual_seed(3))
            for _ in range(2)]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
