"""Authors' released networks: read without running anything, ported with their TensorFlow semantics, listed in the
zoo with their provenance, refused in one line when a file is hostile, damaged or not the one the card names."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from rib import create_model
from rib.cli import main
from rib.errors import ConfigError, UnknownNameError, WeightsError
from rib.files import sha256_file
from rib.verify import claim_errors, release_claims
from rib.zoo import ModelCard, build_model, find_card, list_cards, read_card
from rib.zoo.boopathy_archs import ReleaseCamNet, same_padding
from rib.zoo.release_pickle import read_release_pickle, scan_globals
from rib.zoo.releases import get_release, release_card_data, release_files, write_release_cards

from tests.conftest import OFFICIAL_PAPER_MODELS

RELEASE = "boopathy2020"
needs_release = pytest.mark.skipif(OFFICIAL_PAPER_MODELS is None and not os.environ.get("CI"),
                                   reason="the authors' release files are not here (RIB_DATA_DIR/paper-models)")


class _RunsCode:
    """Unpickling this calls ``os.system``: a hostile 'weights' file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def _release_layers(arch: str, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    """Random weights in the release's layout (TensorFlow kernels [kh, kw, in, out]) for ``arch``."""
    rng = np.random.RandomState(seed)
    net = build_model(arch, "mnist").net
    assert isinstance(net, ReleaseCamNet)
    layers: list[tuple[np.ndarray, ...]] = []
    cin = 1
    for spec in net.specs:
        if spec.pool:
            layers.append((np.full((2, 2), np.nan, np.float32), np.float32(0)))  # the release's placeholder
            continue
        layers.append((rng.randn(spec.kernel, spec.kernel, cin, spec.filters).astype(np.float32) * 0.2,
                       rng.randn(spec.filters).astype(np.float32) * 0.1))
        cin = spec.filters
    layers.append((rng.randn(1, 1, cin, 10).astype(np.float32),))
    return layers


def _write_release_file(folder: Path, name: str, layers: object) -> Path:
    path = folder / "paper-models" / RELEASE / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(layers, protocol=3))
    return path


def _user_card(models: Path, file: str, sha: str, arch: str = "boopathy-smallgap") -> Path:
    """A user's card for another file of the release, as docs/zoo.md shows it."""
    card = models / "mnist" / "my-boopathy.toml"
    card.parent.mkdir(parents=True, exist_ok=True)
    card.write_text(f'''id = "my-boopathy"
dataset = "mnist"
arch = {{ name = "{arch}" }}
normalization = {{ mean = [0.0], std = [1.0] }}
defense = {{ name = "other" }}
threat_model = {{ norm = "linf", eps = 0.3 }}
weights = {{ file = "{file}", sha256 = "{sha}", release = "{RELEASE}" }}
''')
    return card


# ----------------------------------------------------------------------------------------------- the safe reader
def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for protocol in (2, 4):  # GLOBAL (protocol 2) and STACK_GLOBAL (protocol 4) name the function differently
        path = tmp_path / f"hostile{protocol}.pkl"
        path.write_bytes(pickle.dumps([(_RunsCode(marker),)], protocol=protocol))
        with pytest.raises(WeightsError, match=r"refused.*(posix|os)\.system") as info:
            read_release_pickle(path, None)
        assert "\n" not in str(info.value)
    assert not marker.exists()


def test_a_hostile_global_is_refused_before_any_object_is_built(tmp_path: Path) -> None:
    # an allowed array first, then a forbidden global: the scan refuses the stream before unpickling starts
    data = pickle.dumps([(np.zeros(2, np.float32),), (_RunsCode(tmp_path / "ran"),)], protocol=3)
    with pytest.raises(WeightsError, match="refused"):
        scan_globals(data, "x.pkl")
    assert not (tmp_path / "ran").exists()


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


