"""Offline replies for the tutorial notebooks beside this file (01 … 09).

With no API key, `kimi-jupyter demo` and the tests run each notebook against
kimi-jupyter's loopback server, which answers from scripted scenarios. The
generic ones (`gradient descent`, `quantum entanglement`, …) are built into the
server; the ones here answer the tutorials' own prompts, and are handed to the
server by whoever runs the notebooks (`KimiServer(scenarios=scenarios())`, or
`kimi-jupyter demo --replies notebooks/offline_replies.py`), never imported by it.

Each scenario is matched by a regex on the prompt the notebook sends, so the
notebooks carry no test tags and read exactly as they would with a real key.
The regexes are specific on purpose: these scenarios are matched before the
generic built-ins (``gradient descent``, ``as json``, ``search the web``), and
must not capture the prompts the other tests send.

The texts are what people read in the tutorials' offline runs, so they read
like a thinking model's real output: reasoning that weighs options and checks
numbers, answers in markdown, code that works. Facts in them are checked: the
code runs, and the numbers quoted are the numbers it prints. `$name`
placeholders are filled by the server (``$last_tool_output``, ``$first_user``,
…), so code here must not contain ``$identifier``.

To change a tutorial: edit its notebook in Jupyter (then clear its outputs:
`jupyter nbconvert --clear-output --inplace notebooks/NN-*.ipynb`), and the
reply its new prompt should get here.
"""

from __future__ import annotations

import json

from kimi_jupyter.testing import Scenario, ToolCallSpec, ScriptedTurn

# ---------------------------------------------------------------- 01 getting started
ANALOGY_REASONING = (
    "The user wants an everyday analogy for entanglement, and only three sentences. The classic "
    "one is a pair of gloves: put one glove in each of two boxes, ship them apart, and opening one "
    "box tells you at once what the other holds. That captures the correlation and the lack of "
    "any signal, but it is misleading on one point: the gloves had definite hands all along, which "
    "is exactly the local hidden-variable picture that Bell experiments rule out. I should keep the "
    "analogy, because it is memorable, and spend the third sentence on where it breaks, so the user "
    "doesn't walk away with the wrong model."
)
ANALOGY_CONTENT = (
    "Think of a pair of gloves packed into two boxes and sent to opposite ends of the world: open "
    "one box, see a left glove, and you know instantly that the other is a right glove. Nothing "
    "travelled between the boxes, and neither person can use their box to send the other a "
    "message. Where the analogy breaks is the interesting part: the gloves were left and right all "
    "along, while entangled particles have no definite value until measured, and Bell tests show "
    "no \"secret instructions\" packed in advance can reproduce the correlations."
)

KID_REASONING = (
    "One sentence for a ten-year-old: no jargon (no 'state', 'measurement', 'superposition'), "
    "something concrete they have handled, and it must stay true. Magic coins work well: two "
    "coins that always land the same way, however far apart, even though each flip on its own "
    "looks random. Saying 'nobody can predict either coin' keeps the randomness, and 'always "
    "match' keeps the correlation."
)
KID_CONTENT = (
    "Entanglement is like having two magic coins that always land the same way up, even when "
    "they are flipped on opposite sides of the world, although nobody can predict how either one "
    "will land."
)

SPOOKY_REASONING = (
    "The phrase is Einstein's: 'spukhafte Fernwirkung', in a letter to Max Born in March 1947. "
    "It is often misattributed to the 1935 EPR paper, which argued that quantum mechanics is "
    "incomplete but doesn't use the phrase. I'll give the name, the source and the context in "
    "two sentences."
)
SPOOKY_CONTENT = (
    "**Albert Einstein.** He called it *spukhafte Fernwirkung* (\"spooky action at a distance\") "
    "in a 1947 letter to Max Born, still convinced that quantum mechanics had to be incomplete."
)

# ---------------------------------------------------------------- 02 reasoning puzzles
STACK_REASONING = """I have nine eggs, a book, a laptop, an empty plastic bottle with its cap, and a nail, and I need one stack that is as stable as possible. Stability here means two things: a low centre of gravity with wide, flat contact surfaces, and nothing fragile carrying a load it can't take.

Start with the base. The candidates for the bottom are the book and the laptop, the only two large flat rigid objects. The book is the better base: it is heavy for its size, has no moving parts, and it doesn't matter if something scratches it. The laptop is more valuable and I may need it as a flat plate higher up.

The eggs are the hard part. Nine loose eggs roll, and they are fragile. But an egg is strong in compression along its long axis: standing on end it can carry several kilograms before the shell cracks. Nine eggs in a 3 x 3 grid, standing upright, make a flat, level layer, and the load on each is small if whatever sits on them is spread evenly. So they need a rigid flat plate on top of them, and that is what the laptop is for. A closed laptop weighs about 1.5 to 2 kg, so each egg carries roughly 170 to 220 g, far below what it can take end-on.

Could the eggs go on top instead, where nothing presses on them? No: nothing above the laptop is flat and wide enough to hold nine eggs, and a layer of eggs with nothing on top of them is free to roll. The laptop on the eggs also clamps them in place.

Now the bottle. Empty, it weighs about 20 g, so it adds almost nothing to the load. Upright on its flat base in the middle of the laptop lid it is stable enough; on its side it would roll. The cap keeps it closed, which doesn't change much for stability but gives a small flat top.

The nail is last. It is the lightest and smallest piece, so it goes on top, where falling off does no harm. Lying flat across the cap is the most stable place for it; standing it on its head is possible but fussy. There is also a neater option: unscrew the cap, drop the nail inside the bottle, and screw the cap back on. Then nothing loose sits on top at all, and the nail even lowers the bottle's centre of gravity.

Let me check the order once more, bottom to top: book, eggs (3 x 3, upright), laptop (closed), bottle (upright, capped), nail. Every layer sits on a flat surface at least as wide as itself, except the nail, which is the lightest thing in the stack. That is the answer."""
STACK_CONTENT = """**Bottom to top:**

1. **Book**, lying flat: the widest, most rigid base, and nothing on it can damage it.
2. **Nine eggs** in a 3 × 3 grid, each standing upright on its end. An egg is strongest along its
   long axis, and the grid gives a flat, level layer the size of a laptop.
3. **Laptop**, closed, centred on the eggs. It is the rigid plate that spreads the load: about
   1.5–2 kg over nine eggs is roughly 200 g each, far below what an egg can carry end-on. It also
   stops the eggs rolling.
4. **Bottle**, upright with its cap on, in the middle of the lid. Empty, it weighs about 20 g.
5. **Nail**, lying flat across the cap: the lightest piece goes on top.

**Why not another order?** Eggs anywhere higher would have no flat base and nothing holding them;
the laptop at the bottom would waste the only rigid plate that can sit *on* the eggs.

**Even more stable:** unscrew the cap, drop the nail *inside* the bottle and close it again. Then
nothing loose sits on top, and the nail lowers the bottle's centre of gravity."""

