"""docker/entrypoint.sh, run for real with a fake `vllm` on PATH that reports what it received."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from lib.vllm_options import vllm_environment
from settings import DEFAULT_MODEL, DEFAULT_REVISION, parse_settings
from tests.support import fake_monitor

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
# vLLM must listen on every interface of the container: AzureML's router reaches it from outside.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104

# Stands in for vLLM: prints its PID, parent PID and arguments as JSON. With FAKE_VLLM_WAIT set it
# then waits for SIGTERM and reports it, as a real server drains and exits.
FAKE_VLLM = textwrap.dedent(
    f"""\
    #!{sys.executable}
    import json, os, signal, sys, time
    def stop(signum, frame):
        os.write(1, b"SIGTERM received\\n")
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    print(json.dumps({{"pid": os.getpid(), "ppid": os.getppid(), "argv": sys.argv[1:]}}), flush=True)
    if os.environ.get("FAKE_VLLM_WAIT"):
        time.sleep(30)
        sys.exit(3)
    """
)


@pytest.fixture
def fake_path(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "vllm"
    fake.write_text(FAKE_VLLM)
    fake.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def default_deployment():
    return parse_settings({}, "dev", "swedencentral").deployments[0]


def launch(fake_path: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    environment = {"PATH": fake_path, **env}
    return subprocess.Popen(
        ["bash", str(ENTRYPOINT), *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(fake_path: str, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str, int]:
    process = launch(fake_path, env, *args)
    stdout, stderr = process.communicate(timeout=30)
    report = json.loads(stdout.splitlines()[0]) if stdout.strip() else {}
    return process.returncode, report, stderr, process.pid


def test_default_environment_becomes_the_expected_vllm_serve_command(fake_path: str) -> None:
    code, report, _, _ = run(fake_path, vllm_environment(default_deployment()))
    assert code == 0
    assert report["argv"] == [
        "serve",
        DEFAULT_MODEL,
        "--host",
        ALL_INTERFACES,
        "--port",
        "8000",
        "--revision",
        DEFAULT_REVISION,
        "--tokenizer-revision",
        DEFAULT_REVISION,
        "--served-model-name",
        DEFAULT_MODEL,
        "--tensor-parallel-size",
        "1",
        "--dtype",
        "bfloat16",
        "--max-num-seqs",
        "16",
        "--max-model-len",
        "32768",
        "--gpu-memory-utilization",
        "0.9",
        "--reasoning-parser",
        "deepseek_r1",
    ]
    # The base image's ENTRYPOINT was ["vllm", "serve"]; this one must not say serve twice, and
    # must not slow decoding with --enforce-eager unless a stack asks for it.
    assert report["argv"].count("serve") == 1
    assert "--enforce-eager" not in report["argv"]


def test_vllm_replaces_the_shell(fake_path: str) -> None:
    """exec: vLLM runs as the process the container runtime started, not as a child of bash."""
    code, report, _, launched_pid = run(fake_path, {"MODEL_NAME": "org/model"})
    assert code == 0
    assert report["pid"] == launched_pid
    assert report["ppid"] == os.getpid()


def test_sigterm_to_the_container_process_reaches_vllm(fake_path: str) -> None:
    process = launch(fake_path, {"MODEL_NAME": "org/model", "FAKE_VLLM_WAIT": "1"})
    assert process.stdout is not None
    first = process.stdout.readline()
    assert json.loads(first)["pid"] == process.pid
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=15)
    assert "SIGTERM received" in stdout
    assert process.returncode == 0


def test_model_id_and_extra_arguments_keep_their_quoting(fake_path: str, tmp_path: Path) -> None:
    marker = tmp_path / "evaluated"
    extra = [
        "--override-generation-config",
        '{"temperature": 0.6, "top_p": 0.95}',
        "--chat-template",
        'it\'s "quoted"  with  spaces',
        "*",
        f"$(touch {marker})",
        "",
    ]
    code, report, _, _ = run(
        fake_path,
        {"MODEL_NAME": "org/a model's name", "SERVE_EXTRA_ARGS": json.dumps(extra)},
        "--seed",
        "7 8",
    )
    assert code == 0
    assert report["argv"][:2] == ["serve", "org/a model's name"]
    # Extra arguments arrive verbatim and in order, after the fixed options; container arguments last.
    assert report["argv"][-len(extra) - 2 :] == [*extra, "--seed", "7 8"]
    assert not marker.exists(), "an extra argument was evaluated by the shell"


def test_extra_arguments_rendered_from_settings_reach_vllm(fake_path: str) -> None:
    settings = parse_settings(
        {
            "deployments": [
                {
                    "name": "blue",
                    "traffic": 100,
                    "vllm": {
                        "reasoningParser": "",
                        "extraArgs": [
                            "--enforce-eager",
                            "--override-generation-config",
                            '{"temperature": 0.6, "top_p": 0.95}',
                        ],
                    },
                }
            ]
        },
        "dev",
        "swedencentral",
    )
    code, report, _, _ = run(fake_path, vllm_environment(settings.deployments[0]))
    assert code == 0
    assert "--reasoning-parser" not in report["argv"]
    assert report["argv"][-3:] == [
        "--enforce-eager",
        "--override-generation-config",
        '{"temperature": 0.6, "top_p": 0.95}',
    ]


def test_empty_options_are_left_to_vllm(fake_path: str) -> None:
    code, report, _, _ = run(
        fake_path,
        {"MODEL_NAME": "org/model", "SERVE_MAX_NUM_SEQS": "", "SERVE_REASONING_PARSER": "none"},
    )
    assert code == 0
    assert report["argv"] == ["serve", "org/model", "--host", ALL_INTERFACES, "--port", "8000"]


def test_missing_model_stops_before_vllm(fake_path: str) -> None:
    code, report, stderr, _ = run(fake_path, {"MODEL_NAME": ""})
    assert code == 64
    assert report == {}
    assert "MODEL_NAME" in stderr


@pytest.mark.parametrize("bad", ['{"a": 1}', "[1, 2]", "--enforce-eager", '["--api-key", '])
def test_malformed_extra_arguments_stop_before_vllm_without_echoing_them(
    fake_path: str, bad: str
) -> None:
    code, report, stderr, _ = run(
        fake_path, {"MODEL_NAME": "org/model", "SERVE_EXTRA_ARGS": bad + " sk-secret"}
    )
    assert code != 0
    assert report == {}
    assert "SERVE_EXTRA_ARGS" in stderr
    assert "sk-secret" not in stderr


def test_dockerfile_defaults_match_a_default_deployment() -> None:
    """`docker run` without variables serves what a default stack deploys."""
    text = DOCKERFILE.read_text()
    block = re.search(r"^ENV (.*?)(?:\n\n|\Z)", text, re.MULTILINE | re.DOTALL)
    assert block is not None
    defaults = dict(re.findall(r"([A-Z_]+)=(\S+)", block.group(1).replace("\\\n", " ")))
    assert defaults == vllm_environment(default_deployment())


REVISION = DEFAULT_REVISION


def test_revision_names_tensor_parallelism_and_dtype_reach_vllm(fake_path: str) -> None:
    code, report, _, _ = run(
        fake_path,
        {
            "MODEL_NAME": DEFAULT_MODEL,
            "SERVE_REVISION": REVISION,
            "SERVE_SERVED_MODEL_NAMES": f"r1 {DEFAULT_MODEL}",
            "SERVE_TENSOR_PARALLEL_SIZE": "4",
            "SERVE_DTYPE": "float16",
        },
    )
    assert code == 0
    argv = report["argv"]
    assert argv[:2] == ["serve", DEFAULT_MODEL]
    assert argv[argv.index("--revision") + 1] == REVISION
    assert argv[argv.index("--tokenizer-revision") + 1] == REVISION
    names = argv.index("--served-model-name")
    assert argv[names + 1 : names + 3] == ["r1", DEFAULT_MODEL]
    assert argv[argv.index("--tensor-parallel-size") + 1] == "4"
    assert argv[argv.index("--dtype") + 1] == "float16"


def test_staged_weights_are_served_from_the_directory_that_holds_config_json(
    fake_path: str, tmp_path: Path
) -> None:
    # The storage initializer's layout under the mount varies; the shallowest config.json wins.
    weights = tmp_path / "models" / "deepseek-ai--DeepSeek-R1-Distill-Llama-8B" / "74fbf131a939"
    weights.mkdir(parents=True)
    (weights / "config.json").write_text("{}")
    (weights / "nested").mkdir()
    (weights / "nested" / "config.json").write_text("{}")
    code, report, _, _ = run(
        fake_path,
        {
            "MODEL_NAME": DEFAULT_MODEL,
            "SERVE_MODEL_DIR": str(tmp_path / "models"),
            "SERVE_REVISION": REVISION,
        },
    )
    assert code == 0
    assert report["argv"][1] == str(weights)
    # A local directory has no revision to pick.
    assert "--revision" not in report["argv"]


def test_a_mount_without_weights_stops_with_what_is_there(fake_path: str, tmp_path: Path) -> None:
    (tmp_path / "models" / "empty-asset").mkdir(parents=True)
    code, report, stderr, _ = run(
        fake_path, {"MODEL_NAME": DEFAULT_MODEL, "SERVE_MODEL_DIR": str(tmp_path / "models")}
    )
    assert code == 66 and report == {}
    assert "no config.json" in stderr and "empty-asset" in stderr


def test_a_command_runs_instead_of_vllm(fake_path: str) -> None:
    # What an AzureML command job does with the image (staging weights).
    code, report, _, _ = run(fake_path, {"MODEL_NAME": DEFAULT_MODEL}, "vllm", "--version")
    assert code == 0
    assert report["argv"] == ["--version"]
    code, report, _, _ = run(fake_path, {"MODEL_NAME": DEFAULT_MODEL}, "--enforce-eager")
    assert report["argv"][0] == "serve" and report["argv"][-1] == "--enforce-eager"


# --- The metrics publisher started beside vLLM ---------------------------------------------------


def _publishers_of(parent: int) -> list[int]:
    """PIDs of running metrics publishers whose parent is ``parent`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"metrics_publisher.py" in command and fields[0] != "Z" and int(fields[1]) == parent:
            found.append(int(entry.name))
    return found


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _publisher_environment(fakes) -> dict[str, str]:
    return {
        "MODEL_NAME": "org/model",
        "FAKE_VLLM_WAIT": "1",
        "AZURE_METRICS_RESOURCE_ID": "/subscriptions/0/resourceGroups/rg/providers/X/y/z",
        "AZURE_METRICS_REGION": "eastus2",
        "MSI_ENDPOINT": fakes["identity"].url + "/msi",
        "MSI_SECRET": fake_monitor.FAKE_SECRET,
        "AZURE_METRICS_SOURCE_URL": fakes["metrics"].url + "/metrics",
        "AZURE_METRICS_INGESTION_URL": fakes["ingestion"].url,
    }


def test_publisher_runs_beside_vllm_and_exits_when_vllm_does(fake_path: str, monitor_fakes) -> None:
    process = launch(fake_path, _publisher_environment(monitor_fakes))
    assert process.stdout is not None
    # vLLM started at once and is still the process the runtime launched (exec), not a child.
    assert json.loads(process.stdout.readline())["pid"] == process.pid
    assert _wait_for(lambda: monitor_fakes["ingestion"].seen, 20), "nothing was published"
    publishers = _publishers_of(process.pid)
    assert len(publishers) == 1
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=15)
    assert "SIGTERM received" in stdout
    assert _wait_for(lambda: not _publishers_of_any(publishers), 10), "publisher outlived vLLM"
    assert fake_monitor.FAKE_SECRET not in stderr and fake_monitor.FAKE_TOKEN not in stderr


def _publishers_of_any(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def test_no_publisher_without_a_target(fake_path: str, monitor_fakes) -> None:
    environment = _publisher_environment(monitor_fakes)
    del environment["AZURE_METRICS_RESOURCE_ID"]
    process = launch(fake_path, environment)
    assert process.stdout is not None
    assert json.loads(process.stdout.readline())["pid"] == process.pid
    time.sleep(1)
    assert _publishers_of(process.pid) == []
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=15)
    assert not monitor_fakes["ingestion"].seen and not monitor_fakes["identity"].seen


def test_a_publisher_that_cannot_start_leaves_vllm_running(fake_path: str, monitor_fakes) -> None:
    environment = {**_publisher_environment(monitor_fakes), "MSI_SECRET": ""}
    process = launch(fake_path, environment)
    assert process.stdout is not None
    assert json.loads(process.stdout.readline())["pid"] == process.pid
    assert _wait_for(lambda: not _publishers_of(process.pid), 10)
    assert process.poll() is None  # vLLM still serving
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "not publishing" in stderr
