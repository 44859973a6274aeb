"""Read-only kernel tools, the per-call time limit, kept full outputs and figure downscaling,
in-process on an IPython ``InteractiveShell`` (the kernel tests drive them through %%kimi)."""

from __future__ import annotations

import base64
import io
import json
import re
import signal
import threading
import time
from typing import Any, Iterator

import pytest

from kimi_jupyter.tools import ToolContext, default_registry
from kimi_jupyter.tools import keep as keep_module
from kimi_jupyter.core.images import downscale_png
from kimi_jupyter.tools.describe import capped_repr
from kimi_jupyter.tools.kernel import user_variables
from kimi_jupyter.tools.keep import KEPT_NAME, KeptOutputs, keep_full_text
from kimi_jupyter.core.tool_output import png_size
from kimi_jupyter.tools.timeout import ToolTimeout, time_limit

SETUP = '''
import numpy as np, os, functools
from typing import List
pd = __import__("pandas")
arr = np.arange(12.0).reshape(3, 4)
arr[0, 0] = np.nan
df = pd.DataFrame({"price": [1.5, None, 3.0], "city": ["Oslo", "Lima", None]})
count = 42
label = "hello"
_private = 1
def area(width: float, height: float = 2.0) -> float:
    """Area of a rectangle."""
    return width * height
class Shape:
    pass
half = functools.partial(area, height=0.5)
class BadRepr:
    def __repr__(self):
        raise RuntimeError("repr exploded")
class HugeRepr:
    def __repr__(self):
        return "y" * 10_000_000
class Spy:
    touched = 0
    def __len__(self):
        Spy.touched += 1
        return 3
    def __getattr__(self, name):
        Spy.touched += 1
        raise AttributeError(name)
bad = BadRepr()
huge = HugeRepr()
spy = Spy()
'''


@pytest.fixture(scope="module")
def shell() -> Iterator[Any]:
    pytest.importorskip("pandas")
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    before = set(sh.user_ns)
    result = sh.run_cell(SETUP, store_history=True)
    assert result.success, result.error_in_exec
    yield sh
    for name in set(sh.user_ns) - before:
        sh.user_ns.pop(name, None)


def call(shell: Any, name: str, args: dict[str, Any] | None = None, **ctx_kw: Any) -> Any:
    ctx = ToolContext(shell=shell, **ctx_kw)  # auto_run False: read-only tools must not ask
    ctx.ask = lambda prompt: pytest.fail("a read-only tool asked for approval")
    return default_registry.call(name, json.dumps(args or {}), ctx)


def test_list_variables_shows_data_and_leaves_out_code_and_private_names(shell: Any, capsys: Any) -> None:
    out = call(shell, "list_variables")
    assert out.ok
    lines = {line.split(":")[0]: line for line in out.text.splitlines()[1:]}
    assert lines["arr"].startswith("arr: numpy.ndarray, shape (3, 4), float64, 96 B")
    assert "pandas.DataFrame, 3 rows x 2 columns" in lines["df"] and "columns: price, city" in lines["df"]
    assert lines["count"] == "count: int, 28 B = 42"
    assert lines["label"].startswith("label: str, length 5") and lines["label"].endswith("= 'hello'")
    for name in ("np", "os", "functools", "List", "area", "Shape", "half", "_private", "In", "Out",
                 "exit", "quit", "get_ipython", "_", "_i1", "_ih"):
        assert name not in lines, name
    # A raising __repr__ is a note, a 10 MB one is cut; neither breaks the listing.
    assert lines["bad"] == "bad: BadRepr = <BadRepr object; repr failed>"
    assert len(lines["huge"]) < 200 and lines["huge"].startswith("huge: HugeRepr = yyy")
    assert len(out.text) < 3000
    # Nothing was printed into the cell, and user_variables agrees with the listing.
    assert capsys.readouterr() == ("", "")
    assert [n for n, _ in user_variables(shell)] == list(lines)


def test_read_only_tools_run_no_user_len_or_getattr(shell: Any) -> None:
    spy = shell.user_ns["Spy"]
    spy.touched = 0
    call(shell, "list_variables")
    call(shell, "inspect_variable", {"name": "spy"})
    assert spy.touched == 0