EGGS_TOP_REASONING = (
    "The user asks why the eggs aren't on top, where nothing would press on them. It is a fair "
    "instinct, since the eggs are the fragile part. But 'no load' isn't the same as 'stable'. On "
    "top, the eggs would sit on the bottle cap or the nail, which can hold one egg at best, and "
    "nothing would stop them rolling. The load question I already checked: about 200 g per egg "
    "under a laptop, while an egg on end takes several kilograms. So the risk to the eggs in the "
    "middle is small, and the risk on top is that they fall off. I'll answer with that comparison."
)
EGGS_TOP_CONTENT = """Because *no load* is not the same as *stable*:

- **On top**, the eggs would have to balance on a bottle cap or a nail. One egg might; nine
  can't, and nothing would stop them rolling off.
- **In the middle**, the book below and the laptop above clamp them into a flat 3 × 3 layer.
  The load is small: a laptop of about 1.8 kg puts roughly 200 g on each egg, while an egg
  standing on end can carry several kilograms.

So the middle is both the safer place for the eggs and the only place where they make the
stack steadier instead of shakier."""

# ---------------------------------------------------------------- 03 gradient descent
LR_CODE = '''import numpy as np
import matplotlib.pyplot as plt

def descend(lr, x0=4.0, steps=25):
    """Iterates of gradient descent on f from x0 (f and grad_f are from my first run)."""
    xs = [x0]
    for _ in range(steps):
        xs.append(xs[-1] - lr * grad_f(xs[-1]))
    return np.array(xs)

rates = [0.01, 0.1, 0.5, 0.9, 1.05]
runs = {lr: descend(lr) for lr in rates}

fig, ax = plt.subplots(figsize=(8, 4.5))
for lr, xs in runs.items():
    # lr = 0.5 lands exactly on 0; clip so the log scale can draw it.
    ax.semilogy(np.maximum(f(xs), 1e-12), marker=".", label=f"lr = {lr}")
ax.set_xlabel("step")
ax.set_ylabel("loss f(x), log scale")
ax.set_title("Gradient descent on f(x) = x**2 from x0 = 4")
ax.legend()
fig.tight_layout()

print(f"{'lr':>5} {'1 - 2*lr':>9} {'x after 25':>12} {'loss after 25':>14}")
for lr, xs in runs.items():
    print(f"{lr:>5} {1 - 2 * lr:>9.2f} {xs[-1]:>12.4g} {f(xs[-1]):>14.4g}")
'''
LR_REASONING = (
    "The user wants the learning rates compared on the same function. `f` and `grad_f` from my "
    "first run are still defined in the kernel, so I can reuse them instead of redefining the "
    "problem, which also guarantees it is the same function. On f(x) = x**2 each step multiplies x "
    "by (1 - 2*lr), so theory predicts: 0.01 gives a factor of 0.98 (very slow), 0.1 gives 0.8, "
    "0.5 gives 0 (exact minimum in one step), 0.9 gives -0.8 (zig-zag, same speed as 0.1), and 1.05 "
    "gives -1.1, which diverges. A log-scale loss plot will show these as straight lines with "
    "different slopes. The loss at lr = 0.5 is exactly 0 after one step, which a log axis can't "
    "draw, so I'll clip at 1e-12. I'll also print a small table so I can check the numbers against "
    "the theory rather than eyeballing the plot."
)
LR_DONE_REASONING = (
    "The table matches the theory exactly: 4 * 0.98**25 is about 2.41, 4 * 0.8**25 about 0.0151, "
    "0.5 hits zero, 0.9 ends at -0.0151 (same magnitude as 0.1, alternating sign because the "
    "factor is negative), and 1.05 grows to about -43 with loss near 1,900. The interesting points "
    "for the user are that 0.9 converges as fast as 0.1 despite looking wild, and the sharp cliff "
    "at lr = 1."
)
LR_ANSWER = """The run printed:

```
$last_tool_output
```

Every step multiplies x by **1 − 2·lr**, so convergence depends only on the size of that factor:

| lr | factor | behaviour |
|---|---|---|
| 0.01 | 0.98 | converges, but after 25 steps x has barely moved (2.41) |
| 0.1 | 0.80 | smooth, steady convergence |
| 0.5 | 0.00 | exact minimum after **one** step |
| 0.9 | −0.80 | zig-zags across the minimum, yet converges as fast as 0.1 |
| 1.05 | −1.10 | **diverges**: each step overshoots further (loss ≈ 1,900) |

On the log-scale plot each converging run is a straight line whose slope is log|1 − 2·lr|.
The rule: gradient descent on this function converges exactly when 0 < lr < 1, and there is a
cliff at lr = 1, not a gentle slope."""

