"""The CLI through a real subprocess: exit codes, one-line errors, and the training command."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rib.store import load_results


def rib(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rib.cli", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def test_ls_datasets_defenses_archs() -> None:
    out = rib("ls", "datasets")
    assert out.returncode == 0 and "mnist-5k" in out.stdout and "cifar10" in out.stdout
    out = rib("ls", "defenses")
    assert out.returncode == 0 and "proper-int2" in out.stdout and "double-backprop" in out.stdout
    out = rib("ls", "archs")
    assert out.returncode == 0 and "wrn-28-10" in out.stdout


def test_ls_models_shows_a_models_dir(tiny_zoo: Path) -> None:
    out = rib("ls", "models", "--dataset", "mnist", "--models-dir", str(tiny_zoo))
    assert out.returncode == 0, out.stderr
    assert "tiny-std" in out.stdout


def test_unknown_names_exit_2_with_did_you_mean() -> None:
    out = rib("train", "--model", "standrd", "--out", "/nonexistent")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "did you mean 'standard'" in out.stderr
    out = rib("ls", "models", "--dataset", "mnist5")
    assert out.returncode == 2 and "did you mean 'mnist' or 'mnist-5k'" in out.stderr


def test_train_needs_exactly_one_target() -> None:
    out = rib("train")
    assert out.returncode == 2 and "exactly one of --model" in out.stderr


def test_train_one_epoch_writes_a_loadable_card(tmp_path: Path) -> None:
    out = rib("train", "--model", "standard", "--dataset", "mnist-5k", "--epochs", "1", "--out", str(tmp_path),
              "--quiet", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    assert "standard" in out.stdout and "trained standard" in out.stderr
    card = tmp_path / "mnist" / "standard.toml"  # trained on mnist-5k, evaluated on mnist (the recipes' evaluate_on)
    assert card.is_file() and (tmp_path / "mnist" / "standard.safetensors").is_file()
    assert not (tmp_path / "mnist-5k" / "standard.toml").exists()
    text = card.read_text()
    assert 'dataset = "mnist"' in text and 'trained_on = "mnist-5k"' in text
    before = card.read_bytes()
    again = rib("train", "--model", "standard", "--dataset", "mnist-5k", "--epochs", "1", "--out", str(tmp_path),
                "--quiet")
    assert again.returncode == 2 and "--force" in again.stderr
    assert card.read_bytes() == before  # nothing overwritten
    listed = rib("ls", "models", "--models-dir", str(tmp_path), "--dataset", "mnist")
    assert "1 epoch" not in listed.stdout and "standard" in listed.stdout


def test_bad_device_is_a_clear_error(tmp_path: Path) -> None:
    out = rib("train", "--model", "standard", "--epochs", "1", "--out", str(tmp_path), "--device", "tpu")
    assert out.returncode == 2 and "unknown device 'tpu'" in out.stderr


@pytest.mark.parametrize("content", ["id = [", 'id = "x"\n'])
def test_broken_card_in_models_dir_is_one_line(tmp_path: Path, content: str) -> None:
    (tmp_path / "mnist-5k").mkdir()
    (tmp_path / "mnist-5k" / "x.toml").write_text(content)
    out = rib("ls", "models", "--models-dir", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.startswith("rib: error:") and out.stderr.strip().count("\n") == 0


def test_run_prints_the_table_and_writes_parquet(tmp_path: Path) -> None:
    from tests.helpers import make_card, trained_tiny_state

    zoo = tmp_path / "zoo"
    make_card(zoo, "tiny-std", state=trained_tiny_state())
    out = rib("run", "--model", "tiny-std", "--attack", "pgd-linf,fgsm-l2", "--n", "30", "--eps", "0.05,0.1",
              "--models-dir", str(zoo), "--results", str(tmp_path / "res"), "--quiet", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    assert "[1/2]" in out.stderr and "[2/2]" in out.stderr
    lines = out.stdout.splitlines()
    header = next(line for line in lines if line.startswith("model"))
    assert "linf 0.05" in header and "linf 0.1" in header and "clean" in header
    assert any(line.startswith("tiny-std") and "pgd-linf" in line and "[" in line for line in lines)
    df = load_results(tmp_path / "res")
    assert set(df["attack"]) == {"pgd-linf", "fgsm-l2"}
    robust = df[(df.metric == "robust_accuracy") & (df.attack == "pgd-linf")].sort_values("eps")
    assert robust["eps"].tolist() == [0.05, 0.1] and (robust["n"] == 30).all()
    again = rib("run", "--model", "tiny-std", "--attack", "pgd-linf,fgsm-l2", "--n", "30", "--eps", "0.05,0.1",
                "--models-dir", str(zoo), "--results", str(tmp_path / "res"), "--quiet")
    assert again.returncode == 0 and again.stderr.count("stored earlier") == 2
    assert [ln for ln in again.stdout.splitlines() if "pgd-linf" in ln] == \
        [ln for ln in lines if "pgd-linf" in ln]


def test_run_rejects_bad_requests(tmp_path: Path) -> None:
    out = rib("run", "--model", "adv-linf", "--attack", "pgd-lnf", "--results", str(tmp_path))
    assert out.returncode == 2 and "did you mean 'pgd-linf'" in out.stderr
    out = rib("run", "--model", "adv-linf", "--attack", "pgd-linf", "--eps", "abc", "--results", str(tmp_path))
    assert out.returncode == 2 and "not a number" in out.stderr
    out = rib("run", "--model", "adv-linf", "--attack", "pgd-linf", "--n", "0", "--results", str(tmp_path))
    assert out.returncode == 2 and "--n" in out.stderr
    out = rib("run", "--grid", "nope", "--results", str(tmp_path))
    assert out.returncode == 2 and "unknown grid 'nope'" in out.stderr
    assert not list(tmp_path.rglob("*.parquet"))


def test_run_dry_run_lists_cells_and_their_state(tmp_path: Path) -> None:
    from tests.helpers import make_card, trained_tiny_state

    zoo = tmp_path / "zoo"
    make_card(zoo, "tiny-std", state=trained_tiny_state())
    common = ["run", "--model", "tiny-std", "--attack", "fgsm-*", "--n", "10", "--models-dir", str(zoo),
              "--results", str(tmp_path / "res"), "--quiet"]
    before = rib(*common, "--dry-run")
    assert before.returncode == 0 and "2 cells, 0 stored, 2 to run" in before.stdout
    assert not (tmp_path / "res").exists()
    assert rib(*common, "--attack", "fgsm-l2").returncode == 0
    after = rib(*common, "--dry-run")
    assert "2 cells, 1 stored, 1 to run" in after.stdout
    # a cell like a stored one (same attack and dataset, twice the images) is priced from its duration_s
    priced = rib(*common, "--attack", "fgsm-l2", "--n", "20", "--dry-run")
    assert priced.returncode == 0 and "estimated cost of the cells to run:" in priced.stdout, priced.stderr
    assert "not priced" not in priced.stdout and "1 cells, 0 stored, 1 to run" in priced.stdout
    assert "not priced" in after.stdout  # fgsm-linf: nothing like it is stored


def test_ls_metrics_and_unknown_metric() -> None:
    out = rib("ls", "metrics")
    assert out.returncode == 0 and "kendall-tau" in out.stdout and "alignment-normalized" in out.stdout
    out = rib("run", "--model", "standard", "--attack", "pgd-linf", "--metrics", "gini-igg")
    assert out.returncode == 2 and "did you mean 'gini-ig'" in out.stderr and out.stderr.count("\n") == 1


def test_explain_writes_the_same_png_twice(tmp_path: Path) -> None:
    from tests.helpers import make_card, trained_tiny_state

    zoo = tmp_path / "zoo"
    make_card(zoo, "tiny-std", state=trained_tiny_state())
    args = ["explain", "--model", "tiny-std", "--n", "2", "--models-dir", str(zoo), "--device", "cpu"]
    first = rib(*args, "--out", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    png = tmp_path / "a" / "mnist" / "tiny-std.png"
    assert first.stdout.strip() == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert rib(*args, "--out", str(tmp_path / "b")).returncode == 0
    assert (tmp_path / "b" / "mnist" / "tiny-std.png").read_bytes() == png.read_bytes()
    bad = rib("explain", "--model", "tiny-std", "--n", "0", "--models-dir", str(zoo))
    assert bad.returncode == 2 and "--n" in bad.stderr


def test_claims_on_an_empty_store_say_no_data(tmp_path: Path) -> None:
    out = rib("claims", "--results", str(tmp_path / "none"), "--no-write")
    assert out.returncode == 0 and "no data" in out.stdout and "0 of 0 judgements" in out.stdout
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("what", ["models", "attacks", "metrics", "datasets", "defenses", "archs"])
def test_every_ls_table_fits_100_columns_unless_wide(what: str) -> None:
    out = rib("ls", what)
    assert out.returncode == 0, out.stderr
    assert max(len(line) for line in out.stdout.splitlines()) <= 100
    if what == "metrics":
        wide = rib("ls", what, "--wide")
        assert wide.returncode == 0 and max(len(line) for line in wide.stdout.splitlines()) > 100


def test_ls_into_a_closed_pipe_ends_quietly() -> None:
    done = subprocess.run(f"{sys.executable} -m rib.cli ls metrics | head -3", shell=True, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_help_lists_every_ls_subject() -> None:
    out = rib("--help")
    assert all(word in out.stdout for word in ("models", "attacks", "metrics", "datasets", "defenses", "archs"))


def test_a_typo_in_a_card_is_named_before_any_schema_error(tmp_path: Path) -> None:
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "m.toml").write_text('id = "m"\ndataset = "mnist"\n[arch]\nname = "onxx"\n[defense]\nname = "standard"'
                                   '\n[weights]\nfile = "m.onnx"\nsha256 = "0"\n[[claims]]\nattack = "pgd-lnf"\n'
                                   'metric = "robust_accuracy"\nvalue = 0.5\n', encoding="utf-8")
    out = rib("verify", str(folder))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "unknown architecture 'onxx'; did you mean 'onnx'?" in out.stderr
    assert "claim 1: unknown attack 'pgd-lnf'; did you mean 'pgd-linf'" in out.stderr
    assert "normalization" not in out.stderr and "sha256 must be" not in out.stderr


def test_a_sha256_mismatch_prints_both_full_hashes(tmp_path: Path) -> None:
    from rib.errors import WeightsError
    from rib.zoo.weights import read_weights, save_weights

    from tests.helpers import trained_tiny_state

    path = tmp_path / "w.safetensors"
    actual = save_weights(trained_tiny_state(), path)
    with pytest.raises(WeightsError) as info:
        read_weights(path, "f" * 64)
    assert actual in str(info.value) and "f" * 64 in str(info.value) and info.value.exit_code == 3


def test_run_with_stderr_in_a_file_writes_one_line_per_cell_and_no_bars(tmp_path: Path) -> None:
    from tests.helpers import make_card

    zoo = tmp_path / "zoo"
    make_card(zoo, "tiny-log")
    log = tmp_path / "stderr.log"
    with log.open("w") as err:  # not a terminal: no bars, a line per finished cell
        done = subprocess.run([sys.executable, "-m", "rib.cli", "run", "--model", "tiny-log", "--attack",
                               "fgsm-linf,fgsm-l2,pgd-linf", "--n", "20", "--models-dir", str(zoo), "--results",
                               str(tmp_path / "res"), "--device", "cpu"], stdout=subprocess.PIPE, stderr=err,
                              text=True, timeout=600)
    assert done.returncode == 0
    lines = log.read_text().splitlines()
    cells = [ln for ln in lines if ln.startswith("[")]
    assert [ln.split("]")[0] + "]" for ln in cells] == ["[1/3]", "[2/3]", "[3/3]"]
    assert all("tiny-log" in ln and ln.endswith(": done") for ln in cells)
    assert not any("\r" in ln or "it/s" in ln for ln in lines)


def test_an_n_beyond_the_test_split_is_refused_before_planning() -> None:
    out = rib("run", "--model", "tiny-std", "--attack", "fgsm-linf", "--n", "20000", "--dry-run")
    assert out.returncode == 2
    assert out.stderr.strip() == "rib: error: --n 20000 is larger than mnist's test split (10,000 images)"


def test_version() -> None:
    out = rib("--version")
    assert out.returncode == 0 and out.stdout.startswith("rib ")


def test_a_result_store_that_is_a_file_is_refused_before_any_work(tmp_path: Path) -> None:
    store = tmp_path / "results.txt"
    store.write_text("not a store")
    for argv in (["run", "--model", "tiny-std", "--attack", "fgsm-linf", "--n", "5", "--dataset", "mnist-5k"],
                 ["run", "--grid", "default", "--dry-run"], ["claims", "--no-write"], ["report", "--out",
                                                                                        str(tmp_path / "site")]):
        out = rib(*argv, "--results", str(store))
        assert out.returncode == 2, argv
        assert out.stderr.strip() == f"rib: error: the result store {store} is a file, not a folder: name a folder " \
                                     "with --results", argv
    assert store.read_text() == "not a store" and not (tmp_path / "site").exists()


def test_help_version_and_listing_do_not_import_torch() -> None:
    probe = ("import sys\nfrom rib.cli import main\n"
             "for argv in (['--help'], ['--version'], ['ls'], ['ls', 'datasets']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "False", out.stderr


def test_claims_stored_for_two_datasets_are_printed_side_by_side(tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert rib("claims", "--results", str(results), "--dataset", "fashion-mnist").returncode == 0
    out = rib("claims", "--results", str(results))
    assert out.returncode == 0 and (results / "mnist" / "claims.parquet").is_file()
    across = out.stdout.split("Across datasets")[1].splitlines()
    assert across[1].split() == ["claim", "mnist", "fashion-mnist", "holds", "on"]
    assert any(line.startswith("ir-large-eps") and line.rstrip().endswith("no data") for line in across)


def test_run_attacks_the_committed_fashion_mnist_zoo(tmp_path: Path) -> None:
    """The issue's command on the committed Fashion-MNIST zoo, on a few images: its numbers land in the store under
    the dataset's own folder, with the dataset's headline eps."""
    results = tmp_path / "results"
    out = rib("run", "--dataset", "fashion-mnist", "--model", "adv-linf", "--attack", "pgd-linf", "--eps", "0.1",
              "--n", "20", "--results", str(results), "--quiet")
    assert out.returncode == 0, out.stderr
    rows = load_results(results)
    robust = rows[(rows["metric"] == "robust_accuracy") & (rows["dataset"] == "fashion-mnist")]
    assert list(robust["model"]) == ["adv-linf"] and list(robust["eps"]) == [0.1] and list(robust["n"]) == [20]
    assert 0.0 < float(robust["value"].iloc[0]) < 1.0  # a trained, not a random, network: some survive, some fall
    assert not (results / "mnist").exists()
