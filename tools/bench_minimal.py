"""The yardstick for `python -m tools.bench`: seven azure-native resources under the same mocks.

It starts the interpreter, imports the SDK modules the stack uses and runs a program through
``tools.offline.run_program`` exactly as the preview does, then prints one line. The preview's time
over this one's is what the preview itself adds (the program's wiring, settings and rendering).
"""

from __future__ import annotations

import gc
import sys

from pulumi_azure_native import (
    containerregistry,
    keyvault,
    machinelearningservices,
    operationalinsights,
    resources,
    storage,
)

from tools.offline import run_program


def program() -> None:
    group = resources.ResourceGroup("group", location="swedencentral")
    storage.StorageAccount(
        "storage",
        resource_group_name=group.name,
        sku=storage.SkuArgs(name="Standard_LRS"),
        kind="StorageV2",
    )
    keyvault.Vault(
        "vault",
        resource_group_name=group.name,
        properties=keyvault.VaultPropertiesArgs(
            tenant_id="00000000-0000-0000-0000-000000000001",
            sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
        ),
    )
    containerregistry.Registry(
        "registry", resource_group_name=group.name, sku=containerregistry.SkuArgs(name="Premium")
    )
    operationalinsights.Workspace("logs", resource_group_name=group.name)
    workspace = machinelearningservices.Workspace("workspace", resource_group_name=group.name)
    machinelearningservices.OnlineEndpoint(
        "endpoint",
        resource_group_name=group.name,
        workspace_name=workspace.name,
        properties=machinelearningservices.OnlineEndpointPropertiesArgs(auth_mode="Key"),
    )


if __name__ == "__main__":
    gc.disable()  # as tools.preview does
    run = run_program("dev", program=program)
    print(f"{len(run.resources)} resources")
    gc.freeze()
    sys.exit(0)
