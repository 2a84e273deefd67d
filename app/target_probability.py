"""What the overview says with the chance of reaching a policy target.

The chance comes from a forecast, and for the 2025 target that forecast is of sample data on
another basis: the target is set on the above-designated-size (规上) industry scale, and it is
tracked with the sample revenue of every firm in the register (``data/targets.csv``). A bare
percentage would read as a real estimate, so the overview shows it with its provenance, the
basis difference and the method stored with it, in the reader's language, on screen and in the
export. No streamlit here: the page and the tests use the same texts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from app.i18n import Translator
from models.metrics import REVENUE_METRIC

# etl.forecasts records the method in English, in this form; it is recognised so that it
# can be told in either language. Any other method text is shown as recorded.
LOGNORMAL_METHOD = re.compile(
    r"^P\(value >= target\) under a log-normal matched to the forecast's 80 % and 95 % "
    r"intervals \((?P<aggregate>sum|value) of (?P<key>[^)]*)\)\.\s*(?P<note>.*)$", re.DOTALL)
RECORDED_LANG = "en"
REGISTER_METRIC = REVENUE_METRIC  # the register's revenue: every firm, whatever its size
ABOVE_DESIGNATED_SIZE = "above_designated_size"


@dataclass(frozen=True)
class ProbabilityNote:
    """The texts that go with one target's probability.

    :param provenance: the forecast's provenance (``sample`` or ``derived``).
    :param label: the short label (``Sample estimate``) for a badge or a column.
    :param chance: the sentence with the percentage, naming the provenance.
    :param basis: the basis of the target against that of the series that tracks it.
    :param method: how the probability was computed (from the stored method).
    :param separator: between sentences (a space in English, nothing in Chinese).
    """

    provenance: str
    label: str
    chance: str
    basis: str
    method: str
    separator: str = " "

    def details(self) -> str:
        """Basis and method in one paragraph (a caption under the chance)."""
        return f"{self.basis}{self.separator}{self.method}"


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def same_basis(target_metric: str, series_metric: str) -> bool:
    """True when the tracking series measures what the target sets (``x`` tracks a target on
    ``x`` or ``target_x``)."""
    return series_metric in (target_metric, target_metric.removeprefix("target_"))


def basis_text(target: Mapping, odds: Mapping, tr: Translator) -> str:
    """``Basis: the target is set as “…”; the chance tracks it with … — a different basis``."""
    target_metric, series_metric = _text(target.get("metric")), _text(odds.get("series_metric"))
    series = tr.name(_text(odds.get("series_name_en")), _text(odds.get("series_name_zh"))) \
        or series_metric
    if same_basis(target_metric, series_metric):
        return tr("target_probability.basis_same", series=series)
    if series_metric == REGISTER_METRIC:
        scope = tr("target_probability.series_register", series=series, adsize=tr(
            "target_probability.not_only_above_size") if ABOVE_DESIGNATED_SIZE in target_metric
            else "")
    else:
        scope = tr("target_probability.series_other", series=series)
    if odds.get("series_freq") == "Q" and len(_text(target.get("period"))) == 4:
        scope += tr("target_probability.summed")
    target_name = tr.name(_text(target.get("name_en")), _text(target.get("name_zh")))
    text = tr("target_probability.basis_differs", target=target_name or target_metric,
              series=scope)
    if _text(odds.get("forecast_provenance")) == "sample":
        text += tr("target_probability.separator") + tr("target_probability.sample_consequence")
    return text


def method_text(target: Mapping, odds: Mapping, tr: Translator) -> str:
    """The stored method, told in the reader's language when it is the forecast store's
    log-normal method, else as recorded (marked as such where the language differs)."""
    method = _text(odds.get("method")).strip()
    match = LOGNORMAL_METHOD.match(method)
    if match:
        series = tr.name(_text(odds.get("series_name_en")), _text(odds.get("series_name_zh"))) \
            or _text(odds.get("series_metric"))
        told = tr("target_probability.method_lognormal", period=tr.period(
            _text(target.get("period"))), aggregate=tr(
                f"target_probability.aggregate_{match['aggregate']}"), series=series)
        if tr.lang == RECORDED_LANG and match["note"].strip():
            told += tr("target_probability.separator") + match["note"].strip()
        return tr("target_probability.method", method=told)
    if tr.lang == RECORDED_LANG:
        return tr("target_probability.method", method=method or "—")
    return tr("target_probability.method", method=tr("target_probability.method_as_recorded",
                                                     method=method or "—"))


def describe(target: Mapping, odds: Mapping, tr: Translator) -> ProbabilityNote:
    """The texts for one target (a row of :func:`app.queries.series.targets`) and its
    probability (the matching row of :func:`app.queries.series.target_tracking`)."""
    provenance = _text(odds.get("forecast_provenance")) or "sample"
    label = tr.label("target_probability.label", provenance)
    probability = float(odds["probability"])
    chance = tr("target_probability.chance", label=tr.label("provenance", provenance),
                pct=tr.percent(probability * 100, 0), run=int(odds["vintage_run_id"]))
    return ProbabilityNote(provenance=provenance, label=label, chance=chance,
                           basis=basis_text(target, odds, tr), method=method_text(target, odds, tr),
                           separator=tr("target_probability.separator"))


def export_columns(targets: pd.DataFrame, tracking: pd.DataFrame,
                   tr: Translator) -> pd.DataFrame:
    """Columns for the exported target rows: the chance (%), its provenance, basis and method;
    empty where a target has no probability. Indexed like ``targets``."""
    by_target = {int(r["target_id"]): r for r in tracking.to_dict("records")}
    rows: list[dict[str, object]] = []
    for target in targets.to_dict("records"):
        odds = by_target.get(int(target["id"]))
        if odds is None:
            rows.append({})
            continue
        note = describe(target, odds, tr)
        rows.append({
            tr("target_probability.col_chance"): round(float(odds["probability"]) * 100, 1),
            tr("target_probability.col_provenance"): note.label,
            tr("target_probability.col_basis"): note.basis,
            tr("target_probability.col_method"): note.method})
    columns = [tr(f"target_probability.col_{c}") for c in ("chance", "provenance", "basis",
                                                           "method")]
    return pd.DataFrame(rows, index=targets.index, columns=columns)