@pytest.mark.parametrize("body", [
    _unicode("os") + _unicode("system") + _unicode("numpy") + _unicode("dtype") + b"00",  # POP POP: os.system on top
    _unicode("os") + _unicode("system") + _unicode("numpy") + _unicode("dtype") + b"\x86" + b"0",  # TUPLE2 POP
    _unicode("os") + b"\x94\x94" + _unicode("system") + b"\x94" + b"00" + b"h\x01h\x02",  # memo reads
])
def test_a_global_hidden_behind_stack_tricks_is_refused(body: bytes) -> None:
    with pytest.raises(WeightsError, match="refused"):
        scan_globals(b"\x80\x04" + body + b"\x93.", "tricky.pkl")  # ... STACK_GLOBAL STOP


def test_forbidden_opcodes_and_truncation_are_refused(tmp_path: Path) -> None:
    inst = b"(ios\nsystem\nS'true'\ntp0\n."  # protocol 0's INST opcode imports and calls in one step
    with pytest.raises(WeightsError, match="INST"):
        scan_globals(inst, "inst.pkl")
    good = pickle.dumps(_release_layers("boopathy-smallgap"), protocol=3)
    with pytest.raises(WeightsError, match="not a complete pickle"):
        scan_globals(good[: len(good) // 2], "cut.pkl")


def test_only_float_arrays_come_out(tmp_path: Path) -> None:
    path = tmp_path / "ints.pkl"
    path.write_bytes(pickle.dumps([(np.arange(4),)], protocol=3))
    with pytest.raises(WeightsError, match="int64 values, not floats"):
        read_release_pickle(path, None)
    path.write_bytes(pickle.dumps({"w": np.zeros(2, np.float32)}, protocol=3))
    with pytest.raises(WeightsError, match="list of layers"):
        read_release_pickle(path, None)


# ----------------------------------------------------------------------------------------------- the port
def test_tensorflow_same_padding_puts_the_odd_pixel_last() -> None:
    assert same_padding(28, 4, 2) == (1, 1)  # smallgap's first convolution on MNIST
    assert same_padding(7, 7, 1) == (3, 3)
    assert same_padding(32, 3, 2) == (0, 1)  # wresnet's stride-2 convolutions: one pixel, at the end
    assert same_padding(28, 2, 2) == (0, 0)


def _tf_conv_same(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """TensorFlow's conv2d with "SAME" padding written out by hand: x [H, W, C] (NHWC, one image), w [kh, kw, C,
    O]."""
    h, wd, _ = x.shape
    k = w.shape[0]
    top, _ = same_padding(h, k, stride)
    left, _ = same_padding(wd, k, stride)
    out_h, out_w = -(-h // stride), -(-wd // stride)
    out = np.zeros((out_h, out_w, w.shape[3]), np.float64)
    for i in range(out_h):
        for j in range(out_w):
            for di in range(k):
                for dj in range(k):
                    r, c = i * stride + di - top, j * stride + dj - left
                    if 0 <= r < h and 0 <= c < wd:
                        out[i, j] += x[r, c] @ w[di, dj]
    return out + b


def _authors_forward(x: np.ndarray, layers: list[tuple[np.ndarray, ...]], arch: str) -> np.ndarray:
    """The authors' load_model.predict for one image, by hand: first conv on the raw input, ReLU before every later
    conv, 2x2 max-pools on the previous output, spatial mean of the last map times the class weights."""
    net = build_model(arch, "mnist").net
    assert isinstance(net, ReleaseCamNet)
    for i, spec in enumerate(net.specs):
        if spec.pool:
            h, w, c = x.shape
            x = x.reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))
        else:
            x = _tf_conv_same(x if i == 0 else np.maximum(x, 0), layers[i][0], layers[i][1], spec.stride)
    return x.mean(axis=(0, 1)) @ layers[-1][0][0, 0]


@pytest.mark.parametrize("arch", ["boopathy-smallgap", "boopathy-pool"])
def test_the_port_computes_what_the_authors_network_computes(arch: str, tmp_path: Path) -> None:
    layers = _release_layers(arch, seed=3)
    net = build_model(arch, "mnist").net
    assert isinstance(net, ReleaseCamNet)
    net.load_state_dict(net.load_release(layers, "test"))
    image = np.random.RandomState(4).rand(28, 28, 1).astype(np.float32)
    expected = _authors_forward(image.astype(np.float64), layers, arch)
    got = net(torch.from_numpy(image).permute(2, 0, 1)[None]).detach().numpy()[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    cams = net.cam(torch.from_numpy(image).permute(2, 0, 1)[None])
    torch.testing.assert_close(cams.mean(dim=(2, 3))[0], torch.from_numpy(got))


def test_the_residual_shortcut_pools_and_pads_channels_evenly() -> None:
    net = build_model("boopathy-wresnet", "cifar10").net
    assert isinstance(net, ReleaseCamNet)
    assert len([s for s in net.specs if not s.pool]) == 31
    with torch.no_grad():
        for conv in net.layers:
            conv.weight.zero_()
            conv.bias.fill_(1.0)
    x = torch.rand(1, 3, 32, 32)
    # every conv then outputs its bias, 1; a residual conv at layer i outputs 1 + (layer i-2's output, average-
    # pooled and zero-padded evenly in channels where shapes change). By hand: stage 1 ends at 1 + 5 = 6; stage 2
    # carries it in channels 8..24 (6 + 1 + 4 = 11) beside 5 in the padded ones; stage 3 carries those in channels
    # 16..48 and adds 5 more: 16 in the middle 16 channels, 10 beside them, 5 in the outer 16 padded ones
    maps = net.features(x)
    assert maps.shape == (1, 64, 8, 8)
    expected = torch.tensor([5.0] * 16 + [10.0] * 8 + [16.0] * 16 + [10.0] * 8 + [5.0] * 16)
    torch.testing.assert_close(maps[0].mean(dim=(1, 2)), expected)
    torch.testing.assert_close(maps[0].amin(dim=(1, 2)), expected)


# ----------------------------------------------------------------------------------------------- cards and the zoo
def test_every_mnist_network_of_the_release_is_in_the_zoo_with_its_provenance() -> None:
    release = get_release(RELEASE)
    files = release_files(RELEASE, "mnist")
    assert len(files) == 24
    cards = {c.weights_file: c for c in list_cards("mnist") if c.from_release}
    assert sorted(cards) == files
    for file, card in cards.items():
        assert card.weights_sha256 == release.networks[file]
        assert card.provenance["repository"] == release.repository
        assert card.provenance["commit"] == release.commit and card.provenance["license"] == "MIT"
        assert card.provenance["url"].endswith(f"/networks/{file}")
        assert card.provenance["n_test"] == 10000 and 0.8 < card.provenance["test_accuracy"] < 1.0
        # the committed card is what `rib release` writes, plus the claims `rib verify --zoo --write-claims` wrote
        assert card.to_dict() == release_card_data(RELEASE, file) | {"provenance": card.provenance,
                                                                      "claims": card.claims}
        assert card.claims[0] == {"attack": "clean", "metric": "clean_accuracy", "n": 10000,
                                  "value": card.provenance["test_accuracy"]}


def test_rib_ls_models_lists_the_authors_networks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "models", "--wide"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("boopathy-")]
    assert len(rows) == 24 and all("authors (boopathy2020)" in r for r in rows)
    assert any(r.startswith("boopathy-pool-normal ") and "97.40%" in r for r in rows)


@needs_release
def test_an_authors_network_loads_by_name_with_the_papers_accuracy() -> None:
    model = create_model("boopathy-smallgap-normal")
    assert model.supports_cam and model.card is not None and model.card.from_release
    from rib import load_dataset
    from rib.evaluation import accuracy

    x, y = load_dataset("mnist", "test")
    assert accuracy(model, x[:2000], y[:2000]) > 0.97


@needs_release
def test_a_users_card_for_another_file_of_the_release_loads_and_runs(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    file = "mnist_smallgap_trades_100.pkl"  # any file of the release: the card names it and its sha256
    _user_card(tmp_path / "models", file, get_release(RELEASE).networks[file])
    code = main(["run", "--model", "my-boopathy", "--attack", "boopathy-pgd-linf", "--eps", "0.1", "--n", "10",
                 "--models-dir", str(tmp_path / "models"), "--results", str(tmp_path / "results"), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "my-boopathy  boopathy-pgd-linf  10" in out and "linf 0.1" in out
    # what the protocol measured becomes a claim rib verify can re-measure (at an eps outside rib's grid too)
    card = find_card("my-boopathy", models_dir=tmp_path / "models")
    card.provenance = {"test_accuracy": 0.9687, "n_test": 10000}
    claims = release_claims(card, tmp_path / "results")
    assert claims[0] == {"attack": "clean", "metric": "clean_accuracy", "value": 0.9687, "n": 10000}
    assert claims[1]["attack"] == "boopathy-pgd-linf" and claims[1]["eps"] == 0.1 and claims[1]["n"] == 10
    card.claims = [{**claims[1], "eps": 0.05, "n": 200}, claims[0]]
    assert claim_errors(card) == []


def test_a_truncated_release_file_and_a_sha256_mismatch_each_get_one_line(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("RIB_DATA_DIR", str(data))
    path = _write_release_file(data, "mnist_smallgap_cut_100.pkl", _release_layers("boopathy-smallgap"))
    path.write_bytes(path.read_bytes()[:-40])
    models = tmp_path / "models"
    _user_card(models, path.name, sha256_file(path))
    argv = ["run", "--model", "my-boopathy", "--attack", "pgd-linf", "--n", "4", "--models-dir", str(models),
            "--results", str(tmp_path / "results")]
    assert main(argv) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a complete pickle" in err
    _user_card(models, path.name, "0" * 64)
    assert main(argv) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sha256" in err and "refusing to load" in err
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.parquet"))


def test_a_missing_file_offline_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path / "empty"))
    card = read_card(_user_card(tmp_path / "models", "mnist_smallgap_normal_100.pkl", "a" * 64))
    with pytest.raises(WeightsError, match=r"RIB_OFFLINE is set.*paper-models/boopathy2020"):
        _ = card.weights_path


def test_cards_name_only_known_releases_and_pkl_files(tmp_path: Path) -> None:
    data = release_card_data(RELEASE, "mnist_pool_adv_100.pkl")
    with pytest.raises(UnknownNameError, match=r"unknown release 'boopathy2021'.*did you mean 'boopathy2020'"):
        ModelCard.from_dict({**data, "weights": {**data["weights"], "release": "boopathy2021"}})
    with pytest.raises(ConfigError, match=r"ending in \.pkl"):
        ModelCard.from_dict({**data, "weights": {**data["weights"], "file": "net.safetensors"}})
    with pytest.raises(UnknownNameError, match="not a file of release"):
        release_card_data(RELEASE, "mnist_pool_nothing_100.pkl")


@needs_release
def test_the_cifar10_networks_load_and_run_on_a_fabricated_batch(tmp_path: Path) -> None:
    written = write_release_cards(RELEASE, tmp_path, dataset="cifar10", trainings=["adv"], measure=False)
    assert sorted(p.name for p in written) == ["boopathy-smallgap-adv.toml", "boopathy-wresnet-adv.toml"]
    x = torch.rand(2, 3, 32, 32)
    for path in written:
        card = read_card(path)
        model = create_model(card.id, "cifar10", models_dir=tmp_path)
        logits = model(x)
        assert logits.shape == (2, 10) and torch.isfinite(logits).all()
        torch.testing.assert_close(model.cam(x).mean(dim=(2, 3)), logits, rtol=1e-4, atol=1e-4)
        assert F.softmax(logits, 1).sum(1).allclose(torch.ones(2))


@needs_release
def test_release_files_are_read_from_the_data_folder_never_from_the_repository() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert not list((repo / "models").rglob("*.pkl"))
    path = find_card("boopathy-pool-int").weights_path
    assert path == Path(os.environ["RIB_DATA_DIR"]) / "paper-models" / RELEASE / "mnist_pool_int_100.pkl"
