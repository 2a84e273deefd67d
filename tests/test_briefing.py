"""The quarterly briefing (issue 13): ``app/briefing/``, ``aidash briefing`` and the Overview's
"Briefing (PDF)" button, checked through readers we did not write: poppler's ``pdftotext``
(the text layer), ``pdffonts`` (every font embedded) and ``pdftoppm`` (the pages, rendered
into ``tests/artifacts/briefing/`` for a person to look at).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from app.briefing import BriefingError, FontMissing, document, fonts, make_pdf, page_count
from app.i18n import SHANGHAI
from models.db import ENV_VAR

pytest_plugins = ["dashboard_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")
ARTIFACTS = ROOT / "tests" / "artifacts" / "briefing"
QUARTER = "2025Q2"
MADE = datetime(2026, 12, 6, 18, 0, tzinfo=SHANGHAI)
POPPLER = ("pdftotext", "pdffonts", "pdftoppm")
# Latin words the Chinese edition may hold besides names: the unit of computing power.
ZH_ALLOWED_LATIN = {"PFLOPS"}
# Words of the English interface that must not reach the Chinese edition.
ENGLISH_WORDS = ("sample", "Sample", "billion", "reported", "Source", "page", "Forecast",
                 "Headline", "Made")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
LATIN = re.compile(r"[A-Za-z][A-Za-z'’.&-]*")


def _poppler(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True,
                          timeout=60).stdout


@pytest.fixture(scope="module", autouse=True)
def poppler_installed() -> None:
    missing = [tool for tool in POPPLER if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run `make system-deps` (poppler-utils)")


@pytest.fixture(scope="module")
def editions(seeded_db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both editions of the seeded database's latest quarter, made once."""
    folder = tmp_path_factory.mktemp("briefing")
    out = {}
    for lang in ("en", "zh"):
        out[lang] = folder / f"briefing-{QUARTER}-{lang}.pdf"
        out[lang].write_bytes(make_pdf(seeded_db_path, QUARTER, lang, made=MADE))
    return out


def _text(pdf: Path, *options: str) -> str:
    return _poppler("pdftotext", *options, pdf, "-")


def _flat(text: str) -> str:
    """The text without any whitespace (Typst spaces Chinese from Latin; lines wrap)."""
    return re.sub(r"\s+", "", text)


