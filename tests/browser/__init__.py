"""Browser tests: JupyterLab and Notebook 7 in headless Chromium (a package, so its conftest
and helpers don't shadow tests/conftest.py, which other tests import as `conftest`)."""
