"""Seeded sample drops: no real enterprise register can be shipped, so this module makes one.

Two entry points, both deterministic (the same seed writes the same bytes):

* :func:`write_bundled_drops` writes the 26 quarterly drops 2019Q1–2025Q2 that ``aidash init``
  loads. A small simulated register (about 4,000 active firms by 2025) evolves quarter by
  quarter: firms are founded, suspended, deregistered, move out of Shanghai, move between zones
  and report new head counts. Each quarter's revenue is scaled so that the city total follows
  the reported series (see ``ANNUAL_TOTALS_MILLION_CNY``), and the drops come in the mix of
  formats real refreshes arrive in (UTF-8 CSV, UTF-8 with BOM, GB18030 with Chinese headers and
  year-to-date revenue, XLSX). ``data/sample/README.md`` lists which drop has which format.
* :func:`write_scale_drop` writes one large drop (a million firms in seconds) for load tests.
  Everything is vectorised with numpy and written in chunks, including the credit codes.

Every row says ``provenance = sample`` (``数据性质 = 样例``), and every ``source.json`` says
"SAMPLE DATA — generated, not real".
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from etl import credit_code
from etl.xlsx import pinned_bytes

DEFAULT_SEED = 20250630
FIRST_QUARTER = (2019, 1)
LAST_QUARTER = (2025, 2)
# The first drop holds every firm founded before this day (the end of its quarter).
FIRST_DROP_CUTOFF = date(2019, 4, 1)
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
GENERATOR = "etl.sample (aidash sample generator)"
SAMPLE_NOTE = "SAMPLE DATA — generated, not real"

# --- Calibration -----------------------------------------------------------------------------
# City revenue per year in million CNY. 2024 and 2023 follow the People's Daily figures
# (ai_industry_output 400 bn in 2024, growth over 7 %); 2019–2021 follow the "industry scale"
# (产业规模) rows; 2022 has no figure on that basis (the 380 bn is 规上, another basis) and is the
# geometric mean of its neighbours. data/sample/README.md has the table with sources.
ANNUAL_TOTALS_MILLION_CNY: dict[int, float] = {
    2019: 224_600 / 1.50,                      # 2020 scale 224.6 bn grew "about 50 %"
    2020: 224_600.0,                           # ai_industry_scale_planned_full_year 2020
    2021: 305_600.0,                           # ai_industry_scale 2021
    2022: math.sqrt(305_600 * 400_000 / 1.07),  # interpolated, see above
    2023: 400_000 / 1.07,                      # 2024 grew 7 % over 2023
    2024: 400_000.0,                           # ai_industry_output 2024
}
Q1_2025_YOY = 0.132  # ai_industry_output_growth_yoy 2025Q1
H1_2025_YOY = 0.123  # ai_leading_industry_output_growth_yoy 2025H1 (fixes 2025Q2)
# Quarter shares of a flat year: Q1 weak (Spring Festival), Q4 strong (year-end billing).
SEASON = (0.88, 0.97, 0.99, 1.16)

# --- Geography -------------------------------------------------------------------------------
# (adcode, Chinese name, weight in % of firms). Zoneless central districts stay light enough that
# roughly 35-40 % of firms end up in no zone.
DISTRICTS: tuple[tuple[int, str, float], ...] = (
    (310101, "黄浦区", 2.2), (310104, "徐汇区", 22.0), (310105, "长宁区", 5.0),
    (310106, "静安区", 5.5), (310107, "普陀区", 2.0), (310109, "虹口区", 1.6),
    (310110, "杨浦区", 9.0), (310112, "闵行区", 12.0), (310113, "宝山区", 2.0),
    (310114, "嘉定区", 3.0), (310115, "浦东新区", 30.0), (310116, "金山区", 0.35),
    (310117, "松江区", 3.0), (310118, "青浦区", 0.8), (310120, "奉贤区", 0.6),
    (310151, "崇明区", 0.25),
)
DISTRICT_CODES = tuple(d[0] for d in DISTRICTS)
# District preference by segment (multiplies the weight above): models cluster in Xuhui
# (West Bund), chips in Zhangjiang, vehicles in Jiading and Lingang, robots in Minhang.
DISTRICT_SEGMENT_BOOST: dict[str, dict[int, float]] = {
    "foundation_models": {310104: 2.0, 310115: 1.0, 310110: 0.8},
    "chips_computing": {310115: 1.7, 310117: 1.5},
    "robotics_embodied": {310112: 1.8, 310115: 1.2, 310117: 1.3},
    "intelligent_vehicles": {310114: 4.0, 310115: 1.3, 310112: 1.3},
}
# Pull of "no zone" on a firm placed in a district, on the scale of the zones' weights: the more
# zones a district opens, the fewer of its firms stay outside them.
NO_ZONE_WEIGHT: dict[int, float] = {310115: 1.3, 310104: 0.15, 310112: 0.1, 310110: 0.25,
                                    310117: 4.0}
DEFAULT_NO_ZONE_WEIGHT = 1.0


@dataclass(frozen=True)
class ZoneProfile:
    """How a zone behaves in the simulation (all figures are sample assumptions)."""

    district: int
    opened: date | None            # None: open before 2019
    weight: float = 1.0            # pull on new firms of its district
    attract: dict[str, float] = field(default_factory=dict)  # segment multipliers of weight
    move_in_at_opening: int = 0     # existing firms that move in when it opens
    model_rate: float = 0.3         # registrations per foundation-model firm, relative
    investors: tuple[int, float] = (2, 0.3)  # institutions at opening, added per quarter
    pflops: tuple[float, float, float] = (5.0, 50.0, 1.0)  # at opening, at 2025Q2, curve power


# Opening dates from the notes of the shared reference zones.csv (the 4+X list); districts as
# that file names them.
# data/zones.csv, when present, supplies the zone list and district codes.
ZONE_PROFILES: dict[str, ZoneProfile] = {
    "zhangjiang_ai_island": ZoneProfile(
        310115, date(2018, 4, 1), 0.45,
        {"chips_computing": 2.5, "foundation_models": 1.5, "robotics_embodied": 1.3,
         "intelligent_vehicles": 0.4}, 0, 0.6, (10, 1.2), (60, 900, 1.2)),
    "westbund_ai_tower": ZoneProfile(
        310104, date(2020, 7, 8), 1.0,
        {"foundation_models": 3.0, "applications": 1.5, "intelligent_vehicles": 0.3},
        30, 0.7, (16, 1.8), (30, 650, 1.3)),
    "dishui_lake_ai_hub": ZoneProfile(
        310115, date(2022, 8, 18), 1.6,
        {"intelligent_vehicles": 2.5, "chips_computing": 1.8, "robotics_embodied": 1.4},
        120, 0.4, (6, 1.5), (150, 1600, 1.0)),
    "maqiao_ai_pilot_zone": ZoneProfile(
        310112, date(2019, 7, 30), 1.0,
        {"robotics_embodied": 2.0, "intelligent_vehicles": 1.4, "chips_computing": 1.3},
        140, 0.3, (3, 0.6), (10, 320, 1.2)),
    "mosu_space": ZoneProfile(
        310104, date(2023, 9, 28), 1.3,
        {"foundation_models": 9.0, "applications": 1.0, "data_infrastructure": 0.6,
         "chips_computing": 0.3, "robotics_embodied": 0.3, "intelligent_vehicles": 0.1},
        30, 2.2, (14, 4.0), (200, 1500, 0.8)),
    "zhangjiang_ai_town": ZoneProfile(
        310115, date(2025, 9, 16), 1.0, {"foundation_models": 3.0}, 60, 1.0, (10, 2.0),
        (100, 500, 1.0)),
    "zhangjiang_moli_community": ZoneProfile(
        310115, date(2024, 8, 30), 0.4,
        {"foundation_models": 12.0, "applications": 1.0, "chips_computing": 0.3,
         "robotics_embodied": 0.3, "intelligent_vehicles": 0.1, "data_infrastructure": 0.5},
        40, 1.0, (8, 2.5), (100, 480, 1.0)),
    "beiyang_ai_town": ZoneProfile(
        310104, None, 0.5, {}, 0, 0.3, (2, 0.3), (5, 120, 1.0)),
    "changyang_chuanggu": ZoneProfile(
        310110, None, 1.0, {"applications": 1.4, "data_infrastructure": 1.4}, 0, 0.3,
        (10, 0.7), (8, 150, 1.0)),
    "caohejing": ZoneProfile(
        310104, None, 1.3, {"chips_computing": 1.4, "robotics_embodied": 1.2}, 0, 0.4,
        (18, 0.9), (40, 700, 1.0)),
    "songjiang_tencent_yrd_computing": ZoneProfile(
        310117, date(2022, 1, 24), 0.25,
        {"data_infrastructure": 2.0, "chips_computing": 1.0, "foundation_models": 0.1,
         "applications": 0.05, "robotics_embodied": 0.02, "intelligent_vehicles": 0.02},
        3, 0.1, (0, 0.1), (300, 2900, 0.9)),
    "lingang_ct_computing": ZoneProfile(
        310115, date(2024, 3, 1), 0.12,
        {"data_infrastructure": 2.0, "chips_computing": 1.0, "foundation_models": 0.1,
         "applications": 0.05, "robotics_embodied": 0.02, "intelligent_vehicles": 0.02},
        3, 0.1, (0, 0.1), (2000, 12500, 0.5)),
}

# --- Segments --------------------------------------------------------------------------------
SEGMENTS: tuple[tuple[str, str], ...] = (
    ("foundation_models", "大模型"),
    ("chips_computing", "智能芯片与算力"),
    ("robotics_embodied", "智能机器人与具身智能"),
    ("intelligent_vehicles", "智能网联汽车"),
    ("applications", "人工智能应用"),
    ("data_infrastructure", "数据与基础设施"),
)
SEGMENT_CODES = tuple(s[0] for s in SEGMENTS)
SEGMENT_ZH = dict(SEGMENTS)
FM = SEGMENT_CODES.index("foundation_models")
# Segment mix of new firms by founding year: models are rare until the 2023 boom.
SEGMENT_MIX: tuple[tuple[int, tuple[float, ...]], ...] = (
    (2016, (0.02, 0.14, 0.12, 0.10, 0.42, 0.20)),
    (2020, (0.05, 0.14, 0.13, 0.11, 0.38, 0.19)),
    (2022, (0.09, 0.15, 0.14, 0.11, 0.34, 0.17)),
    (2030, (0.36, 0.10, 0.15, 0.07, 0.22, 0.10)),
)
# Revenue level (log) by segment, and drift per quarter before/after 2023 (log points).
SEGMENT_LOG_LEVEL = (-0.4, 0.5, 0.0, 0.6, -0.2, 0.1)
SEGMENT_DRIFT_EARLY = (0.00, 0.020, 0.015, 0.025, 0.010, 0.015)
SEGMENT_DRIFT_LATE = (0.10, 0.025, 0.040, 0.025, 0.008, 0.015)

# --- Register dynamics -----------------------------------------------------------------------
INITIAL_FIRMS = 1_950   # AI-related firms founded before 2019-04 (reported: 1,116 in 2018,
#                         about 3,000 "AI-related" in 2019-08 on a broader definition)
NEW_FIRMS_PER_QUARTER = {2019: 92, 2020: 100, 2021: 118, 2022: 106, 2023: 140, 2024: 146,
                         2025: 150}
P_DEREGISTER = 0.0065
P_MOVE_OUT = 0.0015
P_SUSPEND = 0.003
P_RESUME = 0.20
P_SUSPENDED_DEREGISTER = 0.10
P_RELOCATE = 0.006       # a firm changes address within Shanghai in a quarter
P_JOIN_ZONE = 0.008      # a zoneless firm moves into an open zone of its district
P_EMPLOYEE_UPDATE = (0.03, 0.15, 0.03, 0.03)  # by quarter: annual reports are due by June 30
MODEL_REGISTRATIONS_FROM = (2023, 3)  # first generative-AI models were registered in 2023-08
MODEL_RATE = 0.025       # registrations per foundation-model firm and quarter (rate 1.0 zone)

STATUS_CODES = ("active", "suspended", "deregistered", "moved_out")
STATUS_ZH = {"active": "存续", "suspended": "停业", "deregistered": "注销", "moved_out": "迁出"}
ACTIVE, SUSPENDED, DEREGISTERED, MOVED_OUT = range(4)

# --- Formats ---------------------------------------------------------------------------------
# Which drops deviate from plain UTF-8 CSV with English headers (see data/sample/README.md).
FORMAT_CSV_EN = "csv_en"          # UTF-8, LF, English headers, million CNY, 2025Q2
FORMAT_CSV_BOM = "csv_en_bom"     # UTF-8 with BOM, CRLF (Excel "CSV UTF-8"), dates 2021/6/3
FORMAT_CSV_ZH_YTD = "csv_zh_ytd"  # GB18030, CRLF, Chinese headers and file names, 万元, 1-n月
FORMAT_XLSX_ZH = "xlsx_zh"        # XLSX, Chinese headers, 万元, 2024年2季度, Excel dates
DROP_FORMATS: dict[str, str] = {
    "2019Q4": FORMAT_XLSX_ZH,
    "2020Q2": FORMAT_CSV_ZH_YTD,
    "2021Q2": FORMAT_CSV_BOM,
    "2021Q4": FORMAT_CSV_ZH_YTD,
    "2022Q1": FORMAT_XLSX_ZH,
    "2022Q3": FORMAT_CSV_ZH_YTD,
    "2023Q3": FORMAT_CSV_ZH_YTD,
    "2024Q2": FORMAT_XLSX_ZH,
    "2025Q1": FORMAT_CSV_ZH_YTD,
}
# Deliberate revisions: the first drop reports a wrong figure, the second restates it.
REVENUE_REVISION = ("2024Q3", "2024Q4")   # (period revised, drop that restates it)
REVENUE_REVISION_FIRMS = 6
ZONE_REVISION = ("lingang_ct_computing", "2024Q4", "2025Q1", 0.88)  # preliminary = 88 %

EN_HEADERS = {
    "enterprises": ("credit_code", "name_zh", "name_en", "zone_id", "district_code", "segment",
                    "founded", "registered_capital", "employees", "status", "provenance"),
    "revenue": ("credit_code", "period", "revenue", "provenance"),
    "zone_metrics": ("zone_id", "period", "firms", "foundation_model_firms",
                     "registered_models", "investment_institutions", "computing_pflops",
                     "provenance"),
}
ZH_HEADERS = {
    "enterprises": ("统一社会信用代码", "企业名称", "英文名称", "园区代码", "行政区划代码",
                    "细分领域", "成立日期", "注册资本(万元)", "从业人员", "经营状态", "数据性质"),
    "revenue": ("统一社会信用代码", "报告期", "营业收入(万元)", "统计口径", "数据性质"),
    "zone_metrics": ("园区代码", "报告期", "企业数", "大模型企业数", "备案大模型数",
                     "投资机构数", "算力(PFLOPS)", "数据性质"),
}
ZH_STEMS = {"enterprises": "企业名录", "revenue": "营业收入", "zone_metrics": "园区指标"}
# Every file name the bundled generator may write: stale ones are removed before a rewrite.
_GENERATED_NAMES = {f"{stem}.{ext}" for kind in EN_HEADERS for stem in (kind, ZH_STEMS[kind])
                    for ext in ("csv", "xlsx")} | {"source.json"}

# --- Names -----------------------------------------------------------------------------------
# Two-character brand words with their pinyin; a name joins two different words, so names are
# plainly synthetic (上海智元数联科技有限公司) yet read like real ones.
BRAND_WORDS: tuple[tuple[str, str], ...] = (
    ("智元", "Zhiyuan"), ("数联", "Shulian"), ("云图", "Yuntu"), ("深思", "Shensi"),
    ("星河", "Xinghe"), ("灵犀", "Lingxi"), ("天枢", "Tianshu"), ("启明", "Qiming"),
    ("万象", "Wanxiang"), ("明睿", "Mingrui"), ("博远", "Boyuan"), ("鸿图", "Hongtu"),
    ("锦程", "Jincheng"), ("芯动", "Xindong"), ("瀚海", "Hanhai"), ("青禾", "Qinghe"),
    ("极目", "Jimu"), ("睿思", "Ruisi"), ("海纳", "Haina"), ("衡方", "Hengfang"),
    ("知行", "Zhixing"), ("慧眼", "Huiyan"), ("九章", "Jiuzhang"), ("浦江", "Pujiang"),
    ("申城", "Shencheng"), ("东方", "Dongfang"), ("未来", "Weilai"), ("弘毅", "Hongyi"),
    ("拓界", "Tuojie"), ("微光", "Weiguang"), ("凌云", "Lingyun"), ("致新", "Zhixin"),
    ("若水", "Ruoshui"), ("映像", "Yingxiang"), ("擎天", "Qingtian"), ("蓝湾", "Lanwan"),
    ("银杉", "Yinshan"), ("北辰", "Beichen"), ("南星", "Nanxing"), ("玄武", "Xuanwu"),
    ("方舟", "Fangzhou"), ("观澜", "Guanlan"), ("合一", "Heyi"), ("恒信", "Hengxin"),
    ("聚能", "Juneng"), ("新瞳", "Xintong"), ("天衍", "Tianyan"), ("云帆", "Yunfan"),
)
SEGMENT_SUFFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "foundation_models": (("智能科技", "Intelligent Technology"),
                          ("人工智能科技", "Artificial Intelligence Technology"),
                          ("信息科技", "Information Technology")),
    "chips_computing": (("半导体", "Semiconductor"), ("微电子", "Microelectronics"),
                        ("计算技术", "Computing Technology")),
    "robotics_embodied": (("机器人", "Robotics"), ("智能装备", "Intelligent Equipment"),
                          ("自动化科技", "Automation Technology")),
    "intelligent_vehicles": (("智能驾驶科技", "Intelligent Driving Technology"),
                             ("汽车科技", "Automotive Technology"),
                             ("智行科技", "Smart Mobility Technology")),
    "applications": (("网络科技", "Network Technology"), ("信息技术", "Information Technology"),
                     ("软件", "Software"), ("科技", "Technology")),
    "data_infrastructure": (("数据科技", "Data Technology"), ("云计算", "Cloud Computing"),
                            ("信息服务", "Information Services")),
}
COMPANY_FORMS = (("有限公司", "Co., Ltd."), ("股份有限公司", "Corporation"))


# ============================================================================================
# Periods and small helpers
# ============================================================================================

def _quarters(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    out = []
    y, q = first
    while (y, q) <= last:
        out.append((y, q))
        y, q = (y + 1, 1) if q == 4 else (y, q + 1)
    return out


def _label(yq: tuple[int, int]) -> str:
    return f"{yq[0]}Q{yq[1]}"


def _quarter_start(yq: tuple[int, int]) -> date:
    return date(yq[0], 3 * yq[1] - 2, 1)


def _quarter_end(yq: tuple[int, int]) -> date:
    y, q = yq
    return (date(y + 1, 1, 1) if q == 4 else date(y, 3 * q + 1, 1)) - timedelta(days=1)


def _published(yq: tuple[int, int]) -> date:
    """Drops arrive about six weeks after the quarter ends."""
    return _quarter_end(yq) + timedelta(days=45)


def _money(value: int, decimals: int) -> str:
    """An integer count of 10**-decimals units as a fixed-point string (exact, no floats)."""
    if decimals == 0:
        return str(value)
    unit = 10 ** decimals
    return f"{value // unit}.{value % unit:0{decimals}d}"


# ============================================================================================
# Zones
# ============================================================================================

@dataclass(frozen=True)
class _Zone:
    zone_id: str
    district: int
    opened: date | None
    profile: ZoneProfile


def _district_from_text(text: str) -> int | None:
    """The adcode of the first district named in a free-text district column (reference file)."""
    hits = [(text.find(name), code) for code, name, _ in DISTRICTS if name in text]
    return min(hits)[1] if hits else None


def load_zones(data_dir: Path = DATA_DIR) -> list[_Zone]:
    """The zones to place firms in, sorted by id.

    Ids (and district codes, if the file has them) come from ``data/zones.csv``, else from
    ``data/reference/zones.csv``, else from the built-in table that mirrors the reference file.
    Opening dates come from the built-in table; a zone it does not know uses the file's
    ``opened`` column, or counts as open before 2019.

    :raises ValueError: if a zone's district cannot be determined.
    """
    rows: list[dict[str, str]] = []
    for candidate in (data_dir / "zones.csv", data_dir / "reference" / "zones.csv"):
        if candidate.exists():
            with candidate.open(encoding="utf-8-sig", newline="") as fh:
                rows = list(csv.DictReader(fh))
            break
    if not rows:
        rows = [{"zone_id": zid} for zid in ZONE_PROFILES]
    zones = []
    for row in rows:
        zid = (row.get("zone_id") or "").strip()
        if not zid:
            continue
        known = ZONE_PROFILES.get(zid)
        district: int | None = None
        if (row.get("district_code") or row.get("district_adcode") or "").strip():
            district = int(float(row.get("district_code") or row.get("district_adcode") or ""))
        elif row.get("district_zh"):
            district = _district_from_text(row["district_zh"])
        if district is None and known is not None:
            district = known.district
        if district is None:
            raise ValueError(f"zone {zid}: no district code; add district_code to zones.csv")
        if known is not None:
            opened = known.opened
            profile = known
        else:
            text = (row.get("opened") or "").strip()
            opened = date.fromisoformat(text[:10]) if len(text) >= 10 else None
            profile = ZoneProfile(district, opened)
        zones.append(_Zone(zid, district, opened, profile))
    return sorted(zones, key=lambda z: z.zone_id)


def _is_open(zone: _Zone, day: date) -> bool:
    return zone.opened is None or zone.opened <= day


# ============================================================================================
# The simulated register
# ============================================================================================

@dataclass
class _Register:
    """Firms as arrays (index = firm), and their history per quarter."""

    quarters: list[tuple[int, int]]
    zones: list[_Zone]
    codes: list[str]
    name_zh: list[str]
    name_en: list[str]
    birth_q: np.ndarray          # quarter index the firm first appears in (0: first drop)
    founded: list[date]
    segment: np.ndarray          # index into SEGMENT_CODES
    capital_wan: np.ndarray      # registered capital, 万元
    status: np.ndarray           # (firms, quarters) status at quarter end
    zone: np.ndarray             # (firms, quarters) zone index at quarter end, -1 none
    district: np.ndarray         # (firms, quarters) adcode at quarter end
    employees: np.ndarray        # (firms, quarters)
    listed: list[list[int]]      # firms in each quarter's enterprises file
    revenue: np.ndarray          # (firms, quarters) thousand CNY, 0 where not active
    models: np.ndarray           # (zones, quarters) cumulative registered models
    investors: np.ndarray        # (zones, quarters)
    pflops_tenths: np.ndarray    # (zones, quarters) computing power in 0.1 PFLOPS


def _segment_mix(year: int) -> np.ndarray:
    for upto, mix in SEGMENT_MIX:
        if year <= upto:
            return np.array(mix) / sum(mix)
    return np.array(SEGMENT_MIX[-1][1]) / sum(SEGMENT_MIX[-1][1])


def _district_probs(segment: str) -> np.ndarray:
    boost = DISTRICT_SEGMENT_BOOST.get(segment, {})
    w = np.array([wt * boost.get(code, 1.0) for code, _, wt in DISTRICTS])
    return w / w.sum()


def _place(rng: np.random.Generator, zones: list[_Zone], district: int, seg: int,
           day: date, *, allow_none: bool = True) -> int:
    """Pick a zone (index) or -1 for a firm of segment ``seg`` in ``district`` on ``day``."""
    seg_code = SEGMENT_CODES[seg]
    cands = [(i, z.profile.weight * z.profile.attract.get(seg_code, 1.0))
             for i, z in enumerate(zones) if z.district == district and _is_open(z, day)]
    if not cands:
        return -1
    if allow_none:
        cands.append((-1, NO_ZONE_WEIGHT.get(district, DEFAULT_NO_ZONE_WEIGHT)))
    weights = np.array([w for _, w in cands])
    return cands[int(rng.choice(len(cands), p=weights / weights.sum()))][0]


def _random_founded(rng: np.random.Generator, start: date, end: date) -> date:
    return start + timedelta(days=int(rng.integers(0, (end - start).days + 1)))


def _initial_founded(rng: np.random.Generator) -> date:
    """Founding dates of the firms already there in 2019Q1: most are young (AI boom 2015-18)."""
    years = np.arange(1996, 2020)
    w = 1.22 ** (years - 1996)
    w[-1] *= 0.25  # only 2019Q1 of 2019
    year = int(rng.choice(years, p=w / w.sum()))
    end = date(2019, 3, 31) if year == 2019 else date(year, 12, 31)
    return _random_founded(rng, date(year, 1, 1), end)


def _capital_wan(rng: np.random.Generator, log_scale: float) -> int:
    """Registered capital in 万元, rounded the way founders choose it (two significant digits)."""
    raw = math.exp(6.3 + 0.45 * log_scale + rng.normal(0, 1.0))
    raw = min(max(raw, 10.0), 2_000_000.0)
    step = 10 ** max(0, int(math.log10(raw)) - 1)
    return int(round(raw / step) * step)


def _make_name(rng: np.random.Generator, seg: int, big: bool, taken: set[str]) -> tuple[str, str]:
    suffixes = SEGMENT_SUFFIXES[SEGMENT_CODES[seg]]
    form_zh, form_en = COMPANY_FORMS[1 if big else 0]
    while True:
        a, b = rng.choice(len(BRAND_WORDS), size=2, replace=False)
        suf_zh, suf_en = suffixes[int(rng.integers(len(suffixes)))]
        zh = f"上海{BRAND_WORDS[a][0]}{BRAND_WORDS[b][0]}{suf_zh}{form_zh}"
        if zh not in taken:
            taken.add(zh)
            return zh, f"Shanghai {BRAND_WORDS[a][1]} {BRAND_WORDS[b][1]} {suf_en} {form_en}"


def _quarter_targets(quarters: list[tuple[int, int]]) -> np.ndarray:
    """City revenue per quarter (thousand CNY) matching the annual totals and 2025 growth.

    The seasonally adjusted level is interpolated log-linearly between mid-years (so growth
    changes smoothly from quarter to quarter), times the season, then rescaled so each year sums
    to its annual total exactly. 2025Q1 is 2024Q1 plus the reported growth; 2025Q2 makes H1
    grow as reported.
    """
    years = sorted(ANNUAL_TOTALS_MILLION_CNY)
    mids = [y + 0.5 for y in years]
    logs = [math.log(ANNUAL_TOTALS_MILLION_CNY[y] / 4) for y in years]
    # extend one year at each end with the edge growth, so the edge years are not flat
    mids = [mids[0] - 1, *mids, mids[-1] + 1]
    logs = [2 * logs[0] - logs[1], *logs, 2 * logs[-1] - logs[-2]]
    season = np.array(SEASON) / np.mean(SEASON)
    by_q: dict[tuple[int, int], float] = {}
    for y in years:
        level = np.exp(np.interp([y + (k - 0.5) / 4 for k in range(1, 5)], mids, logs))
        shape = level * season
        for k in range(4):
            by_q[(y, k + 1)] = ANNUAL_TOTALS_MILLION_CNY[y] * shape[k] / shape.sum()
    by_q[(2025, 1)] = by_q[(2024, 1)] * (1 + Q1_2025_YOY)
    by_q[(2025, 2)] = (by_q[(2024, 1)] + by_q[(2024, 2)]) * (1 + H1_2025_YOY) - by_q[(2025, 1)]
    return np.array([by_q[yq] * 1000.0 for yq in quarters])


def _qnum(yq: tuple[int, int]) -> int:
    return yq[0] * 4 + yq[1] - 1


def _zone_figures(zone: _Zone, quarters: list[tuple[int, int]], fm_firms: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Registered models (cumulative), investment institutions and PFLOPS (tenths) per quarter.

    Zero before the zone opens. Computing power follows ``profile.pflops`` on the calendar
    (its opening quarter to 2025Q2) with a little noise, and never shrinks.
    """
    prof = zone.profile
    n_q = len(quarters)
    models = np.zeros(n_q, dtype=np.int64)
    investors = np.zeros(n_q, dtype=np.int64)
    pflops = np.zeros(n_q, dtype=np.int64)
    open_q = _qnum(FIRST_QUARTER) if zone.opened is None else \
        _qnum((zone.opened.year, (zone.opened.month - 1) // 3 + 1))
    span = max(_qnum(LAST_QUARTER) - open_q, 1)
    start, end, power = prof.pflops
    count_m, count_i, best, first = 0, prof.investors[0], 0, True
    for q, yq in enumerate(quarters):
        if not _is_open(zone, _quarter_end(yq)):
            continue
        if yq >= MODEL_REGISTRATIONS_FROM:
            count_m += int(rng.poisson(MODEL_RATE * prof.model_rate * fm_firms[q]))
        if not first:
            count_i += int(rng.poisson(prof.investors[1]))
        first = False
        frac = min(max((_qnum(yq) - open_q) / span, 0.0), 1.2)
        level = start + (end - start) * frac ** power
        best = max(best, round(level * math.exp(rng.normal(0, 0.03)) * 10))
        models[q], investors[q], pflops[q] = count_m, count_i, best
    return models, investors, pflops


def simulate_register(seed: int = DEFAULT_SEED, data_dir: Path = DATA_DIR) -> _Register:
    """Simulate the sample register 2019Q1–2025Q2 (pure: no files written)."""
    rng = np.random.default_rng(seed)
    code_rng = random.Random(seed)
    quarters = _quarters(FIRST_QUARTER, LAST_QUARTER)
    n_q = len(quarters)
    zones = load_zones(data_dir)
    n_z = len(zones)
    q_index = {yq: i for i, yq in enumerate(quarters)}

    # --- births: the first register, then each quarter's new firms -------------------------
    founded: list[date] = []
    birth_q: list[int] = []
    for _ in range(INITIAL_FIRMS):
        founded.append(_initial_founded(rng))
        birth_q.append(0)
    for qi, yq in enumerate(quarters[1:], start=1):
        base = NEW_FIRMS_PER_QUARTER[yq[0]] * (0.85 if yq[1] == 1 else 1.05)
        for _ in range(int(rng.poisson(base))):
            founded.append(_random_founded(rng, _quarter_start(yq), _quarter_end(yq)))
            birth_q.append(qi)
    n = len(founded)
    order = sorted(range(n), key=lambda i: (birth_q[i], founded[i]))
    founded = [founded[i] for i in order]
    births = np.array([birth_q[i] for i in order])

    segment = np.array([int(rng.choice(len(SEGMENT_CODES), p=_segment_mix(d.year)))
                        for d in founded])
    log_scale = rng.normal(0.0, 1.9, n) + np.array(SEGMENT_LOG_LEVEL)[segment]
    age_2019 = np.array([(date(2019, 3, 31) - d).days / 365.25 for d in founded])
    log_scale += np.where(births == 0, 0.07 * np.clip(age_2019, 0, 20), 0.0)
    emp_potential = np.exp(2.6 + 0.5 * log_scale + rng.normal(0, 0.45, n))
    capital = np.array([_capital_wan(rng, ls) for ls in log_scale], dtype=np.int64)
    big = log_scale > np.quantile(log_scale, 0.97)
    taken: set[str] = set()
    names = [_make_name(rng, int(segment[i]), bool(big[i]), taken) for i in range(n)]
    home = [int(rng.choice(DISTRICT_CODES, p=_district_probs(SEGMENT_CODES[segment[i]])))
            for i in range(n)]
    codes: list[str] = []
    seen: set[str] = set()
    for i in range(n):
        code = credit_code.make(code_rng, home[i])
        while code in seen:
            code = credit_code.make(code_rng, home[i])
        seen.add(code)
        codes.append(code)

    def ramp(age_years: np.ndarray) -> np.ndarray:
        return 1.0 - 0.88 * np.exp(-np.clip(age_years, 0, None) / 2.0)

    # --- quarter by quarter ----------------------------------------------------------------
    status = np.full((n, n_q), -1, dtype=np.int8)
    zone = np.full((n, n_q), -1, dtype=np.int16)
    district = np.zeros((n, n_q), dtype=np.int32)
    employees = np.zeros((n, n_q), dtype=np.int64)
    cur_status = np.full(n, -1, dtype=np.int8)
    cur_zone = np.full(n, -1, dtype=np.int16)
    cur_district = np.array(home, dtype=np.int32)
    cur_emp = np.zeros(n, dtype=np.int64)
    listed: list[list[int]] = []
    founded_ord = np.array([d.toordinal() for d in founded])

    def head_count(i: int, day: date) -> int:
        age = (day.toordinal() - founded_ord[i]) / 365.25
        return max(1, round(float(emp_potential[i] * ramp(np.array([age]))[0])
                            * math.exp(rng.normal(0, 0.08))))

    for qi, yq in enumerate(quarters):
        end = _quarter_end(yq)
        changed: set[int] = set()
        existing = np.flatnonzero((births < qi) & (cur_status >= 0))
        if qi > 0:
            u = rng.random(existing.size)
            act = cur_status[existing] == ACTIVE
            sus = cur_status[existing] == SUSPENDED
            young_small = (log_scale[existing] < -1.0).astype(float)
            p_dereg = P_DEREGISTER * (1 + young_small)
            new_status = cur_status[existing].copy()
            new_status[act & (u < p_dereg)] = DEREGISTERED
            new_status[act & (u >= p_dereg) & (u < p_dereg + P_MOVE_OUT)] = MOVED_OUT
            new_status[act & (u >= p_dereg + P_MOVE_OUT)
                       & (u < p_dereg + P_MOVE_OUT + P_SUSPEND)] = SUSPENDED
            new_status[sus & (u < P_RESUME)] = ACTIVE
            new_status[sus & (u >= P_RESUME) & (u < P_RESUME + P_SUSPENDED_DEREGISTER)] = \
                DEREGISTERED
            for i in existing[new_status != cur_status[existing]]:
                changed.add(int(i))
            cur_status[existing] = new_status

            active_now = existing[cur_status[existing] == ACTIVE]
            # Zones opening this quarter take in existing firms of their district.
            for zi, z in enumerate(zones):
                if z.opened is None or not (_quarter_start(yq) <= z.opened <= end):
                    continue
                pool = active_now[(cur_district[active_now] == z.district)
                                  & (cur_zone[active_now] != zi)]
                if pool.size == 0 or z.profile.move_in_at_opening == 0:
                    continue
                w = np.array([z.profile.attract.get(SEGMENT_CODES[segment[i]], 1.0)
                              * (3.0 if cur_zone[i] < 0 else 1.0) for i in pool])
                k = min(z.profile.move_in_at_opening, pool.size)
                for i in rng.choice(pool, size=k, replace=False, p=w / w.sum()):
                    cur_zone[i] = zi
                    changed.add(int(i))
            # Relocations within Shanghai, and zoneless firms joining a zone nearby.
            u_move = rng.random(active_now.size)
            for i, um in zip(active_now, u_move):
                if um < P_RELOCATE:
                    new_d = int(cur_district[i]) if rng.random() < 0.6 else int(
                        rng.choice(DISTRICT_CODES, p=_district_probs(SEGMENT_CODES[segment[i]])))
                    new_z = _place(rng, zones, new_d, int(segment[i]), end)
                    if new_z != cur_zone[i] or new_d != cur_district[i]:
                        cur_district[i], cur_zone[i] = new_d, new_z
                        changed.add(int(i))
                elif um < P_RELOCATE + P_JOIN_ZONE and cur_zone[i] < 0:
                    new_z = _place(rng, zones, int(cur_district[i]), int(segment[i]), end,
                                   allow_none=False)
                    if new_z >= 0:
                        cur_zone[i] = new_z
                        changed.add(int(i))
            # Head counts: annual reports (due June 30) bring most updates.
            upd = active_now[rng.random(active_now.size) < P_EMPLOYEE_UPDATE[yq[1] - 1]]
            for i in upd:
                value = head_count(int(i), end)
                if value != cur_emp[i]:
                    cur_emp[i] = value
                    changed.add(int(i))
        # Newcomers (all of the first register in quarter 0).
        for i in map(int, np.flatnonzero(births == qi)):
            day = max(founded[i], date(2019, 3, 31)) if qi == 0 else founded[i]
            cur_zone[i] = _place(rng, zones, int(cur_district[i]), int(segment[i]), day)
            cur_status[i] = ACTIVE if (qi > 0 or rng.random() > 0.03) else SUSPENDED
            cur_emp[i] = head_count(int(i), end)
            changed.add(int(i))
        status[:, qi] = cur_status
        zone[:, qi] = cur_zone
        district[:, qi] = cur_district
        employees[:, qi] = cur_emp
        listed.append(sorted(changed, key=lambda i: codes[i]))

    # --- revenue ---------------------------------------------------------------------------
    qmid = np.array([(_quarter_start(yq).toordinal() + _quarter_end(yq).toordinal()) / 2
                     for yq in quarters])
    age = (qmid[None, :] - founded_ord[:, None]) / 365.25
    t = np.arange(n_q)
    late = np.clip(t - q_index[(2022, 4)], 0, None)
    drift = (np.array(SEGMENT_DRIFT_EARLY)[segment][:, None] * np.minimum(t, q_index[(2022, 4)])
             + np.array(SEGMENT_DRIFT_LATE)[segment][:, None] * late)
    noise = np.zeros((n, n_q))
    noise[:, 0] = rng.normal(0, 0.2, n)
    for q in range(1, n_q):
        noise[:, q] = 0.8 * noise[:, q - 1] + rng.normal(0, 0.12, n)
    raw = np.exp(log_scale[:, None] + drift + noise) * ramp(age)
    # Some start-ups earn nothing in their first quarters (counted from founding or 2019Q1).
    young = (births > 0) | (age_2019 < 1.0)
    pre_revenue = np.where(young & (rng.random(n) < 0.35), rng.integers(1, 5, n), 0)
    raw[(t[None, :] - births[:, None]) < pre_revenue[:, None]] = 0.0
    raw[status != ACTIVE] = 0.0
    targets = _quarter_targets(quarters)
    revenue = np.rint(raw * (targets / raw.sum(axis=0))[None, :]).astype(np.int64)

    # --- zone figures ----------------------------------------------------------------------
    models = np.zeros((n_z, n_q), dtype=np.int64)
    investors = np.zeros((n_z, n_q), dtype=np.int64)
    pflops = np.zeros((n_z, n_q), dtype=np.int64)
    for zi, z in enumerate(zones):
        fm_firms = ((status == ACTIVE) & (zone == zi) & (segment[:, None] == FM)).sum(axis=0)
        models[zi], investors[zi], pflops[zi] = _zone_figures(z, quarters, fm_firms, rng)

    return _Register(quarters=quarters, zones=zones, codes=codes,
                     name_zh=[nm[0] for nm in names], name_en=[nm[1] for nm in names],
                     birth_q=births, founded=founded, segment=segment, capital_wan=capital,
                     status=status, zone=zone, district=district, employees=employees,
                     listed=listed, revenue=revenue, models=models, investors=investors,
                     pflops_tenths=pflops)


# ============================================================================================
# Bundled drops: rows per drop, then one writer per format
# ============================================================================================

@dataclass
class _DropRows:
    """One drop's rows in neutral units (thousand CNY, 万元, 0.1 PFLOPS)."""

    yq: tuple[int, int]
    enterprises: list[tuple[str, str, str, str, int, str, date, int, int, str]]
    revenue: list[tuple[str, tuple[int, int], int, bool]]  # code, quarter, thousand CNY, ytd
    zone_metrics: list[tuple[str, tuple[int, int], int, int, int, int, int]]


def _revision_firms(reg: _Register, rng: np.random.Generator) -> list[int]:
    """Mid-sized firms active in both quarters of the revenue revision."""
    q1 = reg.quarters.index(_parse_label(REVENUE_REVISION[0]))
    q2 = reg.quarters.index(_parse_label(REVENUE_REVISION[1]))
    ok = np.flatnonzero((reg.status[:, q1] == ACTIVE) & (reg.status[:, q2] == ACTIVE)
                        & (reg.revenue[:, q1] > 0))
    vals = reg.revenue[ok, q1]
    lo, hi = np.quantile(vals, [0.5, 0.9])
    mid = ok[(vals >= lo) & (vals <= hi)]
    return sorted(int(i) for i in rng.choice(mid, size=REVENUE_REVISION_FIRMS, replace=False))


def _parse_label(label: str) -> tuple[int, int]:
    return int(label[:4]), int(label[5])


def _wrong_figure(true: int, prev: int, kind: int) -> int:
    """A realistic first-reported error; the later drop restates ``true``."""
    if kind == 0:
        return true * 10                  # a unit slip: ten times too large
    if kind == 1:
        return int(true * 0.86)           # preliminary figure, booked before year-end close
    if kind == 2:
        digits = list(str(true))          # two digits swapped when typing
        if len(digits) >= 3:
            digits[1], digits[2] = digits[2], digits[1]
        wrong = int("".join(digits))
        return wrong if wrong != true else true + 1000
    if kind == 3:
        return prev if prev != true else int(true * 1.08)  # last quarter's figure copied
    if kind == 4:
        return true // 10                 # a digit lost
    return int(true * 1.07)


def _drop_rows(reg: _Register, seed: int) -> list[_DropRows]:
    rng = np.random.default_rng([seed, 1])
    drops = []
    rev_q, rev_drop = (_parse_label(x) for x in REVENUE_REVISION)
    rev_qi = reg.quarters.index(rev_q)
    rev_firms = _revision_firms(reg, rng)
    z_id, z_period, z_drop, z_factor = ZONE_REVISION
    zone_ids = [z.zone_id for z in reg.zones]
    for qi, yq in enumerate(reg.quarters):
        label = _label(yq)
        ytd = DROP_FORMATS.get(label) == FORMAT_CSV_ZH_YTD
        ents = []
        for i in reg.listed[qi]:
            zi = int(reg.zone[i, qi])
            ents.append((reg.codes[i], reg.name_zh[i], reg.name_en[i],
                         zone_ids[zi] if zi >= 0 else "", int(reg.district[i, qi]),
                         SEGMENT_CODES[reg.segment[i]], reg.founded[i],
                         int(reg.capital_wan[i]), int(reg.employees[i, qi]),
                         STATUS_CODES[reg.status[i, qi]]))
        active = np.flatnonzero(reg.status[:, qi] == ACTIVE)
        first_of_year = qi - (yq[1] - 1)
        revenue = []
        for i in sorted(map(int, active), key=lambda i: reg.codes[i]):
            if ytd:
                value = int(reg.revenue[i, max(first_of_year, 0):qi + 1].sum())
            else:
                value = int(reg.revenue[i, qi])
                if yq == rev_q and i in rev_firms:
                    kind = rev_firms.index(i)
                    value = _wrong_figure(value, int(reg.revenue[i, qi - 1]), kind)
            revenue.append((reg.codes[i], yq, value, ytd))
        if yq == rev_drop:
            revenue += [(reg.codes[i], rev_q, int(reg.revenue[i, rev_qi]), False)
                        for i in rev_firms]
        metrics = []
        for zi, z in enumerate(reg.zones):
            if not _is_open(z, _quarter_end(yq)):
                continue
            in_zone = (reg.status[:, qi] == ACTIVE) & (reg.zone[:, qi] == zi)
            pf = int(reg.pflops_tenths[zi, qi])
            if z.zone_id == z_id and label == z_period:
                pf = int(pf * z_factor)
            metrics.append((z.zone_id, yq, int(in_zone.sum()),
                            int((in_zone & (reg.segment == FM)).sum()),
                            int(reg.models[zi, qi]), int(reg.investors[zi, qi]), pf))
        if label == z_drop and z_id in zone_ids:
            zi = zone_ids.index(z_id)
            rq = _parse_label(z_period)
            rqi = reg.quarters.index(rq)
            in_zone = (reg.status[:, rqi] == ACTIVE) & (reg.zone[:, rqi] == zi)
            metrics.insert(0, (z_id, rq, int(in_zone.sum()),
                               int((in_zone & (reg.segment == FM)).sum()),
                               int(reg.models[zi, rqi]), int(reg.investors[zi, rqi]),
                               int(reg.pflops_tenths[zi, rqi])))
        drops.append(_DropRows(yq, ents, revenue, metrics))
    return drops


def _zh_quarter(yq: tuple[int, int]) -> str:
    return f"{yq[0]}年{yq[1]}季度"


def _render(drop: _DropRows, fmt: str) -> dict[str, tuple[tuple[str, ...], list[list[object]]]]:
    """Rows per file kind, as the target format writes them (units, labels, dates)."""
    zh = fmt in (FORMAT_CSV_ZH_YTD, FORMAT_XLSX_ZH)
    xlsx = fmt == FORMAT_XLSX_ZH
    prov = "样例" if zh else "sample"

    def day(d: date) -> object:
        if xlsx:
            return d
        if fmt == FORMAT_CSV_ZH_YTD:
            return f"{d.year}年{d.month}月{d.day}日"
        if fmt == FORMAT_CSV_BOM:
            return f"{d.year}/{d.month}/{d.day}"
        return d.isoformat()

    ents: list[list[object]] = []
    for code, nzh, nen, zid, dist, seg, fnd, cap, emp, st in drop.enterprises:
        if zh:
            capital: object = cap if xlsx else str(cap)
            ents.append([code, nzh, nen, zid, dist, SEGMENT_ZH[seg], day(fnd), capital, emp,
                         STATUS_ZH[st], prov])
        else:
            ents.append([code, nzh, nen, zid, dist, seg, day(fnd), _money(cap, 2), emp, st,
                         prov])
    rev: list[list[object]] = []
    for code, yq, value, ytd in drop.revenue:
        if zh:
            period = f"{yq[0]}年1-{3 * yq[1]}月" if ytd else _zh_quarter(yq)
            amount: object = value / 10 if xlsx else _wan(value)
            rev.append([code, period, amount, "累计" if ytd else "当季", prov])
        else:
            period = f"{yq[0]}-{3 * yq[1]:02d}" if fmt == FORMAT_CSV_BOM else _label(yq)
            rev.append([code, period, _money(value, 3), prov])
    zm: list[list[object]] = []
    for zid, yq, firms, fm, models, inv, pf in drop.zone_metrics:
        pfl: object = pf / 10 if xlsx else _money(pf, 1)
        zm.append([zid, _zh_quarter(yq) if zh else _label(yq), firms, fm, models, inv, pfl,
                   prov])
    headers = ZH_HEADERS if zh else EN_HEADERS
    return {"enterprises": (headers["enterprises"], ents),
            "revenue": (headers["revenue"], rev),
            "zone_metrics": (headers["zone_metrics"], zm)}


def _wan(thousand_cny: int) -> str:
    """Thousand CNY as 万元 with one decimal (1 万元 = 10 thousand CNY), exactly."""
    return _money(thousand_cny, 1)


def _csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[object]], *, encoding: str,
               line_end: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=line_end)
    writer.writerow(headers)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def _xlsx_bytes(sheet: str, headers: Sequence[str], rows: Iterable[Sequence[object]],
                stamp: datetime) -> bytes:
    """An XLSX file whose bytes depend only on its content and ``stamp``."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(headers))
    for row in rows:
        ws.append(list(row))
    # openpyxl gives date cells the number format yyyy-mm-dd: a real Excel date.
    wb.properties.title = SAMPLE_NOTE
    return pinned_bytes(wb, stamp, GENERATOR)


def _source_json(yq: tuple[int, int], fmt: str, seed: int) -> bytes:
    label = _label(yq)
    doc = {
        "title": f"{SAMPLE_NOTE}: Shanghai AI enterprise drop {label}",
        "publisher": GENERATOR,
        "published": _published(yq).isoformat(),
        "generator": "etl.sample.write_bundled_drops",
        "seed": seed,
        "format": fmt,
        "provenance": "sample",
        "note": f"{SAMPLE_NOTE}. Firms, names, credit codes and figures are simulated; city "
                "revenue totals are scaled to reported figures (see data/sample/README.md).",
    }
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _write_if_changed(path: Path, payload: bytes) -> None:
    """Write ``payload``; leave an identical file untouched (keeps mtimes of clean trees)."""
    if path.exists() and path.read_bytes() == payload:
        return
    path.write_bytes(payload)


def write_bundled_drops(out_dir: Path, *, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write the quarterly sample drops 2019Q1–2025Q2 under ``out_dir/YYYYQn/``.

    Files of earlier runs that this run does not write (a drop whose format changed) are
    removed; other files (a loader's ``rejections.csv``) are left alone.

    :param out_dir: folder to hold one sub-folder per quarter; created if missing.
    :param seed: the random seed; the same seed writes byte-identical files.
    :returns: every file written, in drop order.
    """
    reg = simulate_register(seed)
    written: list[Path] = []
    for drop in _drop_rows(reg, seed):
        label = _label(drop.yq)
        fmt = DROP_FORMATS.get(label, FORMAT_CSV_EN)
        folder = Path(out_dir) / label
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.combine(_published(drop.yq), datetime.min.time()).replace(hour=9)
        files: dict[str, bytes] = {}
        for kind, (headers, rows) in _render(drop, fmt).items():
            if not rows:
                continue
            if fmt == FORMAT_XLSX_ZH:
                files[f"{kind}.xlsx"] = _xlsx_bytes(ZH_STEMS[kind], headers, rows, stamp)
            elif fmt == FORMAT_CSV_ZH_YTD:
                files[f"{ZH_STEMS[kind]}.csv"] = _csv_bytes(headers, rows, encoding="gb18030",
                                                            line_end="\r\n")
            elif fmt == FORMAT_CSV_BOM:
                files[f"{kind}.csv"] = _csv_bytes(headers, rows, encoding="utf-8-sig",
                                                  line_end="\r\n")
            else:
                files[f"{kind}.csv"] = _csv_bytes(headers, rows, encoding="utf-8", line_end="\n")
        files["source.json"] = _source_json(drop.yq, fmt, seed)
        for stale in sorted(folder.iterdir()):
            if stale.name in _GENERATED_NAMES and stale.name not in files:
                stale.unlink()
        for name, payload in files.items():
            path = folder / name
            _write_if_changed(path, payload)
            written.append(path)
    return written


