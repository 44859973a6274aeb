"""The benchmarks must not rot: each measurement runs once at a tiny size.

No timing assertions (benchmarks print figures, tests check behaviour): only that every
measurement returns well-formed rows. The jupyter-ai peer is never installed here
(`peer=False`), so its rows say "not measured".
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import MEASUREMENTS  # noqa: E402
from benchmarks.common import Row, Section  # noqa: E402


def _check_row(row: Row) -> None:
    assert isinstance(row.figure, str) and row.figure
    if row.value is None:
        assert "not measured" in row.note, row
        return
    for number in (row.value, row.baseline_value, row.ratio):
        assert number is None or (isinstance(number, (int, float)) and math.isfinite(number)), row
    assert row.met in (True, False, None)
    if row.target is not None and row.met is not None:
        assert isinstance(row.met, bool)


@pytest.mark.parametrize("name", MEASUREMENTS)
def test_measurement_runs_at_tiny_size(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    section = module.measure(size="tiny", peer=False)
    assert isinstance(section, Section)
    assert section.name == name and section.rows
    for row in section.rows:
        _check_row(row)
    measured = [r for r in section.rows if r.value is not None]
    assert measured, f"{name}: nothing was measured"
    if name == "soak":  # the plain-cell baseline ran in its own kernel and is reported
        assert section.details["plain"]["cells"] == section.details["short"]["cells"]
        assert any("beyond a plain cell" in r.figure and r.value is not None for r in section.rows)
        # Its "live" cells must stream long enough to get the widget, or the soak never exercises it.
        assert section.details["short"]["cells_with_widget"] >= 1, section.details["short"]
    json.dumps(section.to_json(), default=str)  # results.json must be writable


def test_run_prints_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import run

    out = tmp_path / "results.json"
    assert run.main(["--tiny", "--only", "load", "--no-peer", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "%load_ext kimi_jupyter" in printed and "target" in printed
    data = json.loads(out.read_text())
    assert [s["name"] for s in data["sections"]] == ["load"]
    assert data["meta"]["size"] == "tiny"


def test_unknown_measurement_is_a_usage_error() -> None:
    from benchmarks import run

    with pytest.raises(SystemExit):
        run.main(["--only", "nope", "--no-peer"])