def test_inspect_numpy_array(shell: Any) -> None:
    out = call(shell, "inspect_variable", {"name": "arr"})
    assert out.ok
    text = out.text
    assert "shape: (3, 4)" in text and "dtype: float64" in text and "memory: 96 B" in text
    # NaN-aware statistics over 1..11.
    assert "min: 1 max: 11 mean: 6 std: 3.16228" in text and "NaN: 1" in text
    assert "[[nan  1.  2.  3.]" in text


def test_inspect_huge_array_skips_statistics(shell: Any) -> None:
    import numpy as np

    shell.user_ns["big_zeros"] = np.zeros(10_000_001, dtype=np.uint8)
    try:
        out = call(shell, "inspect_variable", {"name": "big_zeros"})
    finally:
        del shell.user_ns["big_zeros"]
    assert out.ok and "statistics skipped" in out.text and "min:" not in out.text
    assert "[0 0 0 ... 0 0 0]" in out.text


def test_inspect_dataframe(shell: Any) -> None:
    out = call(shell, "inspect_variable", {"name": "df"})
    assert out.ok
    text = out.text
    assert text.startswith("df: pandas.DataFrame\nshape: (3, 2)")
    assert "  price: float64, 1 missing" in text
    assert re.search(r"  city: (object|str), 1 missing", text)
    head = text.split("head(5):\n", 1)[1]
    assert "Oslo" in head and "Lima" in head
    assert "numeric summary:" in text and "price" in text.split("numeric summary:")[1]


def test_inspect_series_and_polars(shell: Any) -> None:
    shell.user_ns["prices"] = shell.user_ns["df"]["price"]
    try:
        text = call(shell, "inspect_variable", {"name": "prices"}).text
    finally:
        del shell.user_ns["prices"]
    assert "length: 3" in text and "dtype: float64" in text and "missing: 1" in text
    assert "min: 1.5 max: 3 mean: 2.25" in text
    pl = pytest.importorskip("polars")
    shell.user_ns["pl_df"] = pl.DataFrame({"a": [1, None, 3], "b": ["x", "y", "z"]})
    try:
        text = call(shell, "inspect_variable", {"name": "pl_df"}).text
        listed = call(shell, "list_variables").text
    finally:
        del shell.user_ns["pl_df"]
    assert "pl_df: polars.DataFrame" in text and "shape: (3, 2)" in text
    assert "  a: Int64, 1 missing" in text and "  b: String, 0 missing" in text
    assert "pl_df: polars.DataFrame, 3 rows x 2 columns" in listed


def test_inspect_function_class_and_module(shell: Any) -> None:
    text = call(shell, "inspect_variable", {"name": "area"}).text
    assert "signature: area(width: float, height: float = 2.0) -> float" in text
    assert "Area of a rectangle." in text and "return width * height" in text
    text = call(shell, "inspect_variable", {"name": "np"}).text
    assert "module: numpy" in text and "version:" in text and len(text) < 1500


def test_inspect_bad_and_huge_reprs(shell: Any) -> None:
    out = call(shell, "inspect_variable", {"name": "bad"})
    assert out.ok and "repr failed" in out.text
    out = call(shell, "inspect_variable", {"name": "huge"})
    assert out.ok and len(out.text) < 2100
    short = capped_repr(shell.user_ns["huge"], 50)
    assert len(short) <= 51 and "..." in short


def test_inspect_unknown_name_lists_close_names(shell: Any) -> None:
    out = call(shell, "inspect_variable", {"name": "dff"})
    assert not out.ok
    assert out.text.startswith("Error: no variable named 'dff'") and "Close names: df" in out.text
    out = call(shell, "inspect_variable", {})
    assert not out.ok and "missing required argument" in out.text


def test_notebook_history_finds_an_earlier_error(shell: Any) -> None:
    shell.run_cell("ratio = 10 / 0", store_history=True)
    shell.run_cell("print('after the error')\n7 * 6", store_history=True)
    n_cells = shell.execution_count - 1
    out = call(shell, "notebook_history", {"n": 2})
    assert out.ok
    text = out.text
    assert f"In [{n_cells - 1}]:\nratio = 10 / 0" in text
    assert f"Error [{n_cells - 1}]: ZeroDivisionError: division by zero" in text
    assert f"Output [{n_cells}]:\nafter the error\n42" in text
    last = text.split("Last error")[1]
    assert last.startswith(f" (In [{n_cells - 1}]):") and "ratio = 10 / 0" in last
    assert last.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "interactiveshell.py" not in text
    assert f"In [{n_cells - 2}]:" not in text  # n=2
    assert shell.execution_count == n_cells + 1  # reading history stored nothing