# ============================================================================================
# Scale drop: vectorised, chunked
# ============================================================================================

SCALE_FIRM_CHUNK = 50_000    # firms per written chunk (fixed: output must not depend on it)
SCALE_LOG_SIGMA = 2.1        # spread of firm size; top 1 % of firms hold about 40 % of revenue
SCALE_MEDIAN_THOUSAND_CNY = 1_500  # median firm's quarterly revenue (1.5 million CNY)
_ALPHABET_BYTES = np.frombuffer(credit_code.ALPHABET.encode("ascii"), dtype=np.uint8)
_CODE_WEIGHTS = np.array(credit_code.WEIGHTS, dtype=np.int64)
_ORG_WEIGHTS = np.array((3, 7, 9, 10, 5, 8, 4, 2), dtype=np.int64)
_X_VALUE = credit_code.ALPHABET.index("X")
_ALPHABET_VALUE = np.zeros(256, dtype=np.int64)  # ASCII byte -> value 0..30
_ALPHABET_VALUE[_ALPHABET_BYTES] = np.arange(31)

# A field of rows is a byte matrix (rows x width) plus a mask of the bytes that are real; the
# rows are joined by stacking fields side by side and keeping the masked bytes in row order.
_Field = tuple[np.ndarray, np.ndarray]


