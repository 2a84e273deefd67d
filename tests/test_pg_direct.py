"""On PostgreSQL, rows whose keys are new to their table go straight in by COPY, inside the load's
transaction (etl.drops.pg_direct): a first load's register (in the staging thread, while revenue
is validated) and revenue of quarters that hold none. What the stage-then-merge guaranteed still
holds: a rejection, a failure or a kill leaves the database as it was, indexes included.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from backends import dump, query
from fixtures.make_fixtures import DATA_TABLES, GOOD, TODAY
from sqlalchemy.engine import Engine

from etl.drops import derive, pg_direct
from etl.drops import stage as staging
from etl.drops.load import load_drop
from etl.drops.steps import Step, StepTiming
from etl.sample import write_scale_drop
from etl.transaction import driver_connection
from models.errors import AidashError, DropRejected

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
LATER = date(2026, 1, 15)  # after 2025Q4, the last quarter loaded here
INDEXES_SQL = ("SELECT tablename, indexname, indexdef FROM pg_indexes "
               "WHERE schemaname = 'public' ORDER BY 1, 2")


def _state(engine: Engine) -> tuple[object, ...]:
    """Every data row, every index and every run: what a failed load must leave unchanged."""
    return (dump(engine, DATA_TABLES), query(engine, INDEXES_SQL),
            query(engine, "SELECT id, status FROM etl_runs ORDER BY id"))


@pytest.fixture
def rebuild_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write rebuilds its table's indexes (a fixture drop is far below the threshold)."""
    monkeypatch.setattr(staging, "REBUILD_MIN_ROWS", 1)


def test_a_first_load_copies_the_register_and_revenue_straight_in(
        geo_engine: Engine, rebuild_always: None) -> None:
    timings: list[StepTiming] = []
    result = load_drop(geo_engine, GOOD / "2025Q1", today=TODAY, on_step=timings.append)
    steps = Counter((t.step, t.in_thread) for t in timings)
    # The register is written in the thread, revenue in the main thread; only zone metrics
    # go through a stage.
    assert steps[(Step.MERGE, True)] == 1
    assert steps[(Step.STAGE, True)] == 0 and steps[(Step.STAGE, False)] == 1
    assert steps[(Step.INDEX_REBUILD, True)] == 1 and steps[(Step.INDEX_REBUILD, False)] == 1
    files = {f.kind: (f.inserted, f.updated) for f in result.files}
    firms, revenue = query(geo_engine, "SELECT (SELECT count(*) FROM enterprises), "
                                       "(SELECT count(*) FROM enterprise_revenue)")[0]
    assert files["enterprises"] == (firms, 0) and files["revenue"] == (revenue, 0)
    assert firms > 0 and revenue > 0
    # Every row names the run, and the indexes and primary keys are back.
    assert query(geo_engine, "SELECT DISTINCT etl_run_id FROM enterprises UNION "
                             "SELECT DISTINCT etl_run_id FROM enterprise_revenue") == [
        (result.run_id,)]
    names = {n for _t, n, _d in query(geo_engine, INDEXES_SQL)}
    assert {"enterprises_pkey", "enterprise_revenue_pkey", "ix_enterprises_zone",
            "ix_enterprises_name_zh"} <= names
    # Firms the file gives no status are active; none is left without a provenance.
    assert query(geo_engine, "SELECT count(*) FROM enterprises WHERE status IS NULL "
                             "OR provenance IS NULL") == [(0,)]
    # Loading it again changes nothing.
    assert not load_drop(geo_engine, GOOD / "2025Q1", today=TODAY).changed


@pytest.mark.parametrize("firms", [0, 3_000])
def test_the_aggregates_view_of_a_written_register_is_the_one_read_back(
        geo_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, firms: int) -> None:
    """A first load takes the register the aggregates need from its frame, not from the
    table: it is the frame the table would give back (0: the fixture drop)."""
    drop = GOOD / "2025Q1"
    if firms:
        drop = tmp_path / "2025Q2"
        write_scale_drop(drop, enterprises=firms, quarters=2)
    made: list[pd.DataFrame] = []
    real = derive.register_of

    def spy(frame: pd.DataFrame) -> pd.DataFrame:
        made.append(real(frame))
        return made[-1]

    def not_read(conn: object) -> pd.DataFrame:
        raise AssertionError("the register was read back")

    monkeypatch.setattr(derive, "register_of", spy)
    monkeypatch.setattr(derive, "read_register", not_read)
    load_drop(geo_engine, drop, today=TODAY)
    monkeypatch.undo()
    assert len(made) == 1
    with driver_connection(geo_engine) as conn:
        stored = derive.read_register(conn)
    pd.testing.assert_frame_equal(_by_code(made[0]), _by_code(stored), check_dtype=False)