FASTEST_REASONING = (
    "Which learning rate is fastest here? The factor |1 - 2*lr| is smallest, zero, at lr = 0.5, "
    "which is 1/L for L = f''(x) = 2: one step is a Newton step and lands on the minimum. For a "
    "real model that answer doesn't transfer directly, because a neural network's loss has many "
    "directions with different curvature. For a quadratic with curvatures between mu and L, the "
    "best fixed step is 2/(mu + L) and the error shrinks by (kappa - 1)/(kappa + 1) per step, "
    "kappa = L/mu, so the flattest direction sets the pace while the steepest sets the stability "
    "limit 2/L. In practice people find the rate empirically: a learning-rate range test, then a "
    "schedule with warm-up and decay, often with Adam. I'll give the exact answer first, then the "
    "practical recipe."
)
FASTEST_CONTENT = """**Here: lr = 0.5.** On f(x) = x² the curvature is L = f″(x) = 2, and lr = 1/L makes the
factor 1 − 2·lr zero, so one step lands exactly on the minimum (it is a Newton step).

**In a real model** there is no single curvature. Some directions of the loss are steep
(curvature L), others flat (μ), and:

- the **steep** directions set the stability limit: lr must stay below about 2/L, or those
  directions blow up like lr = 1.05 did;
- the **flat** directions set the speed: even the best fixed rate shrinks the error only by
  about (κ − 1)/(κ + 1) per step, with κ = L/μ.

**How to choose one in practice:**

1. Run a learning-rate range test: grow lr exponentially over a few hundred steps and note
   where the loss starts to rise.
2. Pick a rate somewhat below that point, and use warm-up plus decay (cosine or step).
3. Watch the training loss: a zig-zag like lr = 0.9 is fine; steady growth is not."""

