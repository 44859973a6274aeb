from types import SimpleNamespace

from kimi_jupyter.ipython.interpolate import interpolate


NS = {
    "x": 42,
    "name": "Ada",
    "obj": SimpleNamespace(attr="value", inner=SimpleNamespace(deep=3)),
    "In": ["", "a = 1", "print(a)"],
    "Out": {2: "result-two"},
    "d": {"k": "dict-value"},
}


def test_names_attributes_and_history_are_replaced():
    assert interpolate("x={x} name={name}", NS) == "x=42 name=Ada"
    assert interpolate("{obj.attr} {obj.inner.deep}", NS) == "value 3"
    assert interpolate("code: {In[1]} out: {Out[2]}", NS) == "code: a = 1 out: result-two"
    assert interpolate("{d['k']}", NS) == "dict-value"


def test_other_braces_stay_exactly_as_written():
    for text in [
        '{"a": 1}',
        "def f(): return {k: v for k, v in items}",
        "{unknown}",
        "{obj.missing}",
        "{Out[99]}",
        "{x:>10}",
        "{{x}}",
        "{ x }",
        "{}",
        "f'{x!r}'",
    ]:
        assert interpolate(text, NS) == text, text


def test_mixed_prompt():
    prompt = 'Given {x} and JSON {"x": 1}, explain {unknown}.'
    assert interpolate(prompt, NS) == 'Given 42 and JSON {"x": 1}, explain {unknown}.'