def _by_code(register: pd.DataFrame) -> pd.DataFrame:
    """The register in credit-code order, ``dim`` checked to number each (district, zone,
    segment, sample) tuple once and renumbered in that order (the SQL reads the rows in no
    particular order)."""
    out = register.sort_values("credit_code").reset_index(drop=True)
    dims = ["district", "zone", "segment", "sample"]
    assert (out.groupby("dim")[dims].nunique(dropna=False) == 1).all().all()
    assert out.groupby(dims, dropna=False)["dim"].nunique().eq(1).all()
    out["dim"] = out.groupby(dims, sort=False, dropna=False).ngroup()
    return out


def test_a_register_resent_whole_is_not_read_back(geo_engine: Engine,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """The quarterly refresh resends the whole register with every column: once merged, the
    table holds the frame's values, and the aggregates take the register from it. A drop whose
    register lacks some stored firms reads it back."""
    from benchmarks.scale_bench import write_next_quarter

    drop = tmp_path / "2025Q2"
    write_scale_drop(drop, enterprises=2_000, quarters=2)
    load_drop(geo_engine, drop, today=LATER)
    nxt = write_next_quarter(drop, tmp_path / "next" / "2025Q3")
    made: list[pd.DataFrame] = []
    reads: list[object] = []
    real_of, real_read = derive.register_of, derive.read_register

    def spy(frame: pd.DataFrame) -> pd.DataFrame:
        made.append(real_of(frame))
        return made[-1]

    def read(conn: object) -> pd.DataFrame:
        reads.append(conn)
        return real_read(conn)  # type: ignore[arg-type]

    monkeypatch.setattr(derive, "register_of", spy)
    monkeypatch.setattr(derive, "read_register", read)
    assert load_drop(geo_engine, nxt, today=LATER).changed
    assert (len(made), reads) == (1, [])
    with driver_connection(geo_engine) as conn:
        stored = real_read(conn)
    pd.testing.assert_frame_equal(_by_code(made[0]), _by_code(stored), check_dtype=False)
    # Half the register resent: the other half is read back with it.
    part = tmp_path / "part" / "2025Q4"
    part.mkdir(parents=True)
    firms = pd.read_csv(nxt / "enterprises.csv", dtype=str, keep_default_na=False)
    firms.iloc[: len(firms) // 2].to_csv(part / "enterprises.csv", index=False)
    shutil.copyfile(nxt / "source.json", part / "source.json")
    revenue = pd.read_csv(nxt / "revenue.csv", dtype=str, keep_default_na=False)
    revenue = revenue[revenue["credit_code"].isin(firms["credit_code"].iloc[: len(firms) // 2])]
    revenue.assign(period="2025Q4").to_csv(part / "revenue.csv", index=False)
    result = load_drop(geo_engine, part, today=LATER)
    assert result.changed, result
    assert len(reads) == 1, (len(made), result)


def test_a_drop_rejected_after_its_register_was_written_leaves_nothing(
        geo_engine: Engine, rebuild_always: None, tmp_path: Path) -> None:
    """The register passes and goes into its table (its indexes dropped) while revenue is
    checked; revenue has a negative value: the whole drop is refused, the register and its
    indexes are as they were."""
    drop = tmp_path / "2025Q1"
    shutil.copytree(GOOD / "2025Q1", drop)
    revenue = drop / "revenue.csv"
    lines = revenue.read_text(encoding="utf-8").splitlines()
    code = lines[1].split(",")[0]
    revenue.write_text("\n".join([*lines, f"{code},2024Q1,-5"]) + "\n", encoding="utf-8")
    before = _state(geo_engine)
    with pytest.raises(DropRejected):
        load_drop(geo_engine, drop, today=TODAY)
    data, indexes, runs = _state(geo_engine)
    assert (data, indexes) == before[:2]
    assert runs == [*before[2], (runs[-1][0], "rejected")]  # type: ignore[misc]


def test_a_failure_while_the_register_is_copied_leaves_nothing(
        geo_engine: Engine, rebuild_always: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pg_direct, "_register_batch", broken)
    before = _state(geo_engine)
    with pytest.raises(RuntimeError, match="disk on fire"):
        load_drop(geo_engine, GOOD / "2025Q1", today=TODAY)
    data, indexes, runs = _state(geo_engine)
    assert (data, indexes) == before[:2]
    assert runs == [*before[2], (runs[-1][0], "failed")]  # type: ignore[misc]
    assert query(geo_engine, "SELECT message FROM etl_runs WHERE status = 'failed'") == [
        ("RuntimeError: disk on fire",)]
    # The next load goes through.
    monkeypatch.undo()
    assert load_drop(geo_engine, GOOD / "2025Q1", today=TODAY).changed


def test_a_dry_run_stages_and_writes_nothing(geo_engine: Engine, rebuild_always: None) -> None:
    """A dry run holds no write lock: it never writes into the tables, even rolled back."""
    before = _state(geo_engine)
    timings: list[StepTiming] = []
    result = load_drop(geo_engine, GOOD / "2025Q1", today=TODAY, dry_run=True,
                       on_step=timings.append)
    assert result.inserted > 0
    assert not any(t.step == Step.MERGE and t.in_thread for t in timings)
    assert _state(geo_engine) == before


@pytest.mark.slow
def test_a_load_killed_while_copying_leaves_nothing(geo_engine: Engine, tmp_path: Path) -> None:
    """SIGKILL while a first load COPYs into the tables: the server rolls the transaction
    back, indexes included; the same drop then loads whole."""
    drop = tmp_path / "2025Q2"
    write_scale_drop(drop, enterprises=60_000, quarters=2)
    url = geo_engine.url.render_as_string(hide_password=False)
    before = _state(geo_engine)
    proc = subprocess.Popen([sys.executable, "-m", "etl", "etl", "load", str(drop), "--db", url,
                             "--no-forecast"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    copying = ("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY enterprise%' "
               "AND state = 'active'")
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if query(geo_engine, copying)[0][0]:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the load finished before it could be killed: " + (
            proc.stderr.read().decode() if proc.stderr else "")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 60
    while query(geo_engine, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %' "
                            "AND pid <> pg_backend_pid()")[0][0]:
        assert time.monotonic() < deadline, "the killed load's session is still there"
        time.sleep(0.05)
    assert _state(geo_engine) == before
    result = load_drop(geo_engine, drop)
    assert result.inserted == result.read > 180_000
    assert query(geo_engine, "SELECT count(*) FROM enterprises") == [(60_000,)]


def _dangling_revenue(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """Revenue written straight in names one firm the validator let through but the register
    does not hold (what the validator refuses first: the database's own check is tested)."""
    real = pg_direct.write_revenue

    def write(conn: object, stage: object, frame: pd.DataFrame, **kwargs: object) -> object:
        codes = frame["credit_code"]
        frame = frame.assign(credit_code=codes.cat.rename_categories(
            {codes.cat.categories[codes.cat.codes.iloc[0]]: code}))
        # Its plan made again for the frame as written (every code looked up).
        kwargs["plan"] = pg_direct.revenue_plan(frame)
        return real(conn, stage, frame, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pg_direct, "write_revenue", write)


def test_revenue_of_a_firm_not_in_the_register_is_refused_whole(
        geo_engine: Engine, rebuild_always: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _dangling_revenue(monkeypatch, "91310000NOSUCHFIRM")
    before = _state(geo_engine)
    with pytest.raises(AidashError) as info:
        load_drop(geo_engine, GOOD / "2025Q1", today=TODAY)
    assert str(info.value) == ("revenue: credit_code '91310000NOSUCHFIRM' is not in "
                               "enterprises; nothing was loaded (report this: the validator "
                               "should have refused it)")
    data, indexes, runs = _state(geo_engine)
    assert (data, indexes) == before[:2]
    assert runs == [*before[2], (runs[-1][0], "failed")]  # type: ignore[misc]


def test_revenue_of_a_stored_firm_the_drop_does_not_resend_is_looked_up(
        geo_engine: Engine) -> None:
    """A code outside the drop's register is looked up in the table: a stored firm passes,
    an unknown one is refused."""
    assert load_drop(geo_engine, GOOD / "2025Q1", today=TODAY).changed
    stored = query(geo_engine, "SELECT min(credit_code) FROM enterprises")[0][0]
    with driver_connection(geo_engine) as conn:
        codes = pa.array([stored, "91310000NOSUCHFIRM", "91310000AAAAAAAAAA"])
        pg_direct.check_values(conn, "revenue", "credit_code", codes,  # type: ignore[arg-type]
                               known=pa.array(["91310000NOSUCHFIRM", "91310000AAAAAAAAAA"]))
        with pytest.raises(AidashError) as info:
            pg_direct.check_values(conn, "revenue", "credit_code", codes,  # type: ignore[arg-type]
                                   known=pa.array([stored]))
        assert str(info.value).startswith("revenue: credit_code '91310000AAAAAAAAAA' is not in "
                                          "enterprises;")
        # The register's references: a district is a number, a zone a text.
        pg_direct.check_values(conn, "enterprises", "district_adcode",  # type: ignore[arg-type]
                               pg_direct.distinct_values(pd.Series([310101, None, 310101],
                                                                   dtype="Int64")))
        with pytest.raises(AidashError) as info:
            pg_direct.check_values(conn, "enterprises", "zone_id",  # type: ignore[arg-type]
                                   pg_direct.distinct_values(pd.Series(["nowhere", None])))
        assert str(info.value) == ("enterprises: zone_id 'nowhere' is not in zones; nothing was "
                                   "loaded (report this: the validator should have refused it)")


def test_the_distinct_values_of_a_categorical_are_the_categories_its_rows_use(
        backend: str) -> None:
    column = pd.Series(pd.Categorical(["b", "a", None, "b"], categories=["a", "b", "c"]))
    assert pg_direct.distinct_values(column).to_pylist() == ["a", "b"]
    assert pg_direct.distinct_values(pd.Series(["x", None, "x", "y"])).to_pylist() == ["x", "y"]


def test_revenue_written_in_binary_holds_what_csv_writes(
        geo_engine: Engine, rebuild_always: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Revenue of fixed-width text goes in PostgreSQL's binary COPY format; a frame it does
    not fit (a provenance of another width on some rows) goes in CSV; both store the same."""
    from etl.runs import rollback

    rows = ("SELECT period, credit_code, revenue, from_ytd, provenance FROM enterprise_revenue "
            "ORDER BY period, credit_code")
    formats: list[bool] = []
    real = pg_direct.binary_revenue

    def seen(conn: object, frame: pd.DataFrame, **kwargs: object) -> object:
        texts = real(conn, frame, **kwargs)  # type: ignore[arg-type]
        formats.append(texts is not None)
        return texts

    monkeypatch.setattr(pg_direct, "binary_revenue", seen)
    run = load_drop(geo_engine, GOOD / "2025Q1", today=TODAY).run_id
    binary = query(geo_engine, rows)
    assert binary
    assert run is not None
    rollback(geo_engine, run)
    monkeypatch.setattr(pg_direct, "binary_revenue", lambda conn, frame, **kwargs: formats.append(
        False))
    load_drop(geo_engine, GOOD / "2025Q1", today=TODAY)
    assert query(geo_engine, rows) == binary
    assert formats == [True, False]


def test_a_revenue_plan_looks_up_only_the_codes_outside_the_drop_s_register(
        backend: str) -> None:
    frame = pd.DataFrame({
        "period": pd.Categorical(["2025Q2", "2025Q1", "2025Q1", "2025Q2"]),
        "credit_code": pd.Categorical(["91310000BBBBBBBBBB", "91310000CCCCCCCCCC",
                                       "91310000AAAAAAAAAA", "91310000CCCCCCCCCC"]),
        "provenance": pd.Categorical(["sample"] * 4),
    })
    plan = pg_direct.revenue_plan(frame, pa.array(["91310000AAAAAAAAAA", "91310000ZZZZZZZZZZ"]))
    assert sorted(plan.lookup.to_pylist()) == ["91310000BBBBBBBBBB", "91310000CCCCCCCCCC"]
    assert plan.rows is not None and plan.rows.tolist() == [2, 1, 0, 3]
    assert plan.texts is not None and plan.texts["credit_code"][0].tolist() == [
        b"91310000AAAAAAAAAA", b"91310000BBBBBBBBBB", b"91310000CCCCCCCCCC"]
    assert len(pg_direct.revenue_plan(frame).lookup) == 3


def test_only_fixed_width_categorical_text_is_laid_out_in_binary(backend: str) -> None:
    same = pd.Series(pd.Categorical(["sample", "sample"], categories=["sample", "derive"]))
    values, codes = pg_direct._fixed_width_text(same)  # type: ignore[misc]
    assert values.tolist() == [b"sample", b"derive"] and codes.tolist() == [0, 0]
    assert pg_direct._fixed_width_text(pd.Series(pd.Categorical(["sample", "reported"]))) is None
    assert pg_direct._fixed_width_text(pd.Series(pd.Categorical(["a", None]))) is None
    assert pg_direct._fixed_width_text(pd.Series(["sample"])) is None
    assert pg_direct._fixed_width_text(pd.Series(pd.Categorical([10, 20]))) is None


class _NoStage(staging.ScratchTables):
    """Only the cancel flag a writer reads."""

    def close(self) -> None:
        pass


def test_binary_revenue_rows_are_read_by_the_server_as_laid_out(geo_engine: Engine) -> None:
    """Every field of the binary layout, a year-to-date flag and a row order included."""
    frame = pd.DataFrame({
        "period": pd.Categorical(["2025Q2", "2025Q1", "2025Q1"]),
        "credit_code": pd.Categorical(["91310000AAAAAAAAAA", "91310000BBBBBBBBBB",
                                       "91310000AAAAAAAAAA"]),
        "revenue": [2.5, 0.0, 1234567.125],
        "from_ytd": pd.array([1, 0, 0], dtype="int8"),
        "provenance": pd.Categorical(["sample", "sample", "sample"]),
    })
    with driver_connection(geo_engine) as conn:
        conn.execute("BEGIN")
        texts = pg_direct.binary_revenue(conn, frame)  # type: ignore[arg-type]
        assert texts is not None
        stage = _NoStage()
        batches: list[int] = []
        n = conn.copy_csv(  # type: ignore[attr-defined]
            "enterprise_revenue", [*pg_direct.merge.REV_COLUMNS, "etl_run_id"],
            pg_direct._binary_rows(frame, texts, pd.Series([2, 1, 0]).to_numpy(), 7, stage,
                                   batches.append), binary=True)
        rows = conn.execute("SELECT period, credit_code, revenue, from_ytd, provenance, "
                            "etl_run_id FROM enterprise_revenue ORDER BY ctid").fetchall()
        conn.rollback()
    assert n == 3 and batches == [3]
    assert rows == [("2025Q1", "91310000AAAAAAAAAA", 1234567.125, False, "sample", 7),
                    ("2025Q1", "91310000BBBBBBBBBB", 0.0, False, "sample", 7),
                    ("2025Q2", "91310000AAAAAAAAAA", 2.5, True, "sample", 7)]


def test_a_register_written_twice_over_one_firm_is_refused_by_its_key(
        geo_engine: Engine, rebuild_always: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The register's primary key is built after its COPY: a firm the validator let through
    twice fails the load there, and nothing is left, the key included."""
    import psycopg

    real = pg_direct.write_register

    def twice(conn: object, stage: object, frame: pd.DataFrame, **kwargs: object) -> object:
        return real(conn, stage, pd.concat([frame, frame.iloc[:1]]),  # type: ignore[arg-type]
                    **kwargs)

    monkeypatch.setattr(pg_direct, "write_register", twice)
    before = _state(geo_engine)
    with pytest.raises(psycopg.errors.UniqueViolation) as info:
        load_drop(geo_engine, GOOD / "2025Q1", today=TODAY)
    assert str(info.value).splitlines()[0] == (
        'could not create unique index "enterprises_pkey"')
    data, indexes, runs = _state(geo_engine)
    assert (data, indexes) == before[:2]
    assert runs == [*before[2], (runs[-1][0], "failed")]  # type: ignore[misc]


def test_a_first_loads_register_is_written_in_the_order_of_its_widest_index(
        geo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drop = tmp_path / "2025Q2"
    write_scale_drop(drop, enterprises=300, quarters=1)
    written: list[str] = []
    real = pg_direct._register_batch

    def seen(batch: object, **kwargs: object) -> object:
        out = real(batch, **kwargs)  # type: ignore[arg-type]
        written.extend(out.column("credit_code").to_pylist())
        return out

    monkeypatch.setattr(pg_direct, "_register_batch", seen)
    assert load_drop(geo_engine, drop).changed
    ordered = [c for (c,) in query(geo_engine, "SELECT credit_code FROM enterprises ORDER BY "
                                               "district_adcode, segment, name_zh, founded")]
    assert len(written) == 300 and written == ordered
    assert written != sorted(written)
