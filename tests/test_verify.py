"""`rib verify`: submissions are validated, never executed, re-measured claim by claim, and recorded."""

import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rib import verify
from rib.engine import RunContext, Sampling
from rib.errors import ConfigError, RibError, UnknownNameError, WeightsError
from rib.files import sha256_file
from rib.stats import wilson_interval
from rib.store import ResultStore
from rib.verify import (
    CLEAN_ONLY,
    FAILED,
    NO_WORST_CASE,
    VERIFIED,
    ClaimReproduction,
    accuracy_agrees,
    accuracy_margin,
    card_status,
    checks_table,
    claim_errors,
    load_submission,
    metric_agrees,
    verification_status,
    verify_card,
    write_record,
)
from rib.workflows.submit import SubmitOptions, submit
from rib.zoo import ModelCard, build_model, read_card, write_card
from rib.zoo.weights import save_weights

from tests.helpers import make_card, trained_tiny_state

N = 100
WORST = {"attack": "worst-case", "metric": "robust_accuracy", "eps": 0.3, "value": 0.0, "n": N}


def rib(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rib.cli", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def measured_claims(folder: Path, model_id: str) -> Path:
    """A submission folder whose card claims what rib measures for the trained tiny model."""
    card = make_card(folder / "sub", model_id, dataset="mnist-5k", state=trained_tiny_state())
    card_path = folder / "sub" / "mnist-5k" / f"{model_id}.toml"
    card.claims = [{"attack": "clean", "metric": "clean_accuracy", "value": 0.5, "n": N},
                   {"attack": "pgd-linf", "metric": "robust_accuracy", "eps": 0.1, "value": 0.5, "n": N}, WORST]
    write_card(card, card_path)
    checks = verify_card(read_card(card_path))
    card.claims = [{**c, "value": round(k.measured, 4)} for c, k in zip(card.claims, checks, strict=True)]
    write_card(card, card_path)
    return card_path.parent


def test_a_model_reproduces_its_measured_claims_and_altered_weights_do_not(tmp_path: Path) -> None:
    sub = measured_claims(tmp_path, "tiny-sub")
    card = load_submission(sub)
    checks = verify_card(card)
    assert [c.reproduced for c in checks] == [True, True, True]
    assert "verified (3 of 3 claims reproduced)" in checks_table(card, checks)
    write_record(card, checks, tmp_path / "results")
    assert verification_status(tmp_path / "results", "mnist-5k") == {"tiny-sub": "verified"}
    # the same card over other weights (untrained: chance accuracy): new sha256 in the card, same claims
    torch.manual_seed(1)
    untrained = build_model("tiny", "mnist-5k").net.state_dict()
    sha = save_weights(untrained, sub / "tiny-sub.safetensors")
    card.weights_sha256 = sha
    write_card(card, sub / "tiny-sub.toml")
    altered = load_submission(sub)
    bad = verify_card(altered)
    assert not all(c.reproduced for c in bad)
    table = checks_table(altered, bad)
    assert "NOT reproduced" in table and "failed" in table and " pts" in table
    write_record(altered, bad, tmp_path / "results")
    status = verification_status(tmp_path / "results", "mnist-5k", {"tiny-sub": sha})
    assert status == {"tiny-sub": "failed"}


def test_cli_exit_codes_and_untouched_store(tmp_path: Path) -> None:
    sub = measured_claims(tmp_path, "tiny-cli")
    ok = rib("verify", str(sub), "--results", str(tmp_path / "results"), "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert "reproduced" in ok.stdout and "1 of 1 models verified" in ok.stderr
    card = read_card(sub / "tiny-cli.toml")
    card.claims[1]["value"] = min(1.0, card.claims[1]["value"] + 0.2)
    write_card(card, sub / "tiny-cli.toml")
    bad = rib("verify", str(sub), "--results", str(tmp_path / "results"), "--quiet")
    assert bad.returncode == 1 and "NOT reproduced" in bad.stdout and "+20.0 pts" in bad.stdout
    assert "0 of 1 models verified (1 failed)" in bad.stderr
    card.claims = card.claims[:1]  # clean accuracy only: reproduces, exit 0, but not verified
    write_card(card, sub / "tiny-cli.toml")
    clean = rib("verify", str(sub), "--results", str(tmp_path / "results"), "--quiet")
    assert clean.returncode == 0 and "tiny-cli: clean-only" in clean.stdout
    assert "0 of 1 models verified (1 clean-only)" in clean.stderr


def _submission(tmp_path: Path, **edits: object) -> Path:
    sub = tmp_path / "s"
    card = make_card(sub, "tiny-x", dataset="mnist-5k")
    card.claims = [{"attack": "pgd-linf", "metric": "robust_accuracy", "eps": 0.1, "value": 0.1}]
    for k, v in edits.items():
        setattr(card, k, v)
    write_card(card, sub / "mnist-5k" / "tiny-x.toml")
    return sub / "mnist-5k"


@pytest.mark.parametrize("edit, error, match", [
    ({"arch": "tinny"}, UnknownNameError, "did you mean"),
    ({"claims": [{"attack": "pgd-lnf", "metric": "robust_accuracy", "eps": 0.1, "value": 0.2}]}, ConfigError,
     "unknown attack 'pgd-lnf'"),
    ({"claims": [{"attack": "pgd-linf", "metric": "robust_accuracy", "eps": 0.7, "value": 0.2}]}, ConfigError,
     "eps 0.7 is not in the mnist-5k linf grid"),
    ({"claims": [{"attack": "pgd-linf", "metric": "accuracy", "value": 0.2}]}, ConfigError, "unknown metric"),
    ({"claims": []}, ConfigError, "makes no claims"),
    ({"id": "<b>x</b>"}, ConfigError, "may hold only letters"),
    ({"weights_sha256": "0" * 64}, WeightsError, "refusing to load"),
])
def test_bad_submissions_are_one_clear_error(tmp_path: Path, edit: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        load_submission(_submission(tmp_path, **edit))


def test_schema_errors_are_listed_at_once_and_weights_are_checked(tmp_path: Path) -> None:
    folder = _submission(tmp_path)
    card = folder / "tiny-x.toml"
    text = card.read_text()
    card.write_text(text.replace('id = "tiny-x"\n', "").replace('name = "tiny"', "name = 3"))
    with pytest.raises(ConfigError, match=r"missing field id; field arch\.name must be str"):
        load_submission(folder)
    card.write_text(text)
    weights = folder / "tiny-x.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # truncated (and so a different sha256)
    with pytest.raises(WeightsError):
        load_submission(folder)


def test_nan_and_wrong_shapes_are_refused(tmp_path: Path) -> None:
    state = trained_tiny_state()
    folder = _submission(tmp_path)
    card = read_card(folder / "tiny-x.toml")
    bad = {k: v.clone() for k, v in state.items()}
    first = next(iter(bad))
    bad[first][...] = float("nan")
    card.weights_sha256 = save_weights(bad, folder / "tiny-x.safetensors")
    write_card(card, folder / "tiny-x.toml")
    with pytest.raises(WeightsError, match="NaN"):
        load_submission(folder)
    bad[first] = torch.zeros(3, 3)
    card.weights_sha256 = save_weights(bad, folder / "tiny-x.safetensors")
    write_card(card, folder / "tiny-x.toml")
    with pytest.raises(WeightsError, match="shape"):
        load_submission(folder)


class _Hostile:
    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))

    marker = ""


def test_a_pytorch_file_is_read_only_as_tensors_and_a_hostile_pickle_runs_nothing(tmp_path: Path) -> None:
    folder = _submission(tmp_path)
    card = read_card(folder / "tiny-x.toml")
    torch.save({"state_dict": trained_tiny_state()}, folder / "tiny-x.pt")
    card.weights_file, card.weights_sha256 = "tiny-x.pt", sha256_file(folder / "tiny-x.pt")
    write_card(card, folder / "tiny-x.toml")
    (folder / "tiny-x.safetensors").unlink()
    assert load_submission(folder).weights_file == "tiny-x.pt"  # a plain state dict loads
    marker = tmp_path / "pwned"
    _Hostile.marker = str(marker)
    with (folder / "tiny-x.pt").open("wb") as fh:
        pickle.dump({"conv1.weight": _Hostile()}, fh)
    card.weights_sha256 = sha256_file(folder / "tiny-x.pt")
    write_card(card, folder / "tiny-x.toml")
    results = tmp_path / "results"
    out = rib("verify", str(folder), "--results", str(results))
    assert out.returncode == 3 and out.stderr.count("\n") == 1 and "not a safe PyTorch state dict" in out.stderr
    assert not marker.exists()
    assert not results.exists()


def test_submit_adds_a_verified_model_runs_its_grid_and_renders(tmp_path: Path) -> None:
    sub = measured_claims(tmp_path, "tiny-new")
    grid = tmp_path / "grid.toml"
    grid.write_text('[datasets.mnist-5k]\nmodels = "*"\nn = 30\nheadline = { linf = 0.1, l2 = 1.0 }\n'
                    'eps = { linf = [0.1], l2 = [1.0] }\n'
                    '[[datasets.mnist-5k.attacks]]\nnames = ["fgsm-linf", "fgsm-l2"]\n')
    models, results, reports = tmp_path / "models", tmp_path / "results", tmp_path / "reports"
    args = ["submit", str(sub), "--models", str(models), "--results", str(results), "--reports", str(reports),
            "--grid", str(grid), "--quiet"]
    out = rib(*args)
    assert out.returncode == 0, out.stderr
    installed = models / "mnist-5k"
    assert (installed / "tiny-new.toml").is_file() and (installed / "tiny-new.safetensors").is_file()
    assert len(list((results / "mnist-5k" / "tiny-new").glob("fgsm-l*.parquet"))) == 4  # 2 cells: summary + examples
    html = (reports / "index.html").read_text()
    assert "tiny-new" in html and "verified" in html
    again = rib(*args)
    assert again.returncode == 2 and "already in the zoo" in again.stderr


def test_submit_refuses_a_bad_executor_before_doing_anything(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown executor 'dask'"):
        submit(tmp_path / "nothing", SubmitOptions(models_root=tmp_path / "models", executor="dask"))
    with pytest.raises(ConfigError, match="--address goes with --executor ray"):
        submit(tmp_path / "nothing", SubmitOptions(models_root=tmp_path / "models", address="auto"))
    assert not list(tmp_path.iterdir())


# --- the decision, table by table ---------------------------------------------------------------------------------

@pytest.mark.parametrize("claimed, metric, k, n, agrees", [
    (0.59, "robust_accuracy", 50, 100, True),    # 9 points above 50% of 100: inside the Wilson bound 59.6%
    (0.30, "robust_accuracy", 50, 100, True),    # below rib's number: a weaker attack or a harder sample
    (0.04, "robust_accuracy", 0, 100, False),    # 4 points above 0%: beyond the bound 3.7%
    (0.96, "clean_accuracy", 100, 100, False),   # 4 points below 100%: beyond the lower bound 96.3%
    (0.85, "robust_accuracy", 400, 500, False),  # 5 points above 80% of 500 (the margin: 2 points from n = 500)
    (0.819, "robust_accuracy", 400, 500, True),  # 1.9 points above 80% of 500
    (0.821, "robust_accuracy", 400, 500, False),  # 2.1 points above
    (0.779, "clean_accuracy", 400, 500, False),  # 2.1 points below: clean accuracy is held both ways
])
def test_accuracy_claims_are_judged_with_rib_s_margin(claimed: float, metric: str, k: int, n: int,
                                                     agrees: bool) -> None:
    ok, rule, margin = accuracy_agrees(claimed, metric, k, n)
    assert (ok, rule) == (agrees, "margin")
    assert margin == pytest.approx(0.02) if n >= 500 else 0 < margin < 0.1


def test_the_margin_is_rib_s_interval_below_500_and_two_points_from_there() -> None:
    below, above = accuracy_margin(50, 100)
    lo, hi = wilson_interval(50, 100)
    assert (below, above) == (pytest.approx(0.5 - lo), pytest.approx(hi - 0.5))
    assert accuracy_margin(250, 500) == (0.02, 0.02)


@pytest.mark.parametrize("claimed, value, lo, hi, tolerance, agrees", [
    (0.30, 0.25, 0.20, 0.31, 0.015, True),    # inside the interval, 20% from the value
    (0.251, 0.25, 0.249, 0.2505, 0.015, True),  # outside a tight interval, within 1.5% of the value
    (0.30, 0.25, 0.24, 0.26, 0.015, False),   # outside both
    (0.30, 0.25, math.nan, math.nan, 0.25, True),  # no interval (n = 1): the tolerance alone
])
def test_metric_claims_keep_their_rule(claimed: float, value: float, lo: float, hi: float, tolerance: float,
                                       agrees: bool) -> None:
    assert metric_agrees(claimed, value, lo, hi, tolerance) == agrees


def _card(claims: list[dict], trained_norm: str = "none") -> ModelCard:
    return ModelCard(id="m", dataset="mnist-5k", arch="tiny", defense="standard", mean=[0.1307], std=[0.3081],
                     weights_file="m.safetensors", weights_sha256="0" * 64, trained_norm=trained_norm,
                     trained_eps=0.0 if trained_norm == "none" else 0.3, claims=claims)


def _claim(attack: str, eps: float = 0.3, metric: str = "robust_accuracy", **kw: object) -> dict:
    return {"attack": attack, "metric": metric, "eps": eps, "value": 0.1, **kw}


@pytest.mark.parametrize("claim, match", [
    (_claim("topk-cam-linf"), "topk-cam-linf is a interpretation attack"),
    (_claim("fgsm-linf"), "fgsm-linf is single-step"),
    (_claim("transfer-pgd-linf"), "transfer-pgd-linf is a transfer attack"),
    (_claim("pgd-linf", n=1), "an accuracy claim needs n >= 100 (got 1)"),
    (_claim("worst-case", n=99), "needs n >= 100 (got 99)"),
    ({"attack": "clean", "metric": "clean_accuracy", "value": 0.9, "n": 10}, "needs n >= 100"),
    (_claim("worst-case", metric="gini-ig"), "a worst-case claim is a robust_accuracy claim"),
    (_claim("pgd-linf", norm="l2"), "norm goes with attack = 'worst-case' only"),
    (_claim("worst-case", norm="l3"), "unknown norm 'l3'"),
    (_claim("worst-case", eps=0.25), "eps 0.25 is not in the mnist-5k linf grid"),
])
def test_claims_too_weak_or_too_small_are_refused(claim: dict, match: str) -> None:
    errors = claim_errors(_card([claim]))
    assert len(errors) == 1 and match in errors[0], errors


@pytest.mark.parametrize("claim", [_claim("pgd-linf"), _claim("apgd-ce-l2", eps=2.0), _claim("square-linf"),
                                   _claim("autoattack-linf"), _claim("deepfool-l2", eps=2.0), _claim("worst-case"),
                                   _claim("worst-case", eps=2.0, norm="l2", n=100)])
def test_robustness_attacks_may_be_claimed(claim: dict) -> None:
    assert claim_errors(_card([claim])) == []


def _check(attack: str, metric: str = "robust_accuracy", norm: str = "linf", eps: float = 0.3,
           ok: bool = True) -> ClaimReproduction:
    return ClaimReproduction(attack, metric, norm, eps, 100, 100, 0.1, 0.1, 0.05, 0.2, 0.1, math.nan, "margin", ok)


CLEAN_CHECK = _check("clean", "clean_accuracy", "", 0.0)


@pytest.mark.parametrize("checks, trained_norm, status", [
    ([CLEAN_CHECK, _check("worst-case")], "none", VERIFIED),             # untrained: linf headline 0.3
    ([CLEAN_CHECK, _check("worst-case", norm="l2", eps=2.0)], "l2", VERIFIED),
    ([CLEAN_CHECK], "none", CLEAN_ONLY),                                  # clean accuracy only
    ([CLEAN_CHECK, _check("gini-ig", "gini-ig", "", 0.0)], "none", CLEAN_ONLY),  # no robustness claim
    ([CLEAN_CHECK, _check("pgd-linf")], "none", NO_WORST_CASE),           # reproduces, but no worst case
    ([_check("worst-case", norm="l2", eps=2.0)], "linf", NO_WORST_CASE),  # not the trained norm
    ([_check("worst-case", eps=0.2)], "none", NO_WORST_CASE),             # not the headline eps
    ([CLEAN_CHECK, _check("worst-case", ok=False)], "none", FAILED),
    ([CLEAN_CHECK.__class__(**{**CLEAN_CHECK.__dict__, "reproduced": False})], "none", FAILED),
])
def test_the_verdict_needs_a_worst_case_claim_at_the_headline(checks: list[ClaimReproduction], trained_norm: str,
                                                                status: str) -> None:
    assert card_status(_card([], trained_norm), checks) == status


def test_n_below_the_minimum_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match="at least 100 examples"):
        verify_card(_card([{"attack": "clean", "metric": "clean_accuracy", "value": 0.9}]), n=50)


def test_records_carry_the_verdict_for_the_report(tmp_path: Path) -> None:
    card = _card([])
    write_record(card, [CLEAN_CHECK], tmp_path)
    assert verification_status(tmp_path, "mnist-5k") == {"m": CLEAN_ONLY}
    write_record(card, [CLEAN_CHECK, _check("pgd-linf")], tmp_path)  # replaces the earlier record
    assert verification_status(tmp_path, "mnist-5k", {"m": "0" * 64}) == {"m": NO_WORST_CASE}
    assert verification_status(tmp_path, "mnist-5k", {"m": "1" * 64}) == {}


def test_a_worst_case_claim_runs_pgd_then_autoattack_on_its_survivors(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    card = make_card(tmp_path, "tiny-wc", dataset="mnist-5k", state=trained_tiny_state())
    seen: list[int] = []
    survivors = verify.attack_survivors

    def spy(attack, model, x, y, eps, alive, run):  # type: ignore[no-untyped-def]
        seen.append(int(alive.sum()))
        result = survivors(attack, model, x, y, eps, alive, run)
        assert attack.name == "autoattack-linf" and not bool((result.robust[:, 0] & ~alive).any())
        return result

    monkeypatch.setattr(verify, "attack_survivors", spy)
    card.claims = [{"attack": "worst-case", "metric": "robust_accuracy", "eps": 0.3, "value": 0.02, "n": N},
                   {"attack": "worst-case", "metric": "robust_accuracy", "eps": 0.3, "value": 0.08, "n": N}]
    near, far = verify_card(card)
    assert len(seen) == 1  # measured once for both claims
    assert near.measured <= 0.02 and near.n == N and near.rule == "margin"
    assert near.reproduced and not far.reproduced  # 2% lies within the margin (bound 3.7%), 8% does not
    assert card_status(card, [near]) == VERIFIED and card_status(card, [near, far]) == FAILED
    # at linf 0.1 PGD leaves a few examples robust; AutoAttack then runs on those alone
    k, n = verify.measure_worst_case(card, "linf", 0.1, Sampling(N), RunContext(torch.device("cpu")))
    assert n == N and k <= seen[-1] and seen[-1] > 0


def _store_row(cell_id: str, attack: str, norm: str, sha: str, metric: str, eps: float, value: float,
               n: int) -> dict:
    return {"run_id": "r", "cell_id": cell_id, "created_at": "now", "model": "tiny-z", "dataset": "mnist-5k",
            "defense": "standard", "trained_norm": "none", "trained_eps": 0.0, "attack": attack, "norm": norm,
            "eps": eps, "metric": metric, "value": value, "n": n, "ci_low": 0.0, "ci_high": 1.0, "seed": 0,
            "params": "{}", "weights_sha256": sha, "rib_version": "0", "git_sha": "x", "torch_version": "t",
            "device": "cpu", "duration_s": 1.0}


def _store_cell(store: ResultStore, cell_id: str, attack: str, sha: str, eps: float, robust: list[bool]) -> None:
    norm = "l2" if attack.endswith("l2") else "linf"
    n = len(robust)
    rows = [_store_row(cell_id, attack, norm, sha, "clean_accuracy", 0.0, 0.9, n),
            _store_row(cell_id, attack, norm, sha, "robust_accuracy", eps, sum(robust) / n, n)]
    store.write(rows, {"cell_id": [cell_id] * n, "index": list(range(n)), "eps": [eps] * n,
                       "clean_correct": [True] * n, "robust": robust, "distance": [math.nan] * n})


def test_zoo_claims_come_from_the_stored_worst_case_of_the_current_weights(tmp_path: Path) -> None:
    card = make_card(tmp_path / "models", "tiny-z", dataset="mnist-5k")
    sha = card.weights_sha256
    store = ResultStore(tmp_path / "results")
    _store_cell(store, "a" * 64, "pgd-linf", sha, 0.3, [i % 2 == 0 for i in range(1000)])  # 50%
    _store_cell(store, "b" * 64, "pgd-l2", sha, 2.0, [True] * 1000)
    _store_cell(store, "c" * 64, "topk-cam-linf", sha, 0.3, [False] * 200)  # interpretation: not in the worst case
    _store_cell(store, "d" * 64, "autoattack-linf", sha, 0.3, [i % 4 == 0 for i in range(100)])
    _store_cell(store, "e" * 64, "pgd-linf", "f" * 64, 0.3, [False] * 1000)  # other (old) weights: ignored
    claims = verify.claims_from_results(card, tmp_path / "results")
    assert claims[0] == {"attack": "clean", "metric": "clean_accuracy", "value": 0.9, "n": 1000}
    assert [c["attack"] for c in claims] == ["clean", "pgd-linf", "pgd-l2", "worst-case"]
    # over AutoAttack's 100 examples: robust to both PGD (even indices) and AutoAttack (multiples of 4) → 25%
    assert claims[-1] == {"attack": "worst-case", "metric": "robust_accuracy", "norm": "linf", "eps": 0.3,
                          "value": 0.25, "n": 100}
    card.claims = claims
    assert claim_errors(card) == [] and card_status(card, [_check("worst-case")]) == VERIFIED
    # too few examples behind AutoAttack; APGD-CE + APGD-T alone (an ensemble, but a card's worst case needs AutoAttack)
    for folder, last, match in (("small", ("autoattack-linf", 50), "covers 50 examples"),
                                ("pair", ("apgd-linf", 200), "no stored AutoAttack cell")):
        other = ResultStore(tmp_path / folder)
        for cell_id, attack, eps, robust in (("a" * 64, "pgd-linf", 0.3, [True] * 1000),
                                             ("b" * 64, "pgd-l2", 2.0, [True] * 1000),
                                             ("d" * 64, last[0], 0.3, [True] * last[1])):
            _store_cell(other, cell_id, attack, sha, eps, robust)
        with pytest.raises(RibError, match=match):
            verify.claims_from_results(card, tmp_path / folder)


def test_writing_zoo_claims_on_a_dry_run_touches_no_card(tmp_path: Path) -> None:
    card = make_card(tmp_path / "models", "tiny-z", dataset="mnist-5k")
    store = ResultStore(tmp_path / "results")
    for cell_id, attack, eps, n in (("a" * 64, "pgd-linf", 0.3, 1000), ("b" * 64, "pgd-l2", 2.0, 1000),
                                    ("d" * 64, "autoattack-linf", 0.3, 100)):
        _store_cell(store, cell_id, attack, card.weights_sha256, eps, [True] * n)
    assert card.path is not None
    before = card.path.read_bytes()
    planned = verify.zoo_cards_with_new_claims("mnist-5k", tmp_path / "results", models_dir=tmp_path / "models")
    assert [len(c.claims) for c in planned] == [4] and card.path.read_bytes() == before
    out = rib("verify", "--zoo", "--write-claims", "--dry-run", "--dataset", "mnist-5k", "--results",
              str(tmp_path / "results"), "--models-dir", str(tmp_path / "models"))
    assert out.returncode == 0, out.stderr
    assert "would write 4 claims" in out.stderr and "tiny-z: 4 claims" in out.stdout
    assert card.path.read_bytes() == before
    verify.write_zoo_claims("mnist-5k", tmp_path / "results", models_dir=tmp_path / "models")
    assert read_card(card.path).claims == planned[0].claims


def test_a_robust_claim_5_points_above_the_truth_at_n_500_fails(tmp_path: Path) -> None:
    card = make_card(tmp_path, "tiny-5", dataset="mnist-5k", state=trained_tiny_state())
    card.claims = [{"attack": "pgd-linf", "metric": "robust_accuracy", "eps": 0.1, "value": 0.5, "n": 500}]
    truth = verify_card(card, n=500)[0]
    assert truth.n == 500 and truth.measured + 0.05 <= 1
    card.claims[0]["value"] = truth.measured + 0.05
    inflated = verify_card(card, n=500)[0]
    assert not inflated.reproduced and inflated.tolerance == pytest.approx(0.02)
    assert "NOT reproduced" in checks_table(card, [inflated]) and "≤ measured + 2.0 pts" in checks_table(card,
                                                                                                     [inflated])
    card.claims[0]["value"] = truth.measured + 0.015  # within the margin: reproduced
    assert verify_card(card, n=500)[0].reproduced


def test_rib_chooses_the_n_whatever_the_card_says() -> None:
    from rib.verify import verification_n

    assert verification_n("mnist") == 200 and verification_n("mnist-5k") == 100


def test_the_plan_runs_each_thing_once_and_prices_the_worst_case_stages(tmp_path: Path) -> None:
    card = make_card(tmp_path, "tiny-plan", dataset="mnist-5k")
    card.claims = [{"attack": "clean", "metric": "clean_accuracy", "value": 0.5},
                   {"attack": "pgd-linf", "metric": "robust_accuracy", "eps": 0.1, "value": 0.2},
                   {"attack": "pgd-linf", "metric": "robust_accuracy", "eps": 0.3, "value": 0.0}, WORST, WORST]
    plan = verify.plan_verification(card)
    assert [(a, c.eps) for a, c in plan.cells] == [("pgd-linf", (0.1, 0.3))]  # one cell, clean accuracy from it
    assert plan.clean_source == "pgd-linf" and plan.worst == (("linf", 0.3),) and plan.n == N
    priced = plan.priced_cells(card)  # PGD at 0.3 is measured already: only AutoAttack on its survivors is added
    assert [(c.attack, c.eps) for c in priced] == [("pgd-linf", (0.1, 0.3)), ("autoattack-linf", (0.3,))]


def test_dry_runs_print_priced_cells_and_write_nothing(tmp_path: Path) -> None:
    sub = _submission(tmp_path, claims=[{"attack": "clean", "metric": "clean_accuracy", "value": 0.1}, WORST])
    results = tmp_path / "results"
    store = ResultStore(results)  # a stored AutoAttack cell of another model prices the planned one
    _store_cell(store, "a" * 64, "autoattack-linf", "0" * 64, 0.3, [True] * 10 + [False] * 10)
    grid = tmp_path / "grid.toml"
    grid.write_text('[datasets.mnist-5k]\nmodels = "*"\nn = 30\nheadline = { linf = 0.1, l2 = 1.0 }\n'
                    'eps = { linf = [0.1], l2 = [1.0] }\n'
                    '[[datasets.mnist-5k.attacks]]\nnames = ["fgsm-linf", "fgsm-l2"]\n')

    def snapshot() -> list[tuple[str, int, int]]:
        return sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*"))

    before = snapshot()
    out = rib("verify", str(sub), "--dry-run", "--results", str(results))
    assert out.returncode == 0, out.stderr
    assert "tiny-x: 2 claims, measured at n = 100 in 3 cells" in out.stdout
    assert "autoattack-linf" in out.stdout and "estimated cost of the cells to run:" in out.stdout
    aa_row = next(line for line in out.stdout.splitlines() if "autoattack-linf" in line)
    assert aa_row.rstrip().endswith(" s")  # priced: 1 s per image stored, times n
    assert snapshot() == before
    out = rib("submit", str(sub), "--dry-run", "--results", str(results), "--models", str(tmp_path / "models"),
              "--reports", str(tmp_path / "reports"), "--grid", str(grid))
    assert out.returncode == 0, out.stderr
    assert "then, once added to the zoo, grid" in out.stdout and "2 cells, 0 stored, 2 to run" in out.stdout
    assert "fgsm-l2" in out.stdout and "tiny-x: 2 claims" in out.stdout
    assert snapshot() == before  # nothing installed, run, rendered or touched