def _names(db: Path) -> list[str]:
    """Every name an edition may quote in the other language: source titles and outlets,
    places (both languages), metrics."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("""
            SELECT title FROM sources WHERE provenance = 'reported'
            UNION ALL SELECT url_or_publication FROM sources WHERE provenance = 'reported'
            UNION ALL SELECT name_en || ' ' || name_zh FROM zones
            UNION ALL SELECT name_en || ' ' || name_zh FROM districts""").fetchall()
    finally:
        conn.close()
    return [_flat(r[0]) for r in rows if r[0]]


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", ["Headline figures", "400.0 billion CNY", "≥ +7.0%", "+13.2%", "People's Daily",
            "2025-05-07", "sample", "reported", "Sample figures:", "Chance of reaching it",
            "Sample estimate", "a different basis", "Districts and zones",
            "Movers among districts and zones", "What changed since the last load",
            "Data notes", "Sources", "Shanghai accelerates AI innovation", "page 1 of"]),
    ("zh", ["主要数字", "4,000亿元", "≥+7.0%", "+13.2%", "人民日报", "2025年5月7日", "样例",
            "公开报道", "样例数字：", "实现概率", "样例估计", "二者口径不同", "行政区与集聚区",
            "变动最大的行政区与园区", "自上次加载以来的变化", "数据说明", "来源",
            "第1页，共"]),
])
def test_each_edition_has_the_headline_figures_labels_and_sources(
        editions: dict[str, Path], lang: str, expected: list[str]) -> None:
    flat = _flat(_text(editions[lang]))
    assert [e for e in expected if _flat(e) not in flat] == []


@pytest.mark.parametrize(("lang", "figures", "source"), [
    ("en", ["400.0 billion CNY", "≥ +7.0%", "+13.2%"], "People's Daily, 2025-05-07"),
    ("zh", ["4,000 亿元", "≥ +7.0%", "+13.2%"], "人民日报，2025 年 5 月 7 日"),
])
def test_the_seed_figures_stand_beside_the_peoples_daily(
        editions: dict[str, Path], lang: str, figures: list[str], source: str) -> None:
    rows = _text(editions[lang], "-layout").splitlines()
    for figure in figures:
        [row] = [r for r in rows if figure in r and "|" not in r and ("报告期" not in r)
                 and re.search(r"\[\d+\]$", r.strip())]
        assert source in row, row


def test_sample_figures_are_marked_sample(editions: dict[str, Path]) -> None:
    rows = _text(editions["en"], "-layout").splitlines()
    revenue = [r for r in rows if r.startswith("Revenue of the register's firms")]
    firms = [r for r in rows if r.startswith("Active firms in the register")]
    assert revenue and firms
    assert all(" sample " in r for r in revenue + firms)
    zh = _flat(_text(editions["zh"]))
    assert "名录企业营业收入为" in zh and "（样例）" in zh


def test_the_chinese_edition_has_no_english_but_names(editions: dict[str, Path],
                                                      seeded_db_path: Path) -> None:
    text = _text(editions["zh"])
    names = _names(seeded_db_path)
    stray = sorted({w for w in LATIN.findall(text)
                    if w not in ZH_ALLOWED_LATIN and not any(w in n for n in names)})
    assert stray == []
    assert [w for w in ENGLISH_WORDS if re.search(rf"\b{w}\b", text)] == []


def test_the_english_edition_has_no_chinese_but_names(editions: dict[str, Path],
                                                      seeded_db_path: Path) -> None:
    names = _names(seeded_db_path)
    stray = sorted({w for w in CJK.findall(_text(editions["en"]))
                    if not any(w in n for n in names)})
    assert stray == []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_font_is_embedded(editions: dict[str, Path], lang: str) -> None:
    rows = _poppler("pdffonts", editions[lang]).splitlines()[2:]
    assert rows, "no font in the PDF"
    embedded = [row.split()[-5] for row in rows]  # columns: … emb sub uni object ID
    assert embedded == ["yes"] * len(rows), rows


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pages_are_rendered_for_a_person_to_look_at(editions: dict[str, Path],
                                                    lang: str) -> None:
    pdf = editions[lang].read_bytes()
    assert 2 <= page_count(pdf) <= 6
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{lang}-*.png"):
        old.unlink()
    _poppler("pdftoppm", "-r", "80", "-png", editions[lang], ARTIFACTS / lang)
    assert len(list(ARTIFACTS.glob(f"{lang}-*.png"))) == page_count(pdf)


def test_no_firm_is_named(editions: dict[str, Path], seeded_db_path: Path) -> None:
    """Viewers may have the briefing: it holds no firm's name or credit code."""
    conn = sqlite3.connect(seeded_db_path)
    firms = conn.execute("SELECT credit_code, name_zh, name_en FROM enterprises").fetchall()
    conn.close()
    for lang in ("en", "zh"):
        flat = _flat(_text(editions[lang]))
        assert [f for f in firms if any(_flat(v) in flat for v in f if v)] == []


def test_same_database_quarter_and_language_give_the_same_pdf(
        editions: dict[str, Path], seeded_db_path: Path) -> None:
    assert make_pdf(seeded_db_path, QUARTER, "zh", made=MADE) == editions["zh"].read_bytes()
    later = make_pdf(seeded_db_path, QUARTER, "zh", made=MADE.replace(hour=19, minute=30))
    other = editions["zh"].with_name("later.pdf")
    other.write_bytes(later)
    before, after = _text(editions["zh"]).splitlines(), _text(other).splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [("生成于 2026 年 12 月 6 日 18:00（北京时间） · 数据截至第 3 批加载",
                        "生成于 2026 年 12 月 6 日 19:30（北京时间） · 数据截至第 3 批加载")]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_postgresql_gives_the_same_briefing_as_sqlite(editions: dict[str, Path],
                                                     seeded_pg_url: str, lang: str,
                                                     tmp_path: Path) -> None:
    """The seeded database copied into PostgreSQL (``aidash copy``) makes the same text."""
    pdf = tmp_path / f"pg-{lang}.pdf"
    pdf.write_bytes(make_pdf(seeded_pg_url, QUARTER, lang, made=MADE))
    assert _text(pdf) == _text(editions[lang])


