"""Read-only kernel tools, the time limit, downscaled figures and stdin approval, through
`%%kimi` in real kernels against the loopback server."""

from __future__ import annotations

import base64
import io
import os
from typing import Any

import pytest
from conftest import output_text, outputs_with, run_notebook

from kimi_jupyter.testing.kernel import Kernel
from kimi_jupyter.tools.output import png_size


def _tool_messages(request: dict) -> list[dict]:
    return [m for m in request["messages"] if m["role"] == "tool"]


def _text(content: Any) -> str:
    return content if isinstance(content, str) else "\n".join(p.get("text", "") for p in content)


def _by_prompt(requests: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in requests:
        last_user = [m["content"] for m in r["messages"] if m["role"] == "user"][-1]
        out.setdefault(last_user, []).append(r)
    return out


CELLS = [
    "%load_ext kimi_jupyter",
    "import numpy as np, pandas as pd\n"
    "arr = np.arange(12.0).reshape(3, 4)\n"
    "df = pd.DataFrame({'price': [1.5, None, 3.0], 'city': ['Oslo', 'Lima', 'Pune']})",
    "%%kimi -n\nWhat data do I have loaded?",
    "total = 10\nn = 0\nratio = total / n",
    "%%kimi -n\nWhy did my last cell fail?",
    "%%kimi -n -y\nDraw a big figure.",
    "%config Kimi.tool_timeout = 2",
    "%%kimi -n -y\nPlease sleep for a minute.",
    "print(slept_before, '|', 'slept_after' in globals())",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("pandas")
    from kimi_jupyter.testing.pytest_plugin import API_KEY
    from kimi_jupyter.testing.server import KimiServer

    server = KimiServer(api_key=API_KEY).start()
    mp = pytest.MonkeyPatch()
    mp.setenv("KIMI_API_KEY", API_KEY)
    mp.setenv("KIMI_BASE_URL", server.base_url)
    for name in ("MOONSHOT_API_KEY", "MOONSHOT_BASE_URL", "KIMI_MODEL"):
        mp.delenv(name, raising=False)
    mp.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    try:
        nb = run_notebook(CELLS, tmp_path_factory.mktemp("kernel_tools"), timeout=240)
        yield nb, _by_prompt(server.requests)
    finally:
        mp.undo()
        server.stop()


def test_model_lists_and_inspects_data_without_approval(run: Any) -> None:
    nb, by_prompt = run
    requests = by_prompt["What data do I have loaded?"]
    assert len(requests) == 3
    offered = [t["function"]["name"] for t in requests[0]["tools"] if t.get("type") == "function"]
    assert offered[:4] == ["python", "list_variables", "inspect_variable", "notebook_history"]
    (listing,) = _tool_messages(requests[1])
    assert listing["name"] == "list_variables"
    assert "arr: numpy.ndarray, shape (3, 4), float64, 96 B" in listing["content"]
    assert "df: pandas.DataFrame, 3 rows x 2 columns" in listing["content"]
    assert "np:" not in listing["content"] and "pd:" not in listing["content"]
    arr_msg, df_msg = _tool_messages(requests[2])[1:]
    assert "shape: (3, 4)" in arr_msg["content"] and "dtype: float64" in arr_msg["content"]
    assert "min: 0 max: 11" in arr_msg["content"]
    assert "shape: (3, 2)" in df_msg["content"] and "price: float64, 1 missing" in df_msg["content"]
    assert "Oslo" in df_msg["content"]
    # Headless and without -y, yet nothing was refused: read-only tools need no approval.
    cell = output_text(nb.cells[2])
    assert "not run" not in cell.lower() and "%%kimi -y" not in cell
    assert "Tool call 1: list_variables()" in cell and "list_variables returned" in cell
    assert 'Tool call 3: inspect_variable({"name": "df"})' in cell
    assert "inspect_variable returned" in cell and "You have a numpy array" in cell
    html = [o["data"]["text/html"] for o in outputs_with(nb.cells[2], "text/html")]
    assert any(h.startswith("<details><summary>list_variables returned") for h in html)  # collapsed


def test_notebook_history_finds_the_earlier_zero_division(run: Any) -> None:
    nb, by_prompt = run
    assert "ZeroDivisionError" in output_text(nb.cells[3])
    requests = by_prompt["Why did my last cell fail?"]
    (history,) = _tool_messages(requests[-1])
    text = history["content"]
    assert history["name"] == "notebook_history"
    assert "total = 10\nn = 0\nratio = total / n" in text
    assert "Error [4]: ZeroDivisionError: division by zero" in text
    assert "Last error (In [4]):" in text and text.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "Why did my last cell fail?" not in text  # the running %%kimi cell is left out
    assert "Guard the division" in output_text(nb.cells[4])


def test_vision_model_gets_a_downscaled_figure_the_user_a_full_one(run: Any) -> None:
    nb, by_prompt = run
    shown = outputs_with(nb.cells[5], "image/png")
    width, height = png_size(shown[0]["data"]["image/png"])  # the inline backend trims the margins
    assert width > 1500 and height > 750  # the user's figure: full size
    (tool_msg,) = _tool_messages(by_prompt["Draw a big figure."][-1])
    images = [p["image_url"]["url"] for p in tool_msg["content"] if p["type"] == "image_url"]
    assert len(images) == 1 and images[0].startswith("data:image/png;base64,")
    small_w, small_h = png_size(images[0].split(",", 1)[1])
    assert small_w == 1024 and abs(small_h - height * 1024 / width) <= 1  # long side 1024, same shape
    assert f"[figure 1: {width}x{height} px, displayed to the user]" in _text(tool_msg["content"])
    # A real PNG the server could decode, not just a header.
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(images[0].split(",", 1)[1]))) as img:
        assert img.size == (small_w, small_h)


