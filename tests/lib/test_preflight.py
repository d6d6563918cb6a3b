"""The preflight checks against the loopback fake ARM and loopback Docker daemons: each passes and
fails, names what is needed and what is there, and a Reader-only preview only warns."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lib import preflight
from lib.arm import ArmClient
from lib.preflight import Finding, PreflightError, PreflightTarget, run_checks
from lib.quota import DeploymentDemand
from tests.support.fake_arm import FakeArm, FakeArmServer, FakeCredential
from tests.support.loopback import SERVE_POLL_SECONDS

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
TARGET = PreflightTarget(
    subscription_id=SUBSCRIPTION,
    location="eastus2",
    resource_group="rg-test",
    workspace="mlw-test",
    demands=(DeploymentDemand("blue", "Standard_NC24ads_A100_v4", 6),),
    assigns_roles=True,
    previewing=False,
)
ML = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.MachineLearningServices/locations/eastus2"
RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-test"
WORKSPACE = f"{RG}/providers/Microsoft.MachineLearningServices/workspaces/mlw-test"
OWNER = [{"actions": ["*"], "notActions": []}]
# Contributor's permissions (Azure built-in roles reference).
CONTRIBUTOR = [
    {
        "actions": ["*"],
        "notActions": [
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
        ],
    }
]


def a100_usage(limit: int, current: int) -> dict[str, Any]:
    """A vmFamily usage entry shaped like the spec's examples/Usage/list.json."""
    return {
        "id": f"/subscriptions/{SUBSCRIPTION}/usages/Standard_NCADSA100v4_Family_Cluster_Dedicated_vCPUs",
        "type": "Microsoft.MachineLearningServices/vmFamily/usages",
        "currentValue": current,
        "limit": limit,
        "unit": "Count",
        "name": {
            "value": "Standard NCADSA100v4 Family Cluster Dedicated vCPUs",
            "localizedValue": "Standard NCADSA100v4 Family Cluster Dedicated vCPUs",
        },
    }


def seed(
    fake: FakeArm,
    limit: int = 200,
    current: int = 0,
    sizes: list[dict[str, Any]] | None = None,
    permissions: list[dict[str, Any]] | None = None,
    group_exists: bool = True,
) -> None:
    def put(path: str, body: dict[str, Any]) -> None:
        fake.resources[path.lower()] = body

    low_priority = {
        **a100_usage(-1, 0),
        "name": {"value": "Standard NCADSA100v4 Family Cluster LowPriority vCPUs"},
    }
    put(f"{ML}/usages", {"value": [a100_usage(limit, current), low_priority]})
    a100 = {"name": "Standard_NC24ads_A100_v4", "vCPUs": 24, "supportedComputeTypes": ["MIR"]}
    put(f"{ML}/vmSizes", {"value": sizes if sizes is not None else [a100]})
    scope = RG if group_exists else f"/subscriptions/{SUBSCRIPTION}"
    put(f"{scope}/providers/Microsoft.Authorization/permissions", {"value": permissions or OWNER})
    if group_exists:
        put(RG, {"id": RG, "name": "rg-test", "location": "eastus2"})


@pytest.fixture
def arm() -> Iterator[tuple[FakeArm, ArmClient]]:
    with FakeArmServer(FakeArm()) as fake:
        client = ArmClient(
            credential=FakeCredential(), base_url=fake.base_url, sleep=lambda _: None
        )
        yield fake, client


@pytest.fixture
def docker_socket(tmp_path: Path) -> Iterator[str]:
    """A loopback Unix socket that answers /_ping like dockerd."""
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(1024)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"unix://{path}"
    stop.set()
    thread.join()
    server.close()


def levels(findings: list[Finding], check: str) -> list[str]:
    return [finding.level for finding in findings if finding.check == check]


def messages(findings: list[Finding], check: str) -> str:
    return "\n".join(finding.message for finding in findings if finding.check == check)


def test_everything_in_place_passes(arm: Any, docker_socket: str, tmp_path: Path) -> None:
    fake, client = arm
    seed(fake)
    findings = run_checks(TARGET, client, docker_host=docker_socket, env={}, home=tmp_path)
    assert {finding.level for finding in findings} == {"ok"}
    preflight.raise_for(findings)


def test_zero_a100_quota_fails_with_the_numbers_and_the_fix(arm: Any, tmp_path: Path) -> None:
    fake, client = arm
    seed(fake, limit=0)
    findings = run_checks(TARGET, client, docker_host="ssh://build", env={}, home=tmp_path)
    assert levels(findings, "quota") == ["error"]
    text = messages(findings, "quota")
    assert "blue (6 x Standard_NC24ads_A100_v4) need 144 vCPUs" in text
    assert "the limit is 0 with 0 in use" in text
    assert "Request at least 144 more vCPUs" in text
    assert preflight.QUOTA_HELP in text
    with pytest.raises(PreflightError, match=r"\[quota\]"):
        preflight.raise_for(findings)