def test_an_earlier_quarter_is_its_own_briefing(seeded_db_path: Path,
                                                tmp_path: Path) -> None:
    pdf = tmp_path / "q1.pdf"
    pdf.write_bytes(make_pdf(seeded_db_path, "2025Q1", "en", made=MADE))
    text = _text(pdf)
    assert "2025 Q1" in text.splitlines()[1]
    assert "In 2025 Q1 the firms of the register earned" in re.sub(r"\s+", " ", text)


@pytest.mark.parametrize(("quarter", "lang", "message"), [
    ("2025Q5", "en", "'2025Q5' is not a quarter: write it as YYYYQn, e.g. 2025Q2"),
    ("2025-06", "en", "'2025-06' is not a quarter: write it as YYYYQn, e.g. 2025Q2"),
    ("2019Q1", "en", ("the database holds no figures for 2019Q1: pass a quarter from 2023Q3 "
                      "to 2025Q2")),
    ("2025Q2", "fr", "no briefing in 'fr': use one of en, zh"),
])
def test_a_bad_request_is_refused_with_what_to_do(seeded_db_path: Path, quarter: str,
                                                  lang: str, message: str) -> None:
    with pytest.raises(BriefingError) as caught:
        make_pdf(seeded_db_path, quarter, lang)
    assert str(caught.value) == message


def test_a_database_without_data_says_how_to_build_it(engine: object) -> None:
    with pytest.raises(BriefingError) as caught:
        make_pdf(engine, None, "en")  # type: ignore[arg-type]
    assert str(caught.value) == ("the database holds no quarterly figures yet: build it with "
                                 "`aidash init` or load a drop with `aidash etl load`")


def test_a_missing_font_names_make_system_deps(seeded_db_path: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "_from_fontconfig", lambda: None)
    monkeypatch.setattr(fonts, "KNOWN_DIRS", (tmp_path / "noto",))
    with pytest.raises(FontMissing) as caught:
        make_pdf(seeded_db_path, QUARTER, "en")
    assert str(caught.value) == (
        f"the font Noto Sans CJK SC is not installed (looked for with fc-match and in "
        f"{tmp_path / 'noto'}); install it with `make system-deps` (Debian's fonts-noto-cjk), "
        "then make the briefing again")


# -- the command --------------------------------------------------------------------------
def _cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> Result:
    from aidash import cli
    from etl import cli as etl_cli

    monkeypatch.setattr(etl_cli.out, "width", 250)
    monkeypatch.setattr(etl_cli.err, "width", 250)
    return CliRunner().invoke(cli.app, args, prog_name="aidash")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_command_writes_the_briefing(seeded_db_path: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    monkeypatch.setattr(document, "clock", lambda: MADE)
    out = tmp_path / f"b-{lang}.pdf"
    result = _cli(["briefing", "--db", str(seeded_db_path), "--quarter", QUARTER, "--lang", lang,
                   "--out", str(out)], monkeypatch)
    assert result.exit_code == 0, result.output
    pdf = out.read_bytes()
    assert re.fullmatch(rf"Wrote {re.escape(str(out))}: {page_count(pdf)} pages, \d+ KB in "
                        r"\d+\.\d s\n", result.output)
    assert pdf == make_pdf(seeded_db_path, QUARTER, lang, made=MADE)


@pytest.mark.parametrize(("args", "message"), [
    (["--quarter", "2025Q5"], "Error: '2025Q5' is not a quarter: write it as YYYYQn, e.g. 2025Q2"),
    (["--lang", "de"], "Error: no briefing in 'de': use one of en, zh"),
])
def test_the_command_refuses_bad_options(seeded_db_path: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, args: list[str],
                                         message: str) -> None:
    out = tmp_path / "b.pdf"
    result = _cli(["briefing", "--db", str(seeded_db_path), "--out", str(out), *args],
                  monkeypatch)
    assert result.exit_code == 1
    assert result.output.strip() == message
    assert not out.exists()


def test_the_command_reads_the_default_database(seeded_db_path: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(seeded_db_path))
    result = _cli(["briefing", "--out", str(tmp_path / "b.pdf")], monkeypatch)
    assert result.exit_code == 0, result.output
    assert _text(tmp_path / "b.pdf").splitlines()[1] == "2025 Q2"


# -- the Overview's button ----------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("params", "lang", "quarter"), [
    ({}, "en", QUARTER), ({"lang": "zh", "quarter": "2025Q1"}, "zh", "2025Q1")])
