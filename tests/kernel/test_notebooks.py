"""The tutorial notebooks (notebooks/) and `kimi-jupyter demo`, end to end.

Every notebook runs top to bottom in a real kernel against the loopback server,
exactly as stored (no test-only cells), and its key outputs are checked. The
notebooks are their own source (edit them in Jupyter); they are stored without
outputs, and their offline replies sit beside them in notebooks/offline_replies.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from conftest import output_text, outputs_with
from kimi_jupyter.testing.kernel import notebook_client
from kimi_jupyter.testing.pytest_plugin import API_KEY, loopback_env
from kimi_jupyter.testing.scenarios import builtin_scenarios, load_scenarios, select
from kimi_jupyter.testing.server import KimiServer

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


STEMS = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
REPLIES = load_scenarios(NOTEBOOKS / "offline_replies.py")


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each notebook executed once (fresh kernel each) against one loopback server.

    The server has already closed `kimi-k2.6`, as Moonshot is announced to on 2027-01-07:
    every tutorial must keep working the day after the default closes (issue 23). The
    demo tests below run the same notebooks against today's lineup.
    A failure is kept per notebook, so one broken notebook fails its own tests only.
    """
    from nbclient.exceptions import CellExecutionError

    results: dict[str, Any] = {}
    with KimiServer(api_key=API_KEY, scenarios=REPLIES, retire=["kimi-k2.6"]) as server, \
            pytest.MonkeyPatch.context() as mp:
        for name in ("MOONSHOT_API_KEY", "MOONSHOT_BASE_URL", "KIMI_MODEL"):
            mp.delenv(name, raising=False)
        for name, value in loopback_env(server).items():
            mp.setenv(name, value)
        mp.setenv("KIMI_DEMO_VLLM_URL", server.vllm_base_url)
        mp.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        for stem in STEMS:
            work = tmp_path_factory.mktemp(stem)
            nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
            try:
                notebook_client(nb, work, timeout=120).execute()
            except CellExecutionError as exc:
                results[stem] = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
                continue
            path = work / "executed.ipynb"
            nbformat.write(nb, path)  # read back: check what a user would find in the saved file
            saved = nbformat.read(path, as_version=4)
            nbformat.validate(saved)
            results[stem] = (saved, work)
    return results


def run(executed: dict[str, Any], stem: str) -> tuple[Any, Path]:
    result = executed[stem]
    if isinstance(result, str):
        pytest.fail(f"{stem} failed to run:\n{result[-3000:]}")
    return result


def cell_with(nb: Any, source_start: str) -> Any:
    matches = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(source_start)]
    assert matches, f"no code cell starts with {source_start!r}"
    return matches[0]


def printed(cell: Any) -> str:
    """The cell's stdout as one text: a print may arrive split over several stream messages."""
    return "".join(o["text"] for o in cell.get("outputs", []) if o.get("name") == "stdout")


def markdown_outputs(cell: Any) -> str:
    """The markdown source of a cell's markdown outputs.

    Model answers are saved as a sanitized HTML block in `text/markdown`, with their
    source in `text/plain`; other markdown outputs (a table the code displayed) as is.
    """
    return "\n".join(str(o["data"]["text/plain"] if o["data"]["text/markdown"].startswith('<div class="kimi-md">')
                          else o["data"]["text/markdown"]) for o in outputs_with(cell, "text/markdown"))


# ---------------------------------------------------------------- stored files
def test_the_tutorials_are_all_there():
    numbers = [s[:2] for s in STEMS]
    assert len(set(numbers)) == len(numbers)
    assert {"01", "02", "03", "04", "05", "06", "07", "08", "09"} <= set(numbers)


@pytest.mark.parametrize("stem", STEMS)
def test_stored_notebook_is_clean(stem):
    """Stored without outputs (diffs stay small): `jupyter nbconvert --clear-output --inplace`."""
    path = NOTEBOOKS / f"{stem}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    ids = [cell.id for cell in nb.cells]
    assert len(set(ids)) == len(ids)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "clear the outputs before committing"
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and "## What you'll learn" in first.source
    assert last.cell_type == "markdown" and "## Exercises" in last.source


# Cells that ask before running model code on purpose, to show the approval question.
ASKS_ON_PURPOSE = {"tut_rank_items"}


