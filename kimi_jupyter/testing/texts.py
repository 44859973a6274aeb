"""Texts of the built-in scenarios, kept out of `scenarios.py` so the logic there stays short.

They read like a real thinking model's output (several sentences of reasoning,
markdown answers), because tutorials and the offline demo show them to people.
`$name` placeholders are filled by `scenarios.render`.
"""

from __future__ import annotations

ECHO_REASONING = (
    "The user wrote: \"$last_user_short\". No scenario in the loopback script matches this prompt, "
    "so I will answer in echo mode. First I restate what was asked, to make sure I have read it "
    "correctly. There is nothing to compute and no code to run here, so a tool call would only add "
    "latency. The most useful reply is short: quote the prompt back so the person can see the whole "
    "round trip worked (request, streamed reasoning, streamed answer), and mention that this is "
    "the offline loopback server rather than the real Kimi model."
)
ECHO_CONTENT = (
    "You said:\n\n> $last_user_short\n\n"
    "This reply comes from the **kimi-jupyter loopback server** (model `$model`), which imitates "
    "Kimi's API offline. Message $n_user of this conversation."
)

RECALL_REASONING = (
    "The user asks what their first question was. The whole conversation is sent with every "
    "request, so I can look at the earliest user message in the history instead of guessing. "
    "I should quote it exactly, without paraphrasing, so the user can check that the earlier "
    "cells really were part of this request."
)

MARKDOWN_REASONING = (
    "The user wants an explanation of quantum entanglement. I should avoid the common mistake of "
    "saying that entanglement lets you send signals faster than light: the correlations are real, "
    "but each side alone sees random outcomes, so no information travels. A good structure is a "
    "one-line definition, then the key properties as bullets, then a tiny simulation people can "
    "run to see the correlations for themselves. Bell states are the simplest example; the state "
    "(|00> + |11>)/sqrt(2) gives perfectly correlated measurements in the computational basis."
)
MARKDOWN_CONTENT = """## Quantum entanglement

Two particles are **entangled** when their joint state cannot be written as a product of
individual states: measuring one tells you about the other, however far apart they are.

- **Correlated outcomes**: in the Bell state (|00⟩ + |11⟩)/√2 both qubits always agree.
- **No signalling**: each side alone sees a fair coin, so nothing travels faster than light.
- **Bell inequalities**: the correlations are stronger than any local hidden-variable model allows.

```python
import random
pairs = [(b, b) for b in (random.randint(0, 1) for _ in range(5))]
print(pairs)  # each pair agrees, each side alone is random
```
"""

GD_CODE = '''import numpy as np
import matplotlib.pyplot as plt

def f(x):
    """The loss: a simple bowl with its minimum at x = 0."""
    return x ** 2

def grad_f(x):
    return 2 * x

x = 4.0
lr = 0.1
history = [x]
for _ in range(25):
    x = x - lr * grad_f(x)
    history.append(x)

xs = np.array(history)
fig, (ax_loss, ax_path) = plt.subplots(1, 2, figsize=(10, 4))
ax_loss.plot(f(xs), marker="o")
ax_loss.set_xlabel("step")
ax_loss.set_ylabel("loss f(x)")
ax_loss.set_title("Loss curve")
grid = np.linspace(-4.5, 4.5, 200)
ax_path.plot(grid, f(grid), label="f(x) = x**2")
ax_path.plot(xs, f(xs), "o-", color="tab:red", label="descent path")
ax_path.set_xlabel("x")
ax_path.legend()
ax_path.set_title("Path from x0 = 4")
fig.tight_layout()
print(f"final x = {x:.6f}")
print(f"final loss = {f(x):.6f}")
'''
GD_REASONING = (
    "The user wants to see gradient descent in action. The clearest demo is a one-dimensional "
    "quadratic loss f(x) = x**2, whose gradient is 2x, so every step multiplies x by (1 - 2*lr). "
    "With a learning rate of 0.1 that factor is 0.8, which converges steadily without "
    "overshooting. I'll start from x0 = 4, run 25 steps, keep the history, and plot two panels: "
    "the loss per step and the path on the loss curve. Printing the final x and loss gives the "
    "user numbers to check against the theory: 4 * 0.8**25 is about 0.0151. I'll run it in the "
    "kernel so the figure shows inline and `history` stays available for follow-up questions."
)
GD_DONE_REASONING = (
    "The code ran. The final x should be about 4 * 0.8**25, and the printed values agree, so the "
    "iteration behaved as the theory predicts. I'll quote the output and explain why the loss "
    "drops geometrically, and what happens with larger learning rates."
)
GD_ANSWER = """The run printed:

```
$last_tool_output
```

Gradient descent converged towards the minimum at x = 0. On f(x) = x², each update is
x ← x − 0.1·2x = 0.8·x, so the distance to the minimum shrinks by a constant factor of 0.8 per
step: after 25 steps x ≈ 4·0.8²⁵ ≈ 0.015, and the loss, which is x², falls even faster.

- The **loss curve** (left) drops geometrically: a straight line on a log scale.
- The **path** (right) slides down one side of the bowl without overshooting, because
  lr < 0.5. With lr between 0.5 and 1 it would zig-zag across the minimum; above 1 it diverges.

The iterates are in `history` if you want to look at them."""

