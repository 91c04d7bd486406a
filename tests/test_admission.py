"""Admission checks for outside models: each hostile model of issue 20 (a lookup table over the test sample, a
batch-dependent graph, a zero-gradient quantizer, probability outputs, NaN under perturbation, noise at inference)
gets its one-line outcome, a stored record, and is neither ranked nor verified; the honest tiny model passes every
check, is verified and ranked."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest
import rib
import torch
from rib import load_dataset
from rib.admission import CHECKS, stored_admission
from rib.cli import main
from rib.errors import AdmissionError, RibWarning
from rib.report import render_site
from rib.report.gating import gated_status, unranked_reasons
from rib.stats import stratified_indices
from rib.store import ResultStore
from rib.verify import FLAGGED, NOT_ADMITTED, VERIFIED, verification_status, verify_card
from rib.zoo import RobustModel, build_model, read_card
from torch import nn

from tests.helpers import export_onnx, trained_tiny_state, write_onnx_card

GRID = """
[datasets.mnist]
models = "*"
n = 20

[[datasets.mnist.attacks]]
names = ["pgd-linf"]
eps = "headline"

[[datasets.mnist.attacks]]
names = ["apgd-linf"]  # AutoAttack's APGD-CE and APGD-T: an ensemble, cheaper than the standard version
eps = "headline"
after = ["pgd-linf"]
"""
CLAIM = '\n[[claims]]\nattack = "clean"\nmetric = "clean_accuracy"\nvalue = 0.5\nn = 100\n'
HONEST_CLAIMS = ('\n[[claims]]\nattack = "clean"\nmetric = "clean_accuracy"\nvalue = {clean}\nn = 100\n'
                 '\n[[claims]]\nattack = "worst-case"\nmetric = "robust_accuracy"\nnorm = "linf"\neps = 0.3\n'
                 'value = {worst}\nn = 100\n')


class Lookup(nn.Module):
    """Nearest neighbour over the public evaluation sample (the first 1,000 stratified test images): class c's logit
    is minus the squared distance to the closest stored image of class c."""

    def __init__(self, n: int = 1000) -> None:
        super().__init__()
        x, y = load_dataset("mnist", "test")
        idx = stratified_indices(y, n)
        refs = x[idx][torch.argsort(y[idx], stable=True)].flatten(1)  # 100 images per class, class by class
        self.cross = nn.Linear(refs.shape[1], len(refs))  # 2⟨x, r⟩ − ‖r‖² (a Gemm: parameters after conversion)
        with torch.no_grad():
            self.cross.weight.copy_(2 * refs)
            self.cross.bias.copy_(-(refs * refs).sum(1))
        self.per_class = n // 10

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = x.flatten(1)
        distance = (f * f).sum(1, keepdim=True) - self.cross(f)  # ‖x − r‖² to every stored image
        return -distance.view(-1, 10, self.per_class).amin(2)


class Wrapped(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net


class BatchMean(Wrapped):
    """Subtracts the batch's mean logits: an image's class depends on the rest of its batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        return z - z.mean(0, keepdim=True)


class Quantized(Wrapped):
    """``round(8x) / 8`` before the network: zero input gradients everywhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.round(x * 8) / 8)


class Probabilities(Wrapped):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


class NanOffTheData(Wrapped):
    """Finite on clean images (multiples of 1/255) and on uniform noise (the loader's probe), NaN on perturbed
    images: pixels off the 1/255 grid with a dark mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        f = x.flatten(1)
        off = (f - torch.round(f * 255) / 255).abs().amax(1)
        zero = f.sum(1, keepdim=True) * 0
        return torch.where(((off > 1e-6) & (f.mean(1) < 0.3)).unsqueeze(1), zero / zero, z)


class Noisy(Wrapped):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x + 0.3 * torch.randn_like(x))


# ONNX submissions: (id, module factory, the checks that fail, refused outright)
HOSTILE = [
    ("lookup", lambda net: Lookup(), {"generalizes"}, False),
    ("batch", BatchMean, {"batch_independent"}, True),
    ("quant", Quantized, {"usable_gradients"}, False),
    ("probs", Probabilities, {"logits"}, True),
    ("nan", NanOffTheData, {"finite_under_perturbation", "usable_gradients"}, True),
]