def test_the_quota_is_read_from_the_cluster_dedicated_entry_alone(arm: Any, tmp_path: Path) -> None:
    # A "Family Dedicated vCPUs" entry listed after it reduces to the same family key; the
    # preflight must still read the Cluster Dedicated one, as make verify's quota-usage does.
    fake, client = arm
    seed(fake, limit=0)
    other = {
        **a100_usage(500, 0),
        "name": {"value": "Standard NCADSA100v4 Family Dedicated vCPUs"},
    }
    fake.resources[f"{ML}/usages".lower()]["value"].append(other)
    findings = run_checks(TARGET, client, docker_host="ssh://build", env={}, home=tmp_path)
    assert levels(findings, "quota") == ["error"]
    assert "the limit is 0 with 0 in use" in messages(findings, "quota")


def test_the_stacks_own_deployments_count_as_available(arm: Any) -> None:
    fake, client = arm
    # 48 vCPUs in use, all of them this stack's two running instances: 150 - 48 + 48 >= 144.
    seed(fake, limit=150, current=48)
    endpoint = f"{WORKSPACE}/onlineEndpoints/vllm-test"
    fake.resources[f"{WORKSPACE}/onlineEndpoints".lower()] = {"value": [{"id": endpoint}]}
    fake.resources[f"{endpoint}/deployments".lower()] = {
        "value": [
            {
                "sku": {"name": "Default", "capacity": 2},
                "properties": {"instanceType": "Standard_NC24ads_A100_v4"},
            }
        ]
    }
    assert levels(preflight.check_quota(client, TARGET), "quota") == ["ok"]
    del fake.resources[f"{endpoint}/deployments".lower()]
    assert levels(preflight.check_quota(client, TARGET), "quota") == ["error"]


def test_a_blue_green_overlap_needs_both_colours(arm: Any) -> None:
    fake, client = arm
    seed(fake, limit=150)
    overlap = PreflightTarget(
        **{
            **TARGET.__dict__,
            "demands": (
                DeploymentDemand("blue", "Standard_NC24ads_A100_v4", 2),
                DeploymentDemand("green", "Standard_NC48ads_A100_v4", 2),
            ),
        }
    )
    (finding,) = preflight.check_quota(client, overlap)
    assert finding.level == "ok"
    seed(fake, limit=143)
    (finding,) = preflight.check_quota(client, overlap)
    assert finding.level == "error"
    assert "need 144 vCPUs" in finding.message


def test_a_region_without_the_size_fails_and_an_unmarked_size_warns(arm: Any) -> None:
    fake, client = arm
    seed(fake, sizes=[{"name": "Standard_DS3_v2", "supportedComputeTypes": ["MIR"]}])
    (missing,) = preflight.check_vm_sizes(client, TARGET)
    assert missing.level == "error"
    assert "Standard_NC24ads_A100_v4 is not offered by AzureML in eastus2" in missing.message
    seed(
        fake, sizes=[{"name": "standard_nc24ads_a100_v4", "supportedComputeTypes": ["AmlCompute"]}]
    )
    (unmarked,) = preflight.check_vm_sizes(client, TARGET)
    assert unmarked.level == "warning"


@pytest.mark.parametrize(
    ("previewing", "assigns_roles", "level"),
    [(False, True, "error"), (True, True, "warning"), (False, False, "warning")],
)
def test_a_contributor_may_not_assign_roles(
    arm: Any, previewing: bool, assigns_roles: bool, level: str
) -> None:
    fake, client = arm
    seed(fake, permissions=CONTRIBUTOR)
    target = PreflightTarget(
        **{**TARGET.__dict__, "previewing": previewing, "assigns_roles": assigns_roles}
    )
    (finding,) = preflight.check_role_assignments(client, target)
    assert finding.level == level
    assert preflight.ROLE_ASSIGNMENT_WRITE in finding.message
    assert "az role assignment create" in finding.message
    assert f"--scope {RG}" in finding.message