@pytest.mark.parametrize("stem", STEMS)
def test_notebook_is_written_for_the_real_api(stem):
    """No test hooks in the cells, and code-running prompts use -y (headless runs have no stdin)."""
    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "[[scenario:" not in text and "127.0.0.1" not in text
    if not stem.startswith("07"):  # 07 teaches replaying a cassette with KimiServer(replay=...)
        assert "KimiServer" not in text
    if not stem.startswith("06"):  # 06 explains offline mode; the others don't mention it
        assert "loopback" not in text.lower()
    scenarios = [*REPLIES, *builtin_scenarios()]  # the server's order: added scenarios first
    by_name = {s.name: s for s in scenarios}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("%%kimi"):
            line, _, prompt = cell.source.partition("\n")
            if re.fullmatch(r"\{\w+\}", prompt.strip()) or "--map" in line:
                continue  # interpolated from a variable, or a template per item: covered by the executed run
            scenario = select(scenarios, by_name, prompt)
            assert scenario.name != "echo", f"no offline scenario answers {prompt!r}"
            if scenario.name not in ASKS_ON_PURPOSE and any(
                    call.name == "python" for turn in scenario.turns for call in turn.tool_calls):
                assert " -y" in f" {line} ", f"{line!r} runs model code but lacks -y"


# ---------------------------------------------------------------- executed notebooks
@pytest.mark.parametrize("stem", STEMS)
def test_notebook_runs_end_to_end(executed, stem):
    nb, _ = run(executed, stem)
    for cell in nb.cells:
        assert not [o for o in cell.get("outputs", []) if o["output_type"] == "error"], cell.source
        if cell.cell_type == "code" and cell.source.startswith("%%kimi --map"):
            assert "Kimi map: " in output_text(cell), cell.source  # one summary line, no answers shown
        elif cell.cell_type == "code" and cell.source.startswith("%%kimi"):
            footers = [o for o in cell.outputs
                       if o.get("metadata", {}).get("kimi_jupyter", {}).get("part") == "footer"]
            assert footers, f"no footer: {cell.source!r}"
            expected = "max_cost" if "--max-cost" in cell.source.split("\n")[0] else "stop"
            assert footers[-1]["metadata"]["kimi_jupyter"]["finish_reason"] == expected
            html = "".join(o["data"]["text/html"] for o in outputs_with(cell, "text/html"))
            assert "<details" in html, f"no reasoning block: {cell.source!r}"


def test_01_getting_started(executed):
    nb, _ = run(executed, "01-getting-started")
    assert "## Quantum entanglement" in markdown_outputs(cell_with(nb, "%%kimi\nExplain"))
    assert "gloves" in markdown_outputs(cell_with(nb, "%%kimi\nGive me an everyday analogy"))
    fields = printed(cell_with(nb, 'cost = "n/a"'))
    # kimi-k2.6 is closed on this server: the first cell said so once and ran on kimi-k3.
    assert "answer:    Entanglement is like" in fields and "model:     kimi-k3" in fields
    first = output_text(cell_with(nb, "%%kimi\nExplain"))
    assert first.count("kimi-k2.6 is no longer served here, so kimi-jupyter uses kimi-k3") == 1
    assert "<details>" in markdown_outputs(cell_with(nb, "short"))  # Result._repr_markdown_
    assert "Einstein" in markdown_outputs(cell_with(nb, "import kimi_jupyter"))
    usage = output_text(cell_with(nb, "%kimi usage"))
    assert "4 cells" in usage and "$" in usage
    assert "sk-" not in output_text(cell_with(nb, "%kimi config")).replace("sk-…", "")


def test_02_comparison_table(executed):
    nb, _ = run(executed, "02-reasoning-puzzles")
    assert "Laptop" in markdown_outputs(cell_with(nb, "%%kimi -o stack"))
    assert "reasoning:" in printed(cell_with(nb, "import textwrap"))
    table = markdown_outputs(cell_with(nb, "from IPython.display import Markdown"))
    assert "| run | answered by |" in table and "|---|" in table
    rows = {line.split("|")[1].strip(): line.split("|") for line in table.splitlines()[2:] if line.startswith("| ")}
    assert list(rows) == ["default", "kimi-k3", "kimi-k3 --effort low", "kimi-k3.1-pro"]
    answered = {label: cells[2].strip() for label, cells in rows.items()}
    # The default closed on this server, so it ran on its successor; the table says so.
    assert answered == {"default": "`kimi-k3`", "kimi-k3": "`kimi-k3`", "kimi-k3 --effort low": "`kimi-k3`",
                        "kimi-k3.1-pro": "`kimi-k3.1-pro`"}
    costs = {label: float(cells[8].strip().lstrip("$")) for label, cells in rows.items()}
    assert all(c > 0 for c in costs.values())  # every model here has a catalog price
    reasoning = {label: int(cells[7].strip().replace(",", "")) for label, cells in rows.items()}
    assert all(r > 0 for r in reasoning.values())


