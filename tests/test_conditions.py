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
    assert not Condition.parse("DMSO").dosed and Condition.parse("DMSO").name == "DMSO"


@pytest.mark.parametrize("name", ["untreated", "mock", "PBS", "Untreated"])
def test_a_name_without_a_dose_is_a_condition(name):
    c = Condition.parse(name)
    assert (c.compound, c.concentration, c.dosed, c.name) == (name, 0.0, False, name)
    assert Condition.parse(c.name) == c


def test_table_with_a_named_control():
    found = [Condition.parse(n) for n in ["noc@1", "aaa@2", "untreated", "noc@0.3"]]
    table = ConditionTable.from_conditions(found, control="Untreated")
    assert table.names == ["untreated", "aaa@2", "noc@0.3", "noc@1"]  # the data's spelling
    assert table.control == Condition("untreated") and table.control_name == "untreated"
    assert table.compounds == ["aaa", "noc"]
    assert table.label("UNTREATED") == 0 and table.find("Noc@1") == Condition("noc", 1)
    back = ConditionTable.from_json(table.to_json())
    assert back == table and back.control == Condition("untreated")
    assert [r["control"] for r in table.to_json()] == [True, False, False, False]
    # a second condition without a dose is a mistake (a folder 'nocodazole'), not guessed at
    with pytest.raises(PhendiffError, match=r"other than the control \(untreated\): DMSO"):
        ConditionTable.from_conditions([*found, Condition("DMSO")], control="untreated")
    with pytest.raises(PhendiffError, match=r"\(DMSO\): noc; .*'noc@0.3'"):
        ConditionTable.from_conditions([Condition("DMSO"), Condition("noc")])


def test_tables_saved_before_the_control_was_named_take_dmso():
    table = ConditionTable.from_conditions([Condition("DMSO"), Condition("noc", 1)])
    rows = [{k: v for k, v in r.items() if k != "control"} for r in table.to_json()]
    assert ConditionTable.from_json(rows).control == Condition("DMSO")
    rows = [r for r in rows if r["name"] != "DMSO"]
    rows[0]["label"] = 0
    assert ConditionTable.from_json(rows).control is None


def test_control_errors_list_the_conditions():
    found = [Condition("untreated"), Condition("noc", 1)]
    with pytest.raises(PhendiffError, match=r"no DMSO among .*untreated, noc@1.*--control untr"):
        ConditionTable.from_conditions(found)
    with pytest.raises(PhendiffError, match=r"control 'mock' is not among .*untreated, noc@1"):
        ConditionTable.from_conditions(found, control="mock")
    # a screen of treatments only has no control, and says so
    assert ConditionTable.from_conditions([Condition("noc", 1)]).control is None
    table = ConditionTable.from_conditions(found, control="untreated")
    rows = table.to_json()
    rows[1]["control"] = True
    with pytest.raises(PhendiffError, match="2 conditions are marked as the control"):
        ConditionTable.from_json(rows)


def test_table_order_and_labels():
    names = ["noc@1", "DMSO", "noc@0.3", "Bct@3", "act@0.1"]
    table = ConditionTable.from_conditions(Condition.parse(n) for n in names)
    assert table.names == ["DMSO", "act@0.1", "Bct@3", "noc@0.3", "noc@1"]
    assert table.null_label == 5
    for i, c in enumerate(table):
        assert table.label(c) == i and table[i] == c
    assert [c.name for c in table.resolve("noc@all")] == ["noc@0.3", "noc@1"]
    assert ConditionTable.from_json(table.to_json()) == table


@pytest.mark.parametrize("bad", ["", "noc@abc", "noc@-1", "@1", "noc@nan", "a/b@1"])
def test_bad_condition_names(bad):
    with pytest.raises(PhendiffError, match="expected"):
        Condition.parse(bad)


def test_unknown_condition_lists_known():
    table = ConditionTable.from_conditions([Condition("DMSO"), Condition("noc", 1)])
    with pytest.raises(PhendiffError, match="known conditions: DMSO, noc@1"):
        table.label("noc@2")
    with pytest.raises(PhendiffError, match="known compounds: noc"):
        table.resolve("taxol@all")
