"""The tool SDK: everything a tool package imports from webcap, in one place.

```python
from tools.sdk import ToolError, current_call, tool
```

- ``tool``: the decorator; typed parameters become the JSON schema the model sees.
- ``ToolError``: a failure the model reads (bad arguments, refused, failed).
- ``current_call()``: the ``CallContext`` of the running call (task id, caller, idempotency
  key, attempt, deadline, ``stopped()``), None outside a call.
- ``Sandbox``: the limits of a tool that runs in a child process.

Tests run a tool the way the worker does with ``tools.testing.run_tool``. These names stay;
the modules behind them (tools.registry, tools.sandbox) may move.
"""

from tools.registry import CallContext, ToolError, current_call, tool
from tools.sandbox import Sandbox

__all__ = ["CallContext", "Sandbox", "ToolError", "current_call", "tool"]
