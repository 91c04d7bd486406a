"""Plugins: a module outside rib registers an attack, a metric, a defense, a dataset and its recipes; rib trains the
defense, runs the attack and the metric, and renders them on the board, with no file of rib edited."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rib.errors import ConfigError
from rib.plugins import load_plugins, plugin_names

PLUGIN = '''
"""A user's plugin for rib: a toy dataset, an attack, a metric, a defense and the dataset's recipes."""
from pathlib import Path

import torch
import torch.nn.functional as F

from rib.attacks import ATTACKS, FixedEpsAttack
from rib.data import DATASETS, DatasetInfo
from rib.defenses import DEFENSES
from rib.defenses.base import Defense
from rib.explain.degenerate import Values
from rib.explain.metric_base import METRICS, Metric
from rib.zoo.recipes import register_recipes


def _halves(split):
    """Two classes: which half of the image is brighter."""
    gen = torch.Generator().manual_seed({"train": 0, "test": 1}[split])
    n = 300 if split == "train" else 80
    y = torch.arange(n) % 2
    x = torch.rand(n, 1, 28, 28, generator=gen) * 0.5
    x[y == 1, :, :14] += 0.5
    x[y == 0, :, 14:] += 0.5
    return x.clamp(0, 1), y


DATASETS.register("toy-halves", DatasetInfo(
    "toy-halves", "toy", (1, 28, 28), 2, (0.5,), (0.3,), {"linf": (0.1, 0.2), "l2": (1.0, 2.0)},
    {"linf": 0.2, "l2": 2.0}, 80, "two classes: the brighter half (a plugin's dataset)", True, _halves,
    val_per_class=10))


@ATTACKS.decorator("sign-noise-linf")
class SignNoise(FixedEpsAttack):
    """A random corner of the Linf ball (a plugin's attack)."""

    norm_name = "linf"

    def attack_batch(self, model, x, y, eps, generator):
        noise = torch.rand(x.shape, generator=generator, device=x.device) - 0.5
        return (x + eps * torch.sign(noise)).clamp(0, 1)


@METRICS.decorator("mean-input")
class MeanInput(Metric):
    """The mean pixel of the inputs (a plugin's metric)."""

    outputs = ("mean-input",)
    higher_is_better = None
    description = "mean pixel of the input"
    baselines = ()

    def compute(self, inputs):
        return {"mean-input": Values.of(inputs.inputs().flatten(1).mean(1))}


@DEFENSES.decorator("noisy-training")
class NoisyTraining(Defense):
    """Cross-entropy on Gaussian-noised inputs (a plugin's defense)."""

    paper = "a plugin"
    PARAMS = ("sigma",)

    def loss(self, model, x, y, aux, progress, generator):
        noise = torch.randn(x.shape, generator=generator, device=x.device) * float(self.params["sigma"])
        ce = F.cross_entropy(model((x + noise).clamp(0, 1)), y)
        return ce, {"ce": ce.item()}


register_recipes("toy-halves", Path(__file__).with_name("toy_recipes.toml"))
'''

RECIPES = '''
dataset = "toy-halves"

[defenses.noisy-training]  # the defense's settings on this dataset
sigma = 0.1

[defaults]
arch = "tiny"

[defaults.training]
epochs = 1
batch_size = 50
optimizer = "adam"
lr = 0.01
schedule = "constant"

[models.noisy]
defense = "noisy-training"
description = "noisy training on the toy dataset"
params = { sigma = 0.2 }
'''


def _rib(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rib.cli", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env=env)


def test_a_plugin_brings_attack_metric_defense_dataset_and_recipes(tmp_path: Path) -> None:
    (tmp_path / "toyplugin.py").write_text(textwrap.dedent(PLUGIN))
    (tmp_path / "toy_recipes.toml").write_text(RECIPES)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    plug = ["--plugin", "toyplugin"]
    out = _rib(*plug, "train", "--model", "noisy", "--dataset", "toy-halves", "--out", "zoo", "--device", "cpu",
               "--quiet", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    card = (tmp_path / "zoo" / "toy-halves" / "noisy.toml").read_text()
    assert "sigma = 0.2" in card  # the model's params over the defense's settings in the recipe file
    out = _rib(*plug, "run", "--model", "noisy", "--attack", "sign-noise-linf", "--dataset", "toy-halves", "--n",
               "40", "--metrics", "mean-input", "--models-dir", "zoo", "--results", "res", "--quiet",
               cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "sign-noise-linf" in out.stdout and "mean-input" in out.stdout
    out = _rib(*plug, "report", "--results", "res", "--out", "site", "--models-dir", "zoo", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    index = (tmp_path / "site" / "index.html").read_text()
    assert "toy-halves" in index and "noisy" in index
    assert (tmp_path / "site" / "models" / "toy-halves" / "noisy.html").is_file()
    # the same names without the plugin: unknown, in one line
    out = _rib("run", "--model", "noisy", "--attack", "sign-noise-linf", "--dataset", "toy-halves",
               "--models-dir", "zoo", cwd=tmp_path, env={**env, "RIB_PLUGINS": ""})
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    # $RIB_PLUGINS does what --plugin does
    out = _rib("ls", "attacks", cwd=tmp_path, env={**env, "RIB_PLUGINS": "toyplugin"})
    assert out.returncode == 0 and "sign-noise-linf" in out.stdout


def test_a_plugin_that_fails_to_import_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIB_PLUGINS", "no_such_rib_plugin_module, another")
    assert plugin_names(["first"]) == ["first", "no_such_rib_plugin_module", "another"]
    with pytest.raises(ConfigError, match=r"plugin 'first' could not be imported: ModuleNotFoundError"):
        load_plugins(["first"])