# ---------------------------------------------------------------- 04 coding assistant
DOCX_INSPECT_CODE = '''from docx import Document

doc = Document("template.docx")
for i, section in enumerate(doc.sections):
    print(f"section {i}: {section.page_width.inches:.2f} x {section.page_height.inches:.2f} in, "
          f"margins {section.left_margin.inches:.2f} / {section.right_margin.inches:.2f} in")
    print("  header:", [p.text for p in section.header.paragraphs])
    print("  footer:", [p.text for p in section.footer.paragraphs])

print("\\nbody, in order:")
used = set()
for block in doc.iter_inner_content():
    used.add(block.style.name)
    if hasattr(block, "rows"):
        print(f"  table {len(block.rows)}x{len(block.columns)}, style {block.style.name!r}")
        print("    header row:", [c.text for c in block.rows[0].cells])
    else:
        pics = block._element.xpath(".//pic:pic")
        what = f"{len(pics)} inline image(s)" if pics else repr(block.text[:40])
        print(f"  paragraph, style {block.style.name!r}: {what}")

print("\\nfonts of the styles in use:")
for name in sorted(used):
    f = doc.styles[name].font
    color = f.color.rgb if f.color.type is not None else None
    print(f"  {name!r}: {f.name}, {f.size.pt if f.size else 'inherited'} pt, "
          f"bold={f.bold}, italic={f.italic}, color={color}")

print("\\ninline images (in):", [(round(s.width.inches, 2), round(s.height.inches, 2)) for s in doc.inline_shapes])
'''
DOCX_INSPECT_REASONING = (
    "The user wants the layout of template.docx cloned: tables, images, custom fonts, headers. "
    "Before writing any cloning code I need to know what is actually in the file, otherwise I'd "
    "be guessing at style names and sizes. python-docx exposes most of it: sections carry the "
    "page setup and the header and footer; `iter_inner_content()` walks the body in document "
    "order, paragraphs and tables interleaved, which matters because a clone has to keep that "
    "order; styles carry the fonts. Images are the awkward part: an inline picture is a run "
    "containing a `pic:pic` element whose `a:blip` points at an image part through a relationship "
    "id, so I'll look for those in each paragraph. I'll print all of this compactly."
)
# The functions the model writes; the CLI answer below reuses them verbatim.
DOCX_CLONE_FUNCTIONS = '''def _copy_font(src, dst):
    for attr in ("name", "size", "bold", "italic", "underline"):
        setattr(dst, attr, getattr(src, attr))
    if src.color.type is not None:
        dst.color.rgb = src.color.rgb


def _ensure_style(src_style, dst_doc):
    """The same style in the new document: reuse a built-in one, recreate a custom one."""
    if src_style.name in {s.name for s in dst_doc.styles}:
        return dst_doc.styles[src_style.name]
    new = dst_doc.styles.add_style(src_style.name, src_style.type)
    if src_style.base_style is not None:
        new.base_style = _ensure_style(src_style.base_style, dst_doc)
    _copy_font(src_style.font, new.font)
    return new


def _copy_paragraph(src_p, dst_p, src_part, dst_doc):
    dst_p.style = _ensure_style(src_p.style, dst_doc)
    dst_p.alignment = src_p.alignment
    for run in src_p.runs:
        blips = run._element.xpath(".//a:blip/@r:embed")
        if blips:  # an inline image: copy the bytes, keep the displayed size
            extent = run._element.xpath(".//wp:extent")[0]
            blob = src_part.related_parts[blips[0]].blob
            dst_p.add_run().add_picture(io.BytesIO(blob), width=Emu(int(extent.get("cx"))),
                                        height=Emu(int(extent.get("cy"))))
            continue
        new = dst_p.add_run(run.text)
        _copy_font(run.font, new.font)


def clone_layout(src, dst):
    """Rebuild `src` in a new document: page setup, header/footer, styles, tables, images."""
    template = Document(src)
    out = Document()
    for s_sec, d_sec in zip(template.sections, out.sections):
        for attr in ("orientation", "page_width", "page_height", "left_margin",
                     "right_margin", "top_margin", "bottom_margin"):
            setattr(d_sec, attr, getattr(s_sec, attr))
        for part in ("header", "footer"):
            s_hf, d_hf = getattr(s_sec, part), getattr(d_sec, part)
            d_hf.is_linked_to_previous = False
            for i, p in enumerate(s_hf.paragraphs):
                d_p = d_hf.paragraphs[0] if i == 0 else d_hf.add_paragraph()
                _copy_paragraph(p, d_p, s_hf.part, out)
    for block in template.iter_inner_content():
        if hasattr(block, "rows"):
            table = out.add_table(rows=len(block.rows), cols=len(block.columns))
            table.style = _ensure_style(block.style, out)
            for r, row in enumerate(block.rows):
                for c, cell in enumerate(row.cells):
                    table.cell(r, c).text = cell.text
        else:
            _copy_paragraph(block, out.add_paragraph(), template.part, out)
    out.save(dst)
    return out
'''
DOCX_CLONE_CODE = (
    "import io\n\nfrom docx import Document\nfrom docx.shared import Emu\n\n\n"
    + DOCX_CLONE_FUNCTIONS
    + '''

clone = clone_layout("template.docx", "clone.docx")
print("header:", [p.text for p in clone.sections[0].header.paragraphs])
print("blocks:", [b.style.name for b in clone.iter_inner_content()])
print("tables:", [(len(t.rows), len(t.columns), t.style.name) for t in clone.tables])
print("images:", [(round(s.width.inches, 2), round(s.height.inches, 2)) for s in clone.inline_shapes])
'''
)
DOCX_CLONE_REASONING = """The inspection shows what the clone must reproduce:

- one Letter-size section with 1.25 in side margins, a header ("ACME Analytics · Quarterly Report") and a footer;
- three custom paragraph styles: "Report Title" (Georgia 24 pt bold, navy), "Report Body" (Calibri Light 11 pt) and "Figure Caption" (Calibri Light 9 pt italic, navy);
- a 4 x 3 table in the built-in "Light Grid Accent 1" style;
- one inline image, 4.5 x 2.25 in, in its own paragraph, followed by the caption.

Copying the file would be trivial but isn't what was asked: the user wants code that rebuilds the structure, so it can be reused with new content. A fresh `Document()` only knows the built-in styles, so custom styles must be recreated with `add_style`, including their base style and font (name, size, bold, italic, colour). Built-in ones like the table style already exist and can be reused by name.

The body has to be walked in order with `iter_inner_content()` so the table stays between the text and the chart. For images I can't use the file path any more: the picture lives in the template package. The run's `a:blip/@r:embed` gives the relationship id, `part.related_parts[rid].blob` gives the bytes, and `wp:extent` gives the displayed size in EMU, so `add_picture` can place the same image at the same size.

Headers and footers need `is_linked_to_previous = False` before writing, and their paragraphs go through the same paragraph copier so their styles and alignment come along. I'll write `clone_layout(src, dst)`, run it, and print the clone's header, block styles, tables and image sizes to compare with the inspection."""
DOCX_DONE_REASONING = (
    "The clone's printout matches the inspection: same header, the same block styles in the same "
    "order, the 4 x 3 table in Light Grid Accent 1, and one image at 4.5 x 2.25 in. I should say "
    "what the function does and, just as important, what it doesn't copy yet (numbering, fields "
    "such as page numbers, merged cells, multiple sections), so the user knows where to extend it."
)
DOCX_ANSWER = """Done: `clone_layout("template.docx", "clone.docx")` rebuilt the template, and a
quick look at the result printed:

```
$last_tool_output
```

**How it works**

- **Page setup, header and footer**: copied section by section; header and footer are unlinked
  first, then their paragraphs are copied with style and alignment.
- **Custom fonts**: a new document only has built-in styles, so `_ensure_style` recreates
  *Report Title*, *Report Body* and *Figure Caption* with `add_style` (base style, font name,
  size, bold, italic, colour). Built-in styles, like the table's, are reused by name.
- **Body in order**: `iter_inner_content()` yields paragraphs and tables interleaved, so the table
  stays between the text and the chart.
- **Images**: the bytes come from the template's part (`a:blip/@r:embed` → `related_parts`) and are
  placed with the original displayed size from `wp:extent`.

**Not copied yet**: numbered lists, fields (page numbers), merged table cells and column widths,
and documents with several sections. `clone_layout` is defined in your kernel, so you can call it
on other templates right away."""