def test_the_overview_button_serves_the_same_pdf_as_the_command(
        seeded_db: Path, clicked_downloads: dict[str, bytes], audit_log: Path,
        monkeypatch: pytest.MonkeyPatch, params: dict[str, str], lang: str,
        quarter: str) -> None:
    from streamlit.testing.v1 import AppTest

    from app import audit

    monkeypatch.setattr(document, "clock", lambda: MADE)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    name = f"briefing-{quarter}-{lang}.pdf"
    assert clicked_downloads[name] == make_pdf(seeded_db, quarter, lang, made=MADE)
    [button] = [b for b in at.get("download_button") if b.proto.label in ("Briefing (PDF)",
                                                                          "简报（PDF）")]
    assert button.proto.label == {"en": "Briefing (PDF)", "zh": "简报（PDF）"}[lang]
    [event] = [e for e in audit.read_events(audit_log) if e.get("file") == name]
    assert (event["event"], event["format"], event["page"]) == ("export", "pdf", "overview")


@pytest.mark.slow
def test_a_viewer_gets_the_briefing(seeded_db: Path, clicked_downloads: dict[str, bytes],
                                    audit_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Aggregates only: the Overview offers the briefing to a signed-in viewer, and the
    export is recorded under the viewer's name and role."""
    from streamlit.testing.v1 import AppTest

    from app import audit
    from tests.test_sign_in import SECRETS, VIEWER

    monkeypatch.setattr(document, "clock", lambda: MADE)
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets, at.user = SECRETS, VIEWER
    at.run()
    assert not at.exception, at.exception
    name = f"briefing-{QUARTER}-en.pdf"
    assert clicked_downloads[name] == make_pdf(seeded_db, QUARTER, "en", made=MADE)
    [event] = [e for e in audit.read_events(audit_log) if e.get("file") == name]
    assert (event["user"], event["role"], event["format"]) == (VIEWER["email"], "viewer", "pdf")


# -- typesetting ------------------------------------------------------------------------------
HOSTILE = ['#import "x.typ": * $x^2$ ] [ \\ "quoted" <label> @ref *bold* _it_ `raw` // not a comment',
           "上海 #set page(width: 1cm) 张江 {} ; = heading? - list? + enum?"]


def test_every_text_is_printed_as_written(tmp_path: Path) -> None:
    """Text goes into Typst as string literals: markup and code in a name print as written."""
    from app.briefing import typst_source
    from app.briefing.model import Briefing, Bullets, Note, Paragraph, Section, Table

    briefing = Briefing(lang="en", title=HOSTILE[0], subtitle=HOSTILE[1], made_at=HOSTILE[0],
                        data_line="", sample_note=HOSTILE[1], footer="{page}/{pages} " + HOSTILE[0],
                        sections=[Section(HOSTILE[1], [
                            Paragraph(HOSTILE[0]), Note(HOSTILE[1]),
                            Table([HOSTILE[0], "b"], [[HOSTILE[1], "c"]]),
                            Bullets(HOSTILE)])])
    assert typst_source.literal('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    pdf = tmp_path / "hostile.pdf"
    pdf.write_bytes(document.typeset(briefing, MADE))
    flat = _flat(_text(pdf))
    assert flat.count(_flat(HOSTILE[0])) == 6  # title, made-at, paragraph, header, list, footer
    assert flat.count(_flat(HOSTILE[1])) == 6  # subtitle, banner, heading, note, cell, list
    assert "1/1" in flat


@pytest.mark.parametrize(("lang", "value", "expected"), [
    ("en", 41_280, "41,280"), ("zh", 41_280, "4.1万"), ("zh", 9_876, "9,876"),
    ("zh", 10_000, "1万"), ("en", None, "—")])
def test_counts_are_written_per_language(lang: str, value: float | None, expected: str) -> None:
    from app.briefing import numbers
    from app.i18n import get_translator

    assert numbers.count(get_translator(lang), value) == expected


@pytest.mark.parametrize(("lang", "value", "expected"), [
    ("en", 12, "+12"), ("en", -3, "−3"), ("zh", 25_000, "+2.5万")])
def test_changes_in_counts_carry_their_sign(lang: str, value: float, expected: str) -> None:
    from app.briefing import numbers
    from app.i18n import get_translator

    assert numbers.signed_count(get_translator(lang), value) == expected
