"""Scripted replies for the tutorial notebooks (notebooks/01 … 06) and the offline demo.

Each scenario is matched by a regex on the prompt the notebook sends, so the
notebooks carry no test tags and read exactly as they would with a real key.
The regexes are specific on purpose: these scenarios are matched before the
generic built-ins (``gradient descent``, ``as json``, ``search the web``), and
must not capture the prompts the other tests send. Texts live in
`.tutorial_texts`.
"""

from __future__ import annotations

import json

from . import tutorial_texts as t
from .scenarios import Scenario, ToolCallSpec, Turn


def _py(code: str) -> ToolCallSpec:
    return ToolCallSpec("python", json.dumps({"code": code}))


def _call(name: str, **arguments: object) -> ToolCallSpec:
    return ToolCallSpec(name, json.dumps(arguments))


def _answer(name: str, match: str, reasoning: str, content: str) -> Scenario:
    return Scenario(name, [Turn(reasoning=reasoning, content=content)], match=match)


def tutorial_scenarios() -> list[Scenario]:
    items = ("espresso beans", "oat milk", "croissants")
    search = '{"search_result": {"search_id": "loopback-k2-thinking"}, "usage": {"total_tokens": 2841}}'
    return [
        # 01 getting started (the first prompt is the built-in `markdown` scenario)
        _answer("tut_analogy", r"everyday analogy", t.ANALOGY_REASONING, t.ANALOGY_CONTENT),
        _answer("tut_ten_year_old", r"ten-year-old", t.KID_REASONING, t.KID_CONTENT),
        _answer("tut_spooky", r"spooky action", t.SPOOKY_REASONING, t.SPOOKY_CONTENT),
        # 02 reasoning puzzles
        _answer("tut_stacking", r"nine eggs", t.STACK_REASONING, t.STACK_CONTENT),
        _answer("tut_eggs_on_top", r"eggs on top", t.EGGS_TOP_REASONING, t.EGGS_TOP_CONTENT),
        # 03 gradient descent (the first prompt is the built-in `gradient_descent` scenario)
        Scenario("tut_learning_rates", [
            Turn(reasoning=t.LR_REASONING, tool_calls=[_py(t.LR_CODE)]),
            Turn(reasoning=t.LR_DONE_REASONING, content=t.LR_ANSWER),
        ], match=r"compare learning rates"),
        _answer("tut_fastest_rate", r"learning rate converges fastest", t.FASTEST_REASONING, t.FASTEST_CONTENT),
        # 04 coding assistant
        Scenario("tut_docx_clone", [
            Turn(reasoning=t.DOCX_INSPECT_REASONING, tool_calls=[_py(t.DOCX_INSPECT_CODE)]),
            Turn(reasoning=t.DOCX_CLONE_REASONING, tool_calls=[_py(t.DOCX_CLONE_CODE)]),
            Turn(reasoning=t.DOCX_DONE_REASONING, content=t.DOCX_ANSWER),
        ], match=r"(?s)template\.docx.*clone\.docx"),
        _answer("tut_docx_cli", r"command-line script", t.DOCX_CLI_REASONING, t.DOCX_CLI_CONTENT),
        # 05 tools and JSON
        Scenario("tut_restock", [
            Turn(reasoning=t.RESTOCK_STOCK_REASONING, tool_calls=[_call("stock_level", item=i) for i in items]),
            Turn(reasoning=t.RESTOCK_PRICE_REASONING,
                 tool_calls=[_call("unit_price", item="oat milk"), _call("unit_price", item="croissants")]),
            Turn(reasoning=t.RESTOCK_ORDER_REASONING, tool_calls=[
                _call("place_order", item="oat milk", quantity=17),
                _call("place_order", item="croissants", quantity=20),
            ]),
            Turn(reasoning=t.RESTOCK_DONE_REASONING, content=t.RESTOCK_ANSWER),
        ], match=r"below 5 units"),
        _answer("tut_orders_json", r"orders you just placed", t.ORDERS_JSON_REASONING, t.ORDERS_JSON),
        Scenario("tut_web_search", [
            Turn(reasoning=t.NEWS_REASONING, tool_calls=[ToolCallSpec("$web_search", search)]),
            Turn(reasoning=t.NEWS_DONE_REASONING, content=t.NEWS_ANSWER),
        ], match=r"what moonshot ai announced"),
        # 06 any OpenAI-compatible server
        _answer("tut_multiply", r"17 \* 23", t.MULT_REASONING, t.MULT_CONTENT),
        _answer("tut_mersenne", r"2\^31 - 1", t.MERSENNE_REASONING, t.MERSENNE_CONTENT),
    ]