def test_read_only_tools_are_offered_next_to_python() -> None:
    names = [s["function"]["name"] for s in default_registry.schemas(python=True)]
    assert names[:4] == ["python", "list_variables", "inspect_variable", "notebook_history"]
    assert "list_variables" not in [s["function"]["name"] for s in default_registry.schemas(python=False)]
    schema = default_registry.schemas()[2]["function"]
    assert schema["parameters"]["required"] == ["name"]


# ---------------------------------------------------------------- time limit


def test_time_limit_interrupts_sleep_and_restores_the_previous_alarm() -> None:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    try:
        # The user's own timer: far enough off that a stalled machine can't make it fire here.
        signal.setitimer(signal.ITIMER_REAL, 60.0)
        after: list[int] = []
        with pytest.raises(ToolTimeout) as info:
            with time_limit(0.3):
                time.sleep(5)
                after.append(1)
        assert not after, "the sleep was not interrupted: the line after it ran"
        assert info.value.seconds == 0.3
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < left <= 60.0 - 0.3  # re-armed with what it had left (the limit's 0.3 s at least spent)
        assert signal.getsignal(signal.SIGALRM) is not None and not fired
        with time_limit(5):  # a block that ends in time raises nothing
            pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_time_limit_off_the_main_thread_stops_a_python_loop() -> None:
    box: dict[str, Any] = {}

    def worker() -> None:
        try:
            with time_limit(0.3):
                while True:
                    sum(range(100))
        except ToolTimeout as e:
            box["timeout"] = e.seconds
        # The thread goes on normally afterwards.
        with time_limit(5):
            box["after"] = True

    t = threading.Thread(target=worker)
    t.start()
    t.join(20)
    assert box == {"timeout": 0.3, "after": True}


def test_a_timeout_off_the_main_thread_leaves_the_interpreter_as_it_was() -> None:
    # After the watchdog's exception, a line tracer (the debugger's, which ipykernel imports)
    # must still get past a line: taking the delivered exception "back" used to leave CPython's
    # pending flag set, and this script then never ended. A fresh process, as it may hang.
    import subprocess
    import sys

    script = (
        "import sys, threading\n"
        "from kimi_jupyter.tools.timeout import time_limit, ToolTimeout\n"
        "def worker():\n"
        "    try:\n"
        "        with time_limit(0.3):\n"
        "            while True:\n"
        "                sum(range(100))\n"
        "    except ToolTimeout:\n"
        "        print('stopped', flush=True)\n"
        "t = threading.Thread(target=worker)\n"
        "t.start()\n"
        "t.join()\n"
        "def traced():\n"
        "    sys._getframe().f_trace = None\n"
        "    x = 1\n"
        "    return x + 1\n"
        "sys.settrace(lambda *a: None)\n"
        "traced()\n"
        "sys.settrace(None)\n"
        "print('traced', flush=True)\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the interpreter hung after a timeout off the main thread: {e.stdout!r}")
    assert out.stdout == "stopped\ntraced\n", out.stderr


def test_python_tool_times_out_without_interrupting_the_cell(shell: Any) -> None:
    ctx = ToolContext(shell=shell, auto_run=True, timeout=0.5)
    handler = signal.getsignal(signal.SIGALRM)
    code = "import time\ntimed_before = 'kept'\nprint('started')\ntime.sleep(30)\ntimed_after = 1"
    out = default_registry.call("python", json.dumps({"code": code}), ctx)
    assert not out.ok and not out.interrupted
    assert out.text.startswith("started\nTimed out: the code ran longer than 0.5 s (Kimi.tool_timeout)")
    assert "stopped at line 4: `time.sleep(30)`" in out.text and "persist" in out.text
    assert shell.user_ns["timed_before"] == "kept" and "timed_after" not in shell.user_ns
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    # The next call runs normally.
    out = default_registry.call("python", json.dumps({"code": "timed_before * 2"}), ctx)
    assert out.ok and out.text == "Out: 'keptkept'"