DOCX_CLI_REASONING = (
    "The user wants clone_layout as a command-line script. The functions stay as they are; I add "
    "an argparse entry point with the two paths, a check that the template exists so the error is "
    "a clear message rather than a python-docx traceback, and a one-line summary of what was "
    "written. The answer should be a single code block, since it goes into a new cell."
)
DOCX_CLI_CONTENT = (
    "Here is `clone_docx.py`. Save it, then run `python clone_docx.py template.docx clone.docx`:\n\n"
    '```python\n"""Rebuild a Word document\'s layout: page setup, header/footer, styles, tables, images."""\n'
    "import argparse\nimport io\nimport sys\nfrom pathlib import Path\n\n"
    "from docx import Document\nfrom docx.shared import Emu\n\n\n"
    + DOCX_CLONE_FUNCTIONS
    + '''

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("template", type=Path, help="the .docx whose layout to copy")
    parser.add_argument("output", type=Path, help="where to write the clone")
    args = parser.parse_args(argv)
    if not args.template.is_file():
        sys.exit(f"clone_docx: {args.template} does not exist")
    out = clone_layout(args.template, args.output)
    print(f"wrote {args.output}: {len(out.tables)} table(s), {len(out.inline_shapes)} image(s)")


if __name__ == "__main__":
    main()
```'''
)

# ---------------------------------------------------------------- 05 tools and JSON
RESTOCK_STOCK_REASONING = (
    "The rule is: anything below 5 units gets restocked up to 20. I don't know the stock levels, "
    "but the user gave me a stock_level tool. The three lookups are independent, so I can ask for "
    "all three in one turn instead of one at a time."
)
RESTOCK_PRICE_REASONING = (
    "Stock levels: espresso beans 12, oat milk 3, croissants 0. Espresso beans are above the "
    "threshold, so nothing to do there. Oat milk needs 20 - 3 = 17 and croissants 20 - 0 = 20. "
    "The user also wants the total cost, so I need unit prices for those two items before "
    "ordering; I'll look them up first, in one turn."
)
RESTOCK_ORDER_REASONING = (
    "Oat milk is 2.40 a unit and croissants 1.10. So 17 x 2.40 = 40.80 and 20 x 1.10 = 22.00, "
    "62.80 in total. Now I place the two orders with the quantities I worked out; place_order "
    "returns a confirmation I can quote."
)
RESTOCK_DONE_REASONING = (
    "Both orders went through; the last confirmation is for the croissants. I'll summarise in a "
    "table with the stock level, the quantity ordered and the cost, and give the total, which I "
    "computed as 62.80 and which matches the sum of the order totals."
)
RESTOCK_ANSWER = """I checked stock, looked up prices and placed two orders:

| item | in stock | ordered | unit price | cost |
|---|---:|---:|---:|---:|
| espresso beans | 12 | — | — | — |
| oat milk | 3 | 17 | 2.40 | 40.80 |
| croissants | 0 | 20 | 1.10 | 22.00 |

**Total: 62.80.** Espresso beans are above the threshold of 5, so I left them alone.

The last confirmation the supplier returned: `$last_tool_output`"""

ORDERS_JSON_REASONING = (
    "The user wants the orders I just placed, as JSON only, in their schema: a list of "
    "{item, quantity, cost} and a total. From the conversation: oat milk 17 for 40.80, croissants "
    "20 for 22.00, total 62.80. Numbers must be JSON numbers, not strings, and there must be no "
    "prose or code fence around the object, since it will be parsed."
)
ORDERS_JSON = (
    '{"orders": [{"item": "oat milk", "quantity": 17, "cost": 40.8}, '
    '{"item": "croissants", "quantity": 20, "cost": 22.0}], "total": 62.8}'
)

NEWS_REASONING = (
    "The user asks what Moonshot AI announced with Kimi K2 Thinking. My training data may be out "
    "of date on release details, so I'll use the $web_search tool and answer from what it finds, "
    "citing where the numbers come from."
)
NEWS_DONE_REASONING = (
    "The search results cover the launch: the model card and Moonshot's announcement. The key "
    "numbers are the architecture (1T-parameter mixture of experts, 32B active), the 256k "
    "context, native INT4 inference, and the agentic claim of 200 to 300 sequential tool calls. "
    "I'll list those and point to the sources rather than paraphrase benchmark tables."
)
NEWS_ANSWER = """**Kimi K2 Thinking** (Moonshot AI, November 2025) is a thinking agent built on the Kimi K2
architecture:

- **Mixture of experts**: about 1 trillion parameters in total, 32 billion active per token.
- **256k-token context** window.
- **Native INT4** inference, trained with quantization-aware training, for faster serving.
- **Long-horizon tool use**: it interleaves reasoning with tool calls and stays coherent over
  200–300 sequential calls.
- **Open weights** under a modified MIT license. On Moonshot's platform its ids were retired on
  2026-05-25; the live thinking models there are `kimi-k2.6` and `kimi-k3`.

Sources: the model card at huggingface.co/moonshotai/Kimi-K2-Thinking and Moonshot's platform
documentation at platform.moonshot.ai."""

# ---------------------------------------------------------------- 06 any OpenAI-compatible server
MULT_REASONING = (
    "17 * 23: split 23 into 20 + 3. 17 * 20 = 340 and 17 * 3 = 51, so 340 + 51 = 391. Check "
    "another way: 17 * 23 = (20 - 3)(20 + 3) = 400 - 9 = 391. Both agree."
)
MULT_CONTENT = "17 × 23 = **391** (17 × 20 = 340, plus 17 × 3 = 51)."

