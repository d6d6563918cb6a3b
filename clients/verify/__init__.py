"""`make verify STACK=<stack>`: check every assumption the program makes, on the live stack.

Run after `pulumi up`. See docs/verify.md for each check, what it proves and the fix it suggests.
"""

from __future__ import annotations

import importlib

from clients.verify.registry import CHECKS, Check, Context, Outcome

# The modules that register checks, in the order they run: serving first (what apps see), then
# what ARM says, then Azure Monitor (issue 14), the region's quota and sizes (issue 13) and the
# staged weights (issue 15). A new check for another issue: a decorated function in a module
# listed here.
CHECK_MODULES = (
    "clients.verify.serving",
    "clients.verify.azure",
    "clients.verify.monitoring",
    "clients.verify.capacity",
    "clients.verify.weights",
)

for _module in CHECK_MODULES:
    importlib.import_module(_module)

__all__ = ["CHECKS", "CHECK_MODULES", "Check", "Context", "Outcome"]
