"""Attacks declare their roles; nothing outside ``rib.attacks`` matches an attack by its name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import rib
from rib.attacks import ATTACK_ROLES, ATTACKS, attack_for, attacks_with_role, has_role
from rib.errors import ConfigError

PACKAGE = Path(rib.__file__).resolve().parent


def _names() -> set[str]:
    names = set(ATTACKS.names())
    for n in ATTACKS.names():
        names |= set(ATTACKS.aliases_of(n))
    return names


def test_every_attack_declares_a_known_role() -> None:
    for name in ATTACKS.names():
        assert ATTACKS.get(name).role in ATTACK_ROLES, name
    assert attack_for("reference", "linf") == "pgd-linf" and attack_for("headline-ensemble", "l2") == "autoattack-l2"
    assert attack_for("protocol", "linf") == "boopathy-pgd-linf"
    assert set(attacks_with_role("minimum-norm", "l2")) == {"fmn-l2", "deepfool-l2", "cw-l2"}
    assert has_role("apgd-linf", "sweep-ensemble") and not has_role("nonsense", "reference")
    with pytest.raises(ConfigError, match="no protocol attack under l2"):
        attack_for("protocol", "l2")


def test_no_attack_name_is_matched_outside_the_attacks_package() -> None:
    names = _names()
    prefixes = sorted({n.rsplit("-", 1)[0] + "-" for n in ATTACKS.names()})
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "attacks" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
            if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                head = str(node.values[0].value)
                if any(head == p for p in prefixes):  # f"pgd-{norm}"
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} f{head!r}...")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("startswith", "endswith") and \
                    node.args and isinstance(node.args[0], ast.Constant) and str(node.args[0].value) in prefixes:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .{node.func.attr}({node.args[0].value!r})")
    assert not found, "attack names matched outside rib.attacks (ask for a role): " + "; ".join(found)
