"""A small, deterministic database for the dashboard tests (and for screenshots).

``build_seeded_db(path)`` writes every table the dashboard reads through SQLAlchemy Core inserts
into the real schema: the 16 districts, the segments of ``data/segments.csv``, seven zones (the four
core zones, a sub-site, an unconfirmed X park and a computing site without coordinates), metrics
with names in both languages, ~200 sample enterprises with eight quarters of revenue
(2023Q3–2025Q2), the derived observations, a handful of reported facts (two sources for one
figure), a policy target, forecasts of two vintages with a target probability, and three ETL
runs.

Everything made up here is marked ``provenance='sample'`` and cites the sample generator. The
reported facts are real: rows of ``data/reference/shanghai_ai_facts.csv`` (listed in
:data:`REPORTED_FACTS`), turned into observations and sources by the facts loader's own
:func:`etl.facts.clean_facts`, so the seed cannot label a figure reported that no publication
gave.
"""

from __future__ import annotations

import calendar
import csv
import json
import math
import random
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import insert

from etl import credit_code
from etl.facts import clean_facts, read_facts, read_scope_map
from models.db import create_db_and_tables, make_engine
from models.tables import (
    CITY_SCOPE_ID,
    District,
    Enterprise,
    EnterpriseRevenue,
    EtlRun,
    ForecastPoint,
    ForecastRun,
    Metric,
    Observation,
    Segment,
    Source,
    TargetProbability,
    Zone,
)

ROOT = Path(__file__).resolve().parent.parent
GEOJSON = ROOT / "data" / "geo" / "shanghai_districts.geojson"
DISTRICT_NAMES = ROOT / "data" / "geo" / "district_names.csv"
SEGMENTS_CSV = ROOT / "data" / "segments.csv"
FACTS_CSV = ROOT / "data" / "reference" / "shanghai_ai_facts.csv"
SCOPE_MAP_CSV = ROOT / "data" / "reference" / "scope_map.csv"

SEED = 42
N_ENTERPRISES = 200
QUARTERS = ["2023Q3", "2023Q4", "2024Q1", "2024Q2", "2024Q3", "2024Q4", "2025Q1", "2025Q2"]
# Name of the enterprise whose name looks like a spreadsheet formula (export neutralisation test).
FORMULA_NAME = "=HYPERLINK(\"http://example.invalid\",\"click\")"
FORMULA_CODE_INDEX = 7

# Run ids: 1 reference facts, 2 the 2024Q4 drop, 3 the 2025Q2 drop (the latest).
RUN_FACTS, RUN_DROP_2024Q4, RUN_DROP_2025Q2 = 1, 2, 3
# Source 1 is the sample generator; the reported facts' sources follow from 2.
SRC_SAMPLE = 1

# The reported figures: (metric, zone_or_scope, period) of rows of the reference facts file.
REPORTED_FACTS = [
    # People's Daily, 2025-05-07: output 400 bn in 2024, growth over 7 %, 13.2 % in 2025Q1;
    # West Bund 255 foundation-model firms and 34 registered models.
    ("ai_industry_output", "Shanghai (city)", "2024"),
    ("ai_industry_output_growth_yoy", "Shanghai (city)", "2024"),
    ("ai_industry_output_growth_yoy", "Shanghai (city)", "2025Q1"),
    ("zone_foundation_model_enterprises", "West Bund (Xuhui)", "2025 (as reported 2025-05)"),
    ("zone_registered_foundation_models", "West Bund (Xuhui)", "2025 (as reported 2025-05)"),
    # Another basis for 2024: industry scale over 450 bn, growth over 7.8 %; the scale from two
    # sources (the Conflicts tab's side-by-side group).
    ("ai_industry_scale", "Shanghai (city)", "2024"),
    ("ai_industry_scale", "Shanghai (city)", "as reported c. 2025 (likely 2024)"),
    ("ai_industry_growth_yoy", "Shanghai (city)", "2024"),
    # Above designated size: 134 bn (2018) and over 380 bn (2022); the 2025 target of 400 bn.
    ("ai_industry_scale_above_designated_size", "Shanghai (city)", "2018"),
    ("ai_industry_scale_above_designated_size", "Shanghai (city)", "2022"),
    ("target_ai_industry_scale_above_designated_size", "Shanghai (city)",
     "2025 (14th FYP target)"),
    # A district figure: Pudong over 120 bn at the end of 2022.
    ("district_ai_industry_scale", "Pudong New Area", "2022 (end)"),
]

