"""The IPython side: `%%kimi` and `%kimi` (with their subcommands), prompt interpolation,
`%kimi fix`, `%kimi export` and `%kimi replay`.

Everything here may use the running shell; `core/` below it never does.
"""
