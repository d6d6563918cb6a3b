"""The dynamic providers' class paths, which existing stacks depend on.

Pulumi pickles a dynamic resource's provider into the stack state by reference: the module path
and class name, nothing else of the code (FIELD_NOTES, "Python dynamic providers"). Refresh and
delete of an existing stack start the provider host in the project directory and import that path
from the state of the last create or update. Moving or renaming one of these classes therefore
breaks every deployed stack unless a re-export stays at the old path; this file fails first.
"""

from __future__ import annotations

import base64
import importlib
import pickletools
import subprocess
import sys

import pytest

from tools.offline import ROOT, run_program

# (module path, class name, the type token of the resource that stores it), written out here:
# these strings are in deployed stacks' state, whatever the code says now.
STORED_PROVIDERS = [
    (
        "components.traffic",
        "EndpointTrafficProvider",
        "pulumi-python:dynamic/traffic:EndpointTraffic",
    ),
    (
        "components.registry_import",
        "RegistryImportProvider",
        "pulumi-python:dynamic/containerregistry:ImportImage",
    ),
]


def pickled_globals(serialized: str) -> list[tuple[str, str]]:
    """Every (module, name) a pickle imports when loaded, from its GLOBAL and STACK_GLOBAL
    opcodes: what the provider host must find."""
    found: list[tuple[str, str]] = []
    strings: list[str] = []
    for opcode, argument, _ in pickletools.genops(base64.b64decode(serialized)):
        if opcode.name == "GLOBAL":
            module, name = str(argument).split(" ", 1)
            found.append((module, name))
        elif opcode.name == "STACK_GLOBAL":
            found.append((strings[-2], strings[-1]))
        elif isinstance(argument, str) and "UNICODE" in opcode.name:
            strings.append(argument)
    return found


@pytest.mark.parametrize(("module", "name", "_"), STORED_PROVIDERS)
def test_each_stored_provider_class_imports_from_its_path(module: str, name: str, _: str) -> None:
    provider_class = getattr(importlib.import_module(module), name)
    # Defined there, not merely re-exported: dill pickles the defining module's path.
    assert provider_class.__module__ == module
    assert provider_class.__qualname__ == name


def test_the_program_stores_each_provider_under_its_path() -> None:
    """What a `pulumi up` of each committed stack would write into the state, read back the way
    the provider host reads it: in a fresh interpreter in the project directory. It holds no
    credential or client: providers build those when they run."""
    stored: dict[str, str] = {}  # serialized provider -> the class path it names
    for stack in ("dev", "prod"):
        result = run_program(stack)
        for module, name, type_token in STORED_PROVIDERS:
            for resource in result.of_type(type_token):
                serialized = resource.inputs["__provider"]
                assert pickled_globals(serialized) == [(module, name)], resource.urn
                stored[serialized] = f"{module}.{name}"
    assert set(stored.values()) == {f"{module}.{name}" for module, name, _ in STORED_PROVIDERS}
    # Each line: the class path, then every attribute that holds more than a number or None
    # (a credential, a client, a callable would show here: the state must carry none).
    script = (
        "import base64, sys, dill\n"
        "for line in sys.stdin.read().split():\n"
        "    provider = dill.loads(base64.b64decode(line))\n"
        "    held = [k for k, v in vars(provider).items()\n"
        "            if v is not None and not isinstance(v, (int, float))]\n"
        "    print(f'{type(provider).__module__}.{type(provider).__qualname__}', *held)\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        input="\n".join(stored),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines() == list(stored.values())
