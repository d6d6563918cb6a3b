"""The Dockerfile: built FROM the vetted digest by default, exec-form entrypoint on vLLM's port,
and no moving tag anywhere in the repository. hadolint runs from `make lint`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from settings import DEFAULT_BASE_IMAGE

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DIGEST = DEFAULT_BASE_IMAGE.split("@")[1]


def _instructions() -> list[tuple[str, str]]:
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_builds_from_the_vetted_digest_by_default() -> None:
    instructions = _instructions()
    arguments = dict(
        value.split("=", 1) for keyword, value in instructions if keyword == "ARG" and "=" in value
    )
    assert arguments["BASE_IMAGE"] == DEFAULT_BASE_IMAGE
    assert arguments["BASE_NAME"] == DEFAULT_BASE_IMAGE
    assert arguments["BASE_DIGEST"] == DIGEST
    assert [value for keyword, value in instructions if keyword == "FROM"] == ["${BASE_IMAGE}"]


def test_dockerfile_entrypoint_is_exec_form_and_serves_on_port_8000() -> None:
    instructions = _instructions()
    entrypoints = [value for keyword, value in instructions if keyword == "ENTRYPOINT"]
    assert len(entrypoints) == 1
    # Exec form (a JSON array): no /bin/sh between the container runtime and vLLM.
    assert json.loads(entrypoints[0]) == ["/usr/local/bin/entrypoint.sh"]
    # No CMD: the script runs `vllm serve` itself; a CMD would be appended as vLLM arguments.
    assert not [keyword for keyword, _ in instructions if keyword == "CMD"]
    assert ("EXPOSE", "8000") in instructions
    copies = [value for keyword, value in instructions if keyword == "COPY"]
    assert copies == ["--chmod=0755 entrypoint.sh metrics_publisher.py /usr/local/bin/"]
    labels = " ".join(value for keyword, value in instructions if keyword == "LABEL")
    for label in ("revision", "base.name", "base.digest"):
        assert f"org.opencontainers.image.{label}=" in labels


def test_nothing_in_the_repository_pins_a_moving_tag() -> None:
    needle = ":" + "latest"  # spelled in two parts so this file does not match itself
    skipped = {"venv", ".git", ".pytest_cache", ".ruff_cache", "__pycache__", "node_modules"}
    offenders = []
    # Skipped folders are pruned before they are entered: walking a real venv (~28,000 files in
    # a fresh clone after `make install`) only to drop every path took about 2 s.
    for folder, folders, files in os.walk(ROOT):
        folders[:] = sorted(name for name in folders if name not in skipped)
        for name in files:
            path = Path(folder, name)
            if name in skipped or path.suffix == ".md" or not path.is_file():
                continue  # prose (.md) may explain why not
            try:
                text = path.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            if needle in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"files outside *.md that mention a moving tag: {offenders}"


def test_the_header_does_not_claim_the_base_layers_stay_in_azure() -> None:
    # pulumi-docker builds through the daemon, which pulls the FROM image into its local store;
    # only the push is thin.
    header = "".join(
        line for line in DOCKERFILE.read_text().splitlines(keepends=True) if line.startswith("#")
    )
    assert "never leave Azure" not in header
    assert "pulls every base layer" in header
    assert "only the layer below" in header