def test_before_the_group_exists_the_subscription_is_the_scope(arm: Any) -> None:
    fake, client = arm
    seed(fake, group_exists=False)
    (finding,) = preflight.check_role_assignments(client, TARGET)
    assert finding.level == "ok"
    asked = [r.path for r in fake.requests if r.path.endswith("/permissions")]
    assert asked == [f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/permissions"]


@pytest.mark.parametrize(
    ("permissions", "allowed"),
    [
        (OWNER, True),
        (CONTRIBUTOR, False),
        ([{"actions": ["Microsoft.Authorization/roleAssignments/*"], "notActions": []}], True),
        ([{"actions": ["*/read"], "notActions": []}], False),
        ([*CONTRIBUTOR, {"actions": ["Microsoft.Authorization/*"], "notActions": []}], True),
    ],
)
def test_permission_sets_are_read_like_azure_rbac(
    permissions: list[dict[str, Any]], allowed: bool
) -> None:
    assert preflight.may_perform(permissions, preflight.ROLE_ASSIGNMENT_WRITE) is allowed


def test_a_reader_only_preview_warns_about_what_it_cannot_read(arm: Any, tmp_path: Path) -> None:
    fake, client = arm
    seed(fake)
    fake.handlers.append(
        lambda _fake, request: (
            (403, {"error": {"code": "AuthorizationFailed", "message": "no read"}}, {})
            if request.path.endswith("/usages")
            else None
        )
    )
    preview = PreflightTarget(**{**TARGET.__dict__, "previewing": True})
    findings = run_checks(preview, client, docker_host="ssh://build", env={}, home=tmp_path)
    assert levels(findings, "quota") == ["warning"]
    assert "Could not check the vCPU quota" in messages(findings, "quota")
    preflight.raise_for(findings)


def test_no_docker_daemon_fails_with_what_to_do(tmp_path: Path) -> None:
    (finding,) = preflight.check_docker(None, {}, tmp_path)
    # Unless this machine runs dockerd itself, none of pulumi-docker's default sockets answers.
    if finding.level == "ok":
        pytest.skip("a Docker daemon answers on this machine")
    assert finding.level == "error"
    for expected in ("unix:///var/run/docker.sock", f"unix://{tmp_path}/.docker/run/docker.sock"):
        assert expected in finding.message
    assert "DOCKER_HOST" in finding.message and "pulumi preview" in finding.message


def test_docker_host_names_the_only_daemon_tried(tmp_path: Path, docker_socket: str) -> None:
    assert preflight.docker_hosts(None, {"DOCKER_HOST": docker_socket}, tmp_path) == [docker_socket]
    (finding,) = preflight.check_docker(None, {"DOCKER_HOST": docker_socket}, tmp_path)
    assert finding.level == "ok"
    missing = f"unix://{tmp_path}/nothing.sock"
    (finding,) = preflight.check_docker(missing, {"DOCKER_HOST": docker_socket}, tmp_path)
    assert finding.level == "error" and missing in finding.message


def test_a_tcp_daemon_is_pinged_over_http(tmp_path: Path) -> None:
    class Ping(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/_ping" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ping)
    # shutdown() waits for the loop's next poll (0.5 s by default); see SERVE_POLL_SECONDS.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SERVE_POLL_SECONDS}, daemon=True
    )
    thread.start()
    try:
        host = f"tcp://127.0.0.1:{server.server_address[1]}"
        (finding,) = preflight.check_docker(host, {}, tmp_path)
        assert finding.level == "ok"
    finally:
        server.shutdown()
        server.server_close()


def test_ssh_and_tls_daemons_are_warnings_not_guesses(tmp_path: Path) -> None:
    (ssh,) = preflight.check_docker("ssh://user@build", {}, tmp_path)
    assert ssh.level == "warning"
    (tls,) = preflight.check_docker(None, {"DOCKER_TLS_VERIFY": "1"}, tmp_path)
    assert tls.level == "warning"


def test_the_offline_run_makes_no_checks(run: Any) -> None:
    seen: list[list[Finding]] = []

    def program() -> None:
        class Settings:
            location = "eastus2"
            deployments = ()
            hugging_face_token = None

        seen.append(preflight.run_in_program(Settings(), "rg", "ws"))

    run("dev", program=program)
    assert seen == [[]]


def test_in_a_real_run_errors_stop_the_program(
    arm: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake, client = arm
    seed(fake, limit=0)
    monkeypatch.setattr(preflight.runtime, "under_mocks", lambda: False)
    monkeypatch.setattr(preflight.pulumi.runtime, "is_dry_run", lambda: True)
    monkeypatch.setattr(preflight.pulumi, "Config", lambda _name: {"host": "ssh://build"})
    warnings: list[str] = []
    monkeypatch.setattr(preflight.pulumi.log, "warn", warnings.append)
    monkeypatch.setattr(preflight.pulumi.log, "info", lambda _message: None)

    class Autoscale:
        enabled = False
        max_instances = 1
        profiles = ()

    class Deployment:
        name = "blue"
        instance_type = "Standard_NC24ads_A100_v4"
        instance_count = 2
        autoscale = Autoscale()

    class Settings:
        location = "eastus2"
        deployments = (Deployment(),)
        hugging_face_token = None

    with pytest.raises(PreflightError, match="need 48 vCPUs"):
        preflight.run_in_program(Settings(), "rg-test", "mlw-test", client, SUBSCRIPTION)
    assert any("[docker]" in warning for warning in warnings)
