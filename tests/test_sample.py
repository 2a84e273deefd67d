"""The seeded sample generator: determinism, validity, formats, calibration, the scale drop.

The files are read back with a small reader written here from docs/drop-format.md (not with the
loader), so these tests check the files themselves.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from etl import sample
from etl.cli import app
from etl.credit_code import check_char, is_valid

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "data" / "sample" / "drops"
README = ROOT / "data" / "sample" / "README.md"
DISTRICTS = {310101, 310104, 310105, 310106, 310107, 310109, 310110, 310112, 310113, 310114,
             310115, 310116, 310117, 310118, 310120, 310151}
LABELS = [f"{y}Q{q}" for y in range(2019, 2026) for q in range(1, 5)][:26]

# Tolerances of the calibration (see data/sample/README.md).
TOTAL_2024_MILLION, TOTAL_TOLERANCE = 400_000.0, 0.02
GROWTH_2024, GROWTH_TOLERANCE = 0.07, 0.015
Q1_2025_YOY, Q1_TOLERANCE = 0.132, 0.02

KINDS = {"enterprises": "enterprises", "企业名录": "enterprises", "revenue": "revenue",
         "营业收入": "revenue", "zone_metrics": "zone_metrics", "园区指标": "zone_metrics"}
ZH_COLUMNS = {
    "统一社会信用代码": "credit_code", "企业名称": "name_zh", "英文名称": "name_en",
    "园区代码": "zone_id", "行政区划代码": "district_code", "细分领域": "segment",
    "成立日期": "founded", "注册资本(万元)": "registered_capital", "从业人员": "employees",
    "经营状态": "status", "数据性质": "provenance", "报告期": "period",
    "营业收入(万元)": "revenue", "统计口径": "basis", "企业数": "firms",
    "大模型企业数": "foundation_model_firms", "备案大模型数": "registered_models",
    "投资机构数": "investment_institutions", "算力(PFLOPS)": "computing_pflops",
}
SEGMENT_ZH = {"大模型": "foundation_models", "智能芯片与算力": "chips_computing",
              "智能机器人与具身智能": "robotics_embodied", "智能网联汽车": "intelligent_vehicles",
              "人工智能应用": "applications", "数据与基础设施": "data_infrastructure"}
STATUS_ZH = {"存续": "active", "停业": "suspended", "注销": "deregistered", "迁出": "moved_out"}


# --- a reader for drops, written from the format document ----------------------------------

def _cell(value: object) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def read_file(path: Path) -> tuple[list[dict[str, str]], bool]:
    """Rows with English column names, and whether the headers were Chinese (万元 units)."""
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        ws = load_workbook(path, read_only=True).worksheets[0]
        table = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
    else:
        raw = path.read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):
            text = raw.decode("utf-8-sig")
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("gb18030")
        table = list(csv.reader(io.StringIO(text, newline="")))
    header, body = table[0], table[1:]
    chinese = header[0] in ZH_COLUMNS
    names = [ZH_COLUMNS.get(h, h) for h in header]
    return [dict(zip(names, row)) for row in body], chinese


def drop_files(folder: Path) -> dict[str, Path]:
    return {KINDS[p.stem]: p for p in sorted(folder.iterdir()) if p.stem in KINDS}


def parse_period(text: str) -> tuple[tuple[int, int], bool]:
    """(year, quarter) and whether the figure is year-to-date."""
    if m := re.fullmatch(r"(\d{4})Q([1-4])", text):
        return (int(m[1]), int(m[2])), False
    if m := re.fullmatch(r"(\d{4})年([1-4])季度", text):
        return (int(m[1]), int(m[2])), False
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        return (int(m[1]), (int(m[2]) + 2) // 3), False
    if m := re.fullmatch(r"(\d{4})年1-(\d{1,2})月", text):
        assert int(m[2]) % 3 == 0, text
        return (int(m[1]), int(m[2]) // 3), True
    raise AssertionError(f"unknown period {text!r}")


def thousand_cny(value: str, chinese: bool) -> int:
    """Revenue as integer thousand CNY: English files are in million CNY, Chinese in 万元."""
    return round(float(value) * (10 if chinese else 1000))


def quarterly_revenue(root: Path) -> dict[tuple[str, tuple[int, int]], int]:
    """Every firm's revenue per quarter after loading all drops in order (last figure wins;
    year-to-date figures minus the earlier quarters of that year)."""
    values: dict[tuple[str, tuple[int, int]], int] = {}
    for label in LABELS:
        rows, chinese = read_file(drop_files(root / label)["revenue"])
        parsed = [(r["credit_code"], *parse_period(r["period"]), thousand_cny(r["revenue"],
                                                                                chinese))
                  for r in rows]
        for code, (y, q), ytd, value in sorted(parsed, key=lambda p: p[1]):
            if ytd:
                value -= sum(values.get((code, (y, k)), 0) for k in range(1, q))
            values[(code, (y, q))] = value
    return values


def annual_totals_million(values: dict[tuple[str, tuple[int, int]], int],
                          ) -> tuple[dict[int, float], dict[tuple[int, int], float]]:
    by_q: dict[tuple[int, int], float] = defaultdict(float)
    for (_, yq), thousand in values.items():
        by_q[yq] += thousand / 1000
    by_y: dict[int, float] = defaultdict(float)
    for (y, _), million in by_q.items():
        by_y[y] += million
    return dict(by_y), dict(by_q)


def xlsx_content(path: Path) -> tuple[object, ...]:
    """What an XLSX holds: member names and times, properties, every sheet's cells.

    Compared instead of bytes where another environment may serialise or deflate differently
    (a different zlib, or lxml installed).
    """
    from openpyxl import load_workbook

    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, i.date_time) for i in zf.infolist()]
    wb = load_workbook(path)
    props = (wb.properties.creator, wb.properties.created, wb.properties.modified)
    cells = [(ws.title, [[(c.value, c.number_format) for c in row] for row in ws.iter_rows()])
             for ws in wb.worksheets]
    return members, props, cells


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("drops")
    sample.write_bundled_drops(out)
    return out


@pytest.fixture(scope="module")
def revenue(bundled: Path) -> dict[tuple[str, tuple[int, int]], int]:
    return quarterly_revenue(bundled)


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scale")
    sample.write_scale_drop(out, enterprises=3_000, quarters=4)
    return out


# --- bundled drops ---------------------------------------------------------------------------

@pytest.mark.slow
def test_bundled_drops_are_26_quarters_with_every_file(bundled: Path) -> None:
    assert sorted(p.name for p in bundled.iterdir()) == LABELS
    for label in LABELS:
        assert set(drop_files(bundled / label)) == {"enterprises", "revenue", "zone_metrics"}
        source = json.loads((bundled / label / "source.json").read_text(encoding="utf-8"))
        assert source["seed"] == sample.DEFAULT_SEED
        assert "SAMPLE DATA — generated, not real" in source["title"]
        assert source["generator"] == "etl.sample.write_bundled_drops"


@pytest.mark.slow
def test_same_seed_writes_identical_bytes(bundled: Path, tmp_path: Path) -> None:
    written = sample.write_bundled_drops(tmp_path)
    assert len(written) == 26 * 4
    for path in written:
        twin = bundled / path.relative_to(tmp_path)
        assert path.read_bytes() == twin.read_bytes(), path.relative_to(tmp_path)


@pytest.mark.slow
def test_other_seed_writes_other_data(bundled: Path, tmp_path: Path) -> None:
    sample.write_bundled_drops(tmp_path, seed=7)
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
        fmt = sample.DROP_FORMATS.get(label, sample.FORMAT_CSV_EN)
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
    zones = {z.zone_id: z for z in sample.load_zones()}
    seen_zones: set[str] = set()
    for label in LABELS:
        quarter_end = sample._quarter_end((int(label[:4]), int(label[5])))
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
            assert segment in sample.SEGMENT_CODES
            status = STATUS_ZH.get(r["status"], r["status"])
            assert status in sample.STATUS_CODES
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
    for label, fmt in sample.DROP_FORMATS.items():
        if fmt != sample.FORMAT_CSV_ZH_YTD:
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
    for year, target in sample.ANNUAL_TOTALS_MILLION_CNY.items():
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
    assert len(restated) == sample.REVENUE_REVISION_FIRMS
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


# --- scale drop ------------------------------------------------------------------------------

def test_scale_drop_rows_and_codes(scale: Path) -> None:
    assert sorted(p.name for p in scale.iterdir()) == ["enterprises.csv", "revenue.csv",
                                                        "source.json", "zone_metrics.csv"]
    ents, _ = read_file(scale / "enterprises.csv")
    revenue, _ = read_file(scale / "revenue.csv")
    assert len(ents) == 3_000
    assert len(revenue) == 3_000 * 4
    codes = [r["credit_code"] for r in ents]
    assert all(is_valid(c) for c in codes)
    assert len(set(codes)) == len(codes)
    assert {r["period"] for r in revenue} == {"2024Q3", "2024Q4", "2025Q1", "2025Q2"}
    assert {r["credit_code"] for r in revenue} == set(codes)
    assert {r["provenance"] for r in ents} == {r["provenance"] for r in revenue} == {"sample"}
    open_zones = {z.zone_id for z in sample.load_zones() if z.opened is None
                  or z.opened <= date(2025, 6, 30)}
    assert {r["zone_id"] for r in ents} == open_zones | {""}
    assert {int(r["district_code"]) for r in ents} == DISTRICTS
    zones = {z.zone_id: z.district for z in sample.load_zones()}
    assert all(zones[r["zone_id"]] == int(r["district_code"]) for r in ents if r["zone_id"])
    assert all(r["founded"] < "2024-07-01" for r in ents)


def test_scale_drop_is_skewed(scale: Path) -> None:
    revenue, _ = read_file(scale / "revenue.csv")
    per_firm: dict[str, float] = defaultdict(float)
    for r in revenue:
        per_firm[r["credit_code"]] += float(r["revenue"])
    ranked = sorted(per_firm.values(), reverse=True)
    assert sum(ranked[:30]) / sum(ranked) > 0.30  # top 1 % of firms
    ents, _ = read_file(scale / "enterprises.csv")
    by_district: dict[str, int] = defaultdict(int)
    for r in ents:
        by_district[r["district_code"]] += 1
    assert by_district["310115"] > by_district["310106"] > by_district["310151"]


def test_scale_drop_is_deterministic(scale: Path, tmp_path: Path) -> None:
    sample.write_scale_drop(tmp_path / "a", enterprises=3_000, quarters=4)
    sample.write_scale_drop(tmp_path / "b", enterprises=3_000, quarters=4, seed=1)
    for name in ("enterprises.csv", "revenue.csv", "zone_metrics.csv", "source.json"):
        assert (tmp_path / "a" / name).read_bytes() == (scale / name).read_bytes()
    assert (tmp_path / "b" / "revenue.csv").read_bytes() != (scale / "revenue.csv").read_bytes()


def test_scale_drop_larger_than_one_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sample, "SCALE_FIRM_CHUNK", 700)
    sample.write_scale_drop(tmp_path, enterprises=2_000, quarters=2)
    ents, _ = read_file(tmp_path / "enterprises.csv")
    revenue, _ = read_file(tmp_path / "revenue.csv")
    assert len(ents) == 2_000 and len(revenue) == 4_000
    assert len({r["credit_code"] for r in ents}) == 2_000


def test_vectorised_credit_codes_are_valid() -> None:
    rng = np.random.default_rng(3)
    adcodes = rng.choice(sorted(DISTRICTS), size=20_000)
    codes = ["".join(map(chr, row)) for row in sample.credit_codes_vectorised(rng, adcodes)]
    assert all(is_valid(c) for c in codes)
    assert all(c[17] == check_char(c[:17]) and c[2:8] == str(a) for c, a in zip(codes, adcodes))
    assert all(c.startswith("91") for c in codes)


def test_scale_rejects_empty_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        sample.write_scale_drop(tmp_path, enterprises=0)


def test_cli_sample_writes_a_scale_drop(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sample", "--enterprises", "50", "--quarters", "2",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Wrote 4 file(s)" in result.output
    assert len((tmp_path / "revenue.csv").read_text().splitlines()) == 1 + 100
