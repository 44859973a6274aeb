"""Tools the model can call: the built-in ``python`` tool and the user's ``@tool``s.

Importing this package is light: IPython is only imported when code actually runs.
"""

from ..core.tool_context import ToolContext
from ..core.tool_output import ToolOutput, cap_output
from .registry import ToolRegistry, default_registry, tool

__all__ = ["ToolContext", "ToolOutput", "ToolRegistry", "cap_output", "default_registry", "tool"]
