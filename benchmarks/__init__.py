"""Benchmarks for kimi-jupyter: load time, time to first token, frontend traffic,
kernel CPU, the long tool loop, a million-token context, a long session and many prompts (map), each next to a baseline measured in the same run.

Run them with ``python benchmarks/run.py`` (see README.md). Every measurement module
has ``measure(size="full"|"quick"|"tiny", runs=None, peer=True) -> Section``.
"""

MEASUREMENTS = ("load", "ttft", "traffic", "cpu", "toolloop", "bigctx", "soak", "map")