MERSENNE_REASONING = (
    "2^31 - 1 = 2,147,483,647, a Mersenne number with a prime exponent. A prime exponent is "
    "necessary but not sufficient: 2^11 - 1 = 2047 = 23 * 89. So I need the actual fact. Any "
    "prime divisor q of 2^p - 1 must be of the form 2kp + 1, here 62k + 1, and must be 1 or 7 mod "
    "8. The square root of 2,147,483,647 is about 46,341, so only a few hundred candidates need "
    "checking, and that is exactly how Euler proved it prime in 1772. It held the record for the "
    "largest known prime for about a century. Answer: yes."
)
MERSENNE_CONTENT = (
    "**Yes.** 2³¹ − 1 = 2,147,483,647 is a Mersenne prime: Euler proved it in 1772 by showing that "
    "no prime of the form 62k + 1 below √(2³¹ − 1) ≈ 46,341 divides it."
)


# ---------------------------------------------------------------- 05 looking, asking, and a cap
LOOK_SALES_REASONING = (
    "The user asks what sales data is loaded. I shouldn't guess, and I don't need to run code to "
    "find out: list_variables shows what is in the kernel without changing anything."
)
LOOK_SALES_INSPECT_REASONING = (
    "There is `daily_sales`, a numpy array, and `menu`, a dict. The array is the sales data; "
    "inspect_variable gives its shape, dtype and summary statistics, again without running code."
)
LOOK_SALES_ANSWER = """The sales data is `daily_sales`, a 30 × 3 integer array (one row per day, one column
per item); `menu` holds three prices, and the rest are the café's stock and orders from above.
I looked without running any code:

```
$last_tool_output
```

Those statistics are over the whole array. To rank the items I need the mean of each column,
`daily_sales.mean(axis=0)`, and that means running code in your kernel."""
RANK_REASONING = (
    "Ranking needs the per-column means of `daily_sales`. That is one line of numpy; the columns "
    "are espresso, oat milk and croissants, in that order, per the comment where it was made."
)
RANK_CODE = """means = daily_sales.mean(axis=0)
for item, mean in sorted(zip(["espresso", "oat milk", "croissants"], means), key=lambda p: -p[1]):
    print(f"{item:<11} {mean:5.1f} a day")"""
RANK_ANSWER = """Here is what happened when I tried to compute the per-item means:

> $last_tool_output"""
CUPS_REASONING = "The user wants the paper cups stock watched; I'll check it again."
CUPS_ANSWER = "The paper cups stock never changed: $last_tool_output."


# ---------------------------------------------------------------- 07 MCP servers and cassettes
TOKYO_REASONING = (
    "The user wants the time in Tokyo now, and 09:00 Tokyo time in London. I can't know the "
    "current time, but the time server's get_current_time tool can, and its convert_time tool "
    "converts between IANA zones: Asia/Tokyo and Europe/London. Both are marked read-only."
)
TOKYO_CONVERT_REASONING = (
    "I have the current time in Tokyo. Now the conversion: 09:00 in Asia/Tokyo to Europe/London."
)
TOKYO_ANSWER = """The time server answered both questions. The conversion of 09:00 Tokyo time to London:

```json
$last_tool_output
```

Tokyo does not observe daylight saving time, so the gap to London is 9 hours in
winter and 8 hours when London is on BST."""
SKY_REASONING = (
    "Three sentences on why the sky is blue: sunlight is a mix of wavelengths; air molecules are "
    "much smaller than those wavelengths, so they scatter light by Rayleigh scattering, whose "
    "strength goes as 1/λ⁴; blue is scattered about five times more than red, so scattered light "
    "from every direction of the sky is mostly blue. Violet scatters even more, but the sun emits "
    "less of it and our eyes are less sensitive to it."
)
SKY_ANSWER = (
    "Sunlight contains every visible wavelength, and the molecules of the air scatter it "
    "(Rayleigh scattering) far more strongly at short wavelengths: the effect grows as 1/λ⁴, so "
    "blue light is scattered about five times more than red. That scattered light reaches your eyes "
    "from every direction of the sky, so the sky looks blue. Violet is scattered even more, but the "
    "sun emits less of it and our eyes are less sensitive to it, which is why the sky is not violet."
)

# 09 teaching: a recorded lesson, and a tutor's hints
COMPREHENSION_REASONING = (
    "A list comprehension builds a list from an iterable in one expression: [expr for x in items if cond]. "
    "A short example should show both the mapping and the filter, and say what it replaces: the usual "
    "three-line loop with append. Squares of the even numbers below ten is small enough to check by eye: "
    "0, 2, 4, 6, 8 give 0, 4, 16, 36, 64."
)
COMPREHENSION_ANSWER = """A **list comprehension** builds a new list from an iterable in a single expression:

```python
squares_of_evens = [n * n for n in range(10) if n % 2 == 0]
print(squares_of_evens)  # [0, 4, 16, 36, 64]
```

Read it left to right: *the value* (`n * n`), *for each item* (`for n in range(10)`), *kept if*
(`if n % 2 == 0`). It replaces a loop that starts with an empty list and calls `append`."""
LOOP_INSTEAD_REASONING = (
    "The follow-up asks when a plain loop is better. Comprehensions are for building a collection; a "
    "loop is clearer when the body has side effects, needs several statements, or must stop early."
)
LOOP_INSTEAD_ANSWER = """Use a plain `for` loop when the point is *doing* something rather than *building* a list:

- the body has side effects (printing, writing files, updating several variables);
- it needs more than one statement, or `try`/`except`;
- you may stop early with `break`.

A comprehension that runs only for its side effects (`[print(x) for x in items]`) builds a list
nobody uses; the loop says what you mean."""
TUTOR_NUDGE_REASONING = (
    "Tutor mode: hint 1, a nudge, and no fix. First I look at the student's actual function, so the "
    "hint is about their code."
)
TUTOR_NUDGE_DONE_REASONING = (
    "The loop tests `n > 0`, and nothing in its body changes `n`. The nudge should make the student "
    "notice that themselves: ask what the condition depends on, and what changes it."
)
TUTOR_NUDGE_ANSWER = """Look at the condition of your `while` loop: `n > 0`.

Which line inside the loop could ever make that condition false? Try tracing `countdown(3)` by
hand and write down the value of `n` after each pass."""
TUTOR_HINT_REASONING = (
    "Hint 2 of the ladder: the concept, still no code for their exercise. The idea they are missing is "
    "that a while loop needs its body to move the condition towards false."
)
TUTOR_HINT_ANSWER = """**The concept:** a `while` loop keeps running as long as its condition is true, and only the
loop's body can change that. Every pass must bring the condition one step closer to being false:
here, the body has to make `n` smaller. Which statement does that in a counting loop?"""


