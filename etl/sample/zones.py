"""Where sample firms sit: districts, zones, and each zone's models, investors and computing power.

:func:`load_zones` reads the zone list; :func:`place` puts a firm in a zone of its district (or
in none); :func:`zone_figures` simulates a zone's registered models, investment institutions and
PFLOPS quarter by quarter.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from etl.sample.calibration import FIRST_QUARTER, LAST_QUARTER
from etl.sample.firms import SEGMENT_CODES
from models.periods import quarter_end, split_quarter

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
MODEL_REGISTRATIONS_FROM = (2023, 3)  # first generative-AI models were registered in 2023-08
MODEL_RATE = 0.025       # registrations per foundation-model firm and quarter (rate 1.0 zone)

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


@dataclass(frozen=True)
class Zone:
    """A zone firms can sit in: its id, district, opening day (None: before 2019) and profile."""

    zone_id: str
    district: int
    opened: date | None
    profile: ZoneProfile


def _district_from_text(text: str) -> int | None:
    """The adcode of the first district named in a free-text district column (reference file)."""
    hits = [(text.find(name), code) for code, name, _ in DISTRICTS if name in text]
    return min(hits)[1] if hits else None


def load_zones(data_dir: Path = DATA_DIR) -> list[Zone]:
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
        zones.append(Zone(zid, district, opened, profile))
    return sorted(zones, key=lambda z: z.zone_id)


def is_open(zone: Zone, day: date) -> bool:
    """True if ``zone`` has opened by ``day``."""
    return zone.opened is None or zone.opened <= day


def district_probs(segment: str) -> np.ndarray:
    """The chance of each of :data:`DISTRICTS` for a firm of ``segment``."""
    boost = DISTRICT_SEGMENT_BOOST.get(segment, {})
    w = np.array([wt * boost.get(code, 1.0) for code, _, wt in DISTRICTS])
    return w / w.sum()


def place(rng: np.random.Generator, zones: list[Zone], district: int, seg: int,
           day: date, *, allow_none: bool = True) -> int:
    """Pick a zone (index) or -1 for a firm of segment ``seg`` in ``district`` on ``day``."""
    seg_code = SEGMENT_CODES[seg]
    cands = [(i, z.profile.weight * z.profile.attract.get(seg_code, 1.0))
             for i, z in enumerate(zones) if z.district == district and is_open(z, day)]
    if not cands:
        return -1
    if allow_none:
        cands.append((-1, NO_ZONE_WEIGHT.get(district, DEFAULT_NO_ZONE_WEIGHT)))
    weights = np.array([w for _, w in cands])
    return cands[int(rng.choice(len(cands), p=weights / weights.sum()))][0]


def _quarter_index(yq: tuple[int, int]) -> int:
    """Quarters since year 0: differences count quarters between two ``(year, quarter)``."""
    return yq[0] * 4 + yq[1] - 1


def zone_figures(zone: Zone, quarters: list[tuple[int, int]], fm_firms: np.ndarray,
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
    open_q = _quarter_index(split_quarter(FIRST_QUARTER)) if zone.opened is None else \
        _quarter_index((zone.opened.year, (zone.opened.month - 1) // 3 + 1))
    span = max(_quarter_index(split_quarter(LAST_QUARTER)) - open_q, 1)
    start, end, power = prof.pflops
    count_m, count_i, best, first = 0, prof.investors[0], 0, True
    for q, yq in enumerate(quarters):
        if not is_open(zone, quarter_end(*yq)):
            continue
        if yq >= MODEL_REGISTRATIONS_FROM:
            count_m += int(rng.poisson(MODEL_RATE * prof.model_rate * fm_firms[q]))
        if not first:
            count_i += int(rng.poisson(prof.investors[1]))
        first = False
        frac = min(max((_quarter_index(yq) - open_q) / span, 0.0), 1.2)
        level = start + (end - start) * frac ** power
        best = max(best, round(level * math.exp(rng.normal(0, 0.03)) * 10))
        models[q], investors[q], pflops[q] = count_m, count_i, best
    return models, investors, pflops

