"""The in-memory name search (app.search) against the SQL it replaces (app.filters' LIKE)."""

from __future__ import annotations

import csv
import random
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app import search
from app.access import ANALYST
from app.filters import EnterpriseFilters, build_where
from app.queries import health
from app.queries import register as register_queries
from etl.drops.load import load_drop
from etl.geography import load_geography
from etl.sample import write_scale_drop
from models.db import create_db_and_tables, make_engine

ROOT = Path(__file__).resolve().parent.parent
FIRMS = 3_000
# Names with ASCII and non-ASCII letters in the Chinese name, and LIKE's wildcards.
ODD_NAMES = {0: "上海AI方舟科技有限公司", 1: "上海ＡＩ全角科技有限公司", 2: "上海Éclair智能有限公司",
             3: "上海50%_增长科技有限公司"}


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("search")
    engine = make_engine(root / "search.db")
    create_db_and_tables(engine)
    load_geography(engine, ROOT / "data")
    drop = root / "2025Q2"
    write_scale_drop(drop, enterprises=FIRMS, quarters=1, seed=11)
    load_drop(engine, drop)
    with engine.begin() as conn:
        codes = conn.execute(text("SELECT credit_code FROM enterprises ORDER BY rowid LIMIT 4")
                             ).scalars().all()
        for i, code in enumerate(codes):
            conn.execute(text("UPDATE enterprises SET name_zh = :n WHERE credit_code = :c"),
                         {"n": ODD_NAMES[i], "c": code})
        conn.execute(text("UPDATE enterprises SET name_en = NULL WHERE credit_code = :c"),
                     {"c": codes[3]})
    yield engine
    engine.dispose()


def _like(engine: Engine, term: str) -> list[str]:
    where, params = build_where(EnterpriseFilters(search=term))
    with engine.connect() as conn:
        return sorted(conn.execute(text(f"SELECT e.credit_code FROM enterprises e {where}"),
                                   params).scalars())


def _terms(engine: Engine) -> list[str]:
    rng = random.Random(5)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT credit_code, name_zh, name_en FROM enterprises")).all()
    terms = ["AI", "ai", "Ai", "ＡＩ", "ａｉ", "éclair", "Éclair", "ÉCLAIR", "50%", "%", "_",
             "50%_", "科技", "不存在的名字", "zzzz", "9131", "9131011", "913101", "x"]
    for code, zh, en in rng.sample(rows, 40):
        start = rng.randrange(len(zh) - 2)
        terms.append(zh[start:start + rng.choice((2, 3, 4))])
        if en:
            start = rng.randrange(len(en) - 5)
            piece = en[start:start + rng.choice((3, 6, 9))]
            terms.append(rng.choice((piece, piece.upper(), piece.lower())))
        terms.append(code[:rng.choice((6, 10, 18))].lower())
    return terms


def test_the_name_index_finds_exactly_what_like_finds(register: Engine) -> None:
    index = search.build_name_index(register)
    assert index.size == FIRMS
    for term in _terms(register):
        # The page strips the term before searching (build_where does the same).
        assert index.find(term.strip(), limit=FIRMS) == _like(register, term), term


def test_case_folding_is_ascii_only_as_in_sqlite_like(register: Engine) -> None:
    index = search.build_name_index(register)
    ai, full_width, eclair, wildcard = (index.find(t, FIRMS) for t in
                                        ("ai", "ａｉ", "éCLAIR", "50%_"))
    assert len(ai) >= 1 and len(wildcard) == 1
    # Full-width and accented letters are not folded (nor are they by LIKE); ASCII ones are.
    assert full_width == [] and eclair == []
    assert index.find("ＡＩ", FIRMS) != [] and index.find("ÉCLAIR", FIRMS) != []


def test_a_term_matching_more_than_the_limit_is_left_to_sql(register: Engine) -> None:
    index = search.build_name_index(register)
    assert index.find("上海", limit=10) is None
    assert index.find("913", limit=10) is None  # every code starts with 913…
    assert index.find("line\nbreak", limit=FIRMS) is None