def test_03_inline_plots_and_export(executed):
    nb, work = run(executed, "03-gradient-descent")
    for prompt in ("%%kimi -y\nVisualize", "%%kimi -y\nCompare learning rates"):
        assert outputs_with(cell_with(nb, prompt), "image/png"), f"no inline PNG in {prompt!r}"
    compare = cell_with(nb, "%%kimi -y\nCompare learning rates")
    assert "-43.34" in output_text(compare)  # the model's printed table, quoted in its answer
    assert "f, fig, grad_f" in printed(cell_with(nb, "created = "))
    exported = nbformat.read(work / "gd.ipynb", as_version=4)
    code = [c for c in exported.cells if c.cell_type == "code"]
    assert len(code) == 2 and all(outputs_with(c, "image/png") for c in code)
    assert "code     | import numpy as np" in printed(cell_with(nb, "import nbformat"))


def test_04_clone_matches_template(executed):
    nb, work = run(executed, "04-coding-assistant")
    assert (work / "template.docx").exists() and (work / "clone.docx").exists()
    ask = cell_with(nb, "%%kimi -y\ntemplate.docx")
    calls = output_text(ask)
    assert "Report Title" in calls and "inline image" in calls  # the inspection ran first
    check = cell_with(nb, "from IPython.display import Markdown")
    table = markdown_outputs(check)
    assert table.count("| ✓ |") == 9 and "✗" not in table
    assert "The clone matches the template in all 9 checks." in printed(check)
    assert "def main(argv=None)" in markdown_outputs(cell_with(nb, "%%kimi -f code"))


def test_05_tools_json_web_search_and_the_kernel(executed):
    nb, _ = run(executed, "05-tools-and-json")
    schema = json.loads(printed(cell_with(nb, "import json")))
    assert schema["function"]["parameters"]["required"] == ["item", "quantity"]
    trace = printed(cell_with(nb, "for call in restock.tool_calls"))
    assert trace.count("✓ stock_level") == 3 and trace.count("✓ place_order") == 2
    assert "7 tool calls in 4 model requests" in trace
    assert "'oat milk': 20" in trace and "'croissants': 20" in trace  # the tools really ran
    parsed = printed(cell_with(nb, "data = orders_json.parsed"))
    assert "dict with keys ['orders', 'total']" in parsed and "62.80" in parsed
    assert "The parsed JSON matches the orders in ORDERS." in parsed
    assert "1 web search(es)" in printed(cell_with(nb, "searches = "))
    # Section 5: the read-only tools ran headless without -y, and saw the real array.
    assert printed(cell_with(nb, "print([call.name for call in look.tool_calls])")).strip() == \
        "['list_variables', 'inspect_variable']"
    look = output_text(cell_with(nb, "%%kimi -o look"))
    assert "shape: (30, 3)" in look and "dtype: int64" in look and "daily_sales: numpy.ndarray" in look
    # Model code is not run headless without -y, and the model is told how to allow it.
    assert printed(cell_with(nb, "call = ranked.tool_calls[0]")).startswith("not run - The code was NOT run")
    assert "a day" not in printed(cell_with(nb, "%%kimi -o ranked"))
    # The spending cap stopped a 200-step loop early, with its note.
    reason, _, checks, *_ = printed(cell_with(nb, "print(capped.finish_reason")).split()
    assert reason == "max_cost" and 1 <= int(checks) < 200
    assert "past its cap of $0.0300" in output_text(cell_with(nb, "%%kimi --max-cost 0.03"))


def test_06_other_server_and_ab_table(executed):
    nb, _ = run(executed, "06-any-openai-server")
    raw = printed(cell_with(nb, "from openai import OpenAI"))
    assert "'reasoning'" in raw and "reasoning_content" not in raw and "answer:    17 × 23 = **391**" in raw
    assert "moonshotai/Kimi-K2.6" in output_text(cell_with(nb, "%kimi models"))
    table = markdown_outputs(cell_with(nb, "from IPython.display import Markdown"))
    assert "|---|" in table and "**self-hosted**" in table and "**Moonshot API**" in table
    assert table.count("n/a") == 1  # only Moonshot's API is billed at Moonshot's prices
    assert table.count("**Yes.**") == 2


def test_07_mcp_server_and_cassette(executed):
    nb, work = run(executed, "07-mcp-and-cassettes")
    listing = output_text(cell_with(nb, "%kimi mcp"), ("text/plain",))
    assert "time\\_\\_get\\_current\\_time | yes" in listing and "running" in listing
    calls = printed(cell_with(nb, "for call in tokyo.tool_calls"))
    # The real server from PyPI answered: Tokyo is UTC+9, and 09:00 there is midnight or 01:00 in London.
    assert "time__get_current_time" in calls and '"timezone": "Asia/Tokyo"' in calls and "+09:00" in calls
    assert re.search(r'"datetime": "\d{4}-\d\d-\d\dT0[01]:00:00\+0[01]:00"', output_text(cell_with(nb, "%%kimi -o tokyo")))
    recorded = printed(cell_with(nb, "import json\nimport os"))
    assert "3 lines; the header: kimi-jupyter" in recorded and "a key in the file: False" in recorded
    cassette = (work / "lesson.jsonl").read_text(encoding="utf-8")
    assert API_KEY not in cassette and "authorization" not in cassette.lower()
    replayed = printed(cell_with(nb, 'print("same answer:"'))
    assert replayed.split() == ["same", "answer:", "True", "offline", "replay"]


