"""app/figure_cache.py: a figure is built once per builder and inputs, and again when the
data or the language change (issue 12, capacity: building figures was most of a page view)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script() -> None:
    import pandas as pd
    import plotly.graph_objects as go
    import streamlit as st

    from app.figure_cache import figure
    from app.i18n import get_translator

    calls = st.session_state.setdefault("calls", [])

    def build(df: pd.DataFrame, tr, *, title: str) -> go.Figure:  # type: ignore[no-untyped-def]
        calls.append((len(df), tr.lang, title))
        return go.Figure(go.Bar(x=df["x"], y=df["y"]), layout={"title": title})

    frame = pd.DataFrame({"x": ["a", "b"], "y": [1.0, 2.0]})
    first = figure(build, frame, get_translator("en"), title="t")
    again = figure(build, frame.copy(), get_translator("en"), title="t")
    changed = figure(build, frame.assign(y=[1.0, 3.0]), get_translator("en"), title="t")
    chinese = figure(build, frame, get_translator("zh"), title="t")
    st.session_state["same"] = first is again
    st.session_state["different"] = [changed is first, chinese is first]
    st.session_state["ys"] = list(changed.data[0].y)
    # What st.plotly_chart sends is the figure as built (its dictionary is made once).
    fresh = go.Figure(go.Bar(x=frame["x"], y=frame["y"]), layout={"title": "t"})
    st.session_state["same_dict"] = again.to_json() == fresh.to_json()
    st.plotly_chart(again)


def test_a_figure_is_built_once_per_inputs() -> None:
    at = AppTest.from_function(_script)
    at.run()
    assert not at.exception
    assert at.session_state["same"] is True
    assert at.session_state["different"] == [False, False]
    assert at.session_state["ys"] == [1.0, 3.0]
    assert at.session_state["same_dict"] is True
    assert len(at.get("plotly_chart")) == 1
    assert at.session_state["calls"] == [(2, "en", "t"), (2, "en", "t"), (2, "zh", "t")]
    at.run()  # a rerun (another view of the page) builds nothing
    assert at.session_state["calls"] == [(2, "en", "t"), (2, "en", "t"), (2, "zh", "t")]


def test_outside_a_dashboard_run_the_builder_is_called() -> None:
    from app.figure_cache import figure

    calls: list[int] = []
    figure(lambda n: calls.append(n), 1)
    figure(lambda n: calls.append(n), 1)
    assert calls == [1, 1]
