"""What the leaderboard says beside the numbers: zoo or outside, parameter count, training data, safe paper links,
flag meanings from the code that raises them, and the methodology page's facts read from a grid file."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest
from rib import checks, sanity
from rib.report import glossary
from rib.report.facts import format_count, is_outside, model_facts, paper_url, param_count
from rib.report.methodology import attack_groups, docstring_html, metric_groups
from rib.zoo import build_model, list_cards, zoo_dir

from tests.helpers import make_card


def test_committed_zoo_models_are_zoo_and_submissions_are_outside(tmp_path: Path) -> None:
    committed = list_cards("mnist")
    assert committed and not any(is_outside(c) for c in committed)
    standard = next(c for c in committed if c.id == "standard")
    assert is_outside(dataclasses.replace(standard, arch="onnx"))  # an ONNX submission
    copied = make_card(tmp_path / "elsewhere", "standard")
    assert is_outside(dataclasses.replace(copied, path=tmp_path / "elsewhere" / "mnist" / "standard.toml"))
    # a card in the zoo folder that no recipe trains (a submission `rib submit` installed there)
    assert is_outside(dataclasses.replace(standard, id="my-submission"))
    # a folder passed as the zoo: its cards count as zoo when a recipe trains them
    local = make_card(tmp_path / "zoo", "standard")
    assert not is_outside(dataclasses.replace(local, path=tmp_path / "zoo" / "mnist" / "standard.toml"),
                          tmp_path / "zoo")
    assert zoo_dir().is_dir()


def test_parameter_count_comes_from_the_built_architecture(tmp_path: Path) -> None:
    card = make_card(tmp_path, "tiny-x")
    expected = sum(p.numel() for p in build_model("tiny", "mnist").net.parameters())  # tiny has no buffers
    assert param_count(card) == expected and expected > 0
    assert param_count(dataclasses.replace(card, arch="onnx")) is None
    assert param_count(dataclasses.replace(card, arch="no-such-arch")) is None
    cam = next(c for c in list_cards("mnist") if c.arch == "cam-cnn")
    assert format_count(param_count(cam)) == "127k"
    bn = build_model("mnist-cnn", "mnist", {"batch_norm": True}).net  # batch norm's running statistics count too,
    stats = sum(b.numel() for b in bn.buffers() if b.is_floating_point())  # as they do in an exported ONNX graph
    with_bn = dataclasses.replace(card, arch="mnist-cnn", arch_kwargs={"batch_norm": True})
    assert stats > 0 and param_count(with_bn) == sum(p.numel() for p in bn.parameters()) + stats
    assert (format_count(None), format_count(1234), format_count(2_500_000)) == ("–", "1,234", "2.5M")


def test_training_data_and_paper_links(tmp_path: Path) -> None:
    card = make_card(tmp_path, "tiny-x")
    assert model_facts(card, "mnist-5k").trained_on == "mnist-5k"  # no trained_on: its evaluation dataset
    moved = dataclasses.replace(card, dataset="mnist", trained_on="mnist-5k")
    assert model_facts(moved, "mnist").trained_on == "mnist-5k"
    assert paper_url("Noack et al., arXiv 1912.03430") == "https://arxiv.org/abs/1912.03430"
    assert paper_url("https://example.org/paper") == "https://example.org/paper"
    assert paper_url("javascript:alert(1)") == paper_url("Smith et al., ICLR 2018") == ""
    # the papers behind rib's defenses are known by their first author, wherever the card cites them
    assert paper_url("Madry et al., ICLR 2018; the L2 teacher of Noack et al.") == "https://arxiv.org/abs/1706.06083"
    assert paper_url("Ross & Doshi-Velez, AAAI 2018") == "https://arxiv.org/abs/1711.09404"
    # only the first reference, and only a paper it starts with: no link borrowed from a later mention
    assert paper_url("javascript:Madry et al.") == paper_url("Tsipras, Madry et al. 2019") == ""
    assert paper_url("Foo 2024; cf. arXiv 1706.06083") == ""
    facts = model_facts(dataclasses.replace(card, paper="javascript:alert(1)"), "mnist")
    assert facts.paper_url == "" and facts.outside and facts.origin == "outside"
    assert model_facts(None, "mnist").params is None


def _raised_names(module: object, pattern: str) -> set[str]:
    return set(re.findall(pattern, inspect.getsource(module)))  # type: ignore[arg-type]


def test_every_flag_the_code_raises_has_a_description_badge_and_anchor() -> None:
    names = _raised_names(sanity, r'flags\["(\w+)"\]') | _raised_names(checks, r'\("(\w+)", (?:PGD_)?THRESHOLD')
    assert names == set(sanity.SANITY_FLAGS) | set(checks.CHECK_FLAGS)
    terms = {t.id: t for t in glossary.flag_terms()}
    for name in names:
        assert glossary.flag_anchor(name) in terms and len(glossary.flag_short(name)) <= 10
        assert glossary.flag_description(name) == {**sanity.SANITY_FLAGS, **checks.CHECK_FLAGS}[name]
    aa = "autoattack_warning:zero_gradients"
    assert glossary.flag_anchor(aa) in terms and "zero_gradients" in glossary.flag_description(aa)
    assert "does not describe" in glossary.flag_description("made_up")
    statuses = {t.term for t in glossary.verification_terms()}
    from rib.verify import STATUSES

    assert statuses == set(STATUSES)


def test_methodology_reads_the_grid_file(tmp_path: Path) -> None:
    grid = tmp_path / "g.toml"
    grid.write_text("""