# Fallback district centres (lon, lat) when the real GeoJSON is not there yet: tiny squares.
_DISTRICT_CENTRES = {
    310101: (121.49, 31.23), 310104: (121.44, 31.18), 310105: (121.40, 31.21),
    310106: (121.45, 31.25), 310107: (121.40, 31.25), 310109: (121.49, 31.27),
    310110: (121.53, 31.28), 310112: (121.40, 31.10), 310113: (121.40, 31.40),
    310114: (121.25, 31.35), 310115: (121.60, 31.20), 310116: (121.25, 30.85),
    310117: (121.22, 31.03), 310118: (121.10, 31.15), 310120: (121.55, 30.92),
    310151: (121.60, 31.60),
}

ZONES = [
    # zone_id, name_en, name_zh, kind, parent, adcode, lon, lat, weight of firms
    ("zhangjiang_ai_island", "Zhangjiang AI Island", "张江人工智能岛", "core4", None, 310115,
     121.608, 31.2056, 5),
    ("westbund_ai_tower", "West Bund AI Tower", "西岸智塔", "core4", None, 310104,
     121.459, 31.1623, 5),
    ("dishui_lake_ai_hub", "Dishui Lake AI Innovation Hub", "滴水湖AI创新港", "core4", None, 310115,
     121.93, 30.907, 3),
    ("maqiao_ai_pilot_zone", "Maqiao AI Innovation Pilot Zone", "马桥人工智能创新试验区", "core4",
     None, 310112, 121.365, 31.025, 3),
    ("mosu_space", "Mosu Space (Foundation Model Innovation Center)", "模速空间", "core4-subsite",
     "westbund_ai_tower", 310104, 121.4568, 31.1656, 3),
    ("changyang_chuanggu", "Changyang Chuanggu", "长阳创谷", "X_unconfirmed", None, 310110,
     121.5274, 31.2747, 2),
    ("lingang_ct_computing", "China Telecom Lingang Intelligent Computing Center",
     "中国电信临港智算中心", "compute_site", None, 310115, None, None, 1),
]

METRICS = [
    ("enterprise_revenue", "Enterprise revenue", "企业营业收入", "million CNY", "百万元"),
    ("enterprise_count", "Active enterprises", "在营企业数", "enterprises", "家"),
    ("zone_enterprises", "Enterprises in zone", "园区企业数", "enterprises", "家"),
    ("zone_foundation_model_enterprises", "Foundation-model enterprises", "大模型企业数",
     "enterprises", "家"),
    ("zone_registered_foundation_models", "Registered foundation models", "备案大模型数",
     "models", "个"),
    ("zone_investment_institutions", "Investment institutions", "投资机构数", "institutions", "家"),
    ("zone_computing_pflops", "Computing power", "算力", "PFLOPS", "PFLOPS"),
    ("ai_industry_output", "AI industry output", "人工智能产业产值", "billion CNY", "十亿元"),
    ("ai_industry_scale_above_designated_size", "AI industry scale (above designated size)",
     "人工智能规上产业规模", "billion CNY", "十亿元"),
    ("ai_industry_output_growth_yoy", "AI industry output growth (year on year)",
     "人工智能产业产值同比增速", "percent", "%"),
    ("ai_industry_scale", "AI industry scale", "人工智能产业规模", "billion CNY", "十亿元"),
    ("ai_industry_growth_yoy", "AI industry scale growth (year on year)",
     "人工智能产业规模同比增速", "percent", "%"),
    ("target_ai_industry_scale_above_designated_size",
     "Target: AI industry scale (above designated size)", "规上人工智能产业规模目标",
     "billion CNY", "十亿元"),
    ("district_ai_industry_scale", "District AI industry scale", "区人工智能产业规模",
     "billion CNY", "十亿元"),
]


def quarter_end(period: str) -> date:
    """The last day of a ``YYYYQn`` period."""
    year, month = int(period[:4]), int(period[5]) * 3
    return date(year, month, calendar.monthrange(year, month)[1])


def _next_quarter(period: str) -> str:
    year, q = int(period[:4]), int(period[5])
    return f"{year + 1}Q1" if q == 4 else f"{year}Q{q + 1}"


