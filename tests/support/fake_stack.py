"""A deployed stack as ARM shows it, in the loopback fake ARM server, for the verify tests.

:func:`deployed_stack` fills a :class:`FakeArm` with what `pulumi up` leaves behind for the
outputs of a :class:`FakeVllm`: the workspace (managed network and its outbound rules), the online
endpoint (traffic, identity), its deployments (HF_TOKEN as a Key Vault reference), an autoscale
setting per autoscaled deployment, the metrics its rules read, and the endpoint identity's role
assignments. Tests then break one piece at a time. Shapes follow the REST specs cited in
clients/verify/azure.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.support.fake_arm import FakeArm
from tests.support.fake_vllm import FakeVllm, stack_outputs

SUBSCRIPTION = "00000000-0000-0000-0000-00000000000a"
PRINCIPAL = "00000000-0000-0000-0000-0000000000aa"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class DeployedStack:
    outputs: dict[str, Any]
    workspace_id: str
    endpoint_id: str
    vault_id: str
    secret_scope: str

    def deployment_id(self, name: str) -> str:
        return f"{self.endpoint_id}/deployments/{name}"


def _put(fake: FakeArm, path: str, resource: Any) -> None:
    fake.resources[path.lower()] = resource


def deployed_stack(
    fake: FakeArm,
    vllm: FakeVllm,
    autoscaled: tuple[str, ...] = ("blue",),
    hf_token: bool = True,
    vllm_api_key: bool = False,
) -> DeployedStack:
    outputs = stack_outputs(vllm)
    group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{outputs['resourceGroupName']}"
    workspace_id = (
        f"{group}/providers/Microsoft.MachineLearningServices/workspaces/{outputs['workspaceName']}"
    )
    endpoint_id = f"{workspace_id}/onlineEndpoints/{outputs['endpointName']}"
    vault_id = f"{group}/providers/Microsoft.KeyVault/vaults/kv-vllm-prod"
    stack = DeployedStack(
        outputs, workspace_id, endpoint_id, vault_id, f"{vault_id}/secrets/hugging-face-token"
    )
    outputs["endpointId"] = endpoint_id
    for name, deployment in outputs["deployments"].items():
        deployment["autoscale"] = name in autoscaled
    _workspace(fake, stack)
    _endpoint(fake, stack, vllm, hf_token, vllm_api_key)
    _autoscale(fake, stack, group, autoscaled)
    _put(
        fake,
        f"{stack.secret_scope}/providers/Microsoft.Authorization/roleAssignments",
        {"value": [role_assignment(stack.secret_scope, KEY_VAULT_SECRETS_USER)]},
    )
    return stack


def role_assignment(scope: str, role: str) -> dict[str, Any]:
    return {
        "name": "a1",
        "properties": {
            "roleDefinitionId": f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{role}",
            "principalId": PRINCIPAL,
            "scope": scope,
        },
    }


def _workspace(fake: FakeArm, stack: DeployedStack) -> None:
    _put(
        fake,
        stack.workspace_id,
        {
            "name": stack.outputs["workspaceName"],
            "properties": {
                "keyVault": stack.vault_id,
                "managedNetwork": {
                    "isolationMode": "AllowOnlyApprovedOutbound",
                    "status": {"status": "Active", "sparkReady": False},
                },
            },
        },
    )
    rules = [
        {
            "name": name,
            "properties": {
                "type": "FQDN",
                "destination": host,
                "status": "Active",
                "category": "UserDefined",
            },
        }
        for name, host in (("huggingface", "huggingface.co"), ("hf-cdn", "*.hf.co"))
    ]
    _put(fake, f"{stack.workspace_id}/outboundRules", {"value": rules})


def _endpoint(
    fake: FakeArm, stack: DeployedStack, vllm: FakeVllm, hf_token: bool, vllm_api_key: bool
) -> None:
    deployments = stack.outputs["deployments"]
    _put(
        fake,
        stack.endpoint_id,
        {
            "name": stack.outputs["endpointName"],
            "identity": {"type": "SystemAssigned", "principalId": PRINCIPAL},
            "properties": {
                "authMode": vllm.auth_mode,
                "traffic": {name: d["traffic"] for name, d in deployments.items()},
                "mirrorTraffic": {
                    name: d["mirrorTraffic"]
                    for name, d in deployments.items()
                    if d["mirrorTraffic"]
                },
            },
        },
    )
    variables: dict[str, str] = {"VLLM_MODEL": vllm.model}
    if hf_token:
        variables["HF_TOKEN"] = (
            "${{keyvault:https://kv-vllm-prod.vault.azure.net/secrets/hugging-face-token/0123abcd}}"
        )
    if vllm_api_key:
        variables["VLLM_API_KEY"] = (
            "${{keyvault:https://kv-vllm-prod.vault.azure.net/secrets/vllm-api-key/4567cdef}}"
        )
    listed = [
        {"name": name, "properties": {"environmentVariables": dict(variables)}}
        for name in deployments
    ]
    _put(fake, f"{stack.endpoint_id}/deployments", {"value": listed})


def _autoscale(
    fake: FakeArm, stack: DeployedStack, group: str, autoscaled: tuple[str, ...]
) -> None:
    settings = []
    for name in autoscaled:
        target = stack.deployment_id(name)
        trigger = {
            "metricName": "RequestsPerMinute",
            "metricNamespace": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            "metricResourceUri": stack.endpoint_id,
        }
        settings.append(
            {
                "name": f"autoscale-{name}",
                "properties": {
                    "enabled": True,
                    "targetResourceUri": target,
                    "profiles": [{"name": "default", "rules": [{"metricTrigger": trigger}]}],
                },
            }
        )
    _put(fake, f"{group}/providers/Microsoft.Insights/autoscalesettings", {"value": settings})
    set_metric(fake, stack.endpoint_id, [3.0, 5.0])


def set_metric(fake: FakeArm, resource: str, values: list[float | None]) -> None:
    """The metrics answer for ``resource``: one series with these per-minute averages."""
    data = [
        {
            "timeStamp": f"2026-12-01T11:{50 + i:02d}:00Z",
            **({"average": v} if v is not None else {}),
        }
        for i, v in enumerate(values)
    ]
    _put(
        fake,
        f"{resource}/providers/Microsoft.Insights/metrics",
        {"value": [{"name": {"value": "RequestsPerMinute"}, "timeseries": [{"data": data}]}]},
    )
