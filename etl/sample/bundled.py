"""The bundled sample drops: one folder per quarter 2019Q1–2025Q2, as ``aidash init`` loads them.

:func:`write_bundled_drops` simulates the register (:mod:`etl.sample.register`), takes each
quarter's rows (the firms that changed, revenue of the active ones, zone figures), and writes
them in that drop's format (:data:`etl.sample.formats.DROP_FORMATS`). Two drops carry deliberate
revisions that the next drop restates. The same seed writes the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np

from etl.sample.calibration import DEFAULT_SEED
from etl.sample.firms import ACTIVE, FM, SEGMENT_CODES, SEGMENT_ZH, STATUS_CODES, STATUS_ZH
from etl.sample.formats import (
    DROP_FORMATS,
    EN_HEADERS,
    FORMAT_CSV_BOM,
    FORMAT_CSV_EN,
    FORMAT_CSV_ZH_YTD,
    FORMAT_XLSX_ZH,
    GENERATED_NAMES,
    GENERATOR,
    SAMPLE_NOTE,
    ZH_HEADERS,
    ZH_STEMS,
    csv_bytes,
    money,
    published,
    wan,
    xlsx_bytes,
)
from etl.sample.register import Register, simulate_register
from etl.sample.zones import is_open
from models.periods import quarter_end, quarter_label, split_quarter

# Deliberate revisions: the first drop reports a wrong figure, the second restates it.
REVENUE_REVISION = ("2024Q3", "2024Q4")   # (period revised, drop that restates it)
REVENUE_REVISION_FIRMS = 6
ZONE_REVISION = ("lingang_ct_computing", "2024Q4", "2025Q1", 0.88)  # preliminary = 88 %


@dataclass
class _DropRows:
    """One drop's rows in neutral units (thousand CNY, 万元, 0.1 PFLOPS)."""

    yq: tuple[int, int]
    enterprises: list[tuple[str, str, str, str, int, str, date, int, int, str]]
    revenue: list[tuple[str, tuple[int, int], int, bool]]  # code, quarter, thousand CNY, ytd
    zone_metrics: list[tuple[str, tuple[int, int], int, int, int, int, int]]


def _revision_firms(reg: Register, rng: np.random.Generator) -> list[int]:
    """Mid-sized firms active in both quarters of the revenue revision."""
    q1 = reg.quarters.index(split_quarter(REVENUE_REVISION[0]))
    q2 = reg.quarters.index(split_quarter(REVENUE_REVISION[1]))
    ok = np.flatnonzero((reg.status[:, q1] == ACTIVE) & (reg.status[:, q2] == ACTIVE)
                        & (reg.revenue[:, q1] > 0))
    vals = reg.revenue[ok, q1]
    lo, hi = np.quantile(vals, [0.5, 0.9])
    mid = ok[(vals >= lo) & (vals <= hi)]
    return sorted(int(i) for i in rng.choice(mid, size=REVENUE_REVISION_FIRMS, replace=False))


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


def _drop_rows(reg: Register, seed: int) -> list[_DropRows]:
    rng = np.random.default_rng([seed, 1])
    drops = []
    rev_q, rev_drop = (split_quarter(x) for x in REVENUE_REVISION)
    rev_qi = reg.quarters.index(rev_q)
    rev_firms = _revision_firms(reg, rng)
    z_id, z_period, z_drop, z_factor = ZONE_REVISION
    zone_ids = [z.zone_id for z in reg.zones]
    for qi, yq in enumerate(reg.quarters):
        label = quarter_label(*yq)
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
            if not is_open(z, quarter_end(*yq)):
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
            rq = split_quarter(z_period)
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
            ents.append([code, nzh, nen, zid, dist, seg, day(fnd), money(cap, 2), emp, st,
                         prov])
    rev: list[list[object]] = []
    for code, yq, value, ytd in drop.revenue:
        if zh:
            period = f"{yq[0]}年1-{3 * yq[1]}月" if ytd else _zh_quarter(yq)
            amount: object = value / 10 if xlsx else wan(value)
            rev.append([code, period, amount, "累计" if ytd else "当季", prov])
        else:
            period = f"{yq[0]}-{3 * yq[1]:02d}" if fmt == FORMAT_CSV_BOM else quarter_label(*yq)
            rev.append([code, period, money(value, 3), prov])
    zm: list[list[object]] = []
    for zid, yq, firms, fm, models, inv, pf in drop.zone_metrics:
        pfl: object = pf / 10 if xlsx else money(pf, 1)
        zm.append([zid, _zh_quarter(yq) if zh else quarter_label(*yq), firms, fm, models, inv, pfl,
                   prov])
    headers = ZH_HEADERS if zh else EN_HEADERS
    return {"enterprises": (headers["enterprises"], ents),
            "revenue": (headers["revenue"], rev),
            "zone_metrics": (headers["zone_metrics"], zm)}


def _source_json(yq: tuple[int, int], fmt: str, seed: int) -> bytes:
    label = quarter_label(*yq)
    doc = {
        "title": f"{SAMPLE_NOTE}: Shanghai AI enterprise drop {label}",
        "publisher": GENERATOR,
        "published": published(yq).isoformat(),
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
        label = quarter_label(*drop.yq)
        fmt = DROP_FORMATS.get(label, FORMAT_CSV_EN)
        folder = Path(out_dir) / label
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.combine(published(drop.yq), datetime.min.time()).replace(hour=9)
        files: dict[str, bytes] = {}
        for kind, (headers, rows) in _render(drop, fmt).items():
            if not rows:
                continue
            if fmt == FORMAT_XLSX_ZH:
                files[f"{kind}.xlsx"] = xlsx_bytes(ZH_STEMS[kind], headers, rows, stamp)
            elif fmt == FORMAT_CSV_ZH_YTD:
                files[f"{ZH_STEMS[kind]}.csv"] = csv_bytes(headers, rows, encoding="gb18030",
                                                            line_end="\r\n")
            elif fmt == FORMAT_CSV_BOM:
                files[f"{kind}.csv"] = csv_bytes(headers, rows, encoding="utf-8-sig",
                                                  line_end="\r\n")
            else:
                files[f"{kind}.csv"] = csv_bytes(headers, rows, encoding="utf-8", line_end="\n")
        files["source.json"] = _source_json(drop.yq, fmt, seed)
        for stale in sorted(folder.iterdir()):
            if stale.name in GENERATED_NAMES and stale.name not in files:
                stale.unlink()
        for name, payload in files.items():
            path = folder / name
            _write_if_changed(path, payload)
            written.append(path)
    return written

