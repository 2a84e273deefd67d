"""The scale drop: rows, codes, skew, determinism, chunking, and ``aidash sample --enterprises``.

The files are read back with :mod:`tests.sample_reader`, not with the loader.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from etl.cli import app
from etl.credit_code import check_char, is_valid
from etl.sample import scale as scale_module
from etl.sample import write_scale_drop
from etl.sample.credit_codes import credit_codes_vectorised
from etl.sample.zones import load_zones
from tests.sample_reader import DISTRICTS, read_file

# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scale")
    write_scale_drop(out, enterprises=3_000, quarters=4)
    return out


# --- scale drop ------------------------------------------------------------------------------

def test_scale_drop_rows_and_codes(scale: Path) -> None:
    assert sorted(p.name for p in scale.iterdir()) == ["enterprises.csv", "revenue.csv",
                                                        "source.json", "zone_metrics.csv"]
    ents, _ = read_file(scale / "enterprises.csv")
    revenue, _ = read_file(scale / "revenue.csv")
    assert len(ents) == 3_000
    assert len(revenue) == 3_000 * 4
    codes = [r["credit_code"] for r in ents]
    assert all(is_valid(c) for c in codes)
    assert len(set(codes)) == len(codes)
    assert {r["period"] for r in revenue} == {"2024Q3", "2024Q4", "2025Q1", "2025Q2"}
    assert {r["credit_code"] for r in revenue} == set(codes)
    assert {r["provenance"] for r in ents} == {r["provenance"] for r in revenue} == {"sample"}
    open_zones = {z.zone_id for z in load_zones() if z.opened is None
                  or z.opened <= date(2025, 6, 30)}
    assert {r["zone_id"] for r in ents} == open_zones | {""}
    assert {int(r["district_code"]) for r in ents} == DISTRICTS
    zones = {z.zone_id: z.district for z in load_zones()}
    assert all(zones[r["zone_id"]] == int(r["district_code"]) for r in ents if r["zone_id"])
    assert all(r["founded"] < "2024-07-01" for r in ents)


def test_scale_drop_is_skewed(scale: Path) -> None:
    revenue, _ = read_file(scale / "revenue.csv")
    per_firm: dict[str, float] = defaultdict(float)
    for r in revenue:
        per_firm[r["credit_code"]] += float(r["revenue"])
    ranked = sorted(per_firm.values(), reverse=True)
    assert sum(ranked[:30]) / sum(ranked) > 0.30  # top 1 % of firms
    ents, _ = read_file(scale / "enterprises.csv")
    by_district: dict[str, int] = defaultdict(int)
    for r in ents:
        by_district[r["district_code"]] += 1
    assert by_district["310115"] > by_district["310106"] > by_district["310151"]


def test_scale_drop_is_deterministic(scale: Path, tmp_path: Path) -> None:
    write_scale_drop(tmp_path / "a", enterprises=3_000, quarters=4)
    write_scale_drop(tmp_path / "b", enterprises=3_000, quarters=4, seed=1)
    for name in ("enterprises.csv", "revenue.csv", "zone_metrics.csv", "source.json"):
        assert (tmp_path / "a" / name).read_bytes() == (scale / name).read_bytes()
    assert (tmp_path / "b" / "revenue.csv").read_bytes() != (scale / "revenue.csv").read_bytes()


def test_scale_drop_larger_than_one_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scale_module, "SCALE_FIRM_CHUNK", 700)
    write_scale_drop(tmp_path, enterprises=2_000, quarters=2)
    ents, _ = read_file(tmp_path / "enterprises.csv")
    revenue, _ = read_file(tmp_path / "revenue.csv")
    assert len(ents) == 2_000 and len(revenue) == 4_000
    assert len({r["credit_code"] for r in ents}) == 2_000


def test_vectorised_credit_codes_are_valid() -> None:
    rng = np.random.default_rng(3)
    adcodes = rng.choice(sorted(DISTRICTS), size=20_000)
    codes = ["".join(map(chr, row)) for row in credit_codes_vectorised(rng, adcodes)]
    assert all(is_valid(c) for c in codes)
    assert all(c[17] == check_char(c[:17]) and c[2:8] == str(a) for c, a in zip(codes, adcodes))
    assert all(c.startswith("91") for c in codes)


def test_scale_rejects_empty_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        write_scale_drop(tmp_path, enterprises=0)


def test_cli_sample_writes_a_scale_drop(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sample", "--enterprises", "50", "--quarters", "2",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Wrote 4 file(s)" in result.output
    assert len((tmp_path / "revenue.csv").read_text().splitlines()) == 1 + 100
