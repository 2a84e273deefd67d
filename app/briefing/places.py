"""The places half of a briefing: the map of the 16 districts and the zones for the quarter,
and the movers among them (revenue growth on a year earlier, firms added), all sample
aggregates from the register.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from app.briefing import charts, numbers
from app.briefing.model import Figure, Note, Paragraph, Section, Table
from app.i18n import Translator
from app.queries import movers, overview, reference, series
from models.metrics import REVENUE_METRIC

MAP_FILE = "map.svg"
# Growth is ranked only over places whose revenue a year earlier reached this much (billion
# CNY): on a smaller base a few firms moving make growth of thousands of percent.
MIN_BASE_BN = {"district": 1.0, "zone": 0.5}
# How many places each end of a ranking shows.
MOVERS_SHOWN = 3


def map_section(engine: Engine, quarter: str, quarter_end: date, tr: Translator,
                charts_out: dict[str, bytes]) -> Section:
    """The districts coloured by the quarter's sample revenue, the zones as circles."""
    section = Section(tr("briefing.map_title"))
    districts = reference.districts(engine, with_geometry=True)
    values = series.values_at(engine, REVENUE_METRIC, "district", quarter, "quarterly")
    scale = tr.money_scale()
    shades = {int(a): float(v) * scale for a, v in zip(values["scope_id"], values["value_bn"])}
    glance = overview.zones_glance(engine, quarter_end)
    glance = glance[glance["kind"] != "core4-subsite"].reset_index(drop=True)
    # Growth on the movers' minimum base only (a computing site new last year: +7,000 %).
    growth = movers.revenue_growth(engine, "zone", quarter, MIN_BASE_BN["zone"])
    glance["growth"] = glance["zone_id"].map(dict(zip(growth["scope_id"], growth["growth_pct"])))
    placed = glance["lon"].notna() & glance["lat"].notna()
    glance["number"] = placed.cumsum().where(placed)
    labels = charts.MapLabels(value=tr("briefing.map_value", unit=tr.money_unit),
                              growth=tr("map.growth_colorbar"), no_value=tr("map.no_data"))
    charts_out[MAP_FILE] = charts.district_map(districts, shades, glance, labels)
    section.blocks.append(Figure(MAP_FILE, tr("briefing.map_caption",
                                              quarter=tr.period(quarter))))
    rows = []
    for z in glance.to_dict("records"):
        rows.append([str(int(z["number"])) if not pd.isna(z["number"]) else "—", tr.name(z["name_en"], z["name_zh"]),
                     tr.name(z["district_en"], z["district_zh"]), numbers.count(tr, z["firms"]),
                     numbers.change(tr, z["growth"]),
                     tr.label("provenance", z["firms_provenance"])])
    if rows:
        section.blocks.append(Table(
            [tr("briefing.col_number"), tr("columns.zone"), tr("columns.district"),
             tr("columns.firms"), tr("briefing.col_growth"), tr("columns.provenance")], rows,
            [0.5, 3.4, 1.6, 1.0, 1.2, 1.0]))
        section.blocks.append(Note(tr("briefing.zones_note")))
    return section


def _name(row: dict, tr: Translator) -> str:
    return tr.name(row["name_en"], row["name_zh"])


def movers_section(engine: Engine, quarter: str, tr: Translator) -> Section:
    """Fastest growth and steepest decline (on a minimum base), and most firms added, among
    districts and zones."""
    section = Section(tr("briefing.movers_title"))
    sentences = []
    for scope_type in ("district", "zone"):
        kind = tr(f"briefing.kind_{scope_type}")
        growth = movers.revenue_growth(engine, scope_type, quarter, MIN_BASE_BN[scope_type])
        added = movers.firms_added(engine, scope_type, quarter)
        rows = []
        top = growth.head(MOVERS_SHOWN)
        bottom = growth.iloc[len(top):].tail(MOVERS_SHOWN)
        bottom = bottom[bottom["growth_pct"] < 0]
        for label, part in ((tr("briefing.fastest"), top), (tr("briefing.slowest"), bottom)):
            for rec in part.to_dict("records"):
                rows.append([label, _name(rec, tr), tr.money(rec["value_bn"]),
                             tr.money(rec["base_bn"]), numbers.change(tr, rec["growth_pct"])])
        if rows:
            section.blocks.append(Paragraph(tr("briefing.movers_growth_lead", kind=kind,
                                               quarter=tr.period(quarter))))
            section.blocks.append(Table(
                [tr("briefing.col_rank"), tr("briefing.col_place"),
                 tr("briefing.col_revenue", period=tr.period(quarter)),
                 tr("briefing.col_revenue_base"), tr("briefing.col_growth")], rows,
                [1.3, 3.2, 1.6, 1.6, 1.1]))
            first = top.iloc[0].to_dict()
            sentences.append(tr("briefing.movers_sentence", kind=kind, name=_name(first, tr),
                                pct=numbers.change(tr, first["growth_pct"])))
        left_out = int(growth["below_base"].iloc[0]) if not growth.empty else 0
        section.blocks.append(Note(tr("briefing.min_base_note", kind=kind,
                                      base=tr.money(MIN_BASE_BN[scope_type]), n=left_out)))
        most = added[added["added"] > 0].head(MOVERS_SHOWN)
        if not most.empty:
            section.blocks.append(Paragraph(tr("briefing.firms_added", kind=kind, places=tr(
                "briefing.list_separator").join(
                    tr("briefing.place_added", name=_name(r, tr),
                       n=numbers.signed_count(tr, r["added"]),
                       total=numbers.count(tr, r["firms"]))
                    for r in most.to_dict("records")))))
    if sentences:
        section.blocks.insert(0, Paragraph(tr("briefing.sentence_join").join(sentences)))
    return section
