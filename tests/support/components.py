"""Declare components under Pulumi's mocks with args a test writes out, without the program's
wiring: a component test states exactly what the component is given."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from tools.offline import ProgramRun, run_program

# The mocks need a stack to run as; nothing a component declares reads its configuration.
STACK = "dev"


def declare(build: Callable[[], object], *, preview: bool = True) -> ProgramRun:
    """Run ``build`` as the whole program under fresh mocks. It declares the component(s); a
    mapping it returns is exported, so the run reports those outputs resolved in ``outputs``."""

    def program() -> None:
        declared = build()
        if isinstance(declared, Mapping):
            for key, value in declared.items():
                pulumi.export(key, value)

    return run_program(STACK, program=program, preview=preview)


def outputs_of(component: pulumi.Resource, names: tuple[str, ...]) -> dict[str, Any]:
    """``component``'s named output attributes, to export from a ``declare`` build."""
    return {name: getattr(component, name) for name in names}
