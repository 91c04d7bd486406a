"""A training killed mid-epoch (SIGKILL) resumes from its last checkpoint and ends bit-identical on the CPU."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rib.defenses.loop import TrainConfig, load_checkpoint, lr_factor

_SCRIPT = r'''
import os, signal, sys
from pathlib import Path
import torch
from rib import load_dataset
from rib.defenses import TrainContext, create_defense
from rib.defenses.loop import Checkpoint, TrainConfig, fit
from rib.zoo import build_model

out, kill_at = Path(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
torch.set_num_threads(1)
model = build_model("tiny", "mnist-5k")
defense = create_defense("adv-linf", "mnist-5k", {"steps": 2, "step_size": 0.15, "ramp": 0.3})
calls = 0
loss = defense.loss
def counting_loss(*args, **kwargs):
    global calls
    calls += 1
    if calls == kill_at:  # mid-epoch: the checkpoint of the epoch before is on disk
        os.kill(os.getpid(), signal.SIGKILL)
    return loss(*args, **kwargs)
defense.loss = counting_loss
x, y = load_dataset("mnist-5k", "train")
ctx = TrainContext("mnist-5k", torch.device("cpu"), torch.Generator().manual_seed(1))
cfg = TrainConfig(epochs=3, batch_size=50, schedule="onecycle", lr=2e-3)
fit(model, defense, x[:400], y[:400], cfg, ctx, checkpoint=Checkpoint(out / "run.pt", "k"))
torch.save(model.state_dict(), out / "final.pt")
'''


def _train(folder: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
    folder.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-c", _SCRIPT, str(folder), str(kill_at)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_a_killed_training_resumes_bit_identical(tmp_path: Path) -> None:
    whole = _train(tmp_path / "whole", kill_at=0)
    assert whole.returncode == 0, whole.stderr
    cut = _train(tmp_path / "cut", kill_at=8 + 4)  # 8 batches an epoch: killed in the middle of the second epoch
    assert cut.returncode == -9 and not (tmp_path / "cut" / "final.pt").exists()
    state = load_checkpoint(tmp_path / "cut" / "run.pt", "k")
    assert state is not None and state["epoch"] == 1 and state["step"] == 8
    resumed = _train(tmp_path / "cut", kill_at=0)
    assert resumed.returncode == 0, resumed.stderr
    a = torch.load(tmp_path / "whole" / "final.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "final.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a checkpoint of another run (another key) is not resumed from
    assert load_checkpoint(tmp_path / "cut" / "run.pt", "other") is None


def test_a_damaged_checkpoint_is_refused_in_one_line(tmp_path: Path) -> None:
    from rib.errors import RibError

    path = tmp_path / "run.pt"
    path.write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(RibError, match=r"run.pt is not a readable training checkpoint .*delete it"):
        load_checkpoint(path, "k")


def test_onecycle_warms_up_then_anneals() -> None:
    f = lr_factor(TrainConfig(schedule="onecycle", warmup=0.25), total=100)
    values = [f(s) for s in range(101)]
    assert values[0] == pytest.approx(1 / 25) and values[25] == pytest.approx(1.0)
    assert all(a < b for a, b in itertools.pairwise(values[:26]))
    assert all(a >= b for a, b in itertools.pairwise(values[25:])) and values[100] < 1e-3
