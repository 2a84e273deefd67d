"""The simulated register behind the bundled drops: firms and their history, quarter by quarter.

:func:`simulate_register` is pure (no files written). About 2,000 firms are there in 2019Q1 and
about 4,000 are active by 2025; each quarter firms are founded, suspended, deregistered, move out
of Shanghai, move between zones and report new head counts. Revenue per quarter is scaled so
that the city total follows :func:`etl.sample.calibration.quarter_targets`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from etl import credit_code
from etl.sample.calibration import (
    DEFAULT_SEED,
    FIRST_QUARTER,
    LAST_QUARTER,
    quarter_targets,
    quarters_between,
)
from etl.sample.firms import (
    ACTIVE,
    BRAND_WORDS,
    COMPANY_FORMS,
    DEREGISTERED,
    FM,
    MOVED_OUT,
    SEGMENT_CODES,
    SEGMENT_DRIFT_EARLY,
    SEGMENT_DRIFT_LATE,
    SEGMENT_LOG_LEVEL,
    SEGMENT_MIX,
    SEGMENT_SUFFIXES,
    SUSPENDED,
)
from etl.sample.zones import (
    DATA_DIR,
    DISTRICT_CODES,
    Zone,
    district_probs,
    load_zones,
    place,
    zone_figures,
)
from models.periods import quarter_end, quarter_start

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


@dataclass
class Register:
    """Firms as arrays (index = firm), and their history per quarter."""

    quarters: list[tuple[int, int]]
    zones: list[Zone]
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


def simulate_register(seed: int = DEFAULT_SEED, data_dir: Path = DATA_DIR) -> Register:
    """Simulate the sample register 2019Q1–2025Q2 (pure: no files written)."""
    rng = np.random.default_rng(seed)
    code_rng = random.Random(seed)
    quarters = quarters_between(FIRST_QUARTER, LAST_QUARTER)
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
            founded.append(_random_founded(rng, quarter_start(*yq), quarter_end(*yq)))
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
    home = [int(rng.choice(DISTRICT_CODES, p=district_probs(SEGMENT_CODES[segment[i]])))
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
        end = quarter_end(*yq)
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
                if z.opened is None or not (quarter_start(*yq) <= z.opened <= end):
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
                        rng.choice(DISTRICT_CODES, p=district_probs(SEGMENT_CODES[segment[i]])))
                    new_z = place(rng, zones, new_d, int(segment[i]), end)
                    if new_z != cur_zone[i] or new_d != cur_district[i]:
                        cur_district[i], cur_zone[i] = new_d, new_z
                        changed.add(int(i))
                elif um < P_RELOCATE + P_JOIN_ZONE and cur_zone[i] < 0:
                    new_z = place(rng, zones, int(cur_district[i]), int(segment[i]), end,
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
            cur_zone[i] = place(rng, zones, int(cur_district[i]), int(segment[i]), day)
            cur_status[i] = ACTIVE if (qi > 0 or rng.random() > 0.03) else SUSPENDED
            cur_emp[i] = head_count(int(i), end)
            changed.add(int(i))
        status[:, qi] = cur_status
        zone[:, qi] = cur_zone
        district[:, qi] = cur_district
        employees[:, qi] = cur_emp
        listed.append(sorted(changed, key=lambda i: codes[i]))

    # --- revenue ---------------------------------------------------------------------------
    qmid = np.array([(quarter_start(*yq).toordinal() + quarter_end(*yq).toordinal()) / 2
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
    targets = quarter_targets(quarters)
    revenue = np.rint(raw * (targets / raw.sum(axis=0))[None, :]).astype(np.int64)

    # --- zone figures ----------------------------------------------------------------------
    models = np.zeros((n_z, n_q), dtype=np.int64)
    investors = np.zeros((n_z, n_q), dtype=np.int64)
    pflops = np.zeros((n_z, n_q), dtype=np.int64)
    for zi, z in enumerate(zones):
        fm_firms = ((status == ACTIVE) & (zone == zi) & (segment[:, None] == FM)).sum(axis=0)
        models[zi], investors[zi], pflops[zi] = zone_figures(z, quarters, fm_firms, rng)

    return Register(quarters=quarters, zones=zones, codes=codes,
                     name_zh=[nm[0] for nm in names], name_en=[nm[1] for nm in names],
                     birth_q=births, founded=founded, segment=segment, capital_wan=capital,
                     status=status, zone=zone, district=district, employees=employees,
                     listed=listed, revenue=revenue, models=models, investors=investors,
                     pflops_tenths=pflops)

