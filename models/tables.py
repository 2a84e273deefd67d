"""Every table of the database, in one module.

Conventions that hold across tables:

* ``provenance`` is one of ``reported`` (published figure with a source), ``sample`` (made by the
  seeded generator, never real) or ``derived`` (computed from reported figures). A figure computed
  from sample data is still ``sample``: provenance follows the inputs.
* Periods are text: ``2024`` (year), ``2024Q3`` (quarter), ``2024-09`` (month) or ``2024-09-30``
  (day). ``period_end`` is the ISO date the period ends on, so periods of any length sort together.
* Observations carry ``etl_run_id`` (the run that wrote them) and ``superseded_by`` (the run
  that replaced them; NULL means current). A revision never deletes: the previous value stays
  queryable as an earlier vintage, and rolling a run back deletes its rows and clears
  ``superseded_by`` where it points at that run.
* The register and enterprise revenue hold current rows only; a run that changes one first
  copies its before-image, with the run as ``superseded_by``, to ``enterprise_versions`` or
  ``enterprise_revenue_versions`` (earlier vintages, and what a rollback restores).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

PROVENANCES = ("reported", "sample", "derived")
CONFIDENCES = ("high", "medium-high", "medium", "low-medium", "low")
SCOPE_TYPES = ("city", "district", "zone", "segment", "enterprise")
# quarterly: the value of that quarter alone; ytd: cumulative from January (1–3月, 1–6月 …);
# annual: a whole year; point: a stock at a moment (firms, models, PFLOPS); range: a multi-year span.
BASES = ("quarterly", "ytd", "annual", "point", "range")
KINDS = ("actual", "target", "plan", "estimate")
ZONE_KINDS = ("core4", "core4-subsite", "X", "X_unconfirmed", "compute_site")
ENTERPRISE_STATUSES = ("active", "suspended", "deregistered", "moved_out")
RUN_STATUSES = ("running", "succeeded", "rejected", "failed", "rolled_back", "noop")
# How a published scope (observations.scope_label) relates to the scope a figure is shown on,
# when it is not that scope itself: a wider area (a town, a special area) or a part of it.
SCOPE_RELATIONS = ("wider", "part")
RUN_KINDS = ("geography", "facts", "drop", "forecast")
CITY_SCOPE_ID = "310000"  # adcode of Shanghai Municipality


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Source(SQLModel, table=True):
    """Where a figure comes from: a publication, or the sample generator."""

    __tablename__ = "sources"
    __table_args__ = (
        CheckConstraint(_in("confidence", CONFIDENCES), name="ck_sources_confidence"),
        CheckConstraint(_in("provenance", PROVENANCES), name="ck_sources_provenance"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, description="stable identifier, e.g. a hash of title+date")
    title: str
    publisher: str | None = None
    url_or_publication: str | None = None
    published: str | None = Field(default=None, description="ISO date (or YYYY-MM) of publication")
    quote: str | None = Field(default=None, sa_column=Column(Text))
    confidence: str = Field(default="high", sa_column_kwargs={"server_default": 'high'})
    caveat: str | None = Field(default=None, sa_column=Column(Text))
    provenance: str = Field(default="reported", sa_column_kwargs={"server_default": "reported"})


class District(SQLModel, table=True):
    """One of Shanghai's 16 districts, with its WGS-84 boundary."""

    __tablename__ = "districts"

    adcode: int = Field(primary_key=True)
    name_zh: str
    name_en: str
    area_km2: float = Field(gt=0)
    geometry: str = Field(sa_column=Column(Text, nullable=False), description="GeoJSON geometry")


