"""Benchmarks for kimi-jupyter: load time, time to first token, frontend traffic,
kernel CPU and the long tool loop, each next to a baseline measured in the same run.

Run them with ``python benchmarks/run.py`` (see README.md). Every measurement module
has ``measure(size="full"|"quick"|"tiny", runs=None, peer=True) -> Section``.
"""

MEASUREMENTS = ("load", "ttft", "traffic", "cpu", "toolloop")
