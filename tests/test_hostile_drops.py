"""The catalogue of hostile drops (issue 10): files that lie about their size, expand without
bound, point outside the drop or are no files at all, and report paths that cannot be written.

Each is loaded through the real command line (``python -m etl etl load``, in a process forked
from one that has imported it; the legitimate twins in fresh interpreters) against a real
database holding the base drop: it is refused within ten seconds, with a non-zero exit, no
traceback, exactly the expected problems and every data table unchanged; or, being legitimate,
it loads exactly as its CSV twin. The harness is tests/hostile.py.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.make_fixtures import C1, C2, ZONE_HEADER, dump_tables
from hostile import (
    Drop,
    LoadServer,
    Refused,
    assert_refused_cleanly,
    build_base,
    check_refused,
    copy_base,
    declare_size,
    edit_sheet,
    last_run_message,
    read_report,
    rewrite_zip,
    run_load,
    set_dimension,
    write_csv,
    xlsx_bytes,
)

from etl.drops.drop_files import REASON_FOLDER, REASON_SYMLINK, size_text
from etl.drops.workbook_limits import REASON_XML_ENTITIES
from models.problems import Problem

# Every case runs the command line in a process of its own.
pytestmark = pytest.mark.slow

SECRET = "SECRET-HOST-LINE do not echo"
REVENUE = [["credit_code", "period", "revenue"], [C1, "2025Q2", "12.5"], [C2, "2025Q2", "260"]]
EXPORT = "export the sheet as CSV (UTF-8)"


def P(file: str, reason: str, *, sheet: str | None = None, row: int | None = None,
      value: str | None = None) -> Problem:
    return Problem(file, sheet, row, None, value, reason)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_base(tmp_path_factory.mktemp("base") / "aidash.db")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadServer]:
    load_server = LoadServer(tmp_path_factory.mktemp("runs"))
    yield load_server
    load_server.close()


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    return copy_base(template, tmp_path / "db")


def _drop(tmp: Path) -> Path:
    folder = tmp / "2025Q2"
    folder.mkdir(parents=True)
    return folder


def _secret_file(tmp: Path) -> Path:
    path = tmp / "host" / "secret.csv"
    path.parent.mkdir()
    path.write_text(f"{SECRET}\n{SECRET}\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------- the drops


def huge_dimension(tmp: Path) -> Drop:
    """5 KB: declares A1:XFD1048576, holds one cell there."""
    folder = _drop(tmp)
    cell = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    data = edit_sheet(xlsx_bytes(REVENUE), lambda xml: set_dimension(
        xml, "A1:XFD1048576").replace("</sheetData>", cell + "</sheetData>"))
    (folder / "revenue.xlsx").write_bytes(data)
    return Drop(folder)


def far_column(tmp: Path) -> Drop:
    folder = _drop(tmp)
    data = edit_sheet(xlsx_bytes(REVENUE), lambda xml: xml.replace(
        "</row></sheetData>",
        '<c r="XFD3" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'))
    (folder / "revenue.xlsx").write_bytes(data)
    return Drop(folder)


def billion_laughs(tmp: Path) -> Drop:
    folder = _drop(tmp)
    lols = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
    dtd = f"<!DOCTYPE worksheet [{''.join(lols)}]>"

    def laugh(xml: str) -> str:
        row = '<row r="4"><c r="A4" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
        return dtd + xml.replace("</sheetData>", row + "</sheetData>")

    (folder / "revenue.xlsx").write_bytes(edit_sheet(xlsx_bytes(REVENUE), laugh))
    return Drop(folder)


def zip_bomb(tmp: Path) -> Drop:
    """A part of 100 MiB of spaces that deflates to about 100 KiB."""
    folder = _drop(tmp)
    data = rewrite_zip(xlsx_bytes(REVENUE), lambda _n, _b: None,
                       {"customXml/item1.xml": b" " * (100 << 20)})
    (folder / "revenue.xlsx").write_bytes(data)
    return Drop(folder)


def zip_bomb_problems(drop: Drop) -> list[Problem]:
    with zipfile.ZipFile(drop.folder / "revenue.xlsx") as z:
        info = z.getinfo("customXml/item1.xml")
    ratio = info.file_size / info.compress_size
    return [P("revenue.xlsx", f"workbook part customXml/item1.xml inflates {ratio:,.0f}-fold "
              f"({size_text(info.compress_size)} to 100 MiB), more than the 100-fold a "
              "workbook's data does (a zip bomb?): open it in Excel and save it again, or "
              f"{EXPORT}")]


def lying_sizes(tmp: Path) -> Drop:
    """A directory that claims 3 GiB for a small sheet."""
    folder = _drop(tmp)
    data = declare_size(xlsx_bytes(REVENUE), "xl/worksheets/sheet1.xml", 3 << 30)
    (folder / "revenue.xlsx").write_bytes(data)
    return Drop(folder)


def lying_sizes_problems(drop: Drop) -> list[Problem]:
    with zipfile.ZipFile(drop.folder / "revenue.xlsx") as z:
        total = sum(i.file_size for i in z.infolist())
    return [P("revenue.xlsx", f"workbook unpacks to {size_text(total)} of XML, more than the "
              f"200 MiB a workbook may hold: {EXPORT}")]


def external_links(tmp: Path) -> Drop:
    folder = _drop(tmp)
    link = (b'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<externalBook/></externalLink>')
    data = rewrite_zip(xlsx_bytes(REVENUE), lambda _n, _b: None,
                       {"xl/externalLinks/externalLink1.xml": link})
    (folder / "revenue.xlsx").write_bytes(data)
    return Drop(folder)


def many_parts(tmp: Path) -> Drop:
    """A valid workbook plus 20,000 empty parts (openpyxl would ignore them)."""
    folder = _drop(tmp)
    data = rewrite_zip(xlsx_bytes(REVENUE), lambda _n, _b: None,
                       {f"xl/media/empty{i}.bin": b"" for i in range(20_000)})
    (folder / "revenue.xlsx").write_bytes(data)
    return Drop(folder)


def oversized_workbook(tmp: Path) -> Drop:
    folder = _drop(tmp)
    with (folder / "revenue.xlsx").open("wb") as fh:
        fh.truncate(60 << 20)
    return Drop(folder)


def sparse_csv(tmp: Path) -> Drop:
    """3 GiB of NUL bytes on no disk at all: refused from its size, unread."""
    folder = _drop(tmp)
    with (folder / "revenue.csv").open("wb") as fh:
        fh.write(b"credit_code,period,revenue\n")
        fh.truncate(3 << 30)
    return Drop(folder)


def nul_csv(tmp: Path) -> Drop:
    """Under the size cap, but a header followed by 200 MiB of NUL bytes."""
    folder = _drop(tmp)
    with (folder / "revenue.csv").open("wb") as fh:
        fh.write(b"credit_code,period,revenue\n")
        fh.truncate(200 << 20)
    return Drop(folder)


def wide_csv(tmp: Path) -> Drop:
    folder = _drop(tmp)
    header = ",".join(f"c{i}" for i in range(100_000))
    row = ",".join("1" for _ in range(100_000))
    (folder / "revenue.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    return Drop(folder)


def folder_named_csv(tmp: Path) -> Drop:
    folder = _drop(tmp)
    (folder / "revenue.csv").mkdir()
    write_csv(folder / "revenue.csv" / "revenue.csv", REVENUE)
    return Drop(folder)


def fifo(tmp: Path) -> Drop:
    folder = _drop(tmp)
    os.mkfifo(folder / "revenue.csv")
    return Drop(folder)


def symlink_data(tmp: Path) -> Drop:
    folder = _drop(tmp)
    (folder / "revenue.csv").symlink_to(_secret_file(tmp))
    return Drop(folder)


def symlink_source(tmp: Path) -> Drop:
    folder = _drop(tmp)
    write_csv(folder / "revenue.csv", REVENUE)
    (folder / "source.json").symlink_to(_secret_file(tmp))
    return Drop(folder)


def hard_link(tmp: Path) -> Drop:
    folder = _drop(tmp)
    os.link(_secret_file(tmp), folder / "revenue.csv")
    return Drop(folder)


FIFO_REASON = ("is a named pipe (FIFO), not a regular file: only regular files are read; copy "
               "the data into a regular file")

CASES = [
    Refused("huge_dimension", huge_dimension, [P(
        "revenue.xlsx", f"sheet has values in row 1,048,576, beyond the 200,000 rows a sheet "
        f"may hold: {EXPORT}, which has no row limit", sheet="data", row=1048576)]),
    Refused("far_column", far_column, [P(
        "revenue.xlsx", "sheet has a value in column XFD (column 16,384), beyond the 256 "
        f"columns a sheet may use: delete the stray cells and save again, or {EXPORT}",
        sheet="data", row=3)]),
    Refused("billion_laughs", billion_laughs, [P("revenue.xlsx", REASON_XML_ENTITIES)]),
    Refused("zip_bomb", zip_bomb, zip_bomb_problems),
    Refused("lying_sizes", lying_sizes, lying_sizes_problems),
    Refused("external_links", external_links, [P(
        "revenue.xlsx", "workbook links to other workbooks (xl/externalLinks/externalLink1.xml):"
        " values taken from another file cannot be checked; break the links in Excel (Data → "
        f"Edit Links → Break Link) and save again, or {EXPORT}")]),
    Refused("many_parts", many_parts, [P(
        "revenue.xlsx", "workbook has 20,009 parts, more than the 10,000 a workbook may hold: "
        f"open it in Excel and save it again, or {EXPORT}")]),
    Refused("oversized_workbook", oversized_workbook, [P(
        "revenue.xlsx", f"workbook is 60 MiB, more than the 50 MiB an XLSX file may be: {EXPORT}")]),
    Refused("sparse_csv", sparse_csv, [P(
        "revenue.csv", "file is 3 GiB, more than the 1 GiB a CSV file may hold: split the drop "
        "into smaller drops (one quarter each)")]),
    Refused("nul_csv", nul_csv, [P(
        "revenue.csv", "holds a NUL byte at byte offset 27 (line 2), which a text CSV never "
        "does (a binary file, or UTF-16 text); save the data as CSV in UTF-8 or GB18030",
        row=2, value="0x00")]),
    Refused("wide_csv", wide_csv, [P(
        "revenue.csv", "header has 100,000 columns, more than the 256 a drop file may have: "
        "keep only the columns of docs/drop-format.md", row=1)]),
    Refused("folder_named_csv", folder_named_csv, [P("revenue.csv", REASON_FOLDER)]),
    Refused("fifo", fifo, [P("revenue.csv", FIFO_REASON)]),
    Refused("symlink_data", symlink_data, [P("revenue.csv", REASON_SYMLINK)]),
    Refused("symlink_source", symlink_source, [P("source.json", REASON_SYMLINK)]),
    Refused("hard_link", hard_link, [P(
        "revenue.csv", "has 2 hard links: a file that also lives elsewhere is not read; copy "
        "the file into the drop folder (a copy, not a link)")]),
]


def test_catalogue_names_are_unique() -> None:
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_drop_is_refused(case: Refused, db: Path, tmp_path: Path,
                                 server: LoadServer) -> None:
    run = check_refused(case, db, tmp_path, server)
    # Nothing of a file outside the drop is shown or kept.
    report = (tmp_path / "report.csv").read_text(encoding="utf-8-sig")
    assert SECRET not in run.stdout + run.stderr + report + last_run_message(db)


# ------------------------------------------------------------------- legitimate input


def _zone_rows() -> list[list[object]]:
    zones = ("westbund_ai_tower", "zhangjiang_ai_island", "maqiao_ai_pilot_zone",
             "changyang_chuanggu", "mosu_space")
    return [ZONE_HEADER] + [[z, p, 100 + i, 10 + i, i, 20 + i, f"{100 + i}.5"]
                            for p in ("2024Q4", "2025Q2") for i, z in enumerate(zones)]


def test_understated_dimension_loads_every_row_like_its_csv_twin(template: Path,
                                                                 tmp_path: Path) -> None:
    """An 11-row zone_metrics.xlsx that declares A1:G2 (issue 10: it loaded one row)."""
    rows = _zone_rows()
    data = edit_sheet(xlsx_bytes(rows), lambda xml: set_dimension(xml, "A1:G2"))
    xlsx_drop = _drop(tmp_path / "xlsx")
    (xlsx_drop / "zone_metrics.xlsx").write_bytes(data)
    csv_drop = _drop(tmp_path / "csv")
    write_csv(csv_drop / "zone_metrics.csv", [[str(v) for v in r] for r in rows])

    loaded = {}
    for name, folder in (("xlsx", xlsx_drop), ("csv", csv_drop)):
        db = copy_base(template, tmp_path / f"db_{name}")
        run = run_load(db, Drop(folder))
        assert run.code == 0, run.stderr
        assert run.stdout.startswith("Loaded 2025Q2: 1 file, 10 rows read"), run.stdout
        loaded[name] = dump_tables(db)
    assert loaded["xlsx"] == loaded["csv"]


# ---------------------------------------------------------------------- the report


def _negative_drop(tmp: Path) -> Path:
    folder = _drop(tmp)
    write_csv(folder / "revenue.csv", [REVENUE[0], [C1, "2025Q2", "-5"]])
    return folder


def test_report_that_is_a_link_is_replaced_not_written_through(db: Path, tmp_path: Path,
                                                               server: LoadServer) -> None:
    folder = _negative_drop(tmp_path)
    target = tmp_path / "host" / "keep.txt"
    target.parent.mkdir()
    target.write_text("keep me\n", encoding="utf-8")
    (folder / "rejections.csv").symlink_to(target)
    before = dump_tables(db)
    run = run_load(db, Drop(folder), server=server)
    assert_refused_cleanly(run, db, before)
    assert target.read_text(encoding="utf-8") == "keep me\n"
    report = folder / "rejections.csv"
    assert not report.is_symlink()
    assert read_report(report) == [Problem("revenue.csv", None, 2, "revenue", "-5",
                                           "must not be negative")]
    assert sorted(p.name for p in folder.iterdir()) == ["rejections.csv", "revenue.csv"]


@pytest.mark.parametrize(("where", "why"), [
    ("missing/r.csv", "No such file or directory"),
    ("a_file/r.csv", "Not a directory"),
])
def test_unwritable_report_path_still_prints_the_reasons(db: Path, tmp_path: Path, where: str,
                                                         why: str, server: LoadServer) -> None:
    folder = _negative_drop(tmp_path)
    (tmp_path / "a_file").write_text("not a folder", encoding="utf-8")
    report = tmp_path / where
    before = dump_tables(db)
    run = run_load(db, Drop(folder), report=report, server=server)
    assert_refused_cleanly(run, db, before)
    assert run.stderr.splitlines() == [
        "Drop 2025Q2 rejected: 1 problem in 1 file.",
        "  revenue.csv: 1 × must not be negative",
        "First problems:",
        "  revenue.csv row 2, column revenue, value '-5': must not be negative",
        (f"Nothing was loaded. The report could not be written to {report} ({why}): fix the "
         "problems above, or pass --report a file in a folder you can write to for the full "
         "list, and run the load again."),
    ]
    assert not report.exists()
    assert last_run_message(db) == run.stderr.rstrip("\n")