class Zone(SQLModel, table=True):
    """An AI cluster of the 4+X layout (core zone, sub-site, candidate X park, computing site)."""

    __tablename__ = "zones"
    __table_args__ = (
        CheckConstraint(_in("kind", ZONE_KINDS), name="ck_zones_kind"),
        CheckConstraint("lon IS NULL OR (lon BETWEEN 120.8 AND 122.2)", name="ck_zones_lon"),
        CheckConstraint("lat IS NULL OR (lat BETWEEN 30.6 AND 31.9)", name="ck_zones_lat"),
    )

    zone_id: str = Field(primary_key=True)
    name_zh: str
    name_en: str
    kind: str
    parent_zone_id: str | None = Field(default=None, foreign_key="zones.zone_id")
    district_adcode: int = Field(foreign_key="districts.adcode", index=True)
    lon: float | None = Field(default=None, description="WGS-84")
    lat: float | None = Field(default=None, description="WGS-84")
    coord_note: str | None = Field(default=None, sa_column=Column(Text))
    polygon: str | None = Field(default=None, sa_column=Column(Text), description="GeoJSON")
    opened: date | None = None
    source: str = Field(sa_column=Column(Text, nullable=False))
    notes: str | None = Field(default=None, sa_column=Column(Text))


class Segment(SQLModel, table=True):
    """An industry segment (foundation models, chips and computing, …)."""

    __tablename__ = "segments"

    code: str = Field(primary_key=True)
    name_zh: str
    name_en: str
    sort_order: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Metric(SQLModel, table=True):
    """The catalogue of metrics: names in both languages and the unit values are stored in."""

    __tablename__ = "metrics"

    code: str = Field(primary_key=True)
    name_en: str
    name_zh: str
    unit_en: str
    unit_zh: str
    description: str | None = Field(default=None, sa_column=Column(Text))
    # Metrics that measure the same thing on different bases (output, industry scale, above
    # designated size …) share a group: their figures for one scope and period are shown side
    # by side as disagreements, each with its basis note, and never spliced into one series.
    comparable_group: str | None = None
    basis_note_en: str | None = Field(default=None, sa_column=Column(Text))
    basis_note_zh: str | None = Field(default=None, sa_column=Column(Text))


class EtlRun(SQLModel, table=True):
    """One load: a drop, the reference facts, the geography or a forecast refresh."""

    __tablename__ = "etl_runs"
    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="ck_etl_runs_status"),
        CheckConstraint(_in("kind", RUN_KINDS), name="ck_etl_runs_kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(default="running", sa_column_kwargs={"server_default": 'running'})
    drop_path: str | None = None
    data_period: str | None = Field(default=None, description="latest period the run brought")
    rows_read: int = Field(default=0, sa_column_kwargs={"server_default": '0'})
    rows_inserted: int = Field(default=0, sa_column_kwargs={"server_default": '0'})
    rows_updated: int = Field(default=0, sa_column_kwargs={"server_default": '0'})
    rows_rejected: int = Field(default=0, sa_column_kwargs={"server_default": '0'})
    message: str | None = Field(default=None, sa_column=Column(Text))
    rolled_back_at: datetime | None = None


class EtlRunFile(SQLModel, table=True):
    """One file of a run, with its checksum and row counts."""

    __tablename__ = "etl_run_files"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="etl_runs.id", index=True)
    file_name: str
    sheet: str | None = None
    sha256: str = Field(index=True)
    encoding: str | None = None
    rows_read: int = Field(default=0, sa_column_kwargs={"server_default": '0'})
    rows_inserted: int = Field(default=0, sa_column_kwargs={"server_default": '0'})
    rows_updated: int = Field(default=0, sa_column_kwargs={"server_default": '0'})
    rows_rejected: int = Field(default=0, sa_column_kwargs={"server_default": '0'})


