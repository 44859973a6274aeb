"""Build the tutorial notebooks from the cell texts in this file.

    python notebooks/build.py           # write 01-getting-started.ipynb … 06-any-openai-server.ipynb
    python notebooks/build.py --check   # exit 1 if a stored notebook differs from this file

The notebooks are data generated from here, so edit this file, not the .ipynb
files: a test checks that the stored notebooks equal what this script builds.
They are stored without outputs and with stable cell ids, so diffs stay small.

Every notebook runs top to bottom with a real key (`MOONSHOT_API_KEY`) and,
offline, against kimi-jupyter's loopback server (`kimi-jupyter demo`, and CI),
which gets `KIMI_BASE_URL`/`KIMI_API_KEY` (a key paired with its server) from the environment. Cells
where the model runs code use `%%kimi -y`: headless runs have no stdin to ask.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from textwrap import dedent
from typing import Any

HERE = Path(__file__).resolve().parent
Cell = tuple[str, str]


def md(text: str) -> Cell:
    return ("markdown", dedent(text).strip("\n"))


def code(text: str) -> Cell:
    return ("code", dedent(text).strip("\n"))


# ---------------------------------------------------------------- 01
GETTING_STARTED = [
    md("""
    # Getting started with kimi-jupyter

    [Kimi K2 Thinking](https://huggingface.co/moonshotai/Kimi-K2-Thinking) is Moonshot AI's open
    reasoning model: it thinks step by step before it answers, and it can call tools along the
    way. kimi-jupyter brings it into Jupyter as a cell magic, `%%kimi`.

    ## What you'll learn

    - how to install kimi-jupyter and load the `%%kimi` magic;
    - how to give it your API key safely, and the one way you never should;
    - how to ask a first question and watch the model's reasoning stream in;
    - how cells continue one conversation, like a chat;
    - how to keep an answer as a Python object with `-o`, and what that object holds;
    - how to see the tokens you used and what they cost with `%kimi usage`.
    """),
    md("""
    ## 1. Install and load

    Install kimi-jupyter into the environment your kernel runs in. From a clone of the
    repository:

    ```bash
    pip install -e '.[tutorials]'    # the tutorials extra adds python-docx for notebook 04
    ```

    Inside a running notebook, use `%pip install …` rather than `!pip install …`: `%pip` installs
    into the kernel's own environment. Then load the extension once per kernel:
    """),
    code("%load_ext kimi_jupyter"),
    md("""
    ## 2. Your API key

    Create a key in the [Moonshot AI platform console](https://platform.moonshot.ai/). kimi-jupyter
    looks for it in this order, and uses the first it finds:

    1. **`%kimi login`** asks for it with a hidden prompt and keeps it in memory for this kernel
       only. Nothing is written to the notebook or to disk.
    2. **The environment variable `MOONSHOT_API_KEY`** (or `KIMI_API_KEY`), set in the shell
       *before* you start Jupyter: `export MOONSHOT_API_KEY=sk-…` then `jupyter lab`.
    3. **`c.Kimi.api_key`** in your `ipython_config.py`, if you keep that file private.

    > ⚠️ **Never use `%env MOONSHOT_API_KEY=sk-…`.** `%env` prints the value as the cell's output,
    > and the cell source holds it too, so the key ends up in the saved notebook, in git, and in
    > every copy you share. Setting `os.environ["MOONSHOT_API_KEY"] = "sk-…"` in a cell leaks it the
    > same way.

    The next cell asks for the key only when the environment doesn't already provide one:
    """),
    code("""
    import os

    if not (os.environ.get("MOONSHOT_API_KEY") or os.environ.get("KIMI_API_KEY")):
        %kimi login
    """),
    md("`%kimi config` shows the settings in effect. The key is masked:"),
    code("%kimi config"),
    md("""
    ## 3. Your first prompt

    The body of a `%%kimi` cell is the prompt. Run this cell and watch what happens:
    """),
    code("""
    %%kimi
    Explain quantum entanglement.
    """),
    md("""
    ## 4. Watching the reasoning

    Kimi K2 Thinking reasons before it answers. While the cell runs, a live panel shows that
    reasoning as it streams in, with the elapsed time and a token count, and the answer follows as
    rendered markdown. Press ■ (interrupt the kernel) to stop a long reply: what has arrived so far
    is kept.

    When the cell finishes, the live panel is replaced by plain outputs that need no kernel to
    display, so the notebook reads the same on GitHub or nbviewer:

    - the **reasoning**, collapsed: click *Reasoning* to open it;
    - the **answer**, as markdown;
    - a **footer**: model · tokens in / out · cost · time · tool calls.

    Reasoning tokens are output tokens, and you pay for them. That is why a short answer from a
    thinking model can cost more than its length suggests.

    ## 5. Continuing the conversation

    Cells continue one conversation, like a chat. Each request sends the whole history, so "it"
    below means entanglement:
    """),
    code("""
    %%kimi
    Give me an everyday analogy for it, in three sentences.
    """),
    md("""
    Every request repeats the earlier messages byte for byte. Moonshot caches that shared prefix,
    so repeated tokens cost the cache-hit price ($0.15 per million instead of $0.60). `%kimi history`
    shows what the next request will send:
    """),
    code("%kimi history"),
    md("""
    Start a fresh conversation with `%%kimi -n` (`--new`) on a cell, or with `%kimi reset`.

    ## 6. Keeping the answer: `-o` and the Result object

    `-o NAME` stores the cell's `Result` in a variable, the way `%timeit -o` does:
    """),
    code("""
    %%kimi -o short
    Now summarize entanglement in one sentence a ten-year-old would understand.
    """),
    code("""
    cost = "n/a" if short.cost_usd is None else f"${short.cost_usd:.5f}"
    print("answer:   ", short.content)
    print("reasoning:", f"{len(short.reasoning):,} characters, starting", repr(short.reasoning[:60] + "…"))
    print("model:    ", short.model, "· finish reason:", short.finish_reason)
    print("tokens:   ", f"{short.usage.prompt_tokens:,} in ({short.usage.cached_tokens:,} cached),",
          f"{short.usage.completion_tokens:,} out")
    print("cost:     ", cost, f"· {short.elapsed_s:.1f} s")
    """),
    md("""
    A `Result` also renders itself as markdown (reasoning collapsed, answer, footer) when it is
    the last thing in a cell:
    """),
    code("short"),
    md("""
    The same works from plain Python, in a notebook or a script: `kimi_jupyter.chat()` takes the
    magic's options as keyword arguments, continues the same conversation, and returns a `Result`.
    """),
    code("""
    import kimi_jupyter

    who = kimi_jupyter.chat("Which famous physicist called it spooky action at a distance?")
    print(f"{who.usage.total_tokens:,} tokens")
    """),
    md("""
    ## 7. Tokens and cost

    `%kimi usage` adds up every cell of this session. Prices are per million tokens; for
    `kimi-k2.6` (the default) that is $0.16 for cached prompt tokens, $0.95 for the rest of the
    prompt, and $4.00 for output (reasoning included).
    """),
    code("%kimi usage"),
    md("`%kimi models` lists the models your key can use, with their context window and prices:"),
    code("%kimi models"),
    md("""
    ## Exercises

    1. Ask a follow-up that only makes sense with the earlier cells ("Which of your bullet points
       is the most surprising?"). Then ask the same thing with `%%kimi -n`. What changes?
    2. Put a variable into a prompt: set `topic = "superposition"`, then run
       `%%kimi` with the prompt `Explain {topic} in two sentences.` Braces that don't name a
       variable, such as JSON, are sent as written.
    3. Rerun the first prompt with `--no-thinking -o fast` and compare
       `fast.elapsed_s` and `fast.cost_usd` with `short`'s.
    4. Interrupt a long answer with ■ and look at what `-o` kept.
    """),
]

# ---------------------------------------------------------------- 02
PUZZLES = [
    md("""
    # Reasoning puzzles: reading how Kimi thinks

    A thinking model writes out its reasoning before it answers. That reasoning is not decoration:
    it is where the model plans, checks numbers and changes its mind, and you can read it.

    ## What you'll learn

    - how to pose a puzzle that needs planning rather than recall;
    - how to read the reasoning, in the notebook and as data (`result.reasoning`);
    - how to push back on an answer and get the reasons behind it;
    - how to compare `kimi-k2.6`, `kimi-k3` and `kimi-k2.6` with thinking off on time, tokens and
      cost in a small table.
    """),
    code("%load_ext kimi_jupyter"),
    md("""
    ## 1. The stacking puzzle

    This puzzle, from Moonshot's launch material, has no single right answer, but good answers
    share a structure: a wide rigid base, the fragile items where their load is small, and a
    reason for every layer. Keep the prompt in a variable: `{puzzle}` in a `%%kimi` cell is
    replaced by its value, and we'll reuse it below.
    """),
    code("""
    puzzle = (
        "I have nine eggs, a book, a laptop, an empty plastic bottle with cap, and a nail. "
        "Please tell me how to stack them onto each other in the most stable manner."
    )
    """),
    code("""
    %%kimi -o stack --no-tools
    {puzzle}
    """),
    md("""
    `--no-tools` makes this plain chat: the model can't run code, so all of its work is in the
    reasoning.

    ## 2. Reading the reasoning

    Open the *Reasoning* panel above, or read it from Python: `stack.reasoning` is a plain string.
    """),
    code("""
    import textwrap

    print(f"reasoning: {len(stack.reasoning):,} characters · answer: {len(stack.content):,} characters")
    print(f"completion tokens (reasoning + answer): {stack.usage.completion_tokens:,}\\n")
    for paragraph in stack.reasoning.split("\\n\\n")[:3]:
        print(textwrap.fill(paragraph, 100), end="\\n\\n")
    """),
    md("""
    A few things are worth looking for in any reasoning trace: does it state what "stable" means,
    does it check numbers (how much load can an egg take?), does it consider alternatives and
    reject them, and does it revise itself? A quick way to see where each object got attention:
    """),
    code("""
    text = stack.reasoning.lower()
    for item in ["book", "egg", "laptop", "bottle", "nail"]:
        print(f"{item:>7}: first considered at character {text.find(item):>5,}, mentioned {text.count(item):>2} times")
    """),
    md("""
    ## 3. Push back

    The conversation continues, so you can question a choice. The model answers with the earlier
    reasoning in context:
    """),
    code("""
    %%kimi
    Why not put the eggs on top, where nothing presses on them?
    """),
    md("""
    ## 4. kimi-k2.6, kimi-k3, or no thinking at all?

    `kimi-k2.6` is the default: it thinks, and can be told not to (`--no-thinking`, or
    `thinking=False` from Python). `kimi-k3` always thinks, has a 1M-token context and costs more
    per token ($3.00 instead of $0.95 per million uncached prompt tokens, $15.00 instead of $4.00
    per million output tokens). Send the same puzzle to all three. `kimi_jupyter.chat(...,
    new=True)` starts each in a fresh conversation, so none sees another's answer.
    """),
    code("""
    import kimi_jupyter

    runs = {}
    for label, model, thinking in [("kimi-k2.6", "kimi-k2.6", True), ("kimi-k3", "kimi-k3", True),
                                   ("kimi-k2.6 --no-thinking", "kimi-k2.6", False)]:
        runs[label] = kimi_jupyter.chat(puzzle, model=model, thinking=thinking, new=True, tools=False)
    """),
    code("""
    from IPython.display import Markdown, display

    rows = [
        "| model | time (s) | output tokens/s | prompt tokens | completion tokens | reasoning (chars) | cost |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for model, r in runs.items():
        speed = r.usage.completion_tokens / r.elapsed_s if r.elapsed_s else float("nan")
        cost = "n/a" if r.cost_usd is None else f"${r.cost_usd:.4f}"
        rows.append(f"| `{model}` | {r.elapsed_s:.1f} | {speed:,.0f} | {r.usage.prompt_tokens:,} "
                    f"| {r.usage.completion_tokens:,} | {len(r.reasoning):,} | {cost} |")
    display(Markdown("\\n".join(rows)))
    """),
    md("""
    How to read it: *time* is what you wait, *completion tokens* include the reasoning, and the
    *cost* follows from the token counts and each model's prices. One run is an anecdote: the
    length of the reasoning varies from run to run, so repeat the comparison before you
    conclude anything (exercise 1).

    ## Exercises

    1. Run the comparison three times, and report the mean and spread of time and cost per model.
    2. Ask a puzzle whose obvious answer is wrong ("A bat and a ball cost $1.10 in total…") and find
       the place in `result.reasoning` where the model catches the trap.
    3. Rerun the puzzle with `--max-tokens 1000`. What is `finish_reason`, and what did you keep?
    4. Ask for a critique in a fresh conversation: `%%kimi -n` with the prompt
       `Find the weakest layer in this plan: {stack.content}`.
    """),
]

# ---------------------------------------------------------------- 03
GRADIENT_DESCENT = [
    md("""
    # Gradient descent, with Kimi at the keyboard

    kimi-jupyter gives the model a `python` tool that runs code **in your kernel**: the plots
    appear in your notebook, the variables stay in your namespace, and the model reads what its
    code printed before it answers.

    ## What you'll learn

    - how to let Kimi write and run code with `%%kimi -y`, and when that is a good idea;
    - how its plots appear inline and its variables become yours;
    - how the model reads its own printed results and checks them;
    - how follow-ups build on earlier code, here to compare learning rates;
    - how `%kimi export` turns the session into a notebook you can rerun without the model.
    """),
    code("%load_ext kimi_jupyter"),
    md("""
    ## 1. Approving code

    By default kimi-jupyter shows the model's code and asks before running it: yes, no, or all for
    this cell. `-y` runs it without asking, for one cell; `%config Kimi.auto_run = True` does so
    for the session. The code runs with your permissions, so `-y` is like pasting code from the
    internet: use it for work like this, not on a machine with secrets you can't afford to lose.
    Headless runs (nbconvert, papermill, CI) can't ask, so there model code runs only with `-y`.

    A snapshot of the names defined so far shows us later what the model's code added:
    """),
    code("before = set(globals())"),
    code("""
    %%kimi -y
    Visualize gradient descent.
    """),
    md("""
    Look at the order of the outputs: the reasoning (its plan), the code it ran, the code's printed
    output and figure, then the answer. The answer quotes the printed numbers: the tool sent the
    model its stdout, so it could check the run against the theory before answering.

    ## 2. The model's variables are yours
    """),
    code("""
    created = sorted(name for name in set(globals()) - before if not name.startswith("_") and name != "before")
    print("The model's code defined:", ", ".join(created))
    """),
    md("""
    ## 3. Follow-ups: comparing learning rates

    The next question builds on the first: the model can reuse the functions it already defined.
    """),
    code("""
    %%kimi -y
    Compare learning rates 0.01, 0.1, 0.5, 0.9 and 1.05 on the same function:
    plot the loss curves on one log-scale chart and tell me which ones converge.
    """),
    md("""
    Check the claims yourself instead of taking them on trust. On f(x) = x² each step multiplies x
    by 1 − 2·lr, so after 25 steps from x₀ = 4:
    """),
    code("""
    for lr in [0.01, 0.1, 0.5, 0.9, 1.05]:
        x25 = 4 * (1 - 2 * lr) ** 25
        verdict = "converges" if abs(1 - 2 * lr) < 1 else "diverges"
        print(f"lr = {lr:<5} x after 25 steps = {x25:>10.4g}   {verdict}")
    """),
    md("A question that needs no code gets an answer without any:"),
    code("""
    %%kimi
    Which learning rate converges fastest here, and how would I choose one for a real model?
    """),
    md("""
    ## 4. Export for reproducibility

    The code the model ran sits in the outputs of the `%%kimi` cells. `%kimi export` writes the
    whole conversation as a new notebook: your prompts and the answers as markdown cells, and
    every piece of code the model ran as a code cell, with its outputs. Rerun it without a key,
    review it, or commit it.
    """),
    code("%kimi export gd.ipynb"),
    code("""
    import nbformat

    exported = nbformat.read("gd.ipynb", as_version=4)
    for cell in exported.cells:
        lines = cell.source.strip().splitlines()
        outputs = f"  [{', '.join(o.output_type for o in cell.outputs)}]" if cell.cell_type == "code" else ""
        print(f"{cell.cell_type:<8} | {lines[0][:60] if lines else ''}{outputs}")
    """),
    md("""
    ## Exercises

    1. Ask for gradient descent on the Rosenbrock function in 2-D, drawn over a contour plot. Which
       learning rates work now, and why is it so much harder than x²?
    2. Ask the model to add momentum and compare it with plain gradient descent at lr = 0.9.
    3. In JupyterLab, run a code prompt without `-y` and answer *n* at the approval prompt. How
       does the model react?
    4. Open `gd.ipynb`, run *Restart Kernel and Run All*, and check that it reproduces the numbers.
    """),
]

# ---------------------------------------------------------------- 04
TEMPLATE_CODE = '''
from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Inches, Pt, RGBColor
import matplotlib.pyplot as plt

NAVY = RGBColor(0x1F, 0x3A, 0x5F)
doc = Document()


def add_style(name, font, size, bold=None, italic=None, color=None):
    """A custom paragraph style: the part of a template people care most about."""
    style = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = doc.styles["Normal"]
    style.font.name, style.font.size, style.font.bold, style.font.italic = font, Pt(size), bold, italic
    if color is not None:
        style.font.color.rgb = color


add_style("Report Title", "Georgia", 24, bold=True, color=NAVY)
add_style("Report Body", "Calibri Light", 11)
add_style("Figure Caption", "Calibri Light", 9, italic=True, color=NAVY)

section = doc.sections[0]
section.header.paragraphs[0].text = "ACME Analytics · Quarterly Report"
section.header.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
section.footer.paragraphs[0].text = "Confidential: internal use only"

doc.add_paragraph("Quarterly Report: Q3 2025", style="Report Title")
doc.add_paragraph("Revenue grew in every region this quarter. The table and chart below summarise "
                  "the figures; replace them with this quarter's numbers.", style="Report Body")
rows = [("Region", "Revenue (k$)", "Growth"), ("North", "1,240", "+8%"),
        ("South", "980", "+3%"), ("West", "1,515", "+12%")]
table = doc.add_table(rows=len(rows), cols=3)
table.style = "Light Grid Accent 1"
for r, values in enumerate(rows):
    for c, value in enumerate(values):
        table.cell(r, c).text = value

fig, ax = plt.subplots(figsize=(5, 2.5))
ax.bar([row[0] for row in rows[1:]], [1240, 980, 1515], color="#1F3A5F")
ax.set_ylabel("Revenue (k$)")
fig.tight_layout()
fig.savefig("chart.png", dpi=120)
plt.close(fig)  # it goes into the document, not the notebook
doc.add_picture("chart.png", width=Inches(4.5))
doc.add_paragraph("Figure 1: revenue by region", style="Figure Caption")

doc.save("template.docx")
print("wrote template.docx:", len(doc.paragraphs), "paragraphs,", len(doc.tables), "table,",
      len(doc.inline_shapes), "image")
'''

DESCRIBE_CODE = '''
from pathlib import Path

from docx import Document


def describe(path):
    """The structure a layout clone has to keep, as plain values that compare with ==."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} doesn't exist: ask Kimi to run clone_layout again")
    doc = Document(path)
    section = doc.sections[0]
    blocks = [block.style.name for block in doc.iter_inner_content()]

    def font(style_name):
        f = doc.styles[style_name].font
        color = str(f.color.rgb) if f.color.type is not None else None
        return (f.name, f.size.pt if f.size else None, f.bold, f.italic, color)

    return {
        "page size (in)": (round(section.page_width.inches, 2), round(section.page_height.inches, 2)),
        "header text": [p.text for p in section.header.paragraphs],
        "footer text": [p.text for p in section.footer.paragraphs],
        "block styles, in order": blocks,
        "custom fonts": {name: font(name) for name in sorted(set(blocks)) if doc.styles[name].font.name},
        "tables (rows, cols, style)": [(len(t.rows), len(t.columns), t.style.name) for t in doc.tables],
        "table cell texts": [[cell.text for cell in row.cells] for t in doc.tables for row in t.rows],
        "inline images": len(doc.inline_shapes),
        "image sizes (in)": [(round(s.width.inches, 2), round(s.height.inches, 2)) for s in doc.inline_shapes],
    }
'''

COMPARE_CODE = '''
from IPython.display import Markdown, display


def shown(value, limit=70):
    text = str(value).replace("|", "\\\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


template, clone = describe("template.docx"), describe("clone.docx")
rows = ["| check | template | clone | |", "|---|---|---|---|"]
differences = []
for check, expected in template.items():
    same = clone[check] == expected
    if not same:
        differences.append(check)
    rows.append(f"| {check} | {shown(expected)} | {shown(clone[check])} | {'✓' if same else '✗ **differs**'} |")
display(Markdown("\\n".join(rows)))

if differences:
    print(f"The clone differs from the template in {len(differences)} of {len(template)} checks: "
          + ", ".join(differences))
else:
    print(f"The clone matches the template in all {len(template)} checks.")
'''

CODING_ASSISTANT = [
    md("""
    # A coding assistant that looks before it writes

    The task: *clone the layout of this Word template: tables, images, custom fonts, headers.*
    It is a realistic request, and a good test of a coding assistant, because the right code
    depends on what is actually in the file. A good assistant inspects the file first, then writes
    code, runs it, and shows you the result. You then check that result yourself.

    ## What you'll learn

    - how to build a small `.docx` template with python-docx: a header and footer, custom fonts, a
      table and an image;
    - how Kimi inspects a file with the code tool before it writes any code;
    - how it writes and runs code that clones the template's structure;
    - how to verify the clone yourself, check by check;
    - how `-f code` turns an answer into a new code cell.

    This notebook needs python-docx: `pip install python-docx`, or kimi-jupyter's `tutorials` extra.
    It writes `template.docx`, `chart.png` and `clone.docx` to the current folder.
    """),
    code("%load_ext kimi_jupyter"),
    md("""
    ## 1. A template to clone

    A stand-in for your organisation's report template: a right-aligned header and a footer, three
    custom paragraph styles with their own fonts, a table in a built-in table style, and a chart.
    """),
    code(TEMPLATE_CODE),
    md("""
    ## 2. Ask Kimi

    Describe the goal rather than the implementation, name the files, and ask it to inspect first.
    `-y` lets it run code without asking each time (see notebook 03).
    """),
    code("""
    %%kimi -y
    template.docx in the current folder is our report template. Inspect it with python-docx
    first, then write a function clone_layout(src, dst) that rebuilds its layout in a new
    document (page setup, header and footer, custom fonts and styles, tables and images).
    Run it on template.docx and save the result as clone.docx.
    """),
    md("""
    Read the outputs in order: the first tool call only *inspects* the template and prints what it
    finds; the reasoning after it plans the clone from those facts (style names, fonts, sizes);
    the second call defines `clone_layout`, runs it and prints a summary it can compare.

    ## 3. Check the clone yourself

    "Done" from an assistant is a claim. Compare the two files' structure with code you wrote:
    """),
    code(DESCRIBE_CODE),
    code(COMPARE_CODE),
    md("""
    If a check fails, tell Kimi which one and let it fix `clone_layout`; the conversation, and the
    function, are still there.

    ## 4. Code you keep: `-f code`

    With `-f code`, the code in the answer is also put into a new cell below, ready to review,
    edit, or save with `%%writefile clone_docx.py`. (Headless runs such as CI skip that step; the
    answer still shows the code.)
    """),
    code("""
    %%kimi -f code
    Turn clone_layout into a command-line script, clone_docx.py,
    that takes the template and output paths.
    """),
    md("""
    ## Exercises

    1. Add a second section in landscape orientation to the template. Does the check catch what
       `clone_layout` misses? Ask Kimi to extend it, then rerun the check.
    2. Merge two cells of the table (`table.cell(0, 0).merge(table.cell(0, 1))`) and extend
       `describe` so the check notices merged cells.
    3. Ask Kimi for a `fill_report(template, data, dst)` that reuses the clone's layout with new
       numbers and a freshly drawn chart.
    4. Compare the image bytes too: add a check on `hashlib.sha256` of each image's blob.
    """),
]

# ---------------------------------------------------------------- 05
TOOLS_CODE = '''
import kimi_jupyter

INVENTORY = {"espresso beans": 12, "oat milk": 3, "croissants": 0, "paper cups": 250}
PRICES = {"espresso beans": 18.50, "oat milk": 2.40, "croissants": 1.10, "paper cups": 0.05}
ORDERS = []


@kimi_jupyter.tool
def stock_level(item: str) -> int:
    """How many units of an item the café has in stock.

    Args:
        item: Product name, e.g. "oat milk".
    """
    return INVENTORY[item]


@kimi_jupyter.tool
def unit_price(item: str) -> float:
    """The supplier's price for one unit of an item.

    Args:
        item: Product name, e.g. "oat milk".
    """
    return PRICES[item]


@kimi_jupyter.tool
def place_order(item: str, quantity: int) -> dict:
    """Order more of an item from the supplier and add it to the stock.

    Args:
        item: Product name, e.g. "oat milk".
        quantity: How many units to order, at least 1.
    """
    if quantity < 1:
        raise ValueError("quantity must be at least 1")
    order = {"order_id": f"PO-{1001 + len(ORDERS)}", "item": item, "quantity": quantity,
             "total": round(quantity * PRICES[item], 2)}
    ORDERS.append(order)
    INVENTORY[item] += quantity
    return order
'''

TOOLS_AND_JSON = [
    md("""
    # Custom tools, chaining, JSON and web search

    The model can call your Python functions. Give it a few small, well-described functions and
    it will chain them: look something up, work out what to do, then act.

    ## What you'll learn

    - how to turn a Python function into a tool with `@kimi_jupyter.tool`;
    - how the tool's JSON schema comes from the signature, type hints and docstring;
    - how the model chains tool calls, and how to audit them in `result.tool_calls`;
    - how to get machine-readable answers with JSON mode (`-f json`) and `result.parsed`;
    - how to let Kimi search the web with `--web-search`.
    """),
    code("%load_ext kimi_jupyter"),
    md("""
    ## 1. Your functions as tools

    A café's stock system in three functions. The type hints become the schema's types, and the
    docstring becomes the descriptions the model reads, so write them for the model: what the
    tool does, and what each argument means.
    """),
    code(TOOLS_CODE),
    md("This is the schema the model sees for `place_order`:"),
    code("""
    import json

    from kimi_jupyter.tools import default_registry

    print(json.dumps(default_registry.spec("place_order").openai_schema(), indent=2))
    """),
    md("""
    ## 2. Tool chaining

    Ask for an outcome, not for the steps. The model has to look up three stock levels, decide what
    to order, look up prices, and place orders: three rounds of tool calls, each depending on the
    last.
    """),
    code("""
    %%kimi -o restock
    We restock anything below 5 units back up to 20. Check espresso beans, oat milk and
    croissants, order what's needed, and tell me the total cost.
    """),
    md("""
    Your tools run without an approval prompt: they are your code, and they can only do what you
    wrote. (Only the `python` tool, which runs code the model wrote, asks first.) If a tool
    raises, say for an unknown item, the model gets the error message and can try again.

    Every call is recorded, so you can audit the chain and see its effects in your own variables:
    """),
    code("""
    for call in restock.tool_calls:
        print(f"{'✓' if call.ok else '✗'} {call.name}({call.arguments}) -> {call.output}")
    print(f"\\n{restock.steps} tool calls in {restock.requests} model requests")
    print("ORDERS:   ", ORDERS)
    print("INVENTORY:", INVENTORY)
    """),
    md("""
    ## 3. JSON mode

    `-f json` asks the API for a JSON object (`response_format`), and the parsed value lands in
    `result.parsed`. The braces in this prompt are JSON, not variable names, so they are sent
    exactly as written.
    """),
    code("""
    %%kimi -f json -o orders_json --no-tools
    Return the orders you just placed as JSON, in the form
    {"orders": [{"item": str, "quantity": int, "cost": float}], "total": float}. JSON only.
    """),
    code("""
    data = orders_json.parsed
    print(type(data).__name__, "with keys", sorted(data))
    for order in data["orders"]:
        print(f"  {order['item']:<12} {order['quantity']:>3}  {order['cost']:>7.2f}")
    print(f"  {'total':<12} {'':>3}  {data['total']:>7.2f}")

    # Trust, but verify: the JSON must agree with the orders the tools actually placed.
    assert {(o["item"], o["quantity"]) for o in data["orders"]} == {(o["item"], o["quantity"]) for o in ORDERS}
    assert abs(sum(o["cost"] for o in data["orders"]) - data["total"]) < 0.01
    print("The parsed JSON matches the orders in ORDERS.")
    """),
    md("""
    ## 4. Web search

    `--web-search` offers Kimi's built-in `$web_search` tool. Moonshot runs the search on its side
    and the model reads the results; kimi-jupyter only sends the call back, as the protocol
    requires. Each search costs $0.005 on top of the tokens, and `cost_usd` includes it.
    """),
    code("""
    %%kimi --web-search -o news
    Search the web for what Moonshot AI announced with Kimi K2 Thinking,
    and summarize the key numbers with sources.
    """),
    code("""
    searches = [call for call in news.tool_calls if call.name == "$web_search"]
    print(f"{len(searches)} web search(es); this cell cost ${news.cost_usd:.4f}, searches included")
    """),
    md("""
    ## Exercises

    1. Add a `lead_time_days(item: str) -> int` tool and ask which of today's orders arrives last.
    2. Make `place_order` refuse more than 15 units at a time and watch how the model recovers
       from the error.
    3. Ask for JSON with a nested schema and validate `parsed` with pydantic or jsonschema.
    4. Remove the docstrings from the tools and rerun the restock prompt. What does the model get
       wrong without them?
    """),
]

# ---------------------------------------------------------------- 06
RAW_STREAM_CODE = '''
from openai import OpenAI

# vLLM checks a key only when started with --api-key; never hand it your Moonshot key.
client = OpenAI(base_url=VLLM_URL, api_key="EMPTY")
stream = client.chat.completions.create(
    model=VLLM_MODEL,
    messages=[{"role": "user", "content": "What is 17 * 23?"}],
    stream=True,
    stream_options={"include_usage": True},
)
fields, reasoning, answer, usage = set(), [], [], None
for chunk in stream:
    usage = chunk.usage or usage  # vLLM: a last chunk with top-level usage and no choices
    if not chunk.choices:
        continue
    delta = chunk.choices[0].delta
    extra = delta.model_extra or {}
    fields |= {name for name, value in {**delta.model_dump(), **extra}.items() if value}
    reasoning.append(extra.get("reasoning") or extra.get("reasoning_content") or "")
    answer.append(delta.content or "")

print("delta fields seen:", sorted(fields))
print("reasoning:", "".join(reasoning)[:100], "…")
print("answer:   ", "".join(answer))
print("usage:    ", usage and f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens")
'''

AB_TABLE_CODE = '''
from IPython.display import Markdown, display

rows = [
    "| | model | time (s) | completion tokens | reasoning (chars) | cost | answer |",
    "|---|---|---:|---:|---:|---:|---|",
]
for (label, url, model), r in zip(CANDIDATES, ab.values()):
    cost = "n/a" if r.cost_usd is None else f"${r.cost_usd:.4f}"
    answer = r.content.strip().splitlines()[0].replace("|", "\\\\|") if r.content.strip() else ""
    answer = answer if len(answer) <= 100 else answer[:99] + "…"
    rows.append(f"| **{label}** | `{model}` | {r.elapsed_s:.1f} | {r.usage.completion_tokens:,} "
                f"| {len(r.reasoning):,} | {cost} | {answer} |")
display(Markdown("\\n".join(rows)))
'''

ANY_SERVER = [
    md("""
    # Any OpenAI-compatible server: vLLM, SGLang and the open weights

    Kimi K2 Thinking's weights are open. `%%kimi` speaks the OpenAI chat-completions protocol, so
    the same magic works against Moonshot's API, a vLLM or SGLang server running the weights on
    your own GPUs, or any other OpenAI-compatible endpoint.

    ## What you'll learn

    - how to point `%%kimi` at another server, per cell (`--base-url`) or per session
      (`Kimi.base_url`);
    - how to serve Kimi K2 Thinking with vLLM or SGLang;
    - how the streamed `reasoning` field of those servers differs from Moonshot's
      `reasoning_content`, and why you don't have to care;
    - how to run an A/B comparison of two models on one prompt, with a comparison table.
    """),
    code("%load_ext kimi_jupyter"),
    md("""
    ## 1. Serving the open weights

    The weights are at [moonshotai/Kimi-K2-Thinking](https://huggingface.co/moonshotai/Kimi-K2-Thinking).
    They take roughly 600 GB in their native INT4 format, so plan for a multi-GPU node. Start the
    server with the Kimi K2 tool-call and reasoning parsers, so tool calls and reasoning come back
    as structured fields:

    ```bash
    # vLLM: OpenAI-compatible API at http://HOST:8000/v1
    vllm serve moonshotai/Kimi-K2-Thinking --tensor-parallel-size 8 --trust-remote-code \\
        --enable-auto-tool-choice --tool-call-parser kimi_k2 --reasoning-parser kimi_k2

    # SGLang: OpenAI-compatible API at http://HOST:30000/v1
    python -m sglang.launch_server --model-path moonshotai/Kimi-K2-Thinking --tp 8 \\
        --trust-remote-code --tool-call-parser kimi_k2 --reasoning-parser kimi_k2
    ```

    Tell this notebook where your server is with two environment variables, or edit the defaults:

    > **Offline mode.** `kimi-jupyter demo` and the project's tests run this notebook without any
    > GPU or network: they start kimi-jupyter's loopback server, which imitates both Moonshot's API
    > and a vLLM server (at `<base>/vllm/v1`), and set `KIMI_DEMO_VLLM_URL` to the vLLM one. The
    > answers you then see are scripted replays, not the model.
    """),
    code("""
    import os

    VLLM_URL = os.environ.get("KIMI_DEMO_VLLM_URL", "http://localhost:8000/v1")
    VLLM_MODEL = os.environ.get("KIMI_DEMO_VLLM_MODEL", "moonshotai/Kimi-K2.6")
    print("server:", VLLM_URL, "· model:", VLLM_MODEL)
    """),
    md("""
    ## 2. One cell: `--base-url`

    IPython expands `$NAME` in a magic's options, so the cell can use the variables above.
    `-m` names the model as the server knows it: vLLM uses the Hugging Face repo id unless you
    start it with `--served-model-name`.
    """),
    code("""
    %%kimi --base-url $VLLM_URL -m $VLLM_MODEL -o local
    What is 17 * 23?
    """),
    md("""
    Everything works as with Moonshot's API: reasoning, answer, usage and the `Result`. A word on
    keys: `MOONSHOT_API_KEY`, `KIMI_API_KEY` and a plain `%kimi login` are only ever sent to
    Moonshot's own API, so pointing `--base-url` at another server (or opening someone else's
    notebook that does) sends it no key. A self-hosted server usually needs none; if yours does,
    give it its own: `%kimi login --base-url URL`, or `Kimi.api_key` together with
    `Kimi.base_url`, or `KIMI_API_KEY` together with `KIMI_BASE_URL`.
    """),
    code("""
    print("model:    ", local.model)
    print("reasoning:", local.reasoning[:100], "…")
    print("usage:    ", local.usage)
    """),
    md("""
    ## 3. The whole session: `Kimi.base_url`

    `%config` sets it for every following cell (and `c.Kimi.base_url` in `ipython_config.py` for
    every session). `%kimi models` then asks that server which models it serves:
    """),
    code("%config Kimi.base_url = VLLM_URL"),
    code("%kimi models"),
    code("%config Kimi.base_url = None"),
    md("""
    Setting it back to `None` returns to `MOONSHOT_BASE_URL` or `KIMI_BASE_URL`, or Moonshot's API
    by default.

    ## 4. `reasoning` or `reasoning_content`?

    The protocol is shared, but the reasoning isn't standardised. Moonshot's API streams it in
    `delta.reasoning_content` and puts usage inside the last chunk's choice. vLLM and SGLang
    stream it in `delta.reasoning` (older vLLM versions used `reasoning_content` too) and send
    usage in a final chunk of its own when asked. kimi-jupyter reads all of these. Here is the raw
    stream, through the openai client:
    """),
    code(RAW_STREAM_CODE),
    md("""
    ## 5. A/B: two models, one prompt

    Same prompt, fresh conversation for each (`new=True`), then a table. Edit `CANDIDATES` to
    compare any two endpoints or models: your server against Moonshot's API (the default below,
    which needs a Moonshot key), two quantisations, or thinking on against thinking off
    (`thinking=False`).
    """),
    code("""
    import kimi_jupyter

    MOONSHOT_URL = os.environ.get("KIMI_BASE_URL") or os.environ.get("MOONSHOT_BASE_URL", "https://api.moonshot.ai/v1")
    CANDIDATES = [  # (label, base URL, model)
        ("self-hosted", VLLM_URL, VLLM_MODEL),
        ("Moonshot API", MOONSHOT_URL, "kimi-k2.6"),
    ]
    PROMPT = "Is 2^31 - 1 a prime number? Answer yes or no, then give the reason in one sentence."

    ab = {}
    for label, url, model in CANDIDATES:
        ab[label] = kimi_jupyter.chat(PROMPT, base_url=url, model=model, new=True, tools=False)
    """),
    code(AB_TABLE_CODE),
    md("""
    The self-hosted row has no cost (`n/a`): Moonshot's prices apply only to Moonshot's API, and
    on your own server you pay for GPUs, not tokens.

    ## Exercises

    1. A/B the same model with thinking on and off (`thinking=False`) on five prompts. When does
       thinking pay for its extra tokens?
    2. Run each candidate five times and report the median time and output tokens per second.
    3. Point the raw-stream cell at Moonshot's API (`MOONSHOT_URL`, model `kimi-k2.6`, your key) and
       compare the delta fields you see.
    4. Turn the A/B cell into a tiny eval: ten prompts with known answers, and a column that
       says whether each answer is right.
    """),
]

# Modules a notebook needs beyond kimi-jupyter's own; `kimi-jupyter demo` skips it, saying so, without them.
REQUIRES: dict[str, list[str]] = {"04-coding-assistant": ["docx"]}

NOTEBOOKS: dict[str, list[Cell]] = {
    "01-getting-started": GETTING_STARTED,
    "02-reasoning-puzzles": PUZZLES,
    "03-gradient-descent": GRADIENT_DESCENT,
    "04-coding-assistant": CODING_ASSISTANT,
    "05-tools-and-json": TOOLS_AND_JSON,
    "06-any-openai-server": ANY_SERVER,
}


def build(stem: str) -> Any:
    """One notebook, without outputs, with stable cell ids (nbformat would pick random ones)."""
    import nbformat

    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    if stem in REQUIRES:
        nb.metadata["kimi_jupyter"] = {"requires": REQUIRES[stem]}
    for i, (kind, source) in enumerate(NOTEBOOKS[stem]):
        cell = v4.new_markdown_cell(source) if kind == "markdown" else v4.new_code_cell(source)
        cell["id"] = f"{stem[:2]}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def text(stem: str) -> str:
    """The exact file contents `nbformat.write` produces."""
    import nbformat

    s = nbformat.writes(build(stem))
    return s if s.endswith("\n") else s + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a stored notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for stem in NOTEBOOKS:
        path = HERE / f"{stem}.ipynb"
        wanted = text(stem)
        if path.exists() and path.read_text(encoding="utf-8") == wanted:
            continue
        if args.check:
            stale.append(path.name)
        else:
            path.write_text(wanted, encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print("out of date (run python notebooks/build.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
