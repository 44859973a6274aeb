"""Shared pieces: result rows, a loopback server with timing hooks, a real-kernel driver.

Nothing here edits the package: the server's timing hooks subclass the loopback
handler, and kernels are driven through jupyter_client like a frontend would.
"""

from __future__ import annotations

import json
import os
import queue
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

REPO = Path(__file__).resolve().parent.parent
API_KEY = "sk-bench-loopback"
MODEL = "kimi-k2.6"


# ---------------------------------------------------------------- results
@dataclass
class Row:
    """One figure of the table, next to the baseline it is compared with."""

    figure: str
    value: float | None
    unit: str = ""
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    note: str = ""


@dataclass
class Section:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "rows": [asdict(r) for r in self.rows],
                "details": self.details}


def median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def pick(size: str, table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if size not in table:
        raise ValueError(f"size must be one of {sorted(table)}, got {size!r}")
    return dict(table[size])


def log(msg: str) -> None:
    print(f"  · {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- loopback server with hooks
_TEXT_EVENT = re.compile(rb'"(?:reasoning_content|reasoning|content)":"[^"]')


def _bench_handler_class() -> type:
    from kimi_jupyter.testing.handler import Handler

    class _Stamp:
        """Wraps the handler's socket writer: notes when the first text event leaves."""

        def __init__(self, inner: Any, rec: dict[str, Any]) -> None:
            self._inner = inner
            self._rec = rec

        def write(self, data: bytes) -> Any:
            if self._rec["t_first_text"] is None and _TEXT_EVENT.search(data):
                self._rec["t_first_text"] = time.perf_counter()
            return self._inner.write(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    class BenchHandler(Handler):
        """Records per chat request: arrival, first text byte sent, end, body size.

        A non-streamed reply is held back for as long as the paced stream would
        have taken (`nonstream_cps`): the model generates at the same speed either way.
        """

        # The route table holds the base class's endpoint functions, so the hook sits
        # around the dispatch (and the body read) rather than on `_chat`.
        def _dispatch(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            if self.command == "POST" and path.endswith("/tokenizers/estimate-token-count"):
                t0 = time.perf_counter()
                try:
                    super()._dispatch()
                finally:
                    self.server.kimi.tokenizer_records.append({"t_arrive": t0, "t_end": time.perf_counter()})
                return
            if self.command != "POST" or not path.endswith("/chat/completions"):
                super()._dispatch()
                return
            rec: dict[str, Any] = {"t_arrive": time.perf_counter(), "t_first_text": None, "t_end": None,
                                   "body_bytes": 0, "stream": None}
            kimi = self.server.kimi
            kimi.records.append(rec)  # list.append is atomic: handler threads may race here
            self._bench_rec = rec
            inner = self.wfile
            self.wfile = _Stamp(inner, rec)
            try:
                super()._dispatch()
            finally:
                self.wfile = inner
                self._bench_rec = None
                rec["t_end"] = time.perf_counter()

        def _read_body(self) -> bytes:
            raw = super()._read_body()
            rec = getattr(self, "_bench_rec", None)
            if rec is not None:
                rec["body_bytes"] = len(raw)
                try:
                    rec["stream"] = bool(json.loads(raw).get("stream"))
                except Exception:  # noqa: BLE001 - the real handler reports bad bodies
                    pass
            return raw

        def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            rec = getattr(self, "_bench_rec", None)
            cps = self.server.kimi.nonstream_cps
            if rec is not None and rec["stream"] is False and status == 200 and isinstance(obj, dict) and cps:
                message = ((obj.get("choices") or [{}])[0]).get("message") or {}
                chars = sum(len(message.get(k) or "") for k in ("reasoning_content", "reasoning", "content"))
                # When a stream would have sent its first text; then wait as long as it would have taken.
                rec["t_first_text"] = time.perf_counter()
                time.sleep(chars / cps)
            super()._send_json(status, obj, headers)

    return BenchHandler


def bench_server(nonstream_cps: float | None = None, scenarios: Iterable[Any] = ()) -> Any:
    """A started `KimiServer` whose chat requests are timed into `server.records`
    (and tokenizer requests into `server.tokenizer_records`)."""
    from kimi_jupyter.testing.server import KimiServer

    srv = KimiServer(api_key=API_KEY, scenarios=scenarios, handler=_bench_handler_class())
    srv.records = []  # type: ignore[attr-defined]
    srv.tokenizer_records = []  # type: ignore[attr-defined]
    srv.nonstream_cps = nonstream_cps  # type: ignore[attr-defined]
    return srv.start()


def ended(records: list[dict[str, Any]], timeout: float = 5.0) -> list[dict[str, Any]]:
    """`records` once each has its end time: the client can return on `[DONE]` a moment
    before the server's handler has finished writing (and noted `t_end`)."""
    deadline = time.perf_counter() + timeout
    while any(r["t_end"] is None for r in records) and time.perf_counter() < deadline:
        time.sleep(0.001)
    return records


def kimi_env(server: Any) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("MOONSHOT_API_KEY", "MOONSHOT_BASE_URL", "KIMI_MODEL"):
        env.pop(name, None)
    # Paired: KIMI_API_KEY goes to KIMI_BASE_URL (MOONSHOT_API_KEY only to Moonshot's API).
    env.update(KIMI_API_KEY=API_KEY, KIMI_BASE_URL=server.base_url, PYTHONUNBUFFERED="1")
    return env


# ---------------------------------------------------------------- kernels
def msg_bytes(msg: dict[str, Any]) -> int:
    """Bytes of one message as it travels to the browser: header, parent, metadata, content, buffers.

    The same count as tests/test_traffic.py (jupyter_client packs JSON with
    ensure_ascii=False, as UTF-8), plus binary buffers.
    """
    frames = [msg["header"], msg["parent_header"], msg["metadata"], msg["content"]]
    size = len(json.dumps(frames, default=str, ensure_ascii=False).encode())
    return size + sum(len(b) for b in msg.get("buffers") or ())


@dataclass
class Cell:
    """One executed cell: iopub messages with the time each was received, and the reply."""

    t_sent: float
    t_done: float
    messages: list[tuple[float, dict[str, Any]]]
    reply: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.reply["content"].get("status") == "ok"

    @property
    def seconds(self) -> float:
        return self.t_done - self.t_sent

    @property
    def bytes(self) -> int:
        return sum(msg_bytes(m) for _, m in self.messages)

    def error(self) -> str:
        c = self.reply["content"]
        outs = [m["content"] for _, m in self.messages if m["msg_type"] in ("error", "stream")]
        return f"{c.get('ename')}: {c.get('evalue')} {outs[-3:]}"

    def expr(self, name: str) -> Any:
        """A user_expressions result, literal_eval'ed from its text/plain repr."""
        import ast

        value = self.reply["content"]["user_expressions"][name]
        if value.get("status") != "ok":
            raise RuntimeError(f"user expression {name!r} failed: {value.get('ename')}: {value.get('evalue')}")
        return ast.literal_eval(value["data"]["text/plain"])


class Kernel:
    """A real IPython kernel (ipykernel) driven over ZeroMQ, like a frontend.

    `python` picks the interpreter (the peer's virtualenv for jupyter-ai);
    a throwaway kernelspec is written for it.
    """

    def __init__(self, env: dict[str, str] | None = None, python: str | None = None, timeout: float = 60) -> None:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        self._dir = tempfile.TemporaryDirectory(prefix="kimi-bench-kernel-")
        spec_dir = Path(self._dir.name) / "bench"
        spec_dir.mkdir()
        spec = {"argv": [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "bench", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        ksm = KernelSpecManager(kernel_dirs=[self._dir.name])
        ksm.ensure_native_kernel = False
        self.km = KernelManager(kernel_name="bench", kernel_spec_manager=ksm)
        # The kernel's own stderr (e.g. ipykernel's "running over TCP" warning) goes to a log.
        self.log_path = Path(self._dir.name) / "kernel.log"
        self._log = open(self.log_path, "w")
        self.km.start_kernel(env=dict(env or os.environ), stdout=self._log, stderr=self._log)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=timeout)
        except Exception as exc:
            log_text = self.log_path.read_text()[-2000:]
            self.shutdown()
            raise RuntimeError(f"kernel did not start: {exc}\n{log_text}") from None
        self.pid: int = self.run("import os", user_expressions={"pid": "os.getpid()"}).expr("pid")

    def run(
        self,
        code: str,
        timeout: float = 300,
        user_expressions: dict[str, str] | None = None,
        on_message: Callable[[float, dict[str, Any]], None] | None = None,
        check: bool = True,
    ) -> Cell:
        kc = self.kc
        msg_id = kc.execute(code, user_expressions=user_expressions or {}, allow_stdin=False)
        t_sent = time.perf_counter()
        deadline = t_sent + timeout
        messages: list[tuple[float, dict[str, Any]]] = []
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"cell did not finish in {timeout} s: {code[:60]!r}")
            try:
                msg = kc.get_iopub_msg(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            t = time.perf_counter()
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            messages.append((t, msg))
            if on_message is not None:
                on_message(t, msg)
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                break
        t_done = messages[-1][0]
        while True:
            reply = kc.get_shell_msg(timeout=max(deadline - time.perf_counter(), 5))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        cell = Cell(t_sent, t_done, messages, reply)
        if check and not cell.ok:
            raise RuntimeError(f"cell failed: {code[:80]!r}: {cell.error()}")
        return cell

    def cpu_seconds(self) -> float:
        """User + system CPU time of the kernel process so far (all its threads)."""
        import psutil

        t = psutil.Process(self.pid).cpu_times()
        return t.user + t.system

    def rss(self) -> int:
        import psutil

        return psutil.Process(self.pid).memory_info().rss

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            try:
                self.km.shutdown_kernel(now=True)
            finally:
                self._log.close()
                self._dir.cleanup()

    def __enter__(self) -> "Kernel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class Sampler:
    """Samples a value (e.g. a process's RSS) from a thread every `interval` seconds."""

    def __init__(self, fn: Callable[[], Any], interval: float = 0.02) -> None:
        self.fn = fn
        self.interval = interval
        self.samples: list[tuple[float, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.perf_counter(), self.fn()))
            except Exception:  # noqa: BLE001 - the process may be gone at the very end
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys over xs."""
    if len(xs) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None
