"""The scope a figure was published for, when it is not the scope it is shown on.

A few published figures cover another area than the zone that stands for them in the 4+X
layout: 255 foundation-model firms for the West Bund *area* are stored on the West Bund AI
Tower, the Lingang Special Area's targets on the Dishui Lake hub, a Maqiao *Town* count on the
pilot zone (``observations.scope_relation`` ``wider``, or ``part`` for a part of a zone, from
``data/reference/scope_map.csv``). Wherever such a figure appears, tables, hovers and exports
name it by its published scope (``observations.scope_label``), marked as such, instead of
filing it under the zone's own name.
"""

from __future__ import annotations

import pandas as pd

from app.i18n import Translator
from models.tables import SCOPE_RELATIONS


def differs(relation: object) -> bool:
    """Whether a figure's published scope is another area than the scope it is shown on."""
    return isinstance(relation, str) and relation in SCOPE_RELATIONS


def scope_text(tr: Translator, name: str, label: object, relation: object) -> str:
    """The scope as a table or hover shows it: the scope's own name, or, for a figure
    published for a wider area or a part, that area's label marked as the published scope
    (``West Bund (Xuhui) (published scope, wider than West Bund AI Tower)``)."""
    if differs(relation) and isinstance(label, str) and label:
        return tr(f"published_scope.{relation}", label=label, name=name)
    return name


def scope_texts(tr: Translator, names: pd.Series, df: pd.DataFrame) -> list[str]:
    """:func:`scope_text` for every row of ``df`` (columns ``scope_label``,
    ``scope_relation``), ``names`` being the names of the scopes the rows are shown on."""
    if "scope_relation" not in df.columns:
        return list(names)
    return [scope_text(tr, n, lab, rel) for n, lab, rel in zip(
        names, df["scope_label"], df["scope_relation"])]


def published_labels(df: pd.DataFrame) -> pd.Series:
    """The published scope of each row for a table column: the label where it is another
    area than the scope shown, blank otherwise."""
    if "scope_relation" not in df.columns or df.empty:
        return pd.Series([""] * len(df), index=df.index, dtype="object")
    return pd.Series([lab if differs(rel) and isinstance(lab, str) else ""
                      for lab, rel in zip(df["scope_label"], df["scope_relation"])],
                     index=df.index, dtype="object")