class Enterprise(SQLModel, table=True):
    """The current register entry of one enterprise (earlier states live in enterprise_versions)."""

    __tablename__ = "enterprises"
    __table_args__ = (
        CheckConstraint("length(credit_code) = 18", name="ck_enterprises_code_len"),
        CheckConstraint("registered_capital IS NULL OR registered_capital >= 0",
                        name="ck_enterprises_capital"),
        CheckConstraint("employees IS NULL OR employees >= 0", name="ck_enterprises_employees"),
        CheckConstraint(_in("status", ENTERPRISE_STATUSES), name="ck_enterprises_status"),
        CheckConstraint(_in("provenance", PROVENANCES), name="ck_enterprises_provenance"),
        # The explorer's filters, then its default sort (name_zh), so a filtered first page is
        # an index walk, not a sort; founded last keeps year ranges and the counts covered.
        # founded first answers MIN/MAX(founded) (the year slider), the founded sort and year
        # ranges; name_zh alone the unfiltered default page. (No index on name_en: its sort
        # reads the register either way.)
        # Only firms in a zone: a zone filter implies it, and the index a load builds is a
        # third smaller (at 1M firms 1.4 s instead of 2.4 s).
        Index("ix_enterprises_zone", "zone_id", "segment", "name_zh", "founded",
              sqlite_where=text("zone_id IS NOT NULL"),
              postgresql_where=text("zone_id IS NOT NULL")),
        Index("ix_enterprises_district", "district_adcode", "segment", "name_zh", "founded"),
        Index("ix_enterprises_segment", "segment", "name_zh", "founded"),
        Index("ix_enterprises_founded", "founded"),
        Index("ix_enterprises_name_zh", "name_zh"),
    )

    credit_code: str = Field(primary_key=True, description="统一社会信用代码 (GB 32100-2015)")
    name_zh: str
    name_en: str | None = None
    zone_id: str | None = Field(default=None, foreign_key="zones.zone_id")
    district_adcode: int = Field(foreign_key="districts.adcode")
    segment: str = Field(foreign_key="segments.code")
    founded: date | None = None
    registered_capital: float | None = Field(default=None, description="million CNY")
    employees: int | None = None
    status: str = Field(default="active", sa_column_kwargs={"server_default": "active"})
    provenance: str = Field(default="sample", sa_column_kwargs={"server_default": "sample"})
    source_id: int | None = Field(default=None, foreign_key="sources.id")
    # No index: only a rollback looks firms up by run (one scan of the register), and a
    # first load would build it over every firm.
    etl_run_id: int = Field(foreign_key="etl_runs.id")


class EnterpriseVersion(SQLModel, table=True):
    """The state of an enterprise row before a run changed it: an earlier vintage, and the undo log."""

    __tablename__ = "enterprise_versions"

    id: int | None = Field(default=None, primary_key=True)
    credit_code: str = Field(index=True)
    superseded_by: int = Field(foreign_key="etl_runs.id", index=True)
    name_zh: str
    name_en: str | None = None
    zone_id: str | None = None
    district_adcode: int
    segment: str
    founded: date | None = None
    registered_capital: float | None = None
    employees: int | None = None
    status: str
    provenance: str
    source_id: int | None = None
    etl_run_id: int


class EnterpriseRevenue(SQLModel, table=True):
    """The current quarterly revenue of one enterprise (million CNY); earlier values live in
    ``enterprise_revenue_versions``.

    Clustered on (period, credit_code) (WITHOUT ROWID): the rows of one quarter are one range
    of the table (the aggregates, the year-to-date check), a firm's quarter is one lookup (the
    explorer, the merge), and a drop's new quarter is appended in key order with no secondary
    index to build. At a million firms that is 8M rows written in about 4 s; the rowid table
    it replaced took another 7–12 s to build its two indexes over them.
    """

    __tablename__ = "enterprise_revenue"
    __table_args__ = (
        CheckConstraint("revenue >= 0", name="ck_revenue_nonneg"),
        CheckConstraint(_in("provenance", PROVENANCES), name="ck_revenue_provenance"),
        {"sqlite_with_rowid": False},
    )

    period: str = Field(primary_key=True, description="YYYYQn")
    credit_code: str = Field(primary_key=True, foreign_key="enterprises.credit_code")
    revenue: float = Field(description="million CNY, that quarter alone")
    from_ytd: bool = Field(default=False, sa_column_kwargs={"server_default": "0"}, description="computed from year-to-date figures")
    provenance: str = Field(default="sample", sa_column_kwargs={"server_default": "sample"})
    # No index: rolling a run back scans (a rare operation), and every load would otherwise
    # maintain one more index over all revenue rows.
    etl_run_id: int = Field(foreign_key="etl_runs.id")


