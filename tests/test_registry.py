import pytest
from rib.errors import UnknownNameError
from rib.registry import Registry


@pytest.fixture
def reg() -> Registry[int]:
    r: Registry[int] = Registry("attack")
    r.register("pgd-linf", 1, aliases=("pgd",))
    r.register("pgd-l2", 2)
    r.register("fgsm-linf", 3)
    return r


def test_get_by_name_and_alias(reg: Registry[int]) -> None:
    assert reg.get("pgd-linf") == 1
    assert reg.get("pgd") == 1
    assert reg.canonical("pgd") == "pgd-linf"
    assert "pgd" in reg and "nope" not in reg
    assert len(reg) == 3


def test_miss_suggests_close_names(reg: Registry[int]) -> None:
    with pytest.raises(UnknownNameError) as info:
        reg.get("pgd-lin")
    message = str(info.value)
    assert "unknown attack 'pgd-lin'" in message
    assert "did you mean 'pgd-linf'" in message
    assert "\n" not in message
    assert info.value.exit_code == 2


def test_wildcards_and_comma_lists(reg: Registry[int]) -> None:
    assert reg.names("pgd-*") == ["pgd-l2", "pgd-linf"]
    assert reg.resolve("fgsm-linf, pgd-*,pgd") == ["fgsm-linf", "pgd-l2", "pgd-linf"]
    with pytest.raises(UnknownNameError, match="no attack matches 'cw-\\*'"):
        reg.resolve("cw-*")


def test_registration_order_is_kept_apart_from_the_sorted_names(reg: Registry[int]) -> None:
    assert reg.in_registration_order() == ["pgd-linf", "pgd-l2", "fgsm-linf"]
    assert reg.names() == ["fgsm-linf", "pgd-l2", "pgd-linf"]


def test_names_cannot_be_taken_twice(reg: Registry[int]) -> None:
    with pytest.raises(ValueError):
        reg.register("pgd", 9)
    with pytest.raises(ValueError):
        reg.register("pgd-l2", 9)


def test_decorator_registers() -> None:
    r: Registry[type] = Registry("thing")

    @r.decorator("a", aliases=("b",))
    class A:
        pass

    assert r.get("b") is A
    assert r.aliases_of("a") == ["b"]


def test_name_attr_names_registered_classes() -> None:
    r: Registry[type] = Registry("thing", name_attr="name")

    @r.decorator("first", aliases=("one",))
    class A:
        name = ""

    class B(A):
        pass

    r.register("second", B)
    assert (A.name, B.name) == ("first", "second") and r.get("one") is A
