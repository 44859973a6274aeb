"""The core: the agent loop and everything it stands on, with no IPython, widgets or display.

Importable from a plain script or a server (the classroom gateway uses it so): the catalog,
the request rules (`wire`), the stream folder, the HTTP client, the conversation and its
context window, cassettes, settings, errors and the value types. `tests/unit/test_package_shape.py`
fails if anything here reaches IPython, ipykernel or ipywidgets, directly or through another module.
"""