@pytest.mark.parametrize("filters", [
    EnterpriseFilters(search="科技"),
    EnterpriseFilters(search="科技", segments=("foundation_models",)),
    EnterpriseFilters(search="ai", zones=("zhangjiang_ai_island", "westbund_ai_tower")),
    EnterpriseFilters(search="Tech", founded_from=2015, sizes=("small",)),
    EnterpriseFilters(search="9131011", districts=(310115,)),
    EnterpriseFilters(search="上海", segments=("applications",)),
])
def test_search_codes_agree_with_the_sql_scan(register: Engine, filters: EnterpriseFilters,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fast = register_queries.enterprise_search_codes(register, filters, cap=5_000, role=ANALYST)
    monkeypatch.setattr(register_queries, "SEARCH_LOOKUP_MAX", 0)  # every search takes the SQL path
    slow = register_queries.enterprise_search_codes(register, filters, cap=5_000, role=ANALYST)
    assert fast == slow
    assert len(fast) > 0


def test_the_cap_still_says_more_than(register: Engine) -> None:
    codes = register_queries.enterprise_search_codes(register, EnterpriseFilters(search="科技"), cap=10,
                                                     role=ANALYST)
    assert len(codes) == 11 and list(codes) == sorted(codes)


def test_a_name_with_a_line_break_sends_every_search_to_sql(
        register: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with register.begin() as conn:
        code, name = conn.execute(text("SELECT credit_code, name_zh FROM enterprises "
                                       "ORDER BY rowid LIMIT 1 OFFSET 10")).one()
        conn.execute(text("UPDATE enterprises SET name_zh = :n WHERE credit_code = :c"),
                     {"n": "上海\n换行科技有限公司", "c": code})
    try:
        index = search.build_name_index(register)
        assert not index.usable and index.find("换行", FIRMS) is None
        monkeypatch.setattr(search, "_cached", None)
        assert register_queries.enterprise_search_codes(register, EnterpriseFilters(search="换行"),
                                                        role=ANALYST) == (
            code,)
    finally:
        with register.begin() as conn:
            conn.execute(text("UPDATE enterprises SET name_zh = :n WHERE credit_code = :c"),
                         {"n": name, "c": code})


def _join_warmers() -> None:
    for thread in threading.enumerate():
        if thread.name == "aidash-name-index":
            thread.join(timeout=30)


def test_warm_builds_the_index_once_in_the_background(register: Engine,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "_cached", None)
    builds: list[Engine] = []
    real = search.build_name_index

    def counting(engine: Engine) -> search.NameIndex:
        builds.append(engine)
        return real(engine)

    monkeypatch.setattr(search, "build_name_index", counting)
    token = health.run_info(register).token
    search.warm(register, token)
    _join_warmers()
    search.warm(register, token)  # built already: no second thread, no second build
    _join_warmers()
    assert builds == [register]
    assert search.name_index(register, token).size == FIRMS
    assert builds == [register]


def test_a_load_replaces_the_index(register: Engine, tmp_path: Path) -> None:
    """(Last in the file: it renames a firm of the shared register.)"""
    name = "上海刚刚成立的测试科技有限公司"
    assert register_queries.enterprise_search_codes(register, EnterpriseFilters(search=name),
                                                    role=ANALYST) == ()
    before = search.name_index(register, health.run_info(register).token)
    with sqlite3.connect(str(register.url).removeprefix("sqlite:///")) as conn:
        code, row = conn.execute("SELECT credit_code, name_en FROM enterprises LIMIT 1").fetchone()
    drop = tmp_path / "2025Q3"
    drop.mkdir()
    with (drop / "enterprises.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["credit_code", "name_zh", "name_en", "district_code",
                                   "segment"], [code, name, row, "310115", "applications"]])
    load_drop(register, drop)
    assert register_queries.enterprise_search_codes(register, EnterpriseFilters(search=name),
                                                    role=ANALYST) == (code,)
    assert search.name_index(register, health.run_info(register).token) is not before