def _square(lon: float, lat: float, half: float = 0.03) -> str:
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
            [lon - half, lat + half], [lon - half, lat - half]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def _districts(geojson: Path | None) -> list[dict]:
    path = geojson if geojson is not None else GEOJSON
    if path.exists():
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
        return [{"adcode": int(f["properties"]["adcode"]), "name_zh": f["properties"]["name_zh"],
                 "name_en": f["properties"]["name_en"],
                 "area_km2": float(f["properties"].get("area_km2") or 1.0),
                 "geometry": json.dumps(f["geometry"], separators=(",", ":"))} for f in features]
    with DISTRICT_NAMES.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [{"adcode": int(r["adcode"]), "name_zh": r["name_zh"], "name_en": r["name_en"],
             "area_km2": 40.0, "geometry": _square(*_DISTRICT_CENTRES[int(r["adcode"])])}
            for r in rows]


def _segments() -> list[dict]:
    with SEGMENTS_CSV.open(encoding="utf-8") as fh:
        return [{"code": r["code"], "name_zh": r["name_zh"], "name_en": r["name_en"],
                 "sort_order": int(r["sort_order"])} for r in csv.DictReader(fh)]


def _obs(metric: str, scope_type: str, scope_id: str, period: str, value: float, unit: str,
         basis: str, provenance: str, source_id: int, run_id: int, *, kind: str = "actual",
         period_end: date | None = None, lower_bound: bool = False, approximate: bool = False,
         superseded_by: int | None = None, method: str | None = None,
         scope_label: str | None = None) -> dict:
    if period_end is None:
        period_end = quarter_end(period) if "Q" in period else date(int(period[:4]), 12, 31)
    return {"metric": metric, "scope_type": scope_type, "scope_id": scope_id,
            "scope_label": scope_label, "period": period, "period_end": period_end,
            "period_label": None, "value": value, "unit": unit, "basis": basis, "kind": kind,
            "lower_bound": lower_bound, "approximate": approximate, "provenance": provenance,
            "method": method, "source_id": source_id, "etl_run_id": run_id,
            "superseded_by": superseded_by}


