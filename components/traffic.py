"""Endpoint traffic, set by a small ARM call once the deployments exist.

Traffic is a property of the online endpoint (``properties.traffic`` and
``properties.mirrorTraffic``), yet ARM rejects traffic that names a deployment which does not exist
yet, and the deployments need the endpoint first. So the endpoint is created without traffic and
:class:`EndpointTraffic`, a ``pulumi.dynamic`` resource that depends on every deployment, sets it
afterwards: GET the endpoint, change only the two traffic maps, PUT it back, wait for ARM's
asynchronous operation. The online endpoint's PATCH body (``PartialMinimalTrackedResourceWithIdentity``)
carries only tags and identity, so a PUT of the whole endpoint is the only way to change traffic,
which is also what ``az ml online-endpoint update --traffic`` does.

Ordering, which is what keeps blue/green rollouts from failing:

* Creates and updates first. The engine registers this resource only after every deployment it
  depends on has been created or updated, so traffic never names a deployment that is not there.
* Deletes last. Pulumi deletes the resources a program no longer declares only after the program
  has finished, that is after every create and update, in reverse dependency order (pulumi/pulumi
  developer-docs/architecture/resource-registration.md, "Once the Pulumi program has exited, the
  step generator determines which existing resources must be deleted"; also pulumi/pulumi#9979).
  Removing a deployment from the stack file therefore first updates this resource, which moves the
  traffic to the remaining deployments, and only then deletes the deployment, so ARM never answers
  "cannot delete a deployment with non-zero traffic". (Settings refuse a stack whose remaining
  deployments do not take all the traffic.)
* ``pulumi destroy`` deletes this resource before the deployments (it depends on them), and its
  delete clears the traffic for the same reason.

Known hazard: renaming this resource (its logical name or its parent) without an alias makes Pulumi
create the new one and then delete the old one at the end of the update, and that delete clears the
traffic the new one has just set. Add ``aliases`` when renaming.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from lib.arm import ArmClient, ArmError
from lib.dynamic_inputs import arm_id_failures, has_unknown

# ARM's rules for endpoint traffic, shared with settings (re-exported: tests and callers use it).
from lib.traffic_rules import traffic_problems

# The API version azure-native 3.29 uses for machinelearningservices, so both sides read and write
# the endpoint with the same schema. An input, so that a bump shows in `pulumi preview`.
ENDPOINT_API_VERSION = "2025-12-01"

ENDPOINT_ID_PATTERN = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/[^/]+/onlineEndpoints/[^/]+",
    re.IGNORECASE,
)

# Envelope fields ARM computes; sending them back in a PUT is at best ignored.
_READ_ONLY_ENVELOPE = ("id", "name", "type", "systemData", "etag")
_READ_ONLY_PROPERTIES = ("provisioningState", "scoringUri", "swaggerUri")
_READ_ONLY_IDENTITY = ("principalId", "tenantId")


def endpoint_body_with_traffic(
    endpoint: Mapping[str, Any],
    traffic: Mapping[str, int],
    mirror_traffic: Mapping[str, int],
    tags: Mapping[str, str] | None = None,
    retired: Iterable[str] = (),
) -> dict[str, Any]:
    """The endpoint as ARM returned it, ready to PUT back with only the traffic maps (and, when
    given, the declared tags) changed.

    Everything else is kept as read (auth mode, network access, identity, and any property a newer
    API version adds), so the PUT changes traffic and tags and nothing else. Tags this resource
    does not declare (an Azure Policy's ``modify`` effect adds some) stay as they are; ``retired``
    are the keys it declared before and no longer does, which it removes. Read-only fields are
    dropped because a PUT is a request to set them.
    """
    body = copy.deepcopy(dict(endpoint))
    if tags is not None:
        body["tags"] = merged_tags(endpoint.get("tags"), tags, retired)
    for key in _READ_ONLY_ENVELOPE:
        body.pop(key, None)
    identity = body.get("identity")
    if isinstance(identity, dict):
        for key in _READ_ONLY_IDENTITY:
            identity.pop(key, None)
        assigned = identity.get("userAssignedIdentities")
        if isinstance(assigned, dict):
            # In a request the values are empty objects; client and principal ids are read-only.
            identity["userAssignedIdentities"] = {resource_id: {} for resource_id in assigned}
    properties = dict(body.get("properties") or {})
    for key in _READ_ONLY_PROPERTIES:
        properties.pop(key, None)
    properties["traffic"] = dict(traffic)
    properties["mirrorTraffic"] = dict(mirror_traffic)
    body["properties"] = properties
    return body


def merged_tags(
    live: Mapping[str, str] | None, declared: Mapping[str, str], retired: Iterable[str] = ()
) -> dict[str, str]:
    """The endpoint's tags with the declared ones set, and the retired ones (declared before, not
    now) removed; every other tag is left alone. Tag names compare without case, as ARM's do."""
    drop = {key.lower() for key in retired} | {key.lower() for key in declared}
    kept = {key: value for key, value in dict(live or {}).items() if key.lower() not in drop}
    return {**kept, **dict(declared)}


