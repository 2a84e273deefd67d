"""The bundled sample drops: determinism, validity, formats, calibration, revisions.

The files are read back with :mod:`tests.sample_reader` (written from docs/drop-format.md, not
with the loader), so these tests check the files themselves.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from etl.credit_code import is_valid
from etl.sample import write_bundled_drops
from etl.sample.bundled import REVENUE_REVISION_FIRMS
from etl.sample.calibration import ANNUAL_TOTALS_MILLION_CNY, DEFAULT_SEED
from etl.sample.firms import SEGMENT_CODES, STATUS_CODES
from etl.sample.formats import DROP_FORMATS, FORMAT_CSV_EN, FORMAT_CSV_ZH_YTD
from etl.sample.zones import load_zones
from models import periods
from tests.sample_reader import (
    DISTRICTS,
    LABELS,
    SEGMENT_ZH,
    STATUS_ZH,
    annual_totals_million,
    drop_files,
    parse_period,
    quarterly_revenue,
    read_file,
    xlsx_content,
)

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "data" / "sample" / "drops"
README = ROOT / "data" / "sample" / "README.md"

# Tolerances of the calibration (see data/sample/README.md).
TOTAL_2024_MILLION, TOTAL_TOLERANCE = 400_000.0, 0.02
GROWTH_2024, GROWTH_TOLERANCE = 0.07, 0.015
Q1_2025_YOY, Q1_TOLERANCE = 0.132, 0.02


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("drops")
    write_bundled_drops(out)
    return out


@pytest.fixture(scope="module")
def revenue(bundled: Path) -> dict[tuple[str, tuple[int, int]], int]:
    return quarterly_revenue(bundled)


# --- bundled drops ---------------------------------------------------------------------------

@pytest.mark.slow
def test_bundled_drops_are_26_quarters_with_every_file(bundled: Path) -> None:
    assert sorted(p.name for p in bundled.iterdir()) == LABELS
    for label in LABELS:
        assert set(drop_files(bundled / label)) == {"enterprises", "revenue", "zone_metrics"}
        source = json.loads((bundled / label / "source.json").read_text(encoding="utf-8"))
        assert source["seed"] == DEFAULT_SEED
        assert "SAMPLE DATA — generated, not real" in source["title"]
        assert source["generator"] == "etl.sample.write_bundled_drops"


@pytest.mark.slow
def test_same_seed_writes_identical_bytes(bundled: Path, tmp_path: Path) -> None:
    written = write_bundled_drops(tmp_path)
    assert len(written) == 26 * 4
    for path in written:
        twin = bundled / path.relative_to(tmp_path)
        assert path.read_bytes() == twin.read_bytes(), path.relative_to(tmp_path)


@pytest.mark.slow
def test_other_seed_writes_other_data(bundled: Path, tmp_path: Path) -> None:
    write_bundled_drops(tmp_path, seed=7)
    for label, name in (("2019Q1", "revenue.csv"), ("2019Q4", "revenue.xlsx")):
        assert (tmp_path / label / name).read_bytes() != (bundled / label / name).read_bytes()
    assert json.loads((tmp_path / "2019Q1" / "source.json").read_text())["seed"] == 7


@pytest.mark.slow
def test_committed_drops_equal_a_fresh_generation(bundled: Path) -> None:
    """Nobody edits the bundled drops by hand: regenerate with `aidash sample`."""
    ignore = {"rejections.csv"}
    committed = sorted(p.relative_to(COMMITTED) for p in COMMITTED.rglob("*")
                       if p.is_file() and p.name not in ignore)
    fresh = sorted(p.relative_to(bundled) for p in bundled.rglob("*") if p.is_file())
    assert committed == fresh
    for rel in fresh:
        same = (COMMITTED / rel).read_bytes() == (bundled / rel).read_bytes()
        if rel.suffix == ".xlsx" and not same:
            assert xlsx_content(COMMITTED / rel) == xlsx_content(bundled / rel), rel
        else:
            assert same, rel


@pytest.mark.slow
@pytest.mark.parametrize("label, names, encoding, line_end", [
    ("2019Q1", ["enterprises.csv", "revenue.csv", "zone_metrics.csv"], "utf-8", b"\n"),
    ("2021Q2", ["enterprises.csv", "revenue.csv", "zone_metrics.csv"], "utf-8-sig", b"\r\n"),
    ("2023Q3", ["企业名录.csv", "营业收入.csv", "园区指标.csv"], "gb18030", b"\r\n"),
    ("2019Q4", ["enterprises.xlsx", "revenue.xlsx", "zone_metrics.xlsx"], None, None),
])
def test_drop_formats(bundled: Path, label: str, names: list[str], encoding: str | None,
                      line_end: bytes | None) -> None:
    folder = bundled / label
    assert sorted(p.name for p in folder.iterdir()) == sorted([*names, "source.json"])
    for name in names:
        raw = (folder / name).read_bytes()
        if encoding is None or line_end is None:
            assert raw[:2] == b"PK"
            continue
        assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
        first_line = raw.split(b"\n", 1)[0] + b"\n"
        assert first_line.endswith(line_end)
        if encoding == "gb18030":
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        raw.decode(encoding)


@pytest.mark.slow
def test_formats_per_drop_match_the_readme(bundled: Path) -> None:
    text = README.read_text(encoding="utf-8")
    for label in LABELS:
        fmt = DROP_FORMATS.get(label, FORMAT_CSV_EN)
        source = json.loads((bundled / label / "source.json").read_text(encoding="utf-8"))
        assert source["format"] == fmt
        assert re.search(rf"\|\s*{label}\s*\|[^\n]*`{fmt}`", text), label


@pytest.mark.slow
def test_every_row_is_sample_and_every_code_valid(bundled: Path) -> None:
    registered: set[str] = set()
    for label in LABELS:
        for kind, path in drop_files(bundled / label).items():
            rows, chinese = read_file(path)
            assert rows, (label, kind)
            assert {r["provenance"] for r in rows} == {"样例" if chinese else "sample"}
            if kind == "enterprises":
                bad = [r["credit_code"] for r in rows if not is_valid(r["credit_code"])]
                assert bad == []
                registered |= {r["credit_code"] for r in rows}
            if kind == "revenue":
                # revenue only for firms in this drop's register or loaded before
                assert {r["credit_code"] for r in rows} <= registered
                assert all(float(r["revenue"]) >= 0 for r in rows)


@pytest.mark.slow
def test_zones_and_districts_are_known_and_consistent(bundled: Path) -> None:
    zones = {z.zone_id: z for z in load_zones()}
    seen_zones: set[str] = set()
    for label in LABELS:
        quarter_end = periods.quarter_end(int(label[:4]), int(label[5]))
        rows, _ = read_file(drop_files(bundled / label)["enterprises"])
        for r in rows:
            district = int(r["district_code"])
            assert district in DISTRICTS
            if r["zone_id"]:
                zone = zones[r["zone_id"]]
                assert zone.district == district, r
                assert zone.opened is None or zone.opened <= quarter_end, (label, r["zone_id"])
                seen_zones.add(r["zone_id"])
            segment = SEGMENT_ZH.get(r["segment"], r["segment"])
            assert segment in SEGMENT_CODES
            status = STATUS_ZH.get(r["status"], r["status"])
            assert status in STATUS_CODES
            assert date.fromisoformat(_iso(r["founded"])) <= quarter_end
        metrics, _ = read_file(drop_files(bundled / label)["zone_metrics"])
        for m in metrics:
            zone = zones[m["zone_id"]]
            assert zone.opened is None or zone.opened <= quarter_end, (label, m["zone_id"])
    # every zone that opened by 2025Q2 gets firms; Zhangjiang AI Town (2025-09) gets none
    assert seen_zones == {z for z, v in zones.items()
                          if v.opened is None or v.opened <= date(2025, 6, 30)}
    assert "zhangjiang_ai_town" not in seen_zones


def _iso(text: str) -> str:
    """A founded date as written in any of the drop formats, as YYYY-MM-DD."""
    m = re.fullmatch(r"(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})日?", text)
    assert m, text
    return f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"


@pytest.mark.slow
def test_first_drop_holds_firms_founded_before_2019_04_and_later_drops_the_new_ones(
        bundled: Path) -> None:
    first, _ = read_file(drop_files(bundled / "2019Q1")["enterprises"])
    assert 1_500 <= len(first) <= 2_500
    assert max(_iso(r["founded"]) for r in first) < "2019-04-01"
    known = {r["credit_code"] for r in first}
    for label in LABELS[1:]:
        y, q = int(label[:4]), int(label[5])
        rows, _ = read_file(drop_files(bundled / label)["enterprises"])
        new = [r for r in rows if r["credit_code"] not in known]
        assert new, label
        start = date(y, 3 * q - 2, 1).isoformat()
        assert all(start <= _iso(r["founded"]) for r in new), label
        known |= {r["credit_code"] for r in rows}
    assert 4_000 <= len(known) <= 6_000


@pytest.mark.slow
def test_ytd_drops_carry_year_to_date_periods(bundled: Path) -> None:
    for label, fmt in DROP_FORMATS.items():
        if fmt != FORMAT_CSV_ZH_YTD:
            continue
        rows, chinese = read_file(drop_files(bundled / label)["revenue"])
        assert chinese
        assert {r["period"] for r in rows} == {f"{label[:4]}年1-{3 * int(label[5])}月"}
        assert {r["basis"] for r in rows} == {"累计"}


@pytest.mark.slow
def test_annual_totals_follow_the_reported_series(
        revenue: dict[tuple[str, tuple[int, int]], int]) -> None:
    by_year, by_q = annual_totals_million(revenue)
    assert by_year[2024] == pytest.approx(TOTAL_2024_MILLION, rel=TOTAL_TOLERANCE)
    assert by_year[2024] / by_year[2023] - 1 == pytest.approx(GROWTH_2024, abs=GROWTH_TOLERANCE)
    assert by_q[(2025, 1)] / by_q[(2024, 1)] - 1 == pytest.approx(Q1_2025_YOY,
                                                                  abs=Q1_TOLERANCE)
    for year, target in ANNUAL_TOTALS_MILLION_CNY.items():
        assert by_year[year] == pytest.approx(target, rel=0.005), year
    # seasonality: Q4 strongest, Q1 weakest in every full year
    for year in range(2019, 2025):
        quarters = [by_q[(year, q)] for q in range(1, 5)]
        assert quarters[3] == max(quarters) and quarters[0] == min(quarters), year


@pytest.mark.slow
def test_revenue_is_heavy_tailed(revenue: dict[tuple[str, tuple[int, int]], int]) -> None:
    per_firm: dict[str, int] = defaultdict(int)
    for (code, (y, _)), v in revenue.items():
        if y == 2024:
            per_firm[code] += v
    ranked = sorted(per_firm.values(), reverse=True)
    top = ranked[: len(ranked) // 100]
    assert sum(top) / sum(ranked) > 0.25
    assert np.median(ranked) < np.mean(ranked) / 4


@pytest.mark.slow
def test_2024q4_restates_2024q3_for_a_handful_of_firms(bundled: Path) -> None:
    q3, _ = read_file(drop_files(bundled / "2024Q3")["revenue"])
    q4, _ = read_file(drop_files(bundled / "2024Q4")["revenue"])
    first = {r["credit_code"]: r["revenue"] for r in q3}
    restated = {r["credit_code"]: r["revenue"] for r in q4 if r["period"] == "2024Q3"}
    assert len(restated) == REVENUE_REVISION_FIRMS
    assert all(first[code] != value for code, value in restated.items())
    z4, _ = read_file(drop_files(bundled / "2024Q4")["zone_metrics"])
    z5, _ = read_file(drop_files(bundled / "2025Q1")["zone_metrics"])
    again = [m for m in z5 if m["period"] == "2024年4季度"]
    assert [m["zone_id"] for m in again] == ["lingang_ct_computing"]
    before = next(m for m in z4 if m["zone_id"] == "lingang_ct_computing")
    assert float(again[0]["computing_pflops"]) > float(before["computing_pflops"])


@pytest.mark.slow
def test_zone_metrics_near_reported_2025_figures(bundled: Path) -> None:
    rows, _ = read_file(drop_files(bundled / "2025Q2")["zone_metrics"])
    by_zone = {r["zone_id"]: r for r in rows}
    mosu, westbund = by_zone["mosu_space"], by_zone["westbund_ai_tower"]
    # Mosu: ~100 foundation-model firms (2024-06, >100 2025-04); West Bund 255 (broader area)
    assert 80 <= int(mosu["foundation_model_firms"]) <= 160
    assert 120 <= int(mosu["foundation_model_firms"]) + int(westbund["foundation_model_firms"]) \
        <= 300
    # registered models: Mosu 50 by 2025-09, city 66 by 2025-03
    assert 20 <= int(mosu["registered_models"]) <= 60
    assert sum(int(r["registered_models"]) for r in rows) <= 90
    assert float(by_zone["lingang_ct_computing"]["computing_pflops"]) >= 10_000


@pytest.mark.slow
def test_registered_models_never_fall(bundled: Path) -> None:
    last: dict[str, int] = {}
    for label in LABELS:
        rows, _ = read_file(drop_files(bundled / label)["zone_metrics"])
        for r in rows:
            (y, q), _ = parse_period(r["period"])
            if f"{y}Q{q}" != label:
                continue
            value = int(r["registered_models"])
            assert value >= last.get(r["zone_id"], 0), (label, r["zone_id"])
            last[r["zone_id"]] = value


@pytest.mark.slow
def test_share_of_firms_in_no_zone(bundled: Path) -> None:
    state: dict[str, dict[str, str]] = {}
    for label in LABELS:
        rows, _ = read_file(drop_files(bundled / label)["enterprises"])
        state.update({r["credit_code"]: r for r in rows})
    active = [r for r in state.values() if r["status"] in ("active", "存续")]
    share = sum(1 for r in active if not r["zone_id"]) / len(active)
    assert 0.30 <= share <= 0.42