def test_model_code_past_the_time_limit_is_stopped_and_the_loop_goes_on(run: Any) -> None:
    nb, by_prompt = run
    requests = by_prompt["Please sleep for a minute."]
    assert len(requests) == 2
    (tool_msg,) = _tool_messages(requests[-1])
    text = tool_msg["content"]
    assert text.startswith("Timed out: the code ran longer than 2 s (Kimi.tool_timeout) and was interrupted.")
    assert "time.sleep(60)" in text and "Variables assigned before the interruption persist" in text
    cell = output_text(nb.cells[7])
    assert "ToolTimeout: Kimi stopped the model's code after 2 s" in cell
    assert "The sleep did not finish" in cell  # the loop went on to the final answer
    assert "Interrupted" not in cell and "Stopped by the user" not in cell
    assert output_text(nb.cells[8]).strip() == "assigned before the sleep | False"


def test_stdin_refusal_with_text_reaches_the_model_and_session_approval(kimi_kernel_env: Any) -> None:
    # nbclient has no stdin: a jupyter_client kernel answers the approval prompt like a person.
    with Kernel(env=dict(os.environ)) as k:  # the loopback server's key and URL
        k.run("%load_ext kimi_jupyter")
        refused = k.execute("%%kimi\nRead the big file.", answers=["no, use the sample file instead"],
                            timeout=120)
        assert refused.ok and len(refused.prompts) == 1
        assert "[y]es / [n]o / [a]ll in this cell / all in this [s]ession" in refused.prompts[0]
        assert "stdin_ran = True" in refused.text  # the user saw the code before answering
        assert k.value("'stdin_ran' in globals()") is False  # and it did not run

        (tool_msg,) = _tool_messages(kimi_kernel_env.requests[-1])
        assert tool_msg["content"] == ("The user declined to run this code. "
                                       "Their instruction instead: no, use the sample file instead")
        assert "What the tool told me: The user declined" in refused.text

        # `s`: this and later cells of the session run without asking.
        first = k.execute("%%kimi -n\nCount my runs.", answers=["s"], timeout=120)
        assert first.ok and len(first.prompts) == 1 and "runs: 1" in first.text
        second = k.execute("%%kimi -n\nCount my runs.", timeout=120)
        assert second.ok and second.prompts == [] and "runs: 2" in second.text
        assert _tool_messages(kimi_kernel_env.requests[-1])[0]["content"] == "runs: 2"
