"""Scripted model behaviour for the loopback server: scenarios are data.

A request picks a scenario from its last user message: an explicit
``[[scenario:NAME]]`` tag wins, then the first scenario whose ``match`` regex is
found, then ``echo``. The turn is chosen statelessly, by counting assistant
messages after that user message, so a client's tool loop advances the script
by itself and retries replay the same turn. The built-in scenarios are in
`builtin_scenarios`; their texts are in `.texts`. Scripts for particular
notebooks live beside them (`notebooks/offline_replies.py`) and are loaded with
`load_scenarios(path)`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from string import Template
from pathlib import Path
from typing import Any, Iterable

from . import texts

FAULT_KINDS = ("http_error", "drop", "no_finish", "stall", "refuse", "stream_error", "raw_event", "endless_line")
# The HTTP status a `stream_error` answers a non-streamed request with, by error type.
STREAM_ERROR_STATUS = {"exceeded_current_quota_error": 429, "rate_limit_reached_error": 429,
                       "engine_overloaded_error": 429, "server_error": 500}
_TAG = re.compile(r"\[\[scenario:([\w.\-]+)\]\]")


@dataclass
class ToolCallSpec:
    """A tool call the model makes. `arguments` is raw text: it may be invalid JSON on purpose."""

    name: str
    arguments: str = "{}"


@dataclass
class Fault:
    """Something going wrong with a request, for the first `times` requests that reach the turn.

    kinds: ``http_error`` (status/type/message, optional Retry-After), ``drop`` (socket
    closed after `after_chars` characters of text), ``no_finish`` (clean end with no
    finish chunk and no [DONE]; after `after_chars` chars, or after all text when 0),
    ``stall`` (pause `seconds` after `after_chars` chars, then go on), ``refuse``
    (connection closed before any response byte), ``stream_error`` (inside the 200
    stream, after `after_chars` chars: ``data: {"error": {"type": type, "message":
    message}}``, then the body ends with no finish chunk and no [DONE]; a non-streamed
    request gets it as an HTTP error, `status` or the type's usual one). Streams only:
    ``raw_event`` (after `after_chars` chars, ``data: <payload>`` with `payload` sent
    exactly as written, e.g. a malformed chunk or JSON escapes an encoder wouldn't write,
    then the stream goes on), ``endless_line`` (after `after_chars` chars, a ``data:``
    line of `size` bytes that never ends, then the body ends).
    """

    kind: str
    status: int = 0
    type: str = ""
    message: str = ""
    retry_after: float | None = None
    times: int = 1
    after_chars: int = 0
    seconds: float = 0.0
    payload: str = ""
    size: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Fault.kind must be one of {FAULT_KINDS}, got {self.kind!r}")


@dataclass
class ScriptedTurn:
    """One model reply. Texts are `string.Template`s (see `template_vars`)."""

    reasoning: str = ""
    content: str = ""
    tool_calls: list[ToolCallSpec] = field(default_factory=list)
    finish_reason: str | None = None  # None: "tool_calls" if tool_calls else "stop"
    fault: Fault | None = None
    repeat: int = 1
    cps: float | None = None


@dataclass
class Scenario:
    name: str
    turns: list[ScriptedTurn]
    match: str | None = None  # regex, searched case-insensitively in the last user message
    cps: float | None = None
    chunk_chars: int = 4
    # Dress every event in spec-valid SSE extras (comments, event:/id: fields, blank and
    # split data: lines) that a correct decoder ignores or joins; see `wire.noisy_event`.
    sse_noise: bool = False

    def matches(self, text: str) -> bool:
        return self.match is not None and re.search(self.match, text, re.I) is not None

    def turn_at(self, step: int) -> tuple[int, ScriptedTurn]:
        """(flat index, turn) for a step, with `repeat` expanded.

        Past the end the conversation is over: answer with the last turn that
        makes no tool call, minus its fault, so a chatty client can't loop.
        """
        flat = 0
        for turn in self.turns:
            if step < flat + max(1, turn.repeat):
                return step, turn
            flat += max(1, turn.repeat)
        final = next((t for t in reversed(self.turns) if not t.tool_calls), None)
        if final is None:
            final = ScriptedTurn(content="Done.")
        return step, replace(final, fault=None, repeat=1)


@dataclass
class RequestState:
    """What a stateless server can read from the request's messages."""

    first_user: str = ""
    last_user: str = ""
    last_tool_output: str = ""
    n_user: int = 0
    step: int = 0  # assistant messages after the last user message
    prior_tool_calls: int = 0  # to number tool-call ids across the conversation

    @classmethod
    def from_messages(cls, messages: list[dict[str, Any]]) -> "RequestState":
        conv = cls()
        for msg in messages:
            role = msg.get("role")
            if role == "user":
                text = text_of(msg.get("content"))
                if conv.n_user == 0:
                    conv.first_user = text
                conv.last_user = text
                conv.n_user += 1
                conv.step = 0
            elif role == "assistant":
                conv.step += 1
                conv.prior_tool_calls += len(msg.get("tool_calls") or ())
            elif role == "tool":
                conv.last_tool_output = text_of(msg.get("content"))
        return conv


def text_of(content: Any) -> str:
    """Message content is a string or a list of parts; only text parts count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type", "text") == "text"
        )
    return "" if content is None else str(content)


def template_vars(conv: RequestState, model: str) -> dict[str, str]:
    short = conv.last_user if len(conv.last_user) <= 300 else conv.last_user[:300] + "…"
    return {
        "last_user": conv.last_user,
        "last_user_short": short,  # for echo: a pasted dataframe shouldn't be quoted back whole
        "first_user": conv.first_user,
        "last_tool_output": conv.last_tool_output,
        "n_user": str(conv.n_user),
        "step": str(conv.step),
        "model": model,
    }


def render(text: str, values: dict[str, str]) -> str:
    # safe_substitute: a literal "$web_search" or "$x$" in a text is left alone.
    return Template(text).safe_substitute(values) if "$" in text else text


def select(scenarios: Iterable[Scenario], by_name: dict[str, Scenario], last_user: str) -> Scenario:
    tag = _TAG.search(last_user)
    if tag and tag.group(1) in by_name:
        return by_name[tag.group(1)]
    for scenario in scenarios:
        if scenario.matches(last_user):
            return scenario
    return by_name.get("echo") or ECHO


# ---------------------------------------------------------------- built-ins
def _py(code: str) -> ToolCallSpec:
    return ToolCallSpec("python", json.dumps({"code": code}))


def _echo() -> Scenario:
    return Scenario("echo", [ScriptedTurn(reasoning=texts.ECHO_REASONING, content=texts.ECHO_CONTENT)])


ECHO = _echo()


def long_reasoning_scenario(name: str, chars: int, cps: float | None = None, match: str | None = None) -> Scenario:
    """A scenario that thinks for `chars` characters at `cps`, then answers briefly.

    For benchmarks of long streams (10k to 800k characters); the text is
    deterministic, so runs are comparable.
    """
    return Scenario(
        name,
        [ScriptedTurn(reasoning=texts.long_text(chars), content=texts.LONG_ANSWER.replace("$chars", f"{chars:,}"))],
        match=match,
        cps=cps,
    )


def _http(status: int, type: str, message: str, times: int, retry_after: float | None = None) -> Fault:
    return Fault("http_error", status=status, type=type, message=message, times=times, retry_after=retry_after)


def _recovered(name: str, fault: Fault) -> Scenario:
    """A fault scenario whose turn succeeds once the fault has hit `times` requests."""
    return Scenario(
        name,
        [ScriptedTurn(reasoning=texts.RECOVERED_REASONING, content=f"The request went through after the `{name}` fault.", fault=fault)],
    )


def builtin_scenarios() -> list[Scenario]:
    """Fresh copies, so a server that edits its scenarios can't affect another server.

    Scripts for particular notebooks (the tutorials' `notebooks/offline_replies.py`)
    are passed to the server by whoever runs them (`KimiServer(scenarios=...)`):
    added scenarios are matched first, so their narrow regexes win over these.
    """
    return [
        _echo(),
        Scenario("recall", [ScriptedTurn(reasoning=texts.RECALL_REASONING, content="Your first question was: $first_user")],
                 match=r"what was my first question"),
        Scenario("markdown", [ScriptedTurn(reasoning=texts.MARKDOWN_REASONING, content=texts.MARKDOWN_CONTENT)],
                 match=r"quantum entanglement"),
        Scenario("gradient_descent", [
            ScriptedTurn(reasoning=texts.GD_REASONING, tool_calls=[_py(texts.GD_CODE)]),
            ScriptedTurn(reasoning=texts.GD_DONE_REASONING, content=texts.GD_ANSWER),
        ], match=r"gradient descent"),
        Scenario("two_tools", [
            ScriptedTurn(reasoning="I'll store a value in the kernel first, then read it back in a second call.",
                 tool_calls=[_py("shared_value = 41")]),
            ScriptedTurn(reasoning="The assignment ran without output. Now use the variable from the previous call.",
                 tool_calls=[_py("print(shared_value + 1)")]),
            ScriptedTurn(reasoning="The second call saw the variable, so state is shared across calls.",
                 content="Both calls ran in the same namespace: `shared_value + 1` printed **$last_tool_output**."),
        ], match=r"share state"),
        Scenario("raise_then_recover", [
            ScriptedTurn(reasoning="Let me run something that fails, to see how the error comes back.", tool_calls=[_py("1/0")]),
            ScriptedTurn(reasoning="That raised as expected:\n$last_tool_output\nNow I'll run something that works.",
                 tool_calls=[_py("print('recovered')")]),
            ScriptedTurn(reasoning="The second call worked.",
                 content="The first call raised `ZeroDivisionError`; the second printed `$last_tool_output`, so the kernel recovered."),
        ], match=r"recover from an error"),
        Scenario("bad_json", [
            ScriptedTurn(reasoning="I'll print a number.", tool_calls=[ToolCallSpec("python", '{"code": "print(1)"')]),
            ScriptedTurn(reasoning="My arguments were malformed and the tool said so.",
                 content="My tool call had bad arguments. The tool replied:\n\n```\n$last_tool_output\n```"),
        ], match=r"bad tool arguments"),
        Scenario("unknown_tool", [
            ScriptedTurn(reasoning="I'll try a tool that may not exist.", tool_calls=[ToolCallSpec("no_such_tool", "{}")]),
            ScriptedTurn(reasoning="That tool isn't available.", content="I tried `no_such_tool` and got:\n\n```\n$last_tool_output\n```"),
        ], match=r"unknown tool"),
        Scenario("loop300", [
            ScriptedTurn(reasoning="Next step.", tool_calls=[_py("counter = globals().get('counter', 0) + 1")], repeat=300),
            ScriptedTurn(reasoning="All steps are done.", content="Ran $step steps."),
        ], match=r"run 300 steps"),
        Scenario("parallel_tools", [
            ScriptedTurn(reasoning="These two snippets can go out in one turn.", tool_calls=[_py("a = 1"), _py("print(a + 1)")]),
            ScriptedTurn(reasoning="Both calls returned.", content="Both tool calls ran; the second printed `$last_tool_output`."),
        ], match=r"parallel"),
        Scenario("print_10mb", [
            ScriptedTurn(reasoning="Printing ten megabytes; the tool should cap what it sends back.",
                 tool_calls=[_py("print('x' * 10_000_000)")]),
            ScriptedTurn(reasoning="The output came back capped.", content="Got it."),
        ], match=r"print ten megabytes"),
        Scenario("web_search", [
            ScriptedTurn(reasoning=texts.SEARCH_REASONING, tool_calls=[ToolCallSpec(
                "$web_search", '{"search_result": {"search_id": "loopback-1"}, "usage": {"total_tokens": 1234}}')]),
            ScriptedTurn(reasoning="The search results are in.", content=texts.SEARCH_ANSWER),
        ], match=r"search the web"),
        Scenario("user_tool", [
            ScriptedTurn(reasoning="The user asked about the weather; the get_weather tool answers that.",
                 tool_calls=[ToolCallSpec("get_weather", '{"city": "Paris", "unit": "celsius"}')]),
            ScriptedTurn(reasoning="I have the tool's answer.", content="Here is the weather report: $last_tool_output"),
        ], match=r"weather"),
        Scenario("json_answer", [ScriptedTurn(reasoning="The user wants JSON only, no prose around it.",
                                      content='{"name": "kimi", "params_b": 1000, "moe": true}')], match=r"as json"),
        Scenario("code_answer", [ScriptedTurn(reasoning=texts.CODE_REASONING, content=texts.CODE_CONTENT)],
                 match=r"write a function"),
        long_reasoning_scenario("long_reasoning", 40_000, cps=4000, match=r"think for a long time"),
        *kernel_tool_scenarios(),
        *fault_scenarios(),
        *mcp_scenarios(),
    ]


def kernel_tool_scenarios() -> list[Scenario]:
    """The read-only kernel tools, the per-call time limit, figures for vision models, and approval."""
    return [
        Scenario("look_at_data", [
            ScriptedTurn(reasoning=texts.LOOK_REASONING, tool_calls=[ToolCallSpec("list_variables", "{}")]),
            ScriptedTurn(reasoning=texts.LOOK_INSPECT_REASONING, tool_calls=[
                ToolCallSpec("inspect_variable", '{"name": "arr"}'),
                ToolCallSpec("inspect_variable", '{"name": "df"}'),
            ]),
            ScriptedTurn(reasoning="Both inspected.", content=texts.LOOK_ANSWER),
        ], match=r"what data do i have"),
        Scenario("why_it_failed", [
            ScriptedTurn(reasoning=texts.HISTORY_REASONING, tool_calls=[ToolCallSpec("notebook_history", '{"n": 3}')]),
            ScriptedTurn(reasoning="The history shows the ZeroDivisionError.", content=texts.HISTORY_ANSWER),
        ], match=r"why did my (last|earlier) cell fail"),
        Scenario("sleep_a_minute", [
            ScriptedTurn(reasoning=texts.SLEEP_REASONING, tool_calls=[_py(texts.SLEEP_CODE)]),
            ScriptedTurn(reasoning="The call timed out.", content=texts.SLEEP_ANSWER),
        ], match=r"sleep for a minute"),
        Scenario("big_figure", [
            ScriptedTurn(reasoning="A wide figure, 2000 x 1000 pixels.", tool_calls=[_py(texts.BIG_FIGURE_CODE)]),
            ScriptedTurn(reasoning="The figure is shown.", content=texts.BIG_FIGURE_ANSWER),
        ], match=r"draw a big figure"),
        Scenario("read_big_file", [
            ScriptedTurn(reasoning=texts.STDIN_REASONING, tool_calls=[_py(texts.STDIN_CODE)]),
            ScriptedTurn(reasoning="The user answered the approval prompt.", content=texts.STDIN_ANSWER),
        ], match=r"read the big file"),
        Scenario("count_runs", [
            ScriptedTurn(reasoning="I'll count the runs in a kernel variable.", tool_calls=[_py(texts.COUNT_CODE)]),
            ScriptedTurn(reasoning="Done.", content=texts.COUNT_ANSWER),
        ], match=r"count my runs"),
    ]


def load_scenarios(path: str | Path) -> list[Scenario]:
    """The scenarios a replies file defines: it is run, and its `scenarios()` called.

    A replies file is Python (texts with code in them read best that way) and lives
    with the notebooks it answers, e.g. `notebooks/offline_replies.py`.
    """
    import runpy

    namespace = runpy.run_path(str(path))
    make = namespace.get("scenarios")
    if not callable(make):
        raise ValueError(f"{path} defines no scenarios() function")
    found = list(make())
    bad = [s for s in found if not isinstance(s, Scenario)]
    if bad:
        raise ValueError(f"{path}: scenarios() returned {type(bad[0]).__name__}, not Scenario")
    return found


def fault_scenarios() -> list[Scenario]:
    """Chosen by tag only, e.g. ``[[scenario:rate_limit]]``."""
    long_r = texts.DROP_REASONING
    return [
        _recovered("rate_limit", _http(429, "rate_limit_reached_error",
                   "Your account org-xxx request reached organization max RPM: 3, please try again after 1 seconds", 2)),
        _recovered("overloaded", _http(429, "engine_overloaded_error",
                   "The engine is currently overloaded, please try again later", 1)),
        _recovered("quota", _http(429, "exceeded_current_quota_error",
                   "Your account org-xxx is suspended, please check your plan and billing details", 99)),
        _recovered("server_error", _http(500, "server_error", "Internal server error, please try again later", 1)),
        _recovered("retry_after_header", _http(503, "server_error", "Service temporarily unavailable", 1, retry_after=1)),
        _recovered("content_filter", _http(400, "content_filter",
                   "The request was rejected because it was considered high risk", 99)),
        _recovered("refuse", Fault("refuse", times=1)),
        Scenario("drop_midstream", [ScriptedTurn(reasoning=long_r, content=texts.DROP_CONTENT,
                                         fault=Fault("drop", after_chars=300))]),
        Scenario("no_finish", [ScriptedTurn(reasoning=long_r, content=texts.DROP_CONTENT,
                                    fault=Fault("no_finish", after_chars=len(long_r) + 40))]),
        Scenario("stream_error", [ScriptedTurn(reasoning=long_r, content=texts.DROP_CONTENT, fault=Fault(
            "stream_error", type="engine_overloaded_error",
            message="The engine is currently overloaded, please try again later", after_chars=300))]),
        Scenario("sse_noise", [ScriptedTurn(reasoning=texts.MARKDOWN_REASONING, content=texts.MARKDOWN_CONTENT)], sse_noise=True),
        Scenario("stall", [ScriptedTurn(reasoning=long_r, content=texts.DROP_CONTENT, fault=Fault("stall", after_chars=200, seconds=3))]),
        Scenario("length", [ScriptedTurn(reasoning=texts.LENGTH_REASONING, content=texts.LENGTH_CONTENT, finish_reason="length")]),
        Scenario("reasoning_only", [ScriptedTurn(reasoning=long_r, content="")]),
        Scenario("slow", [ScriptedTurn(reasoning=texts.long_text(4000), content="Sorry for the wait: that was slow on purpose.")],
                 cps=200),
    ]


def mcp_scenarios() -> list[Scenario]:
    """The model calls MCP tools (SPEC §10): `time` is PyPI's mcp-server-time, `faulty` the
    test server in tests/mcp_servers/faulty.py (a note, a write, a crash, a slow call)."""

    def calling(name: str, reasoning: str, call: ToolCallSpec, match: str) -> Scenario:
        return Scenario(name, [
            ScriptedTurn(reasoning=reasoning, tool_calls=[call]),
            ScriptedTurn(reasoning="The tool call is done; I'll report what came back.", content=texts.MCP_TOOL_REPLIED),
        ], match=match)

    return [
        Scenario("mcp_time", [
            ScriptedTurn(reasoning=texts.MCP_TIME_REASONING,
                 tool_calls=[ToolCallSpec("time__get_current_time", '{"timezone": "Asia/Tokyo"}')]),
            ScriptedTurn(reasoning=texts.MCP_TIME_DONE_REASONING, content=texts.MCP_TIME_ANSWER),
        ], match=r"what time is it in tokyo"),
        calling("mcp_note", texts.MCP_NOTE_REASONING, ToolCallSpec("faulty__read_note"), r"read the mcp note"),
        calling("mcp_write", texts.MCP_WRITE_REASONING,
                ToolCallSpec("faulty__write_note", '{"text": "hello from kimi"}'), r"write an mcp note"),
        calling("mcp_crash", texts.MCP_CRASH_REASONING, ToolCallSpec("faulty__crash"), r"crash the mcp server"),
        calling("mcp_slow", texts.MCP_SLOW_REASONING, ToolCallSpec("faulty__slow", '{"seconds": 60}'),
                r"call the slow mcp tool"),
    ]
