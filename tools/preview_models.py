"""The preview's "Models" section: per deployment, what it serves and whether it fits.

Read from the stack output ``deployments`` (``__main__.py`` exports the fit figures settings
computed, lib/fit.py), so the preview shows exactly what the program decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def model_line(name: str, deployment: Mapping[str, Any]) -> str:
    """``blue: org/model@abcdef123456 as <served>  weights 14.96 GiB  KV 411529 tokens ...``"""
    revision = str(deployment.get("revision") or "")[:12] or "unpinned"
    parser = deployment.get("reasoningParser") or "none"
    return (
        f"  {name}: {deployment.get('model')}@{revision} as {deployment.get('servedModelName')}"
        f"  weights {deployment.get('weightsGiB')} GiB"
        f"  KV {deployment.get('kvTokens')} tokens"
        f"  full-length {deployment.get('fullLengthSequences')} x {deployment.get('maxModelLen')}"
        f"  tensor-parallel {deployment.get('tensorParallelSize')}"
        f"  dtype {deployment.get('dtype')}"
        f"  parser {parser}"
        f"  weights from {deployment.get('weightsSource')}"
    )


def render_models(outputs: Mapping[str, Any]) -> str:
    deployments = outputs.get("deployments")
    if not isinstance(deployments, Mapping) or not deployments:
        return "Models: none"
    lines = ["Models (fit checked before deploy; docs/models.md):"]
    for name in sorted(deployments):
        deployment = deployments[name]
        if isinstance(deployment, Mapping):
            lines.append(model_line(name, deployment))
            lines += [f"    warning: {warning}" for warning in deployment.get("fitWarnings") or []]
    return "\n".join(lines)