# ---------------------------------------------------------------- the scenarios
def _py(code: str) -> ToolCallSpec:
    return ToolCallSpec("python", json.dumps({"code": code}))


def _call(name: str, **arguments: object) -> ToolCallSpec:
    return ToolCallSpec(name, json.dumps(arguments))


# ---------------------------------------------------------------- 08 many prompts
# One reply per category, picked by keywords of the module's docstring (the part of the
# prompt after "Docstring:"), so each of the few hundred rows gets a sensible label.
_MODULE_PROMPT = r"(?s)^Classify this Python standard-library module.*\nDocstring:.*"
MODULE_CATEGORIES = (
    ("network", r"\b(socket|http|url|mail|smtp|ftp|imap|pop3|network|server|client|ssl|ip address)",
     "The docstring talks about sockets, protocols or servers, so this module is about talking to other machines."),
    ("concurrency", r"\b(thread|process(es)?\b|async|concurren|queue|event loop|subprocess|signal)",
     "It is about running things at the same time or coordinating them: threads, processes or an event loop."),
    ("data formats", r"\b(json|csv|xml|html|pickle|marshal|zip|gzip|bz2|lzma|tar|base64|binary data|encod|config)",
     "It reads or writes a particular format on disk or on the wire, so 'data formats' fits best."),
    ("files and OS", r"\b(file|path|director|operating system|os\b|stat|environment|shutil|glob|temporar|time\b)",
     "It deals with files, paths or the operating system itself."),
    ("numbers", r"\b(math|random|statistic|decimal|fraction|number|numeric|integer|float|complex|arithmetic)",
     "The docstring is about numbers and computing with them."),
    ("developer tools", r"\b(test|debug|profil|trace|inspect|compil|bytecode|token|parse|grammar|warning|import)",
     "This is a tool for programmers working on Python code itself: testing, debugging or reading code."),
    ("text", r"\b(string|text|unicode|regular expression|format|word|line|locale|gettext)",
     "It works on strings and text."),
)


def _module_label(category: str, pattern: str, why: str) -> Scenario:
    answer = json.dumps({"category": category})
    return Scenario(f"tut_module_{category.replace(' ', '_')}", [ScriptedTurn(
        reasoning=f"I read the module's docstring. {why} The answer must be one JSON object with a single "
                  f"category from the list, so: {category}.",
        content=answer)], match=_MODULE_PROMPT + pattern)


def module_label_scenarios() -> list[Scenario]:
    """08's labels: the first category whose keywords the docstring has; else "other"."""
    out = [_module_label(*c) for c in MODULE_CATEGORIES]
    out.append(Scenario("tut_module_other", [ScriptedTurn(
        reasoning="The docstring names nothing that places this module in one of the listed areas, "
                  "so the honest label is 'other'.",
        content=json.dumps({"category": "other"}))], match=_MODULE_PROMPT))
    return out

HAIKU_REASONING = ("Three lines, five-seven-five syllables, and the topic has to be concrete in the middle line. "
                   "I'll count each line before answering.")
HAIKU_CACHE = "The same words again\nthe server has seen them once\nhalf the price this time"
HAIKU_LIMIT = "Too many at once\nthe server asks us to wait\nall slow down, then go"
HAIKU_LOG = "Each line, once, appended\nnothing rewritten, none lost\nthe crash keeps its past"


def _answer(name: str, match: str, reasoning: str, content: str) -> Scenario:
    return Scenario(name, [ScriptedTurn(reasoning=reasoning, content=content)], match=match)