SEARCH_REASONING = (
    "The user wants current information, which I cannot know from training data alone. The "
    "request declared Kimi's built-in $web_search tool, so I'll call it and answer from the results."
)
SEARCH_ANSWER = (
    "According to the web search (search id `loopback-1`), here is what I found: the loopback "
    "server returns canned results, so this answer only shows that the `$web_search` round trip works."
)

CODE_REASONING = (
    "The user wants a function. I'll keep it small, typed and documented, handle the edge case of "
    "an empty input explicitly rather than letting it raise deep inside, and add a doctest-style "
    "example so it is easy to verify in the next cell."
)
CODE_CONTENT = '''Here is a small, tested function:

```python
def moving_average(values: list[float], window: int = 3) -> list[float]:
    """Average of each run of `window` consecutive values.

    >>> moving_average([1, 2, 3, 4], window=2)
    [1.5, 2.5, 3.5]
    """
    if window < 1:
        raise ValueError("window must be at least 1")
    return [sum(values[i:i + window]) / window for i in range(len(values) - window + 1)]
```

It returns an empty list when there are fewer values than `window`.'''

LONG_ANSWER = "After thinking it through ($chars characters of reasoning), the short answer is: yes, it works."

RECOVERED_REASONING = (
    "The request reached the model, so whatever went wrong before (a rate limit, an overloaded "
    "engine, a server error or a refused connection) has cleared. I'll answer normally."
)

DROP_REASONING = (
    "Let me think about this carefully before answering. The question has several parts, and it "
    "is worth taking them one at a time instead of jumping to a conclusion. First, I need to pin "
    "down what is actually being asked, because the wording leaves some room for interpretation. "
    "Second, I should check whether there are hidden assumptions, such as the size of the data or "
    "whether the order of the results matters. Third, once the question is clear, I can sketch a "
    "plan, estimate how long each step would take, and only then commit to an answer. Taking the "
    "parts in this order avoids the most common mistake, which is answering a slightly different "
    "question from the one that was asked. With that settled, here is the answer."
)
DROP_CONTENT = (
    "The answer has three parts. First, restate the question in your own words. Second, check the "
    "assumptions against the data. Third, write the plan down before you write any code."
)

LENGTH_REASONING = (
    "The user asked for a very long essay. My max_tokens budget is small, so the answer will be "
    "cut off; I'll start anyway and the client should tell the user to raise --max-tokens."
)
LENGTH_CONTENT = (
    "The history of computing begins long before electronic machines. Mechanical calculators, "
    "from Pascal's adding machine to Babbage's difference engine, showed that arithmetic could be "
    "automated, and Ada Lovelace saw that such a machine might manipulate symbols of any kind, not"
)

_SENTENCES = (
    "Let me reconsider the assumption about {topic} before going any further.",
    "If I approach {topic} from the other direction, the constraint on step {i} becomes clearer.",
    "That estimate looks too optimistic, so I'll check it against a small example first.",
    "One subtle point is that {topic} interacts with the boundary case where the input is empty.",
    "So far the argument holds, but I haven't yet used the fact that the values are sorted.",
    "Wait, that contradicts what I derived a moment ago about {topic}; let me recompute.",
    "Recomputing carefully, the earlier figure was right and the discrepancy came from rounding.",
    "A cleaner way to phrase this is as an invariant that every iteration preserves.",
    "Now consider what happens to {topic} when the problem size doubles.",
    "The cost grows linearly there, which is acceptable, but the constant factor matters too.",
    "I should also double-check the off-by-one at the end of the range (item {i}).",
    "Putting these observations together gives a consistent picture of {topic}.",
)
_TOPICS = (
    "the learning rate", "the cache hit rate", "the tokenizer", "memory use", "the tool loop",
    "numerical stability", "the error handling", "the stream parser", "the retry policy", "latency",
)