# ---------------------------------------------------------------- kept full output


def test_capped_output_is_kept_in_the_kernel_and_named_in_the_marker(shell: Any) -> None:
    shell.user_ns.pop(KEPT_NAME, None)
    ctx = ToolContext(shell=shell, auto_run=True, max_output=2000)
    code = "for i in range(5000):\n    print(f'line {i}')\n'done'"
    out = default_registry.call("python", json.dumps({"code": code}), ctx)
    assert out.ok and len(out.text) < 2300
    marker = re.search(r"\.\.\. \[([\d,]+) characters cut; the full text is in the kernel as "
                       r"`(_kimi_out\[(\d+)\])` \(a str\): print a slice of it with code\] \.\.\.", out.text)
    assert marker, out.text
    kept = shell.user_ns[KEPT_NAME]
    full = kept[int(marker.group(3))]
    assert full == "".join(f"line {i}\n" for i in range(5000)) + "Out: 'done'"
    assert out.text.endswith("line 4999\nOut: 'done'")
    # The model can read a slice with code, and the store stays out of list_variables.
    out = default_registry.call("python", json.dumps({"code": f"print({marker.group(2)}[6:13])"}), ctx)
    assert out.text == "line 1"
    assert KEPT_NAME not in call(shell, "list_variables").text
    assert "characters cut" not in out.text and len(kept) == 1  # uncapped output is not kept
    assert repr(kept).startswith("<kimi-jupyter full tool outputs {1:")


def test_kept_outputs_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    class Shell:
        user_ns: dict[str, Any] = {}

    monkeypatch.setattr(keep_module, "KEEP_CHARS", 100)
    sh = Shell()
    names = [keep_full_text(sh, str(i) * 10, 0, "")[0] for i in range(8)]
    assert names[-1] == "_kimi_out[8]"
    kept = sh.user_ns[KEPT_NAME]
    assert isinstance(kept, KeptOutputs) and sorted(kept) == [4, 5, 6, 7, 8]  # oldest dropped
    expression, complete = keep_full_text(sh, "a" * 80, 1000, "b" * 80)
    assert not complete
    text = kept[9]
    assert len(text) < 150 and text.startswith("a" * 50) and text.endswith("b" * 50)
    assert "1,060 characters cut" in text


# ---------------------------------------------------------------- figures


def _png(width: int, height: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def test_downscale_png_keeps_the_aspect_ratio() -> None:
    big = _png(2000, 1000)
    assert png_size(downscale_png(big)) == (1024, 512)
    tall = _png(300, 3000)
    assert png_size(downscale_png(tall)) == (102, 1024)
    small = _png(640, 480)
    assert downscale_png(small) is small
    assert downscale_png("not a png") == "not a png"


def test_a_long_user_tool_result_is_kept_too(shell: Any) -> None:
    from kimi_jupyter.tools import ToolRegistry

    reg = ToolRegistry()
    reg.register(lambda: "row\n" * 5000, name="rows")
    out = reg.call("rows", "{}", ToolContext(shell=shell, max_output=500))
    name = re.search(r"`(_kimi_out\[(\d+)\])`", out.text)
    assert out.ok and name and len(out.text) < 800
    assert shell.user_ns[KEPT_NAME][int(name.group(2))] == "row\n" * 5000
    # Without a shell (a plain script) the result is only capped.
    out = reg.call("rows", "{}", ToolContext(max_output=500))
    assert "characters cut]" in out.text and "_kimi_out" not in out.text


def test_inspect_bool_and_object_arrays(shell: Any) -> None:
    import numpy as np

    shell.user_ns["mask"] = np.array([True, False, True, True])
    shell.user_ns["mixed"] = np.array([1, "a", None], dtype=object)
    try:
        mask = call(shell, "inspect_variable", {"name": "mask"}).text
        mixed = call(shell, "inspect_variable", {"name": "mixed"})
    finally:
        del shell.user_ns["mask"], shell.user_ns["mixed"]
    assert "True: 3 (75.0%), False: 1" in mask
    assert mixed.ok and "dtype: object" in mixed.text and "min:" not in mixed.text
