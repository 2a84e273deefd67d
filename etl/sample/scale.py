"""The scale drop: one synthetic drop of N enterprises for load tests (a million in seconds).

:func:`write_scale_drop` draws every firm's attributes over numpy arrays, makes the credit codes
over arrays too (:mod:`etl.sample.credit_codes`) and writes the rows as byte matrices
(:mod:`etl.sample.byte_rows`) in fixed chunks, so the output never depends on the chunk size.
It is not calibrated to the city totals; every firm is active and every row says ``sample``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from etl.sample.byte_rows import choice_table, const, fixed, iso_dates, join_rows, number, pick
from etl.sample.calibration import DEFAULT_SEED, LAST_QUARTER, SEASON, quarters_between
from etl.sample.credit_codes import credit_codes_vectorised, organisation_keys
from etl.sample.firms import (
    BRAND_WORDS,
    COMPANY_FORMS,
    FM,
    SEGMENT_CODES,
    SEGMENT_DRIFT_LATE,
    SEGMENT_LOG_LEVEL,
    SEGMENT_MIX,
    SEGMENT_SUFFIXES,
)
from etl.sample.formats import EN_HEADERS, GENERATOR, SAMPLE_NOTE, csv_bytes, money, published
from etl.sample.zones import (
    DEFAULT_NO_ZONE_WEIGHT,
    DISTRICT_CODES,
    DISTRICTS,
    NO_ZONE_WEIGHT,
    district_probs,
    is_open,
    load_zones,
    zone_figures,
)
from models.periods import quarter_end, quarter_label, quarter_start, shift_quarter

SCALE_FIRM_CHUNK = 50_000    # firms per written chunk (fixed: output must not depend on it)
SCALE_LOG_SIGMA = 2.1        # spread of firm size; top 1 % of firms hold about 40 % of revenue
SCALE_MEDIAN_THOUSAND_CNY = 1_500  # median firm's quarterly revenue (1.5 million CNY)


def _cumulative(p: np.ndarray) -> np.ndarray:
    """Cumulative probabilities along the last axis, ending at exactly 1."""
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
    periods = quarters_between(shift_quarter(LAST_QUARTER, 1 - quarters), LAST_QUARTER)
    first_day = np.datetime64(quarter_start(*periods[0]).isoformat(), "D")
    reg_day = quarter_end(*periods[-1])
    zones = [z for z in load_zones() if is_open(z, reg_day)]
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
    dist_cum = _cumulative(np.array([district_probs(s) for s in SEGMENT_CODES]))
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
        key = organisation_keys(codes) * 16 + district
        _, first = np.unique(key, return_index=True)
        dup = np.setdiff1d(np.arange(n), first)
        if dup.size == 0:
            break
        codes[dup] = credit_codes_vectorised(rng, adcodes[dup])

    # --- write in chunks ---------------------------------------------------------------------
    zone_ids = choice_table([""] + [z.zone_id for z in zones])
    seg_table = choice_table(SEGMENT_CODES)
    adcode_table = choice_table([str(c) for c in DISTRICT_CODES])
    period_table = choice_table([quarter_label(*p) for p in periods])
    brand_zh = choice_table([w[0] for w in BRAND_WORDS])
    brand_en = choice_table([w[1] for w in BRAND_WORDS])
    suffixes = [(seg, zh, en) for seg in SEGMENT_CODES for zh, en in SEGMENT_SUFFIXES[seg]]
    suffix_zh = choice_table([s[1] for s in suffixes])
    suffix_en = choice_table([s[2] for s in suffixes])
    suffix_first = np.array([next(i for i, s in enumerate(suffixes) if s[0] == seg)
                             for seg in SEGMENT_CODES])
    suffix_count = np.array([len(SEGMENT_SUFFIXES[seg]) for seg in SEGMENT_CODES])
    form_zh = choice_table([f[0] for f in COMPANY_FORMS])
    form_en = choice_table([f[1] for f in COMPANY_FORMS])
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
            ent_fh.write(join_rows([
                fixed(codes[lo:hi]), const(",上海", m), pick(brand_zh, w1),
                pick(brand_zh, w2), pick(suffix_zh, suf), pick(form_zh, form),
                const(',"Shanghai ', m), pick(brand_en, w1), const(" ", m),
                pick(brand_en, w2), const(" ", m), pick(suffix_en, suf), const(" ", m),
                pick(form_en, form), const('",', m), pick(zone_ids, z + 1), const(",", m),
                pick(adcode_table, district[lo:hi]), const(",", m), pick(seg_table, seg_idx),
                const(",", m), iso_dates(founded[lo:hi]), const(",", m),
                number(capital_wan, 2), const(",", m), number(emp), const(",active,sample\n", m),
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
            rev_fh.write(join_rows([
                fixed(np.repeat(codes[lo:hi], quarters, axis=0)), const(",", rows),
                pick(period_table, np.tile(np.arange(quarters), m)), const(",", rows),
                number(value.ravel(), 3), const(",sample\n", rows),
            ]))

    # --- zone figures ------------------------------------------------------------------------
    firms_in = np.bincount(zone[zone >= 0], minlength=n_z)
    fm_in = np.bincount(zone[(zone >= 0) & (segment == FM)], minlength=n_z)
    zrng = np.random.default_rng([seed, 4])
    zone_rows = []
    for k, zn in enumerate(zones):
        models, investors, pflops = zone_figures(zn, periods, np.full(quarters, fm_in[k]), zrng)
        for q, yq in enumerate(periods):
            if is_open(zn, quarter_end(*yq)):
                zone_rows.append((zn.zone_id, quarter_label(*yq), int(firms_in[k]), int(fm_in[k]),
                                  int(models[q]), int(investors[q]), money(int(pflops[q]), 1),
                                  "sample"))
    zm_path = out_dir / "zone_metrics.csv"
    zm_path.write_bytes(csv_bytes(EN_HEADERS["zone_metrics"], zone_rows, encoding="utf-8",
                                   line_end="\n"))
    src_path = out_dir / "source.json"
    doc = {
        "title": f"{SAMPLE_NOTE}: scale drop of {n} enterprises x {quarters} quarters",
        "publisher": GENERATOR,
        "published": published(periods[-1]).isoformat(),
        "generator": "etl.sample.write_scale_drop",
        "seed": seed,
        "provenance": "sample",
        "note": f"{SAMPLE_NOTE}. For load tests; not calibrated to the city totals.",
    }
    src_path.write_bytes((json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode())
    return [ent_path, rev_path, zm_path, src_path]
