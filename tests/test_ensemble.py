"""The headline worst case and the cascade's input selection, on per-example tables built by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from rib.ensemble import cascade_survivors, worst_case
from rib.errors import ConfigError


def _rows(cell_id: str, indices: range | list[int], fooled: set[int], eps: float = 0.3,
          cascaded: set[int] | None = None) -> list[dict]:
    cascaded = cascaded or set()
    return [{"cell_id": cell_id, "index": i, "eps": eps, "clean_correct": True, "robust": i not in fooled | cascaded,
             "cascaded": i in cascaded} for i in indices]


CELLS = pd.DataFrame([
    {"cell_id": "pgd", "model": "m", "attack": "pgd-linf", "norm": "linf", "kind": "white-box"},
    {"cell_id": "sq", "model": "m", "attack": "square-linf", "norm": "linf", "kind": "black-box"},
    {"cell_id": "aa", "model": "m", "attack": "autoattack-linf", "norm": "linf", "kind": "ensemble"},
])


def test_worst_case_is_per_example_over_the_ensemble_subset() -> None:
    # PGD fools {0, 1} of 20 images; Square fools {2, 3} of the first 10; AutoAttack, after PGD, runs on the
    # first 10 minus {0, 1} and fools {4}: the worst case on those 10 is 5 fooled of 10.
    ex = pd.DataFrame(_rows("pgd", range(20), {0, 1}) + _rows("sq", range(10), {2, 3})
                      + _rows("aa", range(10), {4}, cascaded={0, 1}))
    out = worst_case(ex, CELLS).iloc[0]
    assert (out["value"], out["n"], out["attacks"], bool(out["ensemble"])) == (0.5, 10, 3, True)
    assert out["ci_low"] < 0.5 < out["ci_high"]


def test_without_an_ensemble_cell_the_worst_case_is_over_the_common_images_only() -> None:
    # PGD on 20 images, Square on the first 10: the worst case is taken on the 10 both tried, never a mix of
    # PGD's 20 and Square's 10 (which would give 16/20)
    ex = pd.DataFrame(_rows("pgd", range(20), {0, 1}) + _rows("sq", range(10), {2, 3}))
    out = worst_case(ex, CELLS).iloc[0]
    assert (out["value"], out["n"], bool(out["ensemble"])) == (6 / 10, 10, False)


def test_an_example_fooled_at_a_smaller_eps_is_fooled_at_every_larger_one() -> None:
    # at eps 0.1 PGD fools {5}; at 0.2 nothing attacks 5 successfully, yet it lies in the larger ball too
    ex = pd.DataFrame(_rows("pgd", range(10), {5}, eps=0.1) + _rows("pgd", range(10), {0}, eps=0.2))
    out = worst_case(ex, CELLS).set_index("eps")
    assert (out.loc[0.1, "value"], out.loc[0.2, "value"]) == (0.9, 0.8)


def test_adding_a_weak_attack_on_more_images_cannot_raise_the_headline() -> None:
    base = _rows("pgd", range(10), {0, 1}) + _rows("aa", range(10), {2}, cascaded={0, 1})
    weak = _rows("fgsm", range(1000), set())
    cells = pd.concat([CELLS, pd.DataFrame([{"cell_id": "fgsm", "model": "m", "attack": "fgsm-linf", "norm": "linf",
                                             "kind": "white-box"}])])
    before = worst_case(pd.DataFrame(base), cells).iloc[0]
    after = worst_case(pd.DataFrame(base + weak), cells).iloc[0]
    assert (before["value"], before["n"]) == (after["value"], after["n"]) == (0.7, 10)


def test_an_apgd_cell_on_more_images_cannot_widen_autoattacks_image_set() -> None:
    # AutoAttack ran on the first 10 images; an ad-hoc APGD cell at the same eps on 20: the worst case stays on the
    # 10 that faced AutoAttack (images 10-19 faced only APGD and PGD, and would raise it to 13/20)
    apgd = _rows("apgd", range(20), {0, 1, 2})
    cells = pd.concat([CELLS, pd.DataFrame([{"cell_id": "apgd", "model": "m", "attack": "apgd-linf", "norm": "linf",
                                             "kind": "ensemble"}])])
    base = _rows("pgd", range(20), {0, 1}) + _rows("aa", range(10), {2, 3}, cascaded={0, 1})
    out = worst_case(pd.DataFrame(base + apgd), cells).iloc[0]
    assert (out["value"], out["n"], bool(out["ensemble"])) == (0.6, 10, True)
    alone = worst_case(pd.DataFrame(_rows("pgd", range(20), {0, 1}) + apgd), cells).iloc[0]
    assert (alone["value"], alone["n"], bool(alone["ensemble"])) == (17 / 20, 20, True)  # the pair alone sets it


def test_cascade_survivors_skip_what_earlier_stages_fooled() -> None:
    prior = pd.DataFrame(_rows("pgd", range(20), {0, 1, 15}) + _rows("apgd", range(10), {3}))
    assert cascade_survivors(prior, range(10), 0.3).tolist() == [2, 4, 5, 6, 7, 8, 9]


def test_cascade_refuses_a_stage_that_did_not_try_every_example() -> None:
    prior = pd.DataFrame(_rows("pgd", range(5), set()))
    with pytest.raises(ConfigError, match="did not try 5 of the 10"):
        cascade_survivors(prior, range(10), 0.3)