def build_seeded_db(path: str | Path, *, geojson: Path | None = None,
                    n_enterprises: int = N_ENTERPRISES) -> Path:
    """Create the seeded database at ``path`` (overwritten if it exists) and return its path.

    :param path: where to write the SQLite file.
    :param geojson: district boundaries; default ``data/geo/shanghai_districts.geojson`` if it
        exists, else small squares around each district's centre.
    :param n_enterprises: how many sample enterprises to make.
    """
    path = Path(path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    rng = random.Random(SEED)
    engine = make_engine(path)
    create_db_and_tables(engine)

    districts = _districts(geojson)
    segments = _segments()
    runs = [
        {"id": RUN_FACTS, "kind": "facts", "started_at": datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
         "finished_at": datetime(2025, 1, 6, 9, 0, 4, tzinfo=UTC), "status": "succeeded",
         "data_period": "2025", "rows_read": len(REPORTED_FACTS),
         "rows_inserted": len(REPORTED_FACTS),
         "message": "reference facts"},
        {"id": RUN_DROP_2024Q4, "kind": "drop",
         "started_at": datetime(2025, 2, 10, 8, 30, tzinfo=UTC),
         "finished_at": datetime(2025, 2, 10, 8, 30, 9, tzinfo=UTC), "status": "succeeded",
         "drop_path": "data/sample/drops/2024Q4", "data_period": "2024Q4", "rows_read": 1400,
         "rows_inserted": 1400},
        {"id": RUN_DROP_2025Q2, "kind": "drop",
         "started_at": datetime(2025, 8, 12, 14, 5, tzinfo=UTC),
         "finished_at": datetime(2025, 8, 12, 14, 5, 11, tzinfo=UTC), "status": "succeeded",
         "drop_path": "data/sample/drops/2025Q2", "data_period": "2025Q2", "rows_read": 620,
         "rows_inserted": 600, "rows_updated": 16, "rows_rejected": 4},
    ]
    reported_sources, reported = _reported_facts()
    sources = [
        {"id": SRC_SAMPLE, "key": "sample-generator-42", "title": "Sample generator (seed 42)",
         "publisher": "aidash", "url_or_publication": None, "published": "2025-08-12",
         "quote": None, "confidence": "low", "caveat": "Generated, not real.",
         "provenance": "sample"},
        *reported_sources,
    ]
    zones = [{"zone_id": z[0], "name_en": z[1], "name_zh": z[2], "kind": z[3],
              "parent_zone_id": z[4], "district_adcode": z[5], "lon": z[6], "lat": z[7],
              "coord_note": "approximate", "polygon": None, "opened": None,
              "source": "shared/reference/zones.csv", "notes": None} for z in ZONES]
    metrics = [{"code": m[0], "name_en": m[1], "name_zh": m[2], "unit_en": m[3], "unit_zh": m[4],
                "description": None} for m in METRICS]

    # Enterprises: deterministic names, codes, places and sizes.
    zone_weights = [(z[0], z[5], z[8]) for z in ZONES]
    seg_codes = [s["code"] for s in segments]
    adcodes = [d["adcode"] for d in districts]
    enterprises: list[dict] = []
    stems_zh = ["智算", "深度", "灵犀", "星河", "云图", "天枢", "海纳", "浦江", "启明", "数智"]
    stems_en = ["Zhisuan", "Shendu", "Lingxi", "Xinghe", "Yuntu", "Tianshu", "Haina", "Pujiang",
                "Qiming", "Shuzhi"]
    kinds_zh = ["科技", "智能", "信息技术", "机器人", "数据"]
    kinds_en = ["Technology", "Intelligence", "Information Technology", "Robotics", "Data"]
    for i in range(n_enterprises):
        if rng.random() < 0.7:
            zone_id, adcode, _ = rng.choices(zone_weights, weights=[w for *_, w in zone_weights])[0]
        else:
            zone_id, adcode = None, rng.choice(adcodes)
        s, k = i % len(stems_zh), (i // len(stems_zh)) % len(kinds_zh)
        name_zh = f"上海{stems_zh[s]}{kinds_zh[k]}有限公司{i:03d}"
        name_en = f"Shanghai {stems_en[s]} {kinds_en[k]} Co., Ltd. {i:03d}"
        if i == FORMULA_CODE_INDEX:
            name_en = FORMULA_NAME
        founded = date(rng.randint(2008, 2024), rng.randint(1, 12), rng.randint(1, 28))
        enterprises.append({
            "credit_code": credit_code.make(rng, adcode), "name_zh": name_zh, "name_en": name_en,
            "zone_id": zone_id, "district_adcode": adcode, "segment": seg_codes[i % len(seg_codes)],
            "founded": founded, "registered_capital": round(rng.uniform(1, 500), 1),
            "employees": int(rng.lognormvariate(4.0, 1.2)),
            "status": "active" if rng.random() > 0.05 else "suspended", "provenance": "sample",
            "source_id": SRC_SAMPLE, "etl_run_id": RUN_DROP_2024Q4 if i < 160 else RUN_DROP_2025Q2,
        })

    # Quarterly revenue (million CNY): a firm-specific level and growth rate, some noise.
    revenue: list[dict] = []
    for e in enterprises:
        level = rng.lognormvariate(5.6, 0.9)
        growth = rng.uniform(-0.01, 0.06)
        for t, period in enumerate(QUARTERS):
            if quarter_end(period) < e["founded"]:
                continue
            seasonal = 1.0 + 0.06 * math.sin(2 * math.pi * (int(period[5]) - 1) / 4)
            value = round(level * (1 + growth) ** t * seasonal * rng.uniform(0.92, 1.08), 3)
            run = RUN_DROP_2024Q4 if period <= "2024Q4" else RUN_DROP_2025Q2
            revenue.append({"credit_code": e["credit_code"], "period": period, "revenue": value,
                            "from_ytd": False, "provenance": "sample", "etl_run_id": run,
                            "superseded_by": None})

    observations = _derived_observations(enterprises, revenue)
    observations += _zone_metric_observations(rng)
    observations += reported
    # One revised figure: the 2024Q4 city revenue first loaded by run 2, superseded by run 3.
    first = next(o for o in observations if o["metric"] == "enterprise_revenue"
                 and o["scope_type"] == "city" and o["period"] == "2024Q4")
    observations.append({**first, "value": round(first["value"] * 0.97, 3),
                         "superseded_by": RUN_DROP_2025Q2, "etl_run_id": RUN_DROP_2024Q4})

    with engine.begin() as conn:
        for table, rows in ((EtlRun, runs), (Source, sources), (District, districts),
                            (Segment, segments), (Zone, zones), (Metric, metrics),
                            (Enterprise, enterprises), (EnterpriseRevenue, revenue),
                            (Observation, observations)):
            conn.execute(insert(table.__table__), _complete(table, rows))
        _forecasts(conn, observations)
    engine.dispose()
    return path


def _complete(table: type, rows: list[dict]) -> list[dict]:
    """Give every row the same keys (an executemany needs them): column defaults, else None."""
    defaults = {}
    for col in table.__table__.columns:  # type: ignore[attr-defined]
        arg = getattr(col.default, "arg", None)
        defaults[col.name] = None if callable(arg) else arg
    keys = set().union(*(r.keys() for r in rows))
    return [{**{k: defaults.get(k) for k in keys}, **r} for r in rows]


def _derived_observations(enterprises: list[dict], revenue: list[dict]) -> list[dict]:
    """Sums of revenue and counts of active firms by city, district, zone and segment."""
    by_code = {e["credit_code"]: e for e in enterprises}
    sums: dict[tuple[str, str, str], float] = defaultdict(float)
    for r in revenue:
        e = by_code[r["credit_code"]]
        for scope in _scopes(e):
            sums[(*scope, r["period"])] += r["revenue"]
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for period in QUARTERS:
        for e in enterprises:
            if e["status"] == "active" and e["founded"] <= quarter_end(period):
                for scope in _scopes(e):
                    counts[(*scope, period)] += 1
    out = []
    for (stype, sid, period), value in sorted(sums.items()):
        run = RUN_DROP_2024Q4 if period <= "2024Q4" else RUN_DROP_2025Q2
        out.append(_obs("enterprise_revenue", stype, sid, period, round(value, 3), "million CNY",
                        "quarterly", "sample", SRC_SAMPLE, run,
                        method="sum of enterprise_revenue"))
    for (stype, sid, period), value in sorted(counts.items()):
        run = RUN_DROP_2024Q4 if period <= "2024Q4" else RUN_DROP_2025Q2
        out.append(_obs("enterprise_count", stype, sid, period, float(value), "enterprises",
                        "point", "sample", SRC_SAMPLE, run, method="count of active enterprises"))
    return out


def _scopes(e: dict) -> list[tuple[str, str]]:
    scopes = [("city", CITY_SCOPE_ID), ("district", str(e["district_adcode"])),
              ("segment", e["segment"])]
    if e["zone_id"]:
        scopes.append(("zone", e["zone_id"]))
    return scopes


def _zone_metric_observations(rng: random.Random) -> list[dict]:
    """The zone_metrics drop file: firms, foundation-model firms, models, investors, PFLOPS."""
    out = []
    for z in ZONES:
        base = z[8] * 40
        for t, period in enumerate(QUARTERS):
            run = RUN_DROP_2024Q4 if period <= "2024Q4" else RUN_DROP_2025Q2
            firms = round(base * (1 + 0.04 * t) * rng.uniform(0.97, 1.03))
            values = {
                "zone_enterprises": firms,
                "zone_foundation_model_enterprises": round(firms * 0.3),
                "zone_registered_foundation_models": round(z[8] * 2 + t * 0.8 * z[8] / 2),
                "zone_investment_institutions": round(z[8] * 6 + t),
                "zone_computing_pflops": round(z[8] * 120 * (1 + 0.08 * t), 1),
            }
            for metric, value in values.items():
                unit = {"zone_computing_pflops": "PFLOPS", "zone_registered_foundation_models":
                        "models", "zone_investment_institutions": "institutions"}.get(
                            metric, "enterprises")
                out.append(_obs(metric, "zone", z[0], period, float(value), unit, "point",
                                "sample", SRC_SAMPLE, run))
    return out


def _reported_facts() -> tuple[list[dict], list[dict]]:
    """The sources and observations of :data:`REPORTED_FACTS`, as the facts loader makes them.

    :raises LookupError: a listed fact is not (or no longer) in the reference file.
    """
    picked: dict[tuple[str, str, str], tuple[int, dict[str, str]]] = {}
    for r in read_facts(FACTS_CSV):
        key = (r.values["metric"], r.values["zone_or_scope"], r.values["period"])
        if key in REPORTED_FACTS:
            picked[key] = (r.row, r.values)
    missing = [k for k in REPORTED_FACTS if k not in picked]
    if missing:
        raise LookupError(f"not in {FACTS_CSV.name}: {missing}")
    plan = clean_facts([picked[k] for k in REPORTED_FACTS], read_scope_map(SCOPE_MAP_CSV),
                       {m[0]: m[3] for m in METRICS}, FACTS_CSV.name)
    source_ids = {key: SRC_SAMPLE + n for n, key in enumerate(plan.sources, start=1)}
    sources = [{"id": source_ids[key], **source} for key, source in plan.sources.items()]
    observations = []
    for obs in plan.observations:
        row = {k: v for k, v in obs.items() if k != "source_key"}
        observations.append({**row, "source_id": source_ids[obs["source_key"]],
                             "etl_run_id": RUN_FACTS, "superseded_by": None})
    return sources, observations


def _forecasts(conn, observations: list[dict]) -> None:  # type: ignore[no-untyped-def]
    """Two vintages of the city revenue forecast, one per zone, and the target probability."""
    from sqlalchemy import select

    from models.tables import Observation as Obs

    def series(scope_type: str, scope_id: str, upto: str) -> list[float]:
        return [o["value"] for o in observations
                if o["metric"] == "enterprise_revenue" and o["scope_type"] == scope_type
                and o["scope_id"] == scope_id and o["superseded_by"] is None
                and o["period"] <= upto]

    plans = [("city", CITY_SCOPE_ID, "2024Q4", RUN_DROP_2024Q4, 0.71, 0.78, 0.93),
             ("city", CITY_SCOPE_ID, "2025Q2", RUN_DROP_2025Q2, 0.64, 0.81, 0.95)]
    plans += [("zone", z[0], "2025Q2", RUN_DROP_2025Q2, 0.9, 0.75, 0.9) for z in ZONES[:4]]
    city_forecast_id = None
    for fid, (stype, sid, last, vintage, mase, c80, c95) in enumerate(plans, start=1):
        hist = series(stype, sid, last)
        conn.execute(insert(ForecastRun.__table__), [{
            "id": fid, "series_key": f"enterprise_revenue|{stype}|{sid}|quarterly",
            "metric": "enterprise_revenue", "scope_type": stype, "scope_id": sid,
            "basis": "quarterly", "freq": "Q", "last_period": last, "vintage_run_id": vintage,
            "created_at": datetime(2025, 8, 12, 14, 6, tzinfo=UTC) if vintage == RUN_DROP_2025Q2
            else datetime(2025, 2, 10, 8, 31, tzinfo=UTC),
            "model": "ETS(A,A,N)", "method_note": "exponential smoothing with damped trend",
            "backtest_mase": mase, "backtest_cov80": c80, "backtest_cov95": c95,
            "provenance": "sample"}])
        level, slope = hist[-1], (hist[-1] - hist[-5]) / 4 if len(hist) >= 5 else 0.0
        points, period = [], last
        for h in range(1, 9):
            period = _next_quarter(period)
            mean = level + slope * h
            sd = abs(level) * 0.03 * math.sqrt(h)
            points.append({"forecast_id": fid, "period": period, "period_end": quarter_end(period),
                           "mean": round(mean, 3), "lo_80": round(mean - 1.2816 * sd, 3),
                           "hi_80": round(mean + 1.2816 * sd, 3),
                           "lo_95": round(mean - 1.96 * sd, 3),
                           "hi_95": round(mean + 1.96 * sd, 3)})
        conn.execute(insert(ForecastPoint.__table__), points)
        if stype == "city" and vintage == RUN_DROP_2025Q2:
            city_forecast_id = fid
    target = conn.execute(
        select(Obs.id, Obs.value, Obs.period).where(
            Obs.kind == "target",
            Obs.metric == "target_ai_industry_scale_above_designated_size")).one()
    # The probability is made up, like the forecast it would come from (both sample).
    conn.execute(insert(TargetProbability.__table__), [{
        "forecast_id": city_forecast_id, "target_observation_id": target.id,
        "target_value": target.value, "target_period": target.period, "probability": 0.62,
        "method": "share of simulated 2025 annual totals (sum of four quarters) at or above "
                  "target"}])


if __name__ == "__main__":  # pragma: no cover - handy for screenshots
    import sys

    if len(sys.argv) < 2:
        sys.exit("usage: python -m tests.seed OUT.db [districts.geojson]")
    print(build_seeded_db(sys.argv[1],
                          geojson=Path(sys.argv[2]) if len(sys.argv) > 2 else None))