# Every column of enterprise_revenue, in order, for SQL that copies rows between it and
# enterprise_revenue_versions (which has them all, plus its id and superseded_by).
REVENUE_COLUMNS = ", ".join(c.name for c in EnterpriseRevenue.__table__.columns)  # type: ignore[attr-defined]


class EnterpriseRevenueVersion(SQLModel, table=True):
    """A revenue row a later run revised: an earlier vintage, and the undo log."""

    __tablename__ = "enterprise_revenue_versions"
    __table_args__ = (
        # A revision check (etl.drops.run_record.find_repeat) asks whether a run's rows were revised.
        Index("ix_revenue_versions_run", "etl_run_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    period: str
    credit_code: str
    revenue: float
    from_ytd: bool
    provenance: str
    etl_run_id: int
    superseded_by: int = Field(foreign_key="etl_runs.id", index=True)


class Observation(SQLModel, table=True):
    """One value of one metric for one scope and one period, with its provenance and source."""

    __tablename__ = "observations"
    __table_args__ = (
        CheckConstraint(_in("scope_type", SCOPE_TYPES), name="ck_obs_scope_type"),
        CheckConstraint(_in("basis", BASES), name="ck_obs_basis"),
        CheckConstraint(_in("kind", KINDS), name="ck_obs_kind"),
        CheckConstraint(_in("provenance", PROVENANCES), name="ck_obs_provenance"),
        Index("ix_obs_series", "metric", "scope_type", "scope_id", "basis", "period_end",
              "superseded_by"),
        Index("ix_obs_scope", "scope_type", "scope_id", "metric"),
    )

    id: int | None = Field(default=None, primary_key=True)
    metric: str = Field(foreign_key="metrics.code")
    scope_type: str
    scope_id: str = Field(description="310000 for the city, adcode, zone_id, segment code or credit code")
    scope_label: str | None = Field(default=None, description="the scope as the source wrote it")
    period: str
    period_end: date
    period_label: str | None = Field(default=None, description="the period as the source wrote it")
    value: float
    unit: str
    basis: str
    kind: str = Field(default="actual", sa_column_kwargs={"server_default": 'actual'})
    lower_bound: bool = Field(default=False, sa_column_kwargs={"server_default": "0"}, description="published as 'over X'")
    approximate: bool = Field(default=False, sa_column_kwargs={"server_default": "0"}, description="published as 'about X'")
    provenance: str
    method: str | None = Field(default=None, sa_column=Column(Text),
                               description="how a derived or converted value was computed")
    source_id: int = Field(foreign_key="sources.id", index=True)
    etl_run_id: int = Field(foreign_key="etl_runs.id", index=True)
    superseded_by: int | None = Field(default=None, foreign_key="etl_runs.id", index=True)
    scope_relation: str | None = Field(
        default=None, description="how the published scope (scope_label) relates to the scope "
        "the figure is shown on: NULL the same, 'wider' a wider area, 'part' a part of it")


class ForecastRun(SQLModel, table=True):
    """One forecast of one series, made from the data as of one ETL run (its vintage)."""

    __tablename__ = "forecast_runs"
    __table_args__ = (
        CheckConstraint(_in("provenance", PROVENANCES), name="ck_forecast_provenance"),
        UniqueConstraint("series_key", "vintage_run_id", name="uq_forecast_series_vintage"),
    )

    id: int | None = Field(default=None, primary_key=True)
    series_key: str = Field(index=True, description="metric|scope_type|scope_id|basis")
    metric: str = Field(foreign_key="metrics.code")
    scope_type: str
    scope_id: str
    basis: str
    freq: str = Field(description="Q or Y")
    last_period: str = Field(description="the last observed period the forecast starts from")
    vintage_run_id: int = Field(foreign_key="etl_runs.id", index=True)
    created_at: datetime
    model: str
    method_note: str | None = Field(default=None, sa_column=Column(Text))
    backtest_mase: float | None = None
    backtest_cov80: float | None = None
    backtest_cov95: float | None = None
    provenance: str
    input_digest: str | None = Field(
        default=None, description="SHA-256 of the engine and the series fitted: a later "
        "refresh whose series has the same digest carries these points over (etl.forecast_reuse)")


# The interval coverages (percent) every stored forecast carries.
FORECAST_LEVELS = (80, 95)


def level_label(level: float) -> str:
    """A coverage level as it appears in column and key names: ``80``, ``97.5``."""
    return f"{float(level):g}"


def band_columns(levels: tuple[float, ...]) -> tuple[str, ...]:
    """The point and interval columns of a forecast at ``levels``, in that order:
    ``mean``, then ``lo_L``, ``hi_L`` per level."""
    return ("mean", *(f"{side}_{level_label(lv)}" for lv in levels for side in ("lo", "hi")))


# A forecast's point and interval columns, in the order tables, charts and exports show them:
# the one list of the band names (``forecast_points``, ``models.forecast`` results, the pages).
FORECAST_BANDS = band_columns(FORECAST_LEVELS)


class ForecastPoint(SQLModel, table=True):
    """One forecast period with its 80 % and 95 % intervals."""

    __tablename__ = "forecast_points"
    __table_args__ = (UniqueConstraint("forecast_id", "period", name="uq_forecast_point"),)

    id: int | None = Field(default=None, primary_key=True)
    forecast_id: int = Field(foreign_key="forecast_runs.id", index=True)
    period: str
    period_end: date
    mean: float
    lo_80: float
    hi_80: float
    lo_95: float
    hi_95: float


class TargetProbability(SQLModel, table=True):
    """The chance, under a forecast, of reaching a published policy target."""

    __tablename__ = "target_probabilities"
    __table_args__ = (
        CheckConstraint("probability BETWEEN 0 AND 1", name="ck_target_probability"),
    )

    id: int | None = Field(default=None, primary_key=True)
    forecast_id: int = Field(foreign_key="forecast_runs.id", index=True)
    target_observation_id: int = Field(foreign_key="observations.id")
    target_value: float
    target_period: str
    probability: float
    method: str = Field(sa_column=Column(Text, nullable=False))


# Views created after the tables (models.db.create_db_and_tables). Each is a plain SELECT.
VIEWS: list[str] = [
    # Every vintage of enterprise revenue: the current rows (superseded_by NULL) and the ones
    # later runs revised. The values as of run N: etl_run_id <= N AND (superseded_by IS NULL
    # OR superseded_by > N).
    """CREATE VIEW IF NOT EXISTS enterprise_revenue_vintages AS
       SELECT period, credit_code, revenue, from_ytd, provenance, etl_run_id,
              NULL AS superseded_by
       FROM enterprise_revenue
       UNION ALL
       SELECT period, credit_code, revenue, from_ytd, provenance, etl_run_id, superseded_by
       FROM enterprise_revenue_versions""",
    # Current values only: what the dashboard shows by default.
    """CREATE VIEW IF NOT EXISTS current_observations AS
       SELECT * FROM observations WHERE superseded_by IS NULL""",
    # Series of record: where several current sources report the same metric, scope, period,
    # basis and kind, the highest confidence wins, then the most recent publication, then the
    # lowest source id. The others stay in observations and are shown side by side.
    """CREATE VIEW IF NOT EXISTS series_of_record AS
       SELECT o.* FROM (
         SELECT o.*, ROW_NUMBER() OVER (
           PARTITION BY o.metric, o.scope_type, o.scope_id, o.period, o.basis, o.kind
           ORDER BY CASE s.confidence WHEN 'high' THEN 0 WHEN 'medium-high' THEN 1
                    WHEN 'medium' THEN 2 WHEN 'low-medium' THEN 3 ELSE 4 END,
                    s.published DESC, s.id
         ) AS record_rank
         FROM observations o JOIN sources s ON s.id = o.source_id
         WHERE o.superseded_by IS NULL
       ) o WHERE o.record_rank = 1""",
]