def long_text(chars: int) -> str:
    """Deterministic, varied 'thinking' of exactly `chars` characters, in paragraphs."""
    parts: list[str] = []
    total = 0
    i = 0
    while total < chars:
        sentence = _SENTENCES[(i * 7) % len(_SENTENCES)].format(i=i, topic=_TOPICS[(i // 3) % len(_TOPICS)])
        sep = "\n\n" if i and i % 6 == 0 else " " if i else ""
        parts.append(sep + sentence)
        total += len(sep) + len(sentence)
        i += 1
    return "".join(parts)[:chars]


# ---------------------------------------------------------------- read-only kernel tools, timeouts, figures
LOOK_REASONING = (
    "The user asks what data they have. Rather than running code, I'll list the variables in "
    "their kernel with the read-only tool; it needs no approval."
)
LOOK_INSPECT_REASONING = (
    "There is an array `arr` and a DataFrame `df`. I'll inspect both for shapes, dtypes and "
    "missing values."
)
LOOK_ANSWER = (
    "You have a numpy array `arr` and a pandas DataFrame `df` loaded. I looked at them with "
    "the read-only tools, without running any code. The last one I inspected:\n\n"
    "```\n$last_tool_output\n```"
)
HISTORY_REASONING = (
    "The user wants to know why a cell failed. The notebook history has their recent cells "
    "and the last error with its traceback."
)
HISTORY_ANSWER = (
    "Your earlier cell divided by zero. Here is what the notebook history shows:\n\n"
    "```\n$last_tool_output\n```\n\nGuard the division (`x / n if n else 0.0`)."
)
SLEEP_CODE = "slept_before = 'assigned before the sleep'\nimport time\ntime.sleep(60)\nslept_after = True"
SLEEP_REASONING = "I'll wait for a minute in the kernel, as asked."
SLEEP_ANSWER = (
    "The sleep did not finish: the call was stopped by the time limit. The tool said:\n\n"
    "> $last_tool_output\n\n`slept_before` was assigned before the interruption, so it is still there."
)
BIG_FIGURE_CODE = '''import numpy as np
import matplotlib.pyplot as plt

x = np.linspace(0, 10, 500)
plt.figure(figsize=(20, 10), dpi=100)
plt.plot(x, np.sin(x))
plt.title("A big figure")'''
BIG_FIGURE_ANSWER = "I drew the figure. $last_tool_output"
STDIN_CODE = "stdin_ran = True\nprint('read the whole file')"
STDIN_REASONING = "I'll read the whole file into memory."
STDIN_ANSWER = "Understood, I did not run it. What the tool told me: $last_tool_output"
COUNT_CODE = "session_runs = globals().get('session_runs', 0) + 1\nprint('runs:', session_runs)"
COUNT_ANSWER = "Counted: $last_tool_output"


# -- MCP tools (SPEC §10): scenarios that call the tools of `Kimi.mcp_servers` ---------------
# They name the servers `time` (PyPI's mcp-server-time) and `faulty` (tests/mcp_servers).
MCP_TIME_REASONING = (
    "The user wants the current time in Tokyo. I can't know the time from my training data, but "
    "an MCP time server is connected: its get_current_time tool takes an IANA timezone name, and "
    "Tokyo's is Asia/Tokyo. It is marked read-only, so calling it changes nothing."
)
MCP_TIME_DONE_REASONING = (
    "The time server answered with a JSON object: the timezone, an ISO 8601 datetime with its "
    "UTC offset, the day of the week and whether daylight saving time is in effect. I'll quote "
    "it so the user can see exactly what the tool returned."
)
MCP_TIME_ANSWER = "The time server says:\n\n```json\n$last_tool_output\n```"
MCP_NOTE_REASONING = "The user asks what the note says. The faulty server's read_note tool reads it."
MCP_WRITE_REASONING = (
    "The user wants a note written. The write_note tool changes state on the server, so the user "
    "will be asked first."
)
MCP_CRASH_REASONING = "The user asks me to call the crash tool, to see how a dying server is handled."
MCP_SLOW_REASONING = "The user wants the slow tool called; it sleeps for a long time before answering."
MCP_TOOL_REPLIED = "The tool replied:\n\n```\n$last_tool_output\n```"