def scenarios() -> list[Scenario]:
    """The tutorials' replies, matched by a regex on the prompt each notebook sends."""
    items = ("espresso beans", "oat milk", "croissants")
    search = '{"search_result": {"search_id": "loopback-k2-thinking"}, "usage": {"total_tokens": 2841}}'
    return [
        # 01 getting started (the first prompt is the built-in `markdown` scenario)
        _answer("tut_analogy", r"everyday analogy", ANALOGY_REASONING, ANALOGY_CONTENT),
        _answer("tut_ten_year_old", r"ten-year-old", KID_REASONING, KID_CONTENT),
        _answer("tut_spooky", r"spooky action", SPOOKY_REASONING, SPOOKY_CONTENT),
        # 02 reasoning puzzles
        _answer("tut_stacking", r"nine eggs", STACK_REASONING, STACK_CONTENT),
        _answer("tut_eggs_on_top", r"eggs on top", EGGS_TOP_REASONING, EGGS_TOP_CONTENT),
        # 03 gradient descent (the first prompt is the built-in `gradient_descent` scenario)
        Scenario("tut_learning_rates", [
            ScriptedTurn(reasoning=LR_REASONING, tool_calls=[_py(LR_CODE)]),
            ScriptedTurn(reasoning=LR_DONE_REASONING, content=LR_ANSWER),
        ], match=r"compare learning rates"),
        _answer("tut_fastest_rate", r"learning rate converges fastest", FASTEST_REASONING, FASTEST_CONTENT),
        # 04 coding assistant
        Scenario("tut_docx_clone", [
            ScriptedTurn(reasoning=DOCX_INSPECT_REASONING, tool_calls=[_py(DOCX_INSPECT_CODE)]),
            ScriptedTurn(reasoning=DOCX_CLONE_REASONING, tool_calls=[_py(DOCX_CLONE_CODE)]),
            ScriptedTurn(reasoning=DOCX_DONE_REASONING, content=DOCX_ANSWER),
        ], match=r"(?s)template\.docx.*clone\.docx"),
        _answer("tut_docx_cli", r"command-line script", DOCX_CLI_REASONING, DOCX_CLI_CONTENT),
        # 05 tools and JSON
        Scenario("tut_restock", [
            ScriptedTurn(reasoning=RESTOCK_STOCK_REASONING, tool_calls=[_call("stock_level", item=i) for i in items]),
            ScriptedTurn(reasoning=RESTOCK_PRICE_REASONING,
                 tool_calls=[_call("unit_price", item="oat milk"), _call("unit_price", item="croissants")]),
            ScriptedTurn(reasoning=RESTOCK_ORDER_REASONING, tool_calls=[
                _call("place_order", item="oat milk", quantity=17),
                _call("place_order", item="croissants", quantity=20),
            ]),
            ScriptedTurn(reasoning=RESTOCK_DONE_REASONING, content=RESTOCK_ANSWER),
        ], match=r"below 5 units"),
        _answer("tut_orders_json", r"orders you just placed", ORDERS_JSON_REASONING, ORDERS_JSON),
        Scenario("tut_web_search", [
            ScriptedTurn(reasoning=NEWS_REASONING, tool_calls=[ToolCallSpec("$web_search", search)]),
            ScriptedTurn(reasoning=NEWS_DONE_REASONING, content=NEWS_ANSWER),
        ], match=r"what moonshot ai announced"),
        Scenario("tut_look_at_sales", [
            ScriptedTurn(reasoning=LOOK_SALES_REASONING, tool_calls=[_call("list_variables")]),
            ScriptedTurn(reasoning=LOOK_SALES_INSPECT_REASONING, tool_calls=[ToolCallSpec("inspect_variable", json.dumps({"name": "daily_sales"}))]),
            ScriptedTurn(reasoning="I have what I need to answer.", content=LOOK_SALES_ANSWER),
        ], match=r"what sales data do i have"),
        Scenario("tut_rank_items", [
            ScriptedTurn(reasoning=RANK_REASONING, tool_calls=[_py(RANK_CODE)]),
            ScriptedTurn(reasoning="The tool answered.", content=RANK_ANSWER),
        ], match=r"rank the three items"),
        Scenario("tut_watch_cups", [
            ScriptedTurn(reasoning=CUPS_REASONING, tool_calls=[_call("stock_level", item="paper cups")], repeat=200),
            ScriptedTurn(reasoning="It never changed.", content=CUPS_ANSWER),
        ], match=r"keep checking the paper cups"),
        # 07 MCP servers and cassettes
        Scenario("tut_tokyo_time", [
            ScriptedTurn(reasoning=TOKYO_REASONING, tool_calls=[_call("time__get_current_time", timezone="Asia/Tokyo")]),
            ScriptedTurn(reasoning=TOKYO_CONVERT_REASONING, tool_calls=[_call(
                "time__convert_time", source_timezone="Asia/Tokyo", time="09:00", target_timezone="Europe/London")]),
            ScriptedTurn(reasoning="Both tool calls returned; I'll quote the conversion.", content=TOKYO_ANSWER),
        ], match=r"what time is it in tokyo right now"),
        _answer("tut_sky", r"why the sky is blue", SKY_REASONING, SKY_ANSWER),
        # 09 teaching
        _answer("tut_comprehension", r"what is a python list comprehension", COMPREHENSION_REASONING,
                COMPREHENSION_ANSWER),
        _answer("tut_loop_instead", r"plain for loop instead", LOOP_INSTEAD_REASONING, LOOP_INSTEAD_ANSWER),
        Scenario("tut_tutor_nudge", [
            ScriptedTurn(reasoning=TUTOR_NUDGE_REASONING,
                         tool_calls=[ToolCallSpec("inspect_variable", json.dumps({"name": "countdown"}))]),
            ScriptedTurn(reasoning=TUTOR_NUDGE_DONE_REASONING, content=TUTOR_NUDGE_ANSWER),
        ], match=r"why does my countdown never end"),
        _answer("tut_tutor_hint", r"please give me the next hint", TUTOR_HINT_REASONING, TUTOR_HINT_ANSWER),
        # 06 any OpenAI-compatible server
        _answer("tut_multiply", r"17 \* 23", MULT_REASONING, MULT_CONTENT),
        _answer("tut_mersenne", r"2\^31 - 1", MERSENNE_REASONING, MERSENNE_CONTENT),
        # 08 many prompts
        *module_label_scenarios(),
        _answer("tut_haiku_cache", r"^Write a haiku about the prefix cache", HAIKU_REASONING, HAIKU_CACHE),
        _answer("tut_haiku_limit", r"^Write a haiku about a rate limit", HAIKU_REASONING, HAIKU_LIMIT),
        _answer("tut_haiku_log", r"^Write a haiku about an append-only log", HAIKU_REASONING, HAIKU_LOG),
    ]