def test_09_teaching(executed):
    nb, work = run(executed, "09-teaching")
    recorded = output_text(cell_with(nb, "%kimi record stop"))
    assert "2 requests (and 1 model listing) written to" in recorded
    assert API_KEY not in (work / "lesson.jsonl").read_text(encoding="utf-8")
    assert "Replaying lesson.jsonl (2 recorded requests)" in output_text(cell_with(nb, "%kimi replay lesson.jsonl"))
    assert printed(cell_with(nb, 'print("same answer:"')).split() == ["same", "answer:", "True", "offline", "replay"]
    miss = printed(cell_with(nb, "from kimi_jupyter import chat"))
    assert miss.startswith("NotInLesson: ") and 'Nearest recorded prompt: "What is a Python list comprehension?' in miss
    # Tutor mode: the notes and the rung reached the model; the student sees the rung, never the notes.
    checks = printed(cell_with(nb, 'print(hint1.footer()'))
    assert checks.splitlines() == ["hint 1 of 4", "notes in the Result: False", "tools it called: ['inspect_variable']"]
    assert "hint 2 of 4" in output_text(cell_with(nb, "%kimi hint"), ("text/plain",))
    saved = json.dumps([c.get("outputs", []) for c in nb.cells])
    for secret in ("Reference solution", "n -= 1", "Do not reveal"):
        assert secret not in saved


def test_08_many_prompts(executed):
    nb, work = run(executed, "08-many-prompts")
    rows = int(printed(cell_with(nb, "import ast")).split()[0])
    assert rows >= 200  # a few hundred real rows: the standard library's modules
    capped = output_text(cell_with(nb, 'CACHE = "kimi-cache"'))
    assert "stopped: max_cost" in capped and "run the same call with a higher max_cost" in capped
    done_first = int(re.search(r"Kimi map: (\d+) done", capped).group(1))
    resumed = output_text(cell_with(nb, "labels = kimi_jupyter.map("))
    assert f"{rows} done · 0 failed · {done_first} from cache" in resumed  # only the missing rows were sent
    assert "0 rows failed" in printed(cell_with(nb, "table = labels.to_pandas()"))
    assert outputs_with(cell_with(nb, "import matplotlib.pyplot as plt"), "image/png")
    assert list((work / "kimi-cache").glob("*.jsonl"))  # the cache the README names, beside the notebook
    haiku = printed(cell_with(nb, "for topic, r in zip(topics, haiku)"))
    assert "the server asks us to wait" in haiku and "the crash keeps its past" in haiku


# ---------------------------------------------------------------- the demo command
def test_demo_command_writes_readable_html(tmp_path):
    exe = shutil.which("kimi-jupyter", path=str(Path(sys.executable).parent))
    cmd = [exe, "demo"] if exe else [sys.executable, "-m", "kimi_jupyter.demo"]
    out = tmp_path / "out"
    # The tutorials run above; here the built-in demo and one tutorial check the command itself.
    proc = subprocess.run([*cmd, "--out", str(out), "--pace", "0", "--only", "kimi-demo", "--only", "03"],
                          capture_output=True, text=True, timeout=170, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Visualize gradient descent" in proc.stdout and "offline replay" in proc.stdout
    for stem in ("kimi-demo", "03-gradient-descent"):
        nbformat.validate(nbformat.read(out / f"{stem}.ipynb", as_version=4))
        html = (out / f"{stem}.html").read_text(encoding="utf-8")
        assert '<details class="kimi-reasoning">' in html
        assert "Gradient descent converged towards the minimum" in html
        assert re.search(r'<img[^>]+src="data:image/png;base64,', html)
        assert "Offline replay." in html and "offline replay</sub>" in html
    assert (out / "gd.ipynb").exists()


@pytest.mark.parametrize("pace", ["0", "4000"])  # quick replies (no widget) and streamed ones (widget)
def test_demo_echo_prints_each_reasoning_once(tmp_path, pace):
    from kimi_jupyter.testing import texts

    proc = subprocess.run([sys.executable, "-m", "kimi_jupyter.demo", "--out", str(tmp_path / "out"),
                           "--pace", pace, "--only", "kimi-demo", "--no-tutorials"],
                          capture_output=True, text=True, timeout=170, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for reasoning in (texts.MARKDOWN_REASONING, texts.GD_REASONING):
        snippet = reasoning[:80]
        assert proc.stdout.count(snippet) == 1, (snippet, proc.stdout[-3000:])
    assert proc.stdout.count("Kimi runs Python:") == 1
