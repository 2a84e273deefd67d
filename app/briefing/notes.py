"""The last half of a briefing: what changed since the last load, the data notes (sample
against reported, figures that disagree, the movers' minimum base) and the list of sources of
every figure cited.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from app.briefing import numbers
from app.briefing.citing import citation, source_line
from app.briefing.model import Bullets, Citations, Note, Paragraph, Section, Table
from app.i18n import Translator
from app.money import money_factor
from app.queries import changes, sources

# At most this many revisions and new facts are listed (largest change first).
MAX_LISTED = 8
# At most this many groups of disagreeing figures are listed.
MAX_CONFLICTS = 4


def _value(value: float, unit: str, tr: Translator) -> str:
    factor = money_factor(unit)
    if factor is not None:
        return tr.money(value * factor)
    if str(unit).startswith("percent"):
        return tr.percent(value)
    return numbers.count(tr, value)


def _scope(row: dict, tr: Translator) -> str:
    if row["scope_type"] == "city":
        return tr("common.city")
    return tr.name(row.get("scope_en"), row.get("scope_zh")) or str(row["scope_id"])


def changes_section(engine: Engine, tr: Translator, cited: Citations) -> Section:
    """The last load against the one before: firms and revenue rows it added or revised (counts
    only), the aggregate figures it revised, the reported figures it added."""
    section = Section(tr("briefing.changes_title"))
    runs = changes.loads(engine)
    if runs.empty:
        section.blocks.append(Paragraph(tr("briefing.no_loads")))
        return section
    last = runs.iloc[0].to_dict()
    run_id = int(last["id"])
    counts = changes.register_changes(engine, run_id)
    what = tr.label("run_kind", last["kind"])
    text = tr("briefing.last_load", run=run_id, kind=what,
              period=tr.period(last["data_period"]) if last["data_period"] else "—",
              date=tr.timestamp(last["finished_at"] or last["started_at"]))
    if len(runs) > 1:
        before = runs.iloc[1].to_dict()
        text += tr("briefing.load_before", run=int(before["id"]),
                   date=tr.timestamp(before["finished_at"] or before["started_at"]))
    if last["kind"] == "drop":
        text += tr("briefing.register_changes", new=numbers.count(tr, counts["firms_new"]),
                   revised=numbers.count(tr, counts["firms_revised"]),
                   revenue=numbers.count(tr, counts["revenue_revised"]))
    section.blocks.append(Paragraph(text))
    revised = changes.revisions(engine, run_id)
    if revised.empty:
        section.blocks.append(Paragraph(tr("briefing.no_revisions")))
    else:
        rows = []
        for r in revised.head(MAX_LISTED).to_dict("records"):
            rows.append([tr.name(r["name_en"], r["name_zh"]), _scope(r, tr),
                         tr.period(r["period"], r["basis"]), _value(r["old_value"], r["unit"], tr),
                         _value(r["new_value"], r["unit"], tr),
                         numbers.change(tr, r["change_pct"]),
                         tr.label("provenance", r["provenance"])])
            cited.cite(r["source_id"])
        section.blocks.append(Paragraph(tr("briefing.revisions_lead", n=len(revised),
                                           shown=min(len(revised), MAX_LISTED))))
        section.blocks.append(Table(
            [tr("briefing.col_figure"), tr("briefing.col_place"), tr("columns.period"),
             tr("briefing.col_before"), tr("briefing.col_after"), tr("briefing.col_change"),
             tr("columns.provenance")], rows, [2.6, 1.6, 1.3, 1.3, 1.3, 1.0, 0.9]))
    new = changes.new_reported(engine, run_id)
    if new.empty:
        section.blocks.append(Paragraph(tr("briefing.no_new_facts")))
    else:
        items = []
        for r in new.head(MAX_LISTED).to_dict("records"):
            number = cited.cite(r["source_id"])
            items.append(tr("briefing.new_fact", name=tr.name(r["name_en"], r["name_zh"]),
                            period=tr.period(r["period"], r["basis"]),
                            value=("≥ " if r["lower_bound"] else "")
                            + _value(r["value"], r["unit"], tr), number=number))
        section.blocks.append(Paragraph(tr("briefing.new_facts_lead", n=len(new))))
        section.blocks.append(Bullets(items))
    return section


def notes_section(engine: Engine, tr: Translator, cited: Citations,
                  min_base: dict[str, float]) -> Section:
    """Sample against reported, figures that disagree, the movers' minimum base."""
    section = Section(tr("briefing.notes_title"))
    items = [tr("briefing.note_sample"), tr("briefing.note_reported")]
    conflicts = sources.conflicts(engine)
    groups = []
    for _, group in conflicts.groupby("group", sort=True):
        rows = group.to_dict("records")
        first = rows[0]
        figures = tr("briefing.list_separator").join(
            tr("briefing.conflict_value", value=("≥ " if r["lower_bound"] else "")
               + _value(r["value"], r["unit"], tr),
               source=citation(cited.cite(r["source_id"]), {
                   "title": r["source_title"], "url_or_publication": r["url_or_publication"],
                   "published": r["published"], "provenance": "reported"}, tr),
               record=tr("briefing.of_record") if r["is_record"] else "")
            for r in rows)
        scope = tr("common.city") if first["scope_type"] == "city" else str(first["scope_id"])
        groups.append(tr("briefing.conflict", name=tr.name(first["name_en"], first["name_zh"]),
                         scope=scope, period=tr.period(first["period"], first["basis"]),
                         figures=figures))
        if len(groups) == MAX_CONFLICTS:
            break
    if groups:
        items.append(tr("briefing.note_conflicts", n=conflicts["group"].nunique()))
    items.append(tr("briefing.note_bases"))
    items.append(tr("briefing.note_min_base", district=tr.money(min_base["district"]),
                    zone=tr.money(min_base["zone"])))
    items.append(tr("briefing.note_aggregates"))
    section.blocks.append(Bullets(items))
    if groups:
        section.blocks.append(Paragraph(tr("briefing.conflicts_lead")))
        section.blocks.append(Bullets(groups))
    return section


def sources_section(engine: Engine, tr: Translator, cited: Citations) -> Section:
    """Every cited source, numbered as cited."""
    section = Section(tr("briefing.sources_title"))
    rows = changes.cited_sources(engine, cited.ids)
    lines = [source_line(n, r, tr) for n, r in enumerate(rows.to_dict("records"), start=1)]
    section.blocks.append(Note(tr("briefing.sources_note")))
    section.blocks.append(Bullets(lines) if lines else Paragraph(tr("briefing.no_sources")))
    return section