[datasets.mnist-5k]
n = 300
[[datasets.mnist-5k.attacks]]
names = ["pgd-linf", "pgd-l2"]
[[datasets.mnist-5k.attacks]]
names = ["autoattack-linf", "autoattack-l2"]
eps = "headline"
n = 200
after = ["pgd-linf", "pgd-l2"]
[[datasets.mnist-5k.metrics]]
sources = ["clean"]
names = ["alignment"]
""")
    first, cascade = attack_groups(str(grid), "mnist-5k")
    assert (first.names, first.n, first.after, first.kinds) == (["pgd-linf", "pgd-l2"], 300, [], ["white-box"] * 2)
    assert first.eps == "linf 0.1, 0.2, 0.3, 0.4; l2 1, 1.5, 2, 2.5, 3.5"
    assert (cascade.n, cascade.after, cascade.eps) == (200, ["pgd-linf", "pgd-l2"], "headline: linf 0.3, l2 2")
    assert metric_groups(str(grid), "mnist-5k") == [{"sources": ["clean"], "names": ["alignment"], "n": 300}]
    assert attack_groups(str(grid), "cifar10") == []


@pytest.mark.parametrize(("doc", "html"), [
    ("A ``cell`` <b>x</b>.", "<p>A <code>cell</code> &lt;b&gt;x&lt;/b&gt;.</p>"),
    ("Intro:\n\n- one\n- *two*", "<p>Intro:</p><ul><li>one</li><li><em>two</em></li></ul>"),
])
def test_docstrings_become_escaped_html(doc: str, html: str) -> None:
    assert "".join(docstring_html(doc)) == html


def test_the_reliability_mark_is_computed_from_flags_admission_verification_and_the_headline() -> None:
    from rib.report.board import reliability_badge

    def mark(raised: dict, reasons: list, status: str = "verified", headline: bool = True,
             admitted: bool = False) -> tuple[str, str]:
        b = reliability_badge(raised, reasons, status, headline=headline, admitted=admitted)
        assert b.href.endswith("glossary.html#reliability") and len(b.title) > len(b.text)
        return b.text, b.kind

    assert mark({}, []) == ("✓", "ok")
    assert "no admission checks needed" in reliability_badge({}, [], "verified", headline=True, admitted=False).title
    assert "every admission check passed" in reliability_badge({}, [], "verified", headline=True, admitted=True).title
    flags = {"pgd_unreliable": {"pgd-linf"}, "black_box_beats_white_box": {"square-linf"}}
    assert mark(flags, []) == ("⚠ 2 flags", "flag")
    assert "pgd_unreliable (pgd-linf)" in reliability_badge(flags, [], "verified", headline=True, admitted=False).title
    assert mark(flags, [], headline=False) == ("⚠ no headline", "flag")  # nothing resolves them then
    assert mark({}, [], status="failed") == ("⚠ claims failed", "bad")
    assert mark(flags, ["admission: logits: rows sum to 1"], status="failed") == ("✗ unranked", "bad")


def test_the_median_minimum_norm_distance_orders_what_the_headline_ties() -> None:
    import pandas as pd
    from rib.report.board import median_distance

    rows = pd.DataFrame({"metric": ["median_distance", "median_distance", "median_distance", "robust_accuracy"],
                         "norm": ["linf", "linf", "l2", "linf"], "attack": ["fmn-linf", "deepfool-linf", "fmn-l2",
                                                                           "fmn-linf"],
                         "value": [0.12, 0.10, 1.5, 0.3]})
    assert median_distance(rows, "linf") == 0.10  # the smallest found: the strongest attack's
    assert median_distance(rows, "l2") == 1.5 and median_distance(rows.iloc[3:], "linf") is None


def test_a_metric_sits_in_the_table_of_the_norm_it_was_computed_at() -> None:
    from rib.report.board import columns
    from rib.report.tables import KEY_METRICS, for_norm

    assert ("interp-discrepancy", "pgd-l2") in for_norm(KEY_METRICS, "l2")
    assert not any(src.endswith("linf") for _, src in for_norm(KEY_METRICS, "l2"))  # top-k exists in linf only
    assert for_norm(KEY_METRICS, "linf") == KEY_METRICS
    labels = [c.label for c in columns([1.0, 2.0], 2.0, norm="l2")]
    assert "interp-discrepancy (pgd-l2) ↓" in labels and not any("linf" in label for label in labels)
