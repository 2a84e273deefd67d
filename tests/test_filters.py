"""app/filters.py: selections → one WHERE clause with bound parameters."""

from __future__ import annotations

import pytest

from app.filters import EnterpriseFilters, build_where, escape_like, in_clause, slug


def test_no_filters_no_where() -> None:
    assert build_where(EnterpriseFilters()) == ("", {})
    assert EnterpriseFilters().is_empty()


def test_every_filter_in_one_clause() -> None:
    f = EnterpriseFilters(zones=("zhangjiang_ai_island", "westbund_ai_tower"),
                          districts=(310115,), segments=("foundation_models",),
                          founded_from=2015, founded_to=2020, sizes=("micro", "xlarge", "unknown"),
                          search=" 智算 ")
    where, params = build_where(f)
    assert where == (
        "WHERE e.zone_id IN (:zone_0, :zone_1) AND e.district_adcode IN (:district_0) "
        "AND e.segment IN (:segment_0) AND e.founded >= :founded_from "
        "AND e.founded <= :founded_to "
        "AND (e.employees BETWEEN :size_lo_0 AND :size_hi_0 OR e.employees >= :size_lo_1 "
        "OR e.employees IS NULL) "
        "AND (e.name_zh LIKE :q ESCAPE '\\' OR e.name_en LIKE :q ESCAPE '\\' "
        "OR (e.credit_code >= :q_code AND e.credit_code < :q_code_end))")
    assert params == {
        "zone_0": "zhangjiang_ai_island", "zone_1": "westbund_ai_tower", "district_0": 310115,
        "segment_0": "foundation_models", "founded_from": "2015-01-01",
        "founded_to": "2020-12-31", "size_lo_0": 0, "size_hi_0": 19, "size_lo_1": 1000,
        "q": "%智算%", "q_code": "智算", "q_code_end": "智算\U0010ffff",
    }
    assert not f.is_empty()


def test_user_text_never_reaches_sql() -> None:
    where, params = build_where(EnterpriseFilters(search="x' OR 1=1; --"))
    assert "OR 1=1" not in where
    assert params["q"] == "%x' OR 1=1; --%"


@pytest.mark.parametrize(("term", "escaped"), [
    ("50%", "50\\%"),
    ("a_b", "a\\_b"),
    ("back\\slash", "back\\\\slash"),
    ("plain", "plain"),
])
def test_like_wildcards_are_escaped(term: str, escaped: str) -> None:
    assert escape_like(term) == escaped


@pytest.mark.parametrize(("filters", "message"), [
    (EnterpriseFilters(sizes=("huge",)),
     "unknown size band 'huge'; use one of micro, small, medium, large, xlarge, unknown"),
    (EnterpriseFilters(founded_from=2021, founded_to=2019),
     "founding years reversed: 2021 > 2019"),
])
def test_bad_filters_raise(filters: EnterpriseFilters, message: str) -> None:
    with pytest.raises(ValueError) as info:
        build_where(filters)
    assert str(info.value) == message


def test_in_clause() -> None:
    assert in_clause("o.scope_id", ["a", "b"], "scope") == (
        "o.scope_id IN (:scope_0, :scope_1)", {"scope_0": "a", "scope_1": "b"})
    assert in_clause("o.scope_id", [], "scope") == ("0 = 1", {})
    with pytest.raises(ValueError) as info:
        in_clause("x", ["a"], "bad prefix")
    assert str(info.value) == "bad parameter prefix 'bad prefix'"


@pytest.mark.parametrize(("filters", "expected"), [
    (EnterpriseFilters(), "all"),
    (EnterpriseFilters(zones=("zhangjiang_ai_island",)), "zone-zhangjiang_ai_island"),
    (EnterpriseFilters(zones=("a", "b", "c"), sizes=("micro",), search="智"),
     "zone-a+b+more_size-micro_search"),
    (EnterpriseFilters(districts=(310115,), founded_from=2015), "district-310115_founded-2015-"),
])
def test_slug(filters: EnterpriseFilters, expected: str) -> None:
    assert slug(filters) == expected


def test_index_hints_change_the_sql_not_the_params() -> None:
    f = EnterpriseFilters(zones=("a",), districts=(310115,), founded_from=2015, founded_to=2020)
    plain_where, plain_params = build_where(f)
    where, params = build_where(f, founded_index=False, area_index=False)
    assert where == ("WHERE +e.zone_id IN (:zone_0) AND +e.district_adcode IN (:district_0) "
                     "AND +e.founded >= :founded_from AND +e.founded <= :founded_to")
    assert plain_where == where.replace("+", "")
    assert params == plain_params == {"zone_0": "a", "district_0": 310115,
                                      "founded_from": "2015-01-01", "founded_to": "2020-12-31"}


def test_credit_code_prefix_is_a_key_range() -> None:
    where, params = build_where(EnterpriseFilters(search="91310115mA"))
    assert where.endswith("OR (e.credit_code >= :q_code AND e.credit_code < :q_code_end))")
    assert (params["q_code"], params["q_code_end"]) == ("91310115MA", "91310115MA\U0010ffff")
    assert params["q"] == "%91310115mA%"
