"""One replay: traffic through the serving model, Azure Monitor's metrics, and the autoscaler.

Each simulated minute: requests arrive and are served tick by tick (``serving``); at the minute's
end the deployment's gauges become metric points the way they reach Azure Monitor (the in-container
publisher's ``vllm`` namespace, one point per serving instance per publish; the platform's
deployment metrics); then the autoscaler (``engine``) reads them ``lag`` minutes late and sets the
instance count, which the deployment follows (new instances serve after the cold start).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from tools.autoscale_sim.engine import Autoscaler, Decision, MetricStore
from tools.autoscale_sim.inputs import InputsError, SimInputs
from tools.autoscale_sim.serving import Deployment, MinuteSample, Request, ServingModel
from tools.autoscale_sim.traffic import Traffic, arrivals

# Namespaces the simulator can publish. The deployment's platform metrics (supported-metrics
# reference for Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments) and the
# publisher's custom namespace (docker/metrics_publisher.py).
PLATFORM = "microsoft.machinelearningservices/workspaces/onlineendpoints/deployments"
CUSTOM = "vllm"
MODELLED = {
    (PLATFORM, "GpuUtilizationPercentage"),
    (PLATFORM, "RequestsPerMinute"),
    (PLATFORM, "RequestLatency_P50"),
    (PLATFORM, "RequestLatency_P90"),
    (PLATFORM, "RequestLatency_P95"),
    (PLATFORM, "RequestLatency_P99"),
    (CUSTOM, "requests_waiting"),
    (CUSTOM, "requests_running"),
    (CUSTOM, "kv_cache_usage_percent"),
}


@dataclass(frozen=True)
class Options:
    seed: int = 1
    # Azure Monitor reads a minute's metrics this many minutes after it ends: the publisher posts
    # once a minute and custom metrics appear within 30 s 99 % of the time
    # (metrics-custom-overview.md, "Latency and storage retention").
    lag_minutes: int = 1
    publish_every_minutes: int = 1


@dataclass
class Result:
    inputs: SimInputs
    traffic: Traffic
    model: ServingModel
    options: Options
    minutes: list[MinuteSample]
    requests: list[Request]
    decisions: list[Decision]
    flapping_skips: int
    instance_hours: float
    oracle_instances: list[int] = field(default_factory=list)

    @property
    def oracle_instance_hours(self) -> float:
        return sum(self.oracle_instances) / 60


def _check_modelled(inputs: SimInputs) -> None:
    for profile in inputs.profiles:
        for rule in profile.rules:
            key = (rule.metric_namespace.lower(), rule.metric_name)
            if key not in MODELLED:
                raise InputsError(
                    f"profile {profile.name!r} has a rule on {rule.metric_namespace}/"
                    f"{rule.metric_name}, which the simulator does not model"
                )


def _publish(store: MetricStore, sample: MinuteSample, publish: bool) -> None:
    minute = sample.minute
    for instance, percent in sample.gpu_percent:
        store.add(
            PLATFORM,
            "GpuUtilizationPercentage",
            minute,
            percent,
            {"instanceId": str(instance)},
            per_instance=True,
        )
    for code, count in (("200", sample.ok), ("429", sample.rejected), ("408", sample.timed_out)):
        if count:
            store.add(PLATFORM, "RequestsPerMinute", minute, count, {"envoy_response_code": code})
    if sample.latencies_ms:
        ordered = sorted(sample.latencies_ms)
        for name, fraction in (("P50", 0.5), ("P90", 0.9), ("P95", 0.95), ("P99", 0.99)):
            index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
            store.add(PLATFORM, f"RequestLatency_{name}", minute, ordered[index])
    if not publish:
        return
    for instance, running, waiting, kv in sample.vllm:
        dims = {"instance": str(instance)}
        store.add(CUSTOM, "requests_running", minute, running, dims, per_instance=True)
        store.add(CUSTOM, "requests_waiting", minute, waiting, dims, per_instance=True)
        store.add(CUSTOM, "kv_cache_usage_percent", minute, kv * 100, dims, per_instance=True)


def _oracle(
    requests: list[Request], model: ServingModel, inputs: SimInputs, autoscaler: Autoscaler, n: int
) -> list[int]:
    """Instances an oracle would run each minute: ceil(load / (0.8 x maxNumSeqs)) within the
    profile's bounds, where load is the requests in flight if none ever waited."""
    seqs = inputs.deployment.max_num_seqs
    batch = 0.8 * seqs
    load = [0.0] * n
    for request in requests:
        start = request.arrival
        end = start + model.ideal_seconds(request, batch)
        first, last = int(start // 60), min(n - 1, int(end // 60))
        for minute in range(first, last + 1):
            overlap = min(end, (minute + 1) * 60) - max(start, minute * 60)
            load[minute] += max(0.0, overlap) / 60
    out = []
    for minute, value in enumerate(load):
        profile = autoscaler.profile(minute)
        out.append(min(profile.maximum, max(profile.minimum, math.ceil(value / batch - 1e-9))))
    return out


def run(inputs: SimInputs, traffic: Traffic, model: ServingModel, options: Options) -> Result:
    _check_modelled(inputs)
    # Seeded for reproducible replays, not for secrecy.
    rng = random.Random(options.seed)  # noqa: S311
    requests = model.requests(arrivals(traffic, rng), rng)
    store = MetricStore()
    autoscaler = Autoscaler(inputs, store, options.lag_minutes, traffic.start_minute)
    deployment = Deployment(model, inputs.deployment, inputs.deployment.initial_instances)
    dt = model.tick_seconds
    ticks = round(60 / dt)
    samples: list[MinuteSample] = []
    position = 0
    for minute in range(len(traffic.per_minute)):
        arrived = 0
        for tick in range(1, ticks + 1):
            now = minute * 60 + tick * dt
            while position < len(requests) and requests[position].arrival < now:
                deployment.admit(requests[position], requests[position].arrival)
                position += 1
                arrived += 1
            deployment.step(now, dt)
        end = (minute + 1) * 60
        sample = deployment.sample(minute, end)
        sample.arrived = arrived
        samples.append(sample)
        _publish(store, sample, minute % options.publish_every_minutes == 0)
        if inputs.enabled:
            target = autoscaler.evaluate(minute, deployment.capacity)
            if target != deployment.capacity:
                deployment.scale_to(target, end)
        # The count autoscale leaves in force after this minute's evaluation.
        sample.capacity = deployment.capacity
    return Result(
        inputs=inputs,
        traffic=traffic,
        model=model,
        options=options,
        minutes=samples,
        requests=requests,
        decisions=autoscaler.decisions,
        flapping_skips=autoscaler.flapping_skips,
        instance_hours=deployment.instance_seconds / 3600,
        oracle_instances=_oracle(requests, model, inputs, autoscaler, len(traffic.per_minute)),
    )
