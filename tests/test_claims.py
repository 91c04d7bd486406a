"""Claims as data, judged at every eps of the paper's range: paired tests per model pair and eps, Holm-corrected,
never decided on upper bounds, summarized as the eps range where a claim holds, is contradicted or cannot be told."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from rib.claims import load_claims
from rib.claims.evidence import Evidence, Outcomes, Side
from rib.claims.judge import (
    eps_range,
    holm,
    judge,
    metric_comparisons,
    overall,
    paired_comparisons,
    smallest_p,
)
from rib.claims.spec import ClaimSpec, Role, parse_paper
from rib.errors import ConfigError
from rib.stats import exact_spearman_p


def _cell(model: str, cell_id: str, attack: str, eps: float, robust: list[bool],
          sample: str = "") -> tuple[list[dict], list[dict]]:
    norm = "l2" if attack.endswith("l2") else "linf"
    n = len(robust)
    params = f'{{"sample": "{sample}"}}' if sample else "{}"
    base = {"cell_id": cell_id, "model": model, "dataset": "mnist", "attack": attack, "norm": norm, "n": n,
            "ci_low": 0.0, "ci_high": 1.0, "params": params}
    summary = [{**base, "metric": "clean_accuracy", "eps": 0.0, "value": 1.0},
               {**base, "metric": "robust_accuracy", "eps": eps, "value": sum(robust) / n}]
    examples = [{"cell_id": cell_id, "index": i, "eps": eps, "clean_correct": True, "robust": r,
                 "distance": float("nan")} for i, r in enumerate(robust)]
    return summary, examples


def _evidence(*cells: tuple[list[dict], list[dict]]) -> Evidence:
    return Evidence(pd.DataFrame([r for s, _ in cells for r in s]), "mnist",
                    pd.DataFrame([e for _, ex in cells for e in ex]))


def _claim(eps: tuple[float, ...], focus: tuple[float, ...] = (), **kw: object) -> ClaimSpec:
    left = Role("l", "left", {"rib": ("a",), "authors": ("a2",)})
    right = Role("r", "right", {"rib": ("b",), "authors": ("b2",)})
    return ClaimSpec(id="x", paper="P", statement="s", test="worst-case", left=left, right=right, norm="linf",
                     eps=eps, focus=focus, **kw)  # type: ignore[arg-type]


def test_holm_adjusts_step_down_and_keeps_order() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]
    assert holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])


def test_a_claim_is_judged_at_every_eps_and_summarized_as_a_range() -> None:
    cells = []
    for i, eps in enumerate((0.1, 0.2, 0.3, 0.4)):
        half = [True] * 30 + [False] * 30  # b keeps the same 30 images up to 0.3 (a worst case only shrinks)
        if eps <= 0.2:  # a more robust than b at small eps, the other way round at 0.3, both 0% at 0.4
            a, b = [True] * 60, half
        elif eps == 0.3:
            a, b = [False] * 60, half
        else:
            a = b = [False] * 60
        cells += [_cell("a", f"a{i}", "autoattack-linf", eps, a), _cell("b", f"b{i}", "autoattack-linf", eps, b)]
    [j] = [j for j in judge(_claim((0.05, 0.1, 0.2, 0.3, 0.4)), _evidence(*cells)) if j.source == "rib"]
    assert j.range == "no data at 0.05; holds at 0.1-0.2; contradicted at 0.3; both 0% at 0.4"
    assert j.verdict == "mixed"
    tested = [c for c in j.comparisons if c.p is not None]
    assert len(tested) == 3 and all(c.p_holm is not None and c.p_holm >= c.p for c in tested)
    [j] = [j for j in judge(_claim((0.1, 0.2, 0.3, 0.4), focus=(0.3, 0.4)), _evidence(*cells)) if j.source == "rib"]
    assert j.verdict == "does not hold"  # the paper's focus eps decide the verdict; the range says the rest


def test_a_comparison_on_upper_bounds_is_not_tested() -> None:
    # the same images, the same outcomes, but only PGD ran on b: its worst case is an upper bound a stronger attack
    # could lower, so the comparison is not decided however large the gap
    ev = _evidence(_cell("a", "1", "autoattack-l2", 3.5, [False] * 60), _cell("b", "2", "pgd-l2", 3.5, [True] * 60))
    comps = paired_comparisons([("b", "a")], [3.5], lambda m, e: ev.worst_outcomes(m, "l2", e), need_ensemble=True)
    assert comps[0].status == "upper bound only" and comps[0].p is None


def test_holm_can_undo_a_single_significant_eps() -> None:
    # 9 discordant images of 60 at one eps (exact p = 2 / 2^9 ~ 0.004): alone it holds; among 14 comparisons the
    # others of which are ties, Holm multiplies it by 14 (> 0.05) and it cannot be told
    def fn(model: str, eps: float) -> Outcomes:
        robust = [True] * 60
        if model == "b" and eps == 0.2:
            robust = [False] * 9 + [True] * 51
        elif model == "b":
            robust = [False] + [True] * 58 + [False]
        elif eps != 0.2:
            robust = [True] * 59 + [False]
        return Outcomes(pd.Series(robust), True, "test")

    alone = paired_comparisons([("a", "b")], [0.2], fn, need_ensemble=True)
    assert alone[0].status == "holds" and alone[0].p == pytest.approx(2 / 2**9)
    eps_list = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35]
    many = paired_comparisons([("a", "b"), ("a", "b")], eps_list, fn, need_ensemble=True)
    assert len(many) == 14 and {c.status for c in many} == {"cannot tell"}
    assert min(c.p_holm for c in many if c.p_holm is not None) == pytest.approx(14 * 2 / 2**9)


def test_the_authors_networks_are_judged_on_their_own_images_and_protocol() -> None:
    claim = _claim((0.35,), authors_protocol="boopathy-pgd-linf", authors_sample="boopathy2020")
    cells = [_cell("a2", "p1", "boopathy-pgd-linf", 0.35, [True] * 40, "boopathy2020"),
             _cell("b2", "p2", "boopathy-pgd-linf", 0.35, [False] * 40, "boopathy2020"),
             _cell("a2", "w1", "autoattack-linf", 0.35, [False] * 40, "boopathy2020"),
             _cell("b2", "w2", "autoattack-linf", 0.35, [False] * 40, "boopathy2020")]
    by = {j.source: j for j in judge(claim, _evidence(*cells))}
    assert by["authors-protocol"].verdict == "reproduced"  # what the paper measured: an upper bound, not a verdict
    assert "upper bound" in by["authors-protocol"].detail
    assert by["authors"].range == "both 0% at 0.35"  # rib's strength on the same images erases it
    assert by["rib"].verdict == "no data"


def test_metric_claims_compare_means_by_their_intervals() -> None:
    sides = {"a": Side("a", 0.8, 200, (0.78, 0.82)), "b": Side("b", 0.5, 200, (0.48, 0.52)),
             "c": Side("c", 0.79, 200, (0.77, 0.81))}
    comps = metric_comparisons([("a", "b"), ("a", "c")], [0.0], lambda m, e: sides[m])
    assert [c.status for c in comps] == ["holds", "cannot tell"]
    assert eps_range(comps)[1] == "mixed" or eps_range(comps)[0] == {0.0: "holds"}


def test_rank_correlations_state_their_power() -> None:
    assert smallest_p(4) == pytest.approx(2 / 24)  # a four-model ladder can never reach p < 0.05
    rho, p = exact_spearman_p([1, 2, 3, 4], [10, 20, 30, 40])
    assert rho == pytest.approx(1.0) and p == pytest.approx(2 / 24)


def test_the_exact_rank_correlation_p_value_counts_every_ordering_with_ties() -> None:
    from itertools import permutations

    from scipy.stats import spearmanr

    x, y = [0.0, 0.0, 0.1, 0.3, 0.3, 0.9], [0.2, 0.5, 0.5, 0.4, 0.8, 0.9]
    rho = float(spearmanr(x, y)[0])
    orderings = [abs(float(spearmanr(x, [y[i] for i in order])[0])) for order in permutations(range(len(y)))]
    expected = sum(r >= abs(rho) - 1e-12 for r in orderings) / len(orderings)
    assert exact_spearman_p(x, y) == pytest.approx((rho, expected))
    assert 0 < expected < 1


def test_the_outcome_at_one_eps_does_not_depend_on_what_sits_beside_it() -> None:
    from rib.claims.judge import _combine

    assert _combine({"holds", "cannot tell", "upper bound only"}) == "holds"
    assert _combine({"holds", "both 0%", "upper bound only"}) == "holds"
    assert _combine({"contradicted", "both 0%", "no data"}) == "contradicted"
    assert _combine({"holds", "contradicted", "cannot tell"}) == "mixed"
    assert _combine({"upper bound only", "both 0%"}) == "upper bound only"
    assert exact_spearman_p([1, 2, 3, 4], [5, 5, 5, 5])[1] == 1.0  # a constant side: no evidence


def test_overall_verdicts() -> None:
    assert overall({0.1: "holds", 0.2: "cannot tell"}, ()) == "holds"
    assert overall({0.1: "holds", 0.2: "contradicted"}, ()) == "mixed"
    assert overall({0.1: "both 0%"}, ()) == "inconclusive"
    assert overall({0.1: "no data"}, ()) == "no data"
    assert overall({0.1: "holds", 0.4: "contradicted"}, (0.4,)) == "does not hold"


def test_the_shipped_claims_are_data_with_known_roles() -> None:
    claims = load_claims()
    by = {c.id: c for c in claims}
    assert {c.paper for c in claims} == {"Boopathy et al. 2020", "Chalasani et al. 2020", "Etmann et al. 2019",
                                         "Noack et al. 2019", "Ross & Doshi-Velez 2018"}
    boopathy = by["int-vs-adv"]
    assert boopathy.eps == (0.05, 0.1, 0.2, 0.3, 0.35, 0.4) and boopathy.focus == (0.35, 0.4)
    assert boopathy.pairs("authors") == [("boopathy-smallgap-int", "boopathy-smallgap-adv"),
                                         ("boopathy-pool-int", "boopathy-pool-adv")]
    assert boopathy.pairs("rib") == [("proper-int", "adv-linf")]
    assert by["ir-vs-standard-linf"].eps == (0.1, 0.2, 0.25, 0.3)  # Noack et al.'s grid
    assert by["gradient-reg-fgsm"].paper_numbers[0.1] == (0.922, 0.727)
    assert not by["gini-adv-vs-standard"].paper_numbers  # no table gives them
    assert by["alignment-vs-distance"].duplicates == (("gradient-reg", "lipschitz-1"),)


def test_a_malformed_paper_file_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown test 'bigger'"):
        parse_paper({"paper": "P", "roles": {"a": {"label": "A"}},
                     "claims": [{"id": "x", "statement": "s", "test": "bigger", "left": "a"}]}, "p")
    with pytest.raises(ConfigError, match="missing or unknown name 'nobody'"):
        parse_paper({"paper": "P", "roles": {"a": {"label": "A"}},
                     "claims": [{"id": "x", "statement": "s", "test": "metric", "left": "a", "right": "nobody"}]}, "p")


def test_values_are_finite_or_missing() -> None:
    [j] = [j for j in judge(_claim((0.1,)), _evidence()) if j.source == "rib"]
    assert j.verdict == "no data" and j.left is None and math.isnan(j.comparisons[0].left_value)


def test_a_claim_is_judged_at_each_datasets_own_eps() -> None:
    by_id = {c.id: c for c in load_claims()}
    int_vs_adv = by_id["int-vs-adv"]  # a range, focused on its largest eps
    assert int_vs_adv.on("mnist") == int_vs_adv
    on_fashion = int_vs_adv.on("fashion-mnist")
    assert on_fashion.eps == (0.05, 0.1, 0.15, 0.2) and on_fashion.focus == (0.2,)
    assert by_id["int-kendall"].on("fashion-mnist").eps == (0.1,)  # one eps: the headline
    assert by_id["ir-vs-standard-l2"].on("fashion-mnist").eps == (0.5, 1.0, 1.5, 2.0)
    assert by_id["adv-clean-cost"].on("fashion-mnist").eps == ()
    paper = {"paper": "P", "roles": {"a": {"label": "A", "rib": ["x"]}, "b": {"label": "B", "rib": ["y"]}},
             "claims": [{"id": "c", "statement": "s", "test": "worst-case", "left": "a", "right": "b", "eps": [0.3],
                         "on": {"fashion-mnist": {"eps": [0.1, 0.2], "focus": [0.2]}}}]}
    paper["claims"][0]["on"] = {"fmnist": {"eps": [0.1, 0.2], "focus": [0.2]}}  # an alias names the dataset too
    (claim,) = parse_paper(paper, "p")
    assert claim.on("fashion-mnist").eps == (0.1, 0.2) and claim.on("fashion-mnist").focus == (0.2,)
    paper["claims"][0]["on"] = {"fashion-mnist": {"eps": [0.1], "focus": [0.2]}}
    with pytest.raises(ConfigError, match=r"claims/p: claim 'c': on.fashion-mnist: the focus \[0.2\] is not among"):
        parse_paper(paper, "p")
    paper["claims"][0]["on"] = {"fashion-mnist": [0.1]}
    with pytest.raises(ConfigError, match="'on' must be a table of tables"):
        parse_paper(paper, "p")


def test_a_claim_in_a_norm_the_dataset_is_not_attacked_in_has_no_eps(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from rib.data import DATASETS

    linf_only = replace(DATASETS.get("fashion-mnist"), eps={"linf": (0.1,)}, headline={"linf": 0.1})
    monkeypatch.setitem(DATASETS._entries, "fashion-mnist", linf_only)
    claim = {c.id: c for c in load_claims()}["ir-large-eps"].on("fashion-mnist")
    assert (claim.eps, claim.focus) == ((), ())


def test_the_cross_dataset_table_says_where_each_claim_holds() -> None:
    from rib.claims import across_datasets

    def row(claim: str, source: str, verdict: str, where: str = "") -> dict:
        return {"claim": claim, "source": source, "verdict": verdict, "eps_range": where}

    rows = {"fashion-mnist": [row("a", "rib", "holds", "holds at 0.05-0.2"), row("b", "rib", "holds", "x"),
                              row("c", "rib", "does not hold", "y"), row("d", "rib", "no data")],
            "mnist": [row("a", "rib", "holds", "holds at 0.1-0.4"), row("a", "authors", "holds", "z"),
                      row("a", "authors-protocol", "does not hold", "w"), row("b", "rib", "mixed", "m"),
                      row("c", "rib", "inconclusive", "i"), row("d", "rib", "holds", "h"),
                      row("e", "rib", "holds", "h"), row("e", "authors", "does not hold", "n")],
            }
    rows["fashion-mnist"].append(row("e", "rib", "does not hold", "n"))
    headers, body = across_datasets(rows)
    assert headers == ["claim", "mnist", "fashion-mnist", "holds on"]
    where = {r[0]: r[-1] for r in body}
    assert where == {"a": "both", "b": "fashion-mnist only", "c": "neither", "d": "mnist (the only one judged)",
                     "e": "neither"}  # on mnist, rib's re-trainings hold but the authors' networks do not
    a = next(r for r in body if r[0] == "a")
    assert a[1] == "holds: holds at 0.1-0.4; the authors' networks at rib's strength: holds: z"  # no protocol