def credit_codes_vectorised(rng: np.random.Generator, adcodes: np.ndarray) -> np.ndarray:
    """Valid credit codes for firms registered in ``adcodes``, as an (n, 18) ASCII byte matrix.

    The same construction as :func:`etl.credit_code.make` (authority 9, type 1, the division,
    a random 8-character organisation code, its GB 11714 check, the GB 32100 check character),
    computed over arrays: the check character makes the weighted sum of the 18 values a multiple
    of 31 with weights 3**i mod 31.
    """
    n = adcodes.shape[0]
    org = rng.integers(0, 31, size=(n, 8), dtype=np.int64)
    org_check = 11 - (org * _ORG_WEIGHTS).sum(axis=1) % 11
    org9 = np.where(org_check == 10, _X_VALUE, np.where(org_check == 11, 0, org_check))
    ad_digits = (adcodes[:, None].astype(np.int64) // 10 ** np.arange(5, -1, -1)) % 10
    values = np.concatenate([np.full((n, 1), 9), np.full((n, 1), 1), ad_digits, org,
                             org9[:, None]], axis=1)
    check = (31 - (values * _CODE_WEIGHTS).sum(axis=1) % 31) % 31
    return _ALPHABET_BYTES[np.concatenate([values, check[:, None]], axis=1)]


def _const(text: str, n: int) -> _Field:
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return np.broadcast_to(raw, (n, raw.size)), np.ones((n, raw.size), dtype=bool)


def _fixed(mat: np.ndarray) -> _Field:
    return mat, np.ones(mat.shape, dtype=bool)


def _choice_table(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [t.encode("utf-8") for t in texts]
    width = max(1, max(len(e) for e in encoded))
    table = np.zeros((len(encoded), width), dtype=np.uint8)
    for i, e in enumerate(encoded):
        table[i, :len(e)] = np.frombuffer(e, dtype=np.uint8)
    return table, np.array([len(e) for e in encoded])


def _pick(table: tuple[np.ndarray, np.ndarray], index: np.ndarray) -> _Field:
    mat, lengths = table
    return mat[index], np.arange(mat.shape[1])[None, :] < lengths[index][:, None]


def _number(values: np.ndarray, decimals: int = 0) -> _Field:
    """Non-negative integers (in units of 10**-decimals) as decimal text, without floats."""
    values = values.astype(np.int64)
    unit = 10 ** decimals
    whole = values // unit
    width = max(1, len(str(int(whole.max()))) if whole.size else 1)
    pows = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = ((whole[:, None] // pows) % 10 + 48).astype(np.uint8)
    n_digits = 1 + (whole[:, None] >= pows[None, :-1]).sum(axis=1) if width > 1 else \
        np.ones(whole.shape[0], dtype=np.int64)
    keep = np.arange(width)[None, :] >= (width - n_digits)[:, None]
    if decimals == 0:
        return digits, keep
    fpows = 10 ** np.arange(decimals - 1, -1, -1, dtype=np.int64)
    frac = (((values % unit)[:, None] // fpows) % 10 + 48).astype(np.uint8)
    n = values.shape[0]
    dot = np.full((n, 1), ord("."), dtype=np.uint8)
    return (np.concatenate([digits, dot, frac], axis=1),
            np.concatenate([keep, np.ones((n, 1 + decimals), dtype=bool)], axis=1))


def _iso_dates(days: np.ndarray) -> _Field:
    """datetime64[D] values as YYYY-MM-DD."""
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    parts = []
    for values, width in ((years, 4), (months, 2), (dom, 2)):
        pows = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
        parts.append(((values[:, None] // pows) % 10 + 48).astype(np.uint8))
    n = days.shape[0]
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    return _fixed(np.concatenate([parts[0], dash, parts[1], dash, parts[2]], axis=1))


def _join_rows(fields: Sequence[_Field]) -> bytes:
    mat = np.concatenate([f[0] for f in fields], axis=1)
    keep = np.concatenate([f[1] for f in fields], axis=1)
    return mat[keep].tobytes()


def _cumulative(p: np.ndarray) -> np.ndarray:
    c = np.cumsum(p, axis=-1)
    return c / c[..., -1:]


def _draw(cum: np.ndarray, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draws: firm i picks from the cumulative distribution ``cum[group[i]]``.

    Works group by group, so memory stays at a few arrays of n, whatever the number of options.
    """
    out = np.zeros(u.shape[0], dtype=np.int64)
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        out[rows] = np.minimum(np.searchsorted(cum[g], u[rows], side="right"), cum.shape[1] - 1)
    return out


def write_scale_drop(out_dir: Path, *, enterprises: int, quarters: int = 8,
                     seed: int = DEFAULT_SEED) -> list[Path]:
    """Write one large drop into ``out_dir``: enterprises.csv, revenue.csv, zone_metrics.csv.

    Every firm is active, founded before the first quarter, and has revenue in each of the
    ``quarters`` quarters ending 2025Q2 (so revenue.csv has ``enterprises * quarters`` rows).
    The first rows cover every zone open by 2025Q2 and every district. Firm size is lognormal
    (top 1 % of firms hold about 40 % of revenue). Names repeat at this size; codes do not.

    :param out_dir: the drop folder; created if missing.
    :param enterprises: number of firms (≥ 1).
    :param quarters: quarters of revenue per firm, ending 2025Q2.
    :param seed: the random seed; the same arguments write byte-identical files.
    :returns: the files written.
    :raises ValueError: if ``enterprises`` or ``quarters`` is below 1.
    """
    if enterprises < 1 or quarters < 1:
        raise ValueError("enterprises and quarters must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = enterprises
    periods = _quarters((1900, 1), LAST_QUARTER)[-quarters:]
    first_day = np.datetime64(_quarter_start(periods[0]).isoformat(), "D")
    reg_day = _quarter_end(LAST_QUARTER)
    zones = [z for z in load_zones() if _is_open(z, reg_day)]
    n_z, n_d, n_s = len(zones), len(DISTRICTS), len(SEGMENT_CODES)

    # --- firm attributes that the whole file needs at once (a few bytes per firm) -----------
    rng = np.random.default_rng([seed, 2])
    age_days = np.minimum(rng.exponential(5.5 * 365.25, n).astype(np.int64), 30 * 365)
    founded = first_day - 1 - age_days
    f_year = founded.astype("datetime64[Y]").astype(np.int64) + 1970
    mix_upto = np.array([upto for upto, _ in SEGMENT_MIX])
    mix_cum = _cumulative(np.array([mix for _, mix in SEGMENT_MIX]))
    segment = _draw(mix_cum, np.minimum(np.searchsorted(mix_upto, f_year), len(mix_upto) - 1),
                    rng.random(n))
    dist_cum = _cumulative(np.array([_district_probs(s) for s in SEGMENT_CODES]))
    district = _draw(dist_cum, segment, rng.random(n))
    # options per (district, segment): 0 = no zone, k = zones[k - 1]
    place = np.zeros((n_d, n_s, 1 + n_z))
    for di, (code, _, _) in enumerate(DISTRICTS):
        in_d = [k for k, z in enumerate(zones) if z.district == code]
        for si, seg in enumerate(SEGMENT_CODES):
            place[di, si, 0] = NO_ZONE_WEIGHT.get(code, DEFAULT_NO_ZONE_WEIGHT) if in_d else 1.0
            for k in in_d:
                place[di, si, 1 + k] = zones[k].profile.weight * \
                    zones[k].profile.attract.get(seg, 1.0)
    zone = _draw(_cumulative(place).reshape(n_d * n_s, 1 + n_z), district * n_s + segment,
                 rng.random(n)) - 1
    # The first rows cover every zone and every district, so small drops reference them all.
    cover = min(n, n_z)
    zone[:cover] = np.arange(cover)
    district[:cover] = [DISTRICT_CODES.index(zones[k].district) for k in range(cover)]
    extra = min(n - cover, n_d)
    district[cover:cover + extra] = np.arange(extra)
    zone[cover:cover + extra] = -1
    adcodes = np.array(DISTRICT_CODES, dtype=np.int64)[district]
    codes = np.concatenate([credit_codes_vectorised(rng, adcodes[lo:lo + SCALE_FIRM_CHUNK])
                            for lo in range(0, n, SCALE_FIRM_CHUNK)])
    # Unique codes: redraw the organisation part of any repeat (rare: 31**8 values).
    while True:
        key = np.zeros(n, dtype=np.int64)
        for col in range(8, 16):
            key = key * 31 + _ALPHABET_VALUE[codes[:, col]]
        key = key * 16 + district
        _, first = np.unique(key, return_index=True)
        dup = np.setdiff1d(np.arange(n), first)
        if dup.size == 0:
            break
        codes[dup] = credit_codes_vectorised(rng, adcodes[dup])

    # --- write in chunks ---------------------------------------------------------------------
    zone_ids = _choice_table([""] + [z.zone_id for z in zones])
    seg_table = _choice_table(SEGMENT_CODES)
    adcode_table = _choice_table([str(c) for c in DISTRICT_CODES])
    period_table = _choice_table([_label(p) for p in periods])
    brand_zh = _choice_table([w[0] for w in BRAND_WORDS])
    brand_en = _choice_table([w[1] for w in BRAND_WORDS])
    suffixes = [(seg, zh, en) for seg in SEGMENT_CODES for zh, en in SEGMENT_SUFFIXES[seg]]
    suffix_zh = _choice_table([s[1] for s in suffixes])
    suffix_en = _choice_table([s[2] for s in suffixes])
    suffix_first = np.array([next(i for i, s in enumerate(suffixes) if s[0] == seg)
                             for seg in SEGMENT_CODES])
    suffix_count = np.array([len(SEGMENT_SUFFIXES[seg]) for seg in SEGMENT_CODES])
    form_zh = _choice_table([f[0] for f in COMPANY_FORMS])
    form_en = _choice_table([f[1] for f in COMPANY_FORMS])
    season = np.log(np.array(SEASON) / np.mean(SEASON))[[p[1] - 1 for p in periods]]
    level = np.array(SEGMENT_LOG_LEVEL)
    drift = np.array(SEGMENT_DRIFT_LATE)

    ent_path, rev_path = out_dir / "enterprises.csv", out_dir / "revenue.csv"
    with ent_path.open("wb") as ent_fh, rev_path.open("wb") as rev_fh:
        ent_fh.write((",".join(EN_HEADERS["enterprises"]) + "\n").encode())
        rev_fh.write((",".join(EN_HEADERS["revenue"]) + "\n").encode())
        for chunk, lo in enumerate(range(0, n, SCALE_FIRM_CHUNK)):
            hi = min(n, lo + SCALE_FIRM_CHUNK)
            m = hi - lo
            crng = np.random.default_rng([seed, 3, chunk])
            seg_idx = segment[lo:hi]
            log_scale = crng.normal(0.0, SCALE_LOG_SIGMA, m) + level[seg_idx]
            w1 = crng.integers(0, len(BRAND_WORDS), m)
            w2 = (w1 + crng.integers(1, len(BRAND_WORDS), m)) % len(BRAND_WORDS)
            suf = suffix_first[seg_idx] + crng.integers(0, 1 << 30, m) % suffix_count[seg_idx]
            form = (log_scale > 4.0).astype(np.int64)
            capital = np.exp(6.3 + 0.45 * log_scale + crng.normal(0, 1.0, m))
            step = 10.0 ** np.maximum(0, np.floor(np.log10(np.clip(capital, 10, 2e6))) - 1)
            capital_wan = (np.rint(np.clip(capital, 10, 2e6) / step) * step).astype(np.int64)
            emp = np.maximum(1, np.rint(np.exp(2.6 + 0.5 * log_scale
                                               + crng.normal(0, 0.45, m)))).astype(np.int64)
            z = zone[lo:hi]
            ent_fh.write(_join_rows([
                _fixed(codes[lo:hi]), _const(",上海", m), _pick(brand_zh, w1),
                _pick(brand_zh, w2), _pick(suffix_zh, suf), _pick(form_zh, form),
                _const(',"Shanghai ', m), _pick(brand_en, w1), _const(" ", m),
                _pick(brand_en, w2), _const(" ", m), _pick(suffix_en, suf), _const(" ", m),
                _pick(form_en, form), _const('",', m), _pick(zone_ids, z + 1), _const(",", m),
                _pick(adcode_table, district[lo:hi]), _const(",", m), _pick(seg_table, seg_idx),
                _const(",", m), _iso_dates(founded[lo:hi]), _const(",", m),
                _number(capital_wan, 2), _const(",", m), _number(emp), _const(",active,sample\n", m),
            ]))
            # revenue: firm-major, quarters in order
            noise = np.empty((m, quarters))
            noise[:, 0] = crng.normal(0, 0.2, m)
            for q in range(1, quarters):
                noise[:, q] = 0.8 * noise[:, q - 1] + crng.normal(0, 0.12, m)
            trend = drift[seg_idx][:, None] * np.arange(quarters)[None, :]
            value = np.rint(SCALE_MEDIAN_THOUSAND_CNY * np.exp(
                log_scale[:, None] + trend + noise + season[None, :])).astype(np.int64)
            rows = m * quarters
            rev_fh.write(_join_rows([
                _fixed(np.repeat(codes[lo:hi], quarters, axis=0)), _const(",", rows),
                _pick(period_table, np.tile(np.arange(quarters), m)), _const(",", rows),
                _number(value.ravel(), 3), _const(",sample\n", rows),
            ]))

    # --- zone figures ------------------------------------------------------------------------
    firms_in = np.bincount(zone[zone >= 0], minlength=n_z)
    fm_in = np.bincount(zone[(zone >= 0) & (segment == FM)], minlength=n_z)
    zrng = np.random.default_rng([seed, 4])
    zone_rows = []
    for k, zn in enumerate(zones):
        models, investors, pflops = _zone_figures(zn, periods, np.full(quarters, fm_in[k]), zrng)
        for q, yq in enumerate(periods):
            if _is_open(zn, _quarter_end(yq)):
                zone_rows.append((zn.zone_id, _label(yq), int(firms_in[k]), int(fm_in[k]),
                                  int(models[q]), int(investors[q]), _money(int(pflops[q]), 1),
                                  "sample"))
    zm_path = out_dir / "zone_metrics.csv"
    zm_path.write_bytes(_csv_bytes(EN_HEADERS["zone_metrics"], zone_rows, encoding="utf-8",
                                   line_end="\n"))
    src_path = out_dir / "source.json"
    doc = {
        "title": f"{SAMPLE_NOTE}: scale drop of {n} enterprises x {quarters} quarters",
        "publisher": GENERATOR,
        "published": _published(LAST_QUARTER).isoformat(),
        "generator": "etl.sample.write_scale_drop",
        "seed": seed,
        "provenance": "sample",
        "note": f"{SAMPLE_NOTE}. For load tests; not calibrated to the city totals.",
    }
    src_path.write_bytes((json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode())
    return [ent_path, rev_path, zm_path, src_path]
