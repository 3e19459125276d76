import pytest
from hypothesis import given
from hypothesis import strategies as st

from phendiff.conditions import Condition, ConditionTable
from phendiff.errors import PhendiffError


@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC_-0123456789 ", min_size=1).filter(
        lambda s: s.strip() and s.strip().upper() != "DMSO"
    ),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
)
def test_name_parses_back(compound, concentration):
    c = Condition(compound, concentration)
    assert Condition.parse(c.name) == c


def test_control_is_canonical():
    assert Condition.parse("dmso") == Condition("DMSO", 0.0) == Condition("DMSO", 5.0)
    assert Condition.parse("DMSO").is_control


def test_table_order_and_labels():
    names = ["noc@1", "DMSO", "noc@0.3", "Bct@3", "act@0.1"]
    table = ConditionTable.from_conditions(Condition.parse(n) for n in names)
    assert table.names == ["DMSO", "act@0.1", "Bct@3", "noc@0.3", "noc@1"]
    assert table.null_label == 5
    for i, c in enumerate(table):
        assert table.label(c) == i and table[i] == c
    assert [c.name for c in table.resolve("noc@all")] == ["noc@0.3", "noc@1"]
    assert ConditionTable.from_json(table.to_json()) == table


@pytest.mark.parametrize("bad", ["nocodazole", "noc@abc", "noc@-1", "@1", "noc@nan", "a/b@1"])
def test_bad_condition_names(bad):
    with pytest.raises(PhendiffError, match="expected"):
        Condition.parse(bad)


def test_unknown_condition_lists_known():
    table = ConditionTable.from_conditions([Condition("DMSO"), Condition("noc", 1)])
    with pytest.raises(PhendiffError, match="known conditions: DMSO, noc@1"):
        table.label("noc@2")
    with pytest.raises(PhendiffError, match="known compounds: noc"):
        table.resolve("taxol@all")