def declared_tags(live: Mapping[str, str] | None, declared: Mapping[str, Any]) -> dict[str, str]:
    """Of the endpoint's tags, only the keys this resource declares, under the declared spelling.

    What `pulumi refresh` stores: a tag someone else added (an Azure Policy) is not ours to compare
    or remove, so it never shows as a diff; a declared tag changed behind Pulumi's back does."""
    by_name = {key.lower(): value for key, value in dict(live or {}).items()}
    return {key: by_name[key.lower()] for key in declared if key.lower() in by_name}


def _shares(mapping: Any, keep_zero: bool = False) -> dict[str, int]:
    """A traffic map as whole percentages; zero shares dropped unless asked for, because ARM may or
    may not echo a deployment that takes 0 %, and {blue: 100, green: 0} means {blue: 100}."""
    shares = {str(k): int(v) for k, v in dict(mapping or {}).items()}
    return shares if keep_zero else {k: v for k, v in shares.items() if v > 0}


def _comparable(mapping: Any) -> dict[str, int]:
    # Deployment names are compared without case, as ARM compares resource names.
    return {name.lower(): percent for name, percent in _shares(mapping).items()}


def _live_traffic(endpoint: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """The endpoint's traffic maps, for comparison."""
    properties = endpoint.get("properties") or {}
    return _comparable(properties.get("traffic")), _comparable(properties.get("mirrorTraffic"))


def _desired(props: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """The declared traffic maps, for comparison."""
    return _comparable(props.get("traffic")), _comparable(props.get("mirror_traffic"))


class EndpointTrafficProvider(pulumi.dynamic.ResourceProvider):
    """CRUD for an endpoint's traffic maps over ARM (see the module docstring for the ordering).

    ``client_factory`` builds the ARM client on each call (inside the provider process, with the
    credentials of whoever runs `pulumi up`); tests point it at a loopback fake ARM server. The
    provider holds no credential itself, because Pulumi stores a serialized copy of it in the state.
    """

    def __init__(self, client_factory: Callable[[], ArmClient] | None = None):
        super().__init__()
        self._client_factory = client_factory

    def _client(self) -> ArmClient:
        return self._client_factory() if self._client_factory is not None else ArmClient()

    # --- validation ----------------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        failures = arm_id_failures(
            news, "endpoint_id", ENDPOINT_ID_PATTERN, "an online endpoint's ARM id"
        )
        traffic, mirror = news.get("traffic"), news.get("mirror_traffic")
        if isinstance(traffic, dict) and isinstance(mirror, dict) and not has_unknown(news):
            # Numbers reach a dynamic provider as floats (protobuf), so 100 arrives as 100.0.
            for problem in traffic_problems(_whole_numbers(traffic), _whole_numbers(mirror)):
                failures.append(pulumi.dynamic.CheckFailure("traffic", problem))
        return pulumi.dynamic.CheckResult(news, failures)

    # --- lifecycle -----------------------------------------------------------------------------

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._apply(props)
        return pulumi.dynamic.CreateResult(id_=f"{props['endpoint_id']}/traffic", outs=outs)

    def update(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        old_tags = olds.get("tags") if isinstance(olds.get("tags"), dict) else {}
        new_tags = news.get("tags") if isinstance(news.get("tags"), dict) else {}
        retired = [
            key for key in old_tags or {} if key.lower() not in {k.lower() for k in new_tags or {}}
        ]
        return pulumi.dynamic.UpdateResult(outs=self._apply(news, retired))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Clear the traffic, so that the deployments (deleted next) carry none.

        An endpoint that is already gone needs nothing.
        """
        client = self._client()
        endpoint_id, api_version = props["endpoint_id"], props["api_version"]
        endpoint = client.get(endpoint_id, api_version)
        if endpoint is None:
            return
        if _live_traffic(endpoint) == ({}, {}):
            return
        client.put(endpoint_id, api_version, endpoint_body_with_traffic(endpoint, {}, {}))

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        """Compare with the inputs and with the endpoint as it is now.

        The live comparison catches traffic that changed behind Pulumi's back (the portal, the CLI,
        or an endpoint PUT that dropped it), so the next `pulumi up` puts the declared traffic back.
        """
        if has_unknown(news):
            # Only a preview has unknowns; the real diff runs again during `pulumi up`.
            return pulumi.dynamic.DiffResult(changes=True)
        old_id, new_id = str(olds.get("endpoint_id", "")), str(news["endpoint_id"])
        if old_id.lower() != new_id.lower():
            # Another endpoint: set traffic there first, then clear it on the old one.
            return pulumi.dynamic.DiffResult(
                changes=True, replaces=["endpoint_id"], delete_before_replace=False
            )
        if (
            olds.get("api_version") != news.get("api_version")
            or olds.get("endpoint_revision") != news.get("endpoint_revision")
            or olds.get("tags") != news.get("tags")
            or _desired(olds) != _desired(news)
        ):
            return pulumi.dynamic.DiffResult(changes=True)
        endpoint = self._client().get(new_id, str(news["api_version"]))
        if endpoint is None or _live_traffic(endpoint) != _desired(news):
            return pulumi.dynamic.DiffResult(changes=True)
        return pulumi.dynamic.DiffResult(changes=False)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """`pulumi refresh`: record the traffic the endpoint has now (gone if the endpoint is)."""
        endpoint = self._client().get(props["endpoint_id"], props["api_version"])
        if endpoint is None:
            return pulumi.dynamic.ReadResult(id_="", outs={})
        properties = endpoint.get("properties") or {}
        return pulumi.dynamic.ReadResult(
            id_=id_,
            outs={
                **props,
                "traffic": _shares(properties.get("traffic"), keep_zero=True),
                "mirror_traffic": _shares(properties.get("mirrorTraffic")),
                "tags": (
                    declared_tags(endpoint.get("tags"), props["tags"])
                    if isinstance(props.get("tags"), dict)
                    else props.get("tags")
                ),
            },
        )

    def _apply(self, props: Mapping[str, Any], retired: Iterable[str] = ()) -> dict[str, Any]:
        # Zero shares stay in the request: naming every deployment says "0 % on purpose".
        traffic = _shares(props.get("traffic"), keep_zero=True)
        mirror = _shares(props.get("mirror_traffic"))
        problems = traffic_problems(traffic, mirror)
        if problems:
            raise ValueError("; ".join(problems))
        client = self._client()
        endpoint_id, api_version = props["endpoint_id"], props["api_version"]
        endpoint = client.get(endpoint_id, api_version)
        if endpoint is None:
            raise ArmError(404, "ResourceNotFound", f"online endpoint {endpoint_id} does not exist")
        tags = props.get("tags")
        result = client.put(
            endpoint_id,
            api_version,
            endpoint_body_with_traffic(
                endpoint, traffic, mirror, dict(tags) if isinstance(tags, dict) else None, retired
            ),
        )
        if _live_traffic(result) != _desired(props):
            reported = result.get("properties") or {}
            raise ArmError(
                200,
                "TrafficNotApplied",
                f"asked for traffic {traffic} and mirror {mirror}, the endpoint reports "
                f"{reported.get('traffic')} and {reported.get('mirrorTraffic')}",
            )
        return {**props, "traffic": traffic, "mirror_traffic": mirror}


def _whole_numbers(shares: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: int(value) if isinstance(value, float) and value.is_integer() else value
        for name, value in shares.items()
    }


@dataclass(frozen=True)
class EndpointTrafficArgs:
    """What traffic to set on which endpoint.

    ``endpoint_revision`` changes whenever the endpoint's own declared properties do: azure-native
    updates an endpoint with a full PUT that carries no traffic, so an endpoint update is followed,
    in the same `pulumi up`, by a traffic update that puts the traffic back. ``tags`` are applied
    with the traffic, so that a tag change never needs that full PUT of the endpoint.
    """

    endpoint_id: pulumi.Input[str]
    traffic: Mapping[str, int]
    mirror_traffic: Mapping[str, int]
    endpoint_revision: pulumi.Input[str]
    # The endpoint's tags after creation: set here, in the same read-modify-PUT as the traffic,
    # because the endpoint resource ignores tag changes (see ServingEndpoint._endpoint).
    tags: Mapping[str, str] | None = None
    api_version: str = ENDPOINT_API_VERSION


class EndpointTraffic(pulumi.dynamic.Resource, module="traffic", name="EndpointTraffic"):
    """The live and mirror traffic of one online endpoint, applied after its deployments exist."""

    endpoint_id: pulumi.Output[str]
    traffic: pulumi.Output[dict[str, int]]
    mirror_traffic: pulumi.Output[dict[str, int]]

    def __init__(
        self, name: str, args: EndpointTrafficArgs, opts: pulumi.ResourceOptions | None = None
    ):
        problems = traffic_problems(args.traffic, args.mirror_traffic)
        if problems:
            raise ValueError(f"{name}: " + "; ".join(problems))
        super().__init__(
            EndpointTrafficProvider(),
            name,
            {
                "endpoint_id": args.endpoint_id,
                "api_version": args.api_version,
                "traffic": dict(args.traffic),
                "mirror_traffic": {k: v for k, v in args.mirror_traffic.items() if v > 0},
                "endpoint_revision": args.endpoint_revision,
                "tags": dict(args.tags) if args.tags is not None else None,
            },
            opts,
        )
