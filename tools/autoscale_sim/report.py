"""The figures of one replay, as a dictionary (``--json``) and as text."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from tools.autoscale_sim.serving import Request, percentile
from tools.autoscale_sim.simulate import Result


def _fates(requests: list[Request]) -> dict[str, Any]:
    total = len(requests)
    served = sum(1 for r in requests if r.status == 200)
    rejected = sum(1 for r in requests if r.status == 429)
    timed_out = sum(1 for r in requests if r.status == 408)
    done = [r for r in requests if r.status == 200]
    return {
        "requests": total,
        "served": served,
        "rejected429": rejected,
        "timedOut408": timed_out,
        "unfinished": total - served - rejected - timed_out,
        "lostPercent": round(100 * (rejected + timed_out) / total, 2) if total else 0.0,
        "p95QueueWaitSeconds": round(percentile([r.started - r.arrival for r in done], 0.95), 1),
        "p95LatencySeconds": round(percentile([r.finished - r.arrival for r in done], 0.95), 1),
    }


def summary(result: Result, hourly_price: float | None, price_source: str = "") -> dict[str, Any]:
    capacity = [m.capacity for m in result.minutes]
    profile_minimum = [
        result_profile.minimum
        for result_profile in (_profile_at(result, minute) for minute in range(len(result.minutes)))
    ]
    oracle_hours = result.oracle_instance_hours
    out: dict[str, Any] = {
        "stack": result.inputs.stack,
        "deployment": result.inputs.deployment.name,
        "autoscaleSetting": result.inputs.setting_name,
        "inputsFrom": result.inputs.source,
        "traffic": result.traffic.name,
        "minutes": len(result.minutes),
        "seed": result.options.seed,
        "instanceHours": round(result.instance_hours, 2),
        "oracleInstanceHours": round(oracle_hours, 2),
        "ratioToOracle": round(result.instance_hours / oracle_hours, 3) if oracle_hours else None,
        "maxInstances": max(capacity, default=0),
        "minutesAboveProfileMinimum": sum(
            1 for c, low in zip(capacity, profile_minimum, strict=True) if c > low
        ),
        "scaleActions": len(result.decisions),
        "flappingSkips": result.flapping_skips,
        **_fates(result.requests),
    }
    out["priceSource"] = price_source
    if hourly_price is not None:
        out["hourlyPrice"] = hourly_price
        out["cost"] = round(result.instance_hours * hourly_price, 2)
        out["oracleCost"] = round(oracle_hours * hourly_price, 2)
    if result.traffic.focus:
        start, end = result.traffic.focus
        focus = [r for r in result.requests if start * 60 <= r.arrival < end * 60]
        out["focus"] = {"fromMinute": start, "toMinute": end, **_fates(focus)}
    model = asdict(result.model)
    model["decode_speeds"] = [list(point) for point in result.model.decode_speeds]
    out["model"] = {
        **model,
        "admission": "2 x maxConcurrentRequestsPerInstance per serving instance, 429 past it",
        "maxConcurrentRequestsPerInstance": result.inputs.deployment.max_concurrent_requests_per_instance,
        "maxNumSeqs": result.inputs.deployment.max_num_seqs,
        "requestTimeoutSeconds": result.inputs.deployment.request_timeout_seconds,
        "metricLagMinutes": result.options.lag_minutes,
        "publishEveryMinutes": result.options.publish_every_minutes,
    }
    return out


def _profile_at(result: Result, minute: int):
    from tools.autoscale_sim.engine import Autoscaler, MetricStore

    # Profile choice depends only on the clock, so a fresh autoscaler answers it.
    return Autoscaler(result.inputs, MetricStore(), 0, result.traffic.start_minute).profile(minute)


def text(summary: dict[str, Any]) -> str:
    lines = [
        f"stack {summary['stack']}, deployment {summary['deployment']}, traffic "
        f"{summary['traffic']} ({summary['minutes']} min, seed {summary['seed']}, inputs from "
        f"{summary['inputsFrom']})",
        f"  instance-hours      {summary['instanceHours']:.2f} (oracle "
        f"{summary['oracleInstanceHours']:.2f}, ratio {summary['ratioToOracle']})",
    ]
    if "cost" in summary:
        lines.append(
            f"  cost                {summary['cost']:.2f} at {summary['hourlyPrice']}/h "
            f"({summary['priceSource']}); oracle {summary['oracleCost']:.2f}"
        )
    else:
        lines.append(
            f"  cost                not computed: {summary['priceSource']}; pass --hourly-price"
        )
    for label, block in (("all", summary), ("focus", summary.get("focus"))):
        if not block:
            continue
        lines.append(
            f"  requests ({label:5}) {block['requests']}: served {block['served']}, 429 "
            f"{block['rejected429']}, 408 {block['timedOut408']}, unfinished "
            f"{block['unfinished']}, lost {block['lostPercent']} %; p95 queue wait "
            f"{block['p95QueueWaitSeconds']} s, p95 latency {block['p95LatencySeconds']} s"
        )
    lines.append(
        f"  instances           max {summary['maxInstances']}, minutes above the profile "
        f"minimum {summary['minutesAboveProfileMinimum']}, scale actions "
        f"{summary['scaleActions']}, flapping skips {summary['flappingSkips']}"
    )
    model = summary["model"]
    lines.append(
        "  model               decode tok/s by batch "
        + ", ".join(f"{b}:{s:g}" for b, s in model["decode_speeds"])
        + f"; output tokens log-normal median {model['output_median_tokens']:g} sigma "
        f"{model['output_sigma']:g}; cold start {model['cold_start_minutes']:g} min; admission "
        f"2 x {model['maxConcurrentRequestsPerInstance']} per instance; maxNumSeqs "
        f"{model['maxNumSeqs']}; timeout {model['requestTimeoutSeconds']:g} s; metric lag "
        f"{model['metricLagMinutes']} min"
    )
    return "\n".join(lines)
