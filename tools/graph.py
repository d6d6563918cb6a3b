"""The plan as a Mermaid flowchart people can read: one subgraph per component.

Edges are the dependencies that order the deployment, reduced to the ones that add information:
an edge a -> c is left out when a path a -> b -> c already says it, and the resource group's edges
are folded away (everything in the stack sits in it, so they say nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
LEGEND = (
    "%% Legend: each box is a component (ComponentResource) with the resources it declares;\n"
    "%% an arrow a --> b means b is created after a (b depends on a). Edges from the resource\n"
    "%% group, and edges implied by a longer path, are left out."
)


def _short(type_token: str) -> str:
    return type_token.split(":")[-1]


def _reduce(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Transitive reduction of a small DAG: drop a -> c when c is reachable from a another way."""
    successors: dict[str, set[str]] = {}
    for source, target in edges:
        successors.setdefault(source, set()).add(target)

    def reachable(start: str, skip: tuple[str, str]) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            node = stack.pop()
            for following in successors.get(node, ()):
                if (node, following) == skip or following in seen:
                    continue
                seen.add(following)
                stack.append(following)
        return seen

    return {edge for edge in edges if edge[1] not in reachable(edge[0], edge)}


def to_mermaid(
    resources: Sequence[Mapping[str, Any]], stack_urn_marker: str = "pulumi:pulumi:Stack"
) -> str:
    """``resources`` are the plan's resources (``tools.preview.to_json``), in URN order."""
    by_urn = {resource["urn"]: resource for resource in resources}
    ids = {resource["urn"]: f"r{index}" for index, resource in enumerate(resources)}
    components = [
        resource
        for resource in resources
        if not resource["custom"] and resource["parent"] not in by_urn
    ]
    component_ids = {component["urn"]: f"c{index}" for index, component in enumerate(components)}

    def owner(urn: str) -> str:
        """The top-level component a resource belongs to (itself, if it is one)."""
        while by_urn.get(urn, {}).get("parent") in by_urn:
            urn = by_urn[urn]["parent"]
        return urn

    folded = {urn for urn, resource in by_urn.items() if resource["type"] == RESOURCE_GROUP}
    edges: set[tuple[str, str]] = set()
    for resource in resources:
        if not resource["custom"]:
            continue
        for dependency in resource["dependencies"]:
            if dependency in folded or dependency not in by_urn or dependency == resource["parent"]:
                continue
            source = (
                ids[dependency] if by_urn[dependency]["custom"] else component_ids.get(dependency)
            )
            if source is not None and source != ids[resource["urn"]]:
                edges.add((source, ids[resource["urn"]]))
    lines = ["flowchart LR", LEGEND]
    for component in components:
        cid = component_ids[component["urn"]]
        lines.append(f'  subgraph {cid}["{_short(component["type"])} {component["name"]}"]')
        for resource in resources:
            if resource["custom"] and owner(resource["urn"]) == component["urn"]:
                lines.append(
                    f'    {ids[resource["urn"]]}["{_short(resource["type"])}<br/>{resource["name"]}"]'
                )
        lines.append("  end")
    loose = [r for r in resources if r["custom"] and owner(r["urn"]) not in component_ids]
    for resource in loose:
        lines.append(
            f'  {ids[resource["urn"]]}["{_short(resource["type"])}<br/>{resource["name"]}"]'
        )
    lines += [f"  {source} --> {target}" for source, target in sorted(_reduce(edges))]
    return "\n".join(lines) + "\n"
