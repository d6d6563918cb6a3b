"""The generator of Pulumi.yaml's config block and docs/configuration.md (python -m tools.schema).

It replaces the hand-kept equality test between settings' DEFAULTS and Pulumi.yaml: the files are
written from the settings table, and `--check` fails when either differs from it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from settings import DEFAULTS, SECRET_KEYS, SETTINGS_TABLE
from tools import schema

ROOT = Path(__file__).resolve().parents[2]


def _copy(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / schema.PULUMI_YAML, tmp_path / schema.PULUMI_YAML)
    shutil.copy(ROOT / schema.REFERENCE, tmp_path / schema.REFERENCE)
    return tmp_path


def test_the_committed_files_are_what_the_table_generates() -> None:
    out = io.StringIO()
    assert schema.main(["--check"], out=out) == 0, out.getvalue()


def test_check_fails_with_a_diff_when_pulumi_yaml_drifts(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    path = root / schema.PULUMI_YAML
    path.write_text(path.read_text().replace("default: unassigned", "default: someone", 1))
    out = io.StringIO()
    assert schema.main(["--check"], out=out, root=root) == 1
    report = out.getvalue()
    assert "-    default: someone" in report
    assert "+    default: unassigned" in report
    assert "run `venv/bin/python -m tools.schema`" in report


def test_check_fails_when_the_reference_drifts_or_is_missing(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    reference = root / schema.REFERENCE
    reference.write_text(reference.read_text().replace("| `owner` |", "| `ownr` |"))
    assert schema.main(["--check"], out=io.StringIO(), root=root) == 1
    reference.unlink()
    assert schema.main(["--check"], out=io.StringIO(), root=root) == 1


def test_writing_repairs_both_and_keeps_the_rest_of_pulumi_yaml(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    path = root / schema.PULUMI_YAML
    original = yaml.safe_load(path.read_text())
    path.write_text(path.read_text().replace("default: unassigned", "default: someone"))
    (root / schema.REFERENCE).write_text("stale\n")
    out = io.StringIO()
    assert schema.main([], out=out, root=root) == 0
    assert out.getvalue() == f"wrote {schema.PULUMI_YAML}\nwrote {schema.REFERENCE}\n"
    assert schema.main(["--check"], out=io.StringIO(), root=root) == 0
    rewritten = yaml.safe_load(path.read_text())
    assert {k: v for k, v in rewritten.items() if k != "config"} == {
        k: v for k, v in original.items() if k != "config"
    }
    assert path.read_text().startswith("# Pulumi project.")


def test_the_config_block_declares_every_key_with_its_default() -> None:
    config = schema.pulumi_config(SETTINGS_TABLE[0])
    assert list(config) == list(DEFAULTS)
    for name, entry in config.items():
        assert entry["default"] == DEFAULTS[name], name
        assert entry["description"], name
        assert entry.get("type") in (None, "string", "integer", "boolean", "array"), name
    assert config["keyVaultRetentionDays"]["description"].endswith("Allowed: 7-90.")
    assert config["outboundFqdns"]["items"] == {"type": "string"}
    assert "type" not in config["deployments"]


def test_the_reference_documents_every_key_including_nested_ones() -> None:
    text = schema.reference()
    for index, section in enumerate(SETTINGS_TABLE):
        for key in section.keys:
            name = key.name if index == 0 else f"{section.path}.{key.name}"
            assert f"| `{name}` |" in text, name
    assert "| `deployments[].autoscale.profiles[].days` |" in text
    for name in SECRET_KEYS:
        assert f"| `{name}` | string (secret) |" in text
    # Placeholders are escaped, so they are not read as HTML tags.
    assert "rg-&lt;project&gt;-&lt;stack&gt;" in text


def test_no_config_block_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / schema.PULUMI_YAML).write_text("name: vllm-azureml\nruntime: python\n")
    out = io.StringIO()
    assert schema.main(["--check"], out=out, root=root) == 2
    assert "has no top-level 'config:' block" in out.getvalue()


def test_the_output_does_not_depend_on_hash_order() -> None:
    # GPU sizes and time zones are frozensets, whose order changes with the hash seed. One fresh
    # interpreter, with a seed other than this process's, against this process's own text.
    other_seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    script = "from tools import schema; print(schema.reference(), end='')"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": other_seed},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout == schema.reference()
