"""The one-of-each helpers: atomic writes, batches, the 95% z, the step-size rule, parameters, the row type."""

from __future__ import annotations

import math
import os
import typing
from pathlib import Path

import pytest
import torch
from rib.attacks.pgd import default_step_size
from rib.batching import batch_slices, batches
from rib.errors import ConfigError
from rib.files import atomic_copy, atomic_write, atomic_write_bytes, atomic_write_text, temp_files
from rib.params import Parameterized
from rib.stats import Z_95, mean_interval, wilson_interval
from rib.store import SUMMARY_SCHEMA, SummaryRow


def test_atomic_writes_replace_whole_files_and_leave_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.txt"
    assert atomic_write_text(path, "één\n") == path and path.read_bytes() == "één\n".encode()
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    atomic_copy(path, tmp_path / "b.bin")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
    assert not temp_files(path) and not list(tmp_path.rglob("*.tmp"))


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = atomic_write_text(tmp_path / "a.txt", "old")

    def fail(fh: typing.BinaryIO) -> None:
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_text() == "old" and not temp_files(path)


def test_batches_cover_every_item_in_order() -> None:
    assert batch_slices(0, 3) == []
    assert batch_slices(7, 3) == [slice(0, 3), slice(3, 6), slice(6, 9)]
    x, y = torch.arange(7), torch.arange(7) * 10
    parts = batches(x, y, batch_size=3)
    assert [len(a) for a, _ in parts] == [3, 3, 1]
    assert torch.equal(torch.cat([b for _, b in parts]), y)
    with pytest.raises(ValueError):
        batches(x, y[:3], batch_size=2)
    with pytest.raises(ValueError):
        batch_slices(3, 0)


def test_one_z_for_both_intervals() -> None:
    assert Z_95 == 1.959963984540054
    mean, n, (lo, hi) = mean_interval(torch.tensor([1.0, 2.0, 3.0, math.nan]))
    assert (mean, n) == (2.0, 3) and hi - mean == mean - lo == pytest.approx(Z_95 * 1.0 / math.sqrt(3))
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0


def test_step_size_rule_keeps_its_arithmetic() -> None:
    for eps, steps, rel in ((0.3, 40, 2.5), (8 / 255, 10, 2.5), (1.5, 0, 2), (0.5, 7, 0.75)):
        assert default_step_size(eps, steps, rel) == rel * eps / max(steps, 1)
    eps_t = torch.tensor([0.1, 0.3])
    assert torch.equal(default_step_size(eps_t, 40), 2.5 * eps_t / 40)


def test_parameterized_lists_known_parameters() -> None:
    class Thing(Parameterized):
        params_kind, name = "widget", "w"

    thing = Thing()
    thing.set_params({"a": 1, "b": 2}, {"b": 3})
    assert thing.params == {"a": 1, "b": 3}
    with pytest.raises(ConfigError, match=r"widget 'w' has no parameter c, d \(known: a, b\)"):
        thing.set_params({"a": 1, "b": 2}, {"c": 0, "d": 0})
    with pytest.raises(ConfigError, match=r"\(known: none\)"):
        thing.set_params({}, {"c": 0})


def test_summary_row_type_matches_the_schema() -> None:
    assert list(typing.get_type_hints(SummaryRow)) == SUMMARY_SCHEMA.names
