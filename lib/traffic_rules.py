"""The rules an online endpoint's traffic maps must follow, stated once.

ARM refuses traffic that breaks them, minutes into `pulumi up`. Settings check them before anything
is declared (naming the stack file's key), and the traffic provider checks them again on the values
it is handed (``components/traffic.py``), so a program that bypasses settings still fails in
preview. No Pulumi here: the client tools may use it too.

The rules (how-to-safely-rollout-online-endpoints.md; limits in lib/catalog.py):

* live traffic shares sum to 100, unless there are no deployments;
* mirror traffic goes to one deployment at most, at most 50 % of the traffic, and that deployment
  takes no live traffic;
* mirror traffic names a deployment of the endpoint;
* deployment names are unique without regard to case (ARM compares resource names that way);
* at most 20 deployments per endpoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from lib.catalog import MAX_DEPLOYMENTS_PER_ENDPOINT, MAX_MIRROR_PERCENT, TRAFFIC_TOTAL_PERCENT

# (deployment name, percent) in the order the deployments are declared. A sequence rather than a
# mapping, so that a name declared twice is still seen twice.
Shares = Mapping[str, Any] | Sequence[tuple[str, Any]]


def _pairs(shares: Shares) -> list[tuple[str, Any]]:
    return list(shares.items()) if isinstance(shares, Mapping) else list(shares)


def _range_problems(live: list[tuple[str, Any]], mirror: list[tuple[str, Any]]) -> list[str]:
    problems: list[str] = []
    for label, shares in (("traffic", live), ("mirror_traffic", mirror)):
        for deployment, percent in shares:
            if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
                problems.append(f"{label}[{deployment}] = {percent!r}: must be 0-100")
    return problems


def traffic_problems(
    traffic: Shares, mirror_traffic: Shares, check_ranges: bool = True
) -> list[str]:
    """Why ARM would refuse these traffic maps (empty when it would accept them).

    ``check_ranges`` also checks each share's type and range (0-100, mirror at most 50); settings
    turn it off because their readers already report each share under its own key.
    """
    live, mirror = _pairs(traffic), _pairs(mirror_traffic)
    if check_ranges:
        problems = _range_problems(live, mirror)
        if problems:
            return problems
    problems = []
    total = sum(percent for _, percent in live)
    if live and total != TRAFFIC_TOTAL_PERCENT:
        shares = ", ".join(f"{name}={percent}" for name, percent in live)
        problems.append(f"live traffic must sum to {TRAFFIC_TOTAL_PERCENT}, got {total} ({shares})")
    mirrored = [(name, percent) for name, percent in mirror if percent > 0]
    if len(mirrored) > 1:
        problems.append(
            "mirror traffic may go to one deployment only, got "
            f"{', '.join(name for name, _ in mirrored)}"
        )
    live_by_name = dict(live)
    for name, percent in mirrored:
        if check_ranges and percent > MAX_MIRROR_PERCENT:
            problems.append(
                f"mirror traffic to {name} is {percent} %, at most {MAX_MIRROR_PERCENT} % is "
                "allowed"
            )
        if name not in live_by_name:
            problems.append(f"mirror traffic names {name}, which is not a deployment of the stack")
        elif live_by_name[name] > 0:
            problems.append(
                f"deployment {name!r} cannot take mirror traffic ({percent}) while it also takes "
                f"live traffic ({live_by_name[name]})"
            )
    # Counted once: `names.count` in a loop was quadratic (20,000 deployments took 15 s).
    counts = Counter(name.lower() for name, _ in live)
    for duplicate in sorted(name for name, count in counts.items() if count > 1):
        problems.append(f"deployment name {duplicate!r} is used more than once")
    if len(live) > MAX_DEPLOYMENTS_PER_ENDPOINT:
        problems.append(
            f"at most {MAX_DEPLOYMENTS_PER_ENDPOINT} deployments per endpoint, got {len(live)}"
        )
    return problems