@pytest.fixture(scope="module")
def honest() -> RobustModel:
    model = build_model("tiny", "mnist")
    model.net.load_state_dict(trained_tiny_state())
    return model.eval()


def _submission(folder: Path, model_id: str, module: nn.Module, extra: str = CLAIM) -> Path:
    export_onnx(module, folder / f"{model_id}.onnx")
    return write_onnx_card(folder, model_id, folder / f"{model_id}.onnx", dataset="mnist", extra=extra)


def _rib(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """Exit code and rib's own stderr lines (errors and warnings; not the per-cell progress lines)."""
    code = main(list(args))
    return code, [line for line in capsys.readouterr().err.splitlines() if line.startswith("rib: ")]


def _csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as fh:
        return {r["model"]: r for r in csv.DictReader(fh)}


def test_hostile_models_are_refused_or_marked_stored_and_never_ranked_or_verified(
        honest: RobustModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results, zoo, grid = tmp_path / "results", tmp_path / "models", tmp_path / "grid.toml"
    grid.write_text(GRID)
    store = ResultStore(results)
    # the honest model: its card claims what rib measures; admitted and verified
    card_path = _submission(tmp_path / "honest", "honest", honest, HONEST_CLAIMS.format(clean=0.5, worst=0.0))
    clean, worst = (c.measured for c in verify_card(read_card(card_path)))
    card_path = _submission(tmp_path / "honest", "honest", honest, HONEST_CLAIMS.format(clean=clean, worst=worst))
    code, lines = _rib(capsys, "verify", str(card_path.parent), "--results", str(results), "--quiet")
    assert code == 0 and lines == [], lines
    assert verification_status(results, "mnist") == {"honest": VERIFIED}
    honest_record = stored_admission(store, read_card(card_path))  # it passes every check
    assert honest_record is not None and [c.name for c in honest_record.checks] == list(CHECKS)
    assert all(c.passed for c in honest_record.checks), honest_record.checks
    before = {p: p.read_bytes() for p in results.rglob("*.parquet")}

    cards = {}
    for model_id, make, failing, refused in HOSTILE:
        sub = tmp_path / model_id
        cards[model_id] = _submission(sub, model_id, make(honest))
        code, lines = _rib(capsys, "verify", str(sub), "--results", str(results), "--quiet")
        what = "refused" if refused else "not admitted to verification or the leaderboard"
        assert code == AdmissionError.exit_code and len(lines) == 1, lines
        assert lines[0].startswith(f"rib: error: {model_id} is {what} by the admission checks: "), lines
        assert all(f"{name}: " in lines[0] for name in failing), lines
        record = stored_admission(store, read_card(cards[model_id]))
        assert record is not None and {c.name for c in record.failed} == failing
        assert record.refused == refused and [c.name for c in record.checks] == list(CHECKS)
        stored = {p.name.split("-")[0] for p in (results / "mnist" / model_id).glob("*.parquet")}
        assert stored == {"admission"}  # the record, and nothing attacked
    assert all(p.read_bytes() == data for p, data in before.items())  # refusals leave stored results as they were

    # a marked model cannot be submitted either; nothing is installed
    code, lines = _rib(capsys, "submit", str(tmp_path / "lookup"), "--models", str(zoo), "--results", str(results),
                       "--reports", str(tmp_path / "site"), "--quiet")
    assert code == AdmissionError.exit_code and len(lines) == 1 and "generalizes: " in lines[0] and not zoo.exists()

    # marked models are evaluated with a warning per failed check; the quantizer with black-box attacks only
    for model_id in ("honest", "lookup", "quant"):
        source = cards.get(model_id, card_path)
        (zoo / "mnist").mkdir(parents=True, exist_ok=True)
        for suffix in (".toml", ".onnx"):
            shutil.copy(source.with_suffix(suffix), zoo / "mnist" / f"{model_id}{suffix}")
    code, lines = _rib(capsys, "run", "--grid", str(grid), "--model", "honest,lookup,quant", "--models-dir", str(zoo),
                       "--results", str(results), "--quiet")
    assert code == 0 and len(lines) == 2, lines
    assert lines[0].startswith("rib: warning: lookup: admission check generalizes failed: clean 100.0%"), lines
    assert lines[1].startswith("rib: warning: quant: admission check usable_gradients failed: "), lines
    assert "black-box and transfer attacks only" in lines[1]
    rows = store.scan().to_pandas()
    quant = rows[(rows["model"] == "quant") & (rows["attack"] != "admission")]
    assert len(quant) == 2 and quant["value"].isna().all() and quant["params"].str.contains("admission: ").all()

    # noise at inference, through rib.evaluate: one warning, its rows returned and stored
    with pytest.warns(RibWarning) as seen:
        frame = rib.evaluate(Noisy(honest), "mnist", grid=str(grid), results=results, name="noisy", device="cpu")
    ours = [str(w.message) for w in seen if issubclass(w.category, RibWarning)]
    assert len(ours) == 1 and ours[0].startswith("noisy: admission check deterministic failed: 3 forward passes")
    flag = frame[frame["metric"] == "flag:admission:deterministic"]
    assert len(flag) == 1 and flag["value"].iloc[0] == 1.0 and (frame["attack"] == "pgd-linf").any()

    # the board: only the honest model is ranked; every hostile one is listed apart with its reason, not verified
    render_site(results, tmp_path / "site", models_dir=zoo)
    ranked = _csv(tmp_path / "site" / "csv" / "mnist-leaderboard-linf.csv")
    unranked = _csv(tmp_path / "site" / "csv" / "mnist-unranked-linf.csv")
    assert set(ranked) == {"honest"} and ranked["honest"]["verification"] == VERIFIED
    assert set(unranked) == {"lookup", "batch", "quant", "probs", "nan", "noisy"}
    for row in unranked.values():
        assert row["verification"] == NOT_ADMITTED and row["not ranked because"].startswith("admission: "), row
    headline = "worst case % @ 0.3"
    assert float(unranked["lookup"][headline]) > float(ranked["honest"][headline])  # it would have ranked first


def _flag(attack: str, norm: str, metric: str, value: float, params: str = "{}") -> dict[str, object]:
    return {"model": "m", "attack": attack, "norm": norm, "eps": 0.0, "metric": metric, "value": value,
            "params": params}


def test_flags_decide_unresolved_masking_flags_unrank_those_the_ensemble_answers_do_not() -> None:
    resolved = [_flag("pgd-l2", "l2", "flag:pgd_unreliable", 1.0),
                _flag("autoattack-l2", "l2", "flag:autoattack_warning:square_beats_gradient", 1.0),
                _flag("pgd-linf", "linf", "flag:vanishing_gradients", 1.0),
                _flag("pgd-linf", "linf", "flag:large_eps_not_zero", 0.0)]
    assert unranked_reasons(pd.DataFrame(resolved), "linf") == unranked_reasons(pd.DataFrame(resolved), "l2") == []
    masked = pd.DataFrame([*resolved, _flag("pgd-linf", "linf", "flag:large_eps_not_zero", 1.0)])
    assert unranked_reasons(masked, "linf") == ["flag large_eps_not_zero (pgd-linf)"]
    assert unranked_reasons(masked, "l2") == []  # raised under linf only
    assert gated_status(VERIFIED, ["flag large_eps_not_zero (pgd-linf)"]) == FLAGGED
    assert gated_status(VERIFIED, []) == VERIFIED
    failed = pd.DataFrame([_flag("admission", "", "flag:admission:logits", 1.0, '{"detail": "probabilities"}'),
                           _flag("admission", "", "flag:admission:deterministic", 0.0, '{"detail": "agree"}')])
    assert unranked_reasons(failed, "l2") == ["admission: logits: probabilities"]
    assert gated_status(VERIFIED, unranked_reasons(failed, "l2")) == NOT_ADMITTED


def test_every_committed_zoo_model_stays_ranked() -> None:
    rows = ResultStore(Path(__file__).resolve().parents[1] / "results").scan().to_pandas()
    rows = rows[rows["dataset"] == "mnist"]
    assert rows["model"].nunique() >= 9
    for (_, norm), mine in rows[rows["norm"].isin(["linf", "l2"])].groupby(["model", "norm"]):
        assert unranked_reasons(mine, str(norm)) == [], mine["model"].iloc[0]
