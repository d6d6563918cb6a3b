"""A model of AzureML's front end and vLLM on each instance, stepped one tick at a time.

Every assumption is a field of :class:`ServingModel`, printed with each result and described in
docs/autoscale.md ("The simulator's model"):

* Admission (DOCS how-to-troubleshoot-online-endpoints.md): the endpoint keeps at most
  2 x ``maxConcurrentRequestsPerInstance`` x serving instances in flight and answers 429 to the
  rest. Each instance is sent at most ``maxConcurrentRequestsPerInstance`` at once; the other
  admitted requests wait in the front end (``maxQueueWait`` is deprecated in favour of the request
  timeout, which the wait counts against), oldest first, for the least-loaded instance.
* vLLM runs up to ``--max-num-seqs`` of the requests it holds and keeps the rest waiting. Each
  running stream decodes at a per-stream speed that falls with the batch size (interpolated from
  ``decode_speeds``); a prompt first costs ``prompt tokens / prefill_tokens_per_second``.
* A request still unfinished ``requestTimeout`` after it arrived is answered 408 and dropped.
* A new instance serves ``cold_start_minutes`` after autoscale asks for it and is billed from the
  ask; a removed instance takes no new requests, finishes what it holds, and is billed until then.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from dataclasses import dataclass, field

from tools.autoscale_sim.inputs import DeploymentModel


@dataclass(frozen=True)
class ServingModel:
    """The stated assumptions of the serving model (see the module docstring)."""

    # (batch size, tokens/s per stream) for an 8B model on one A100: about 75 alone, 62 at 8,
    # 52 at 16; linear between the points and beyond the last, never below the floor.
    decode_speeds: tuple[tuple[int, float], ...] = ((1, 75.0), (8, 62.0), (16, 52.0))
    decode_floor: float = 20.0
    # R1 distills reason before they answer: log-normal output lengths, median 1,500 tokens.
    output_median_tokens: float = 1500.0
    output_sigma: float = 0.7
    prompt_median_tokens: float = 300.0
    prompt_sigma: float = 0.8
    max_model_len: int = 32768
    prefill_tokens_per_second: float = 8000.0
    # KV cache an 8B Llama leaves on an 80 GB A100 (~128 KiB per token; FIELD_NOTES, vLLM).
    kv_cache_tokens: int = 400_000
    # GpuUtilizationPercentage is the share of time a kernel runs: ~95 % with one stream.
    gpu_busy_percent: float = 95.0
    cold_start_minutes: float = 12.0
    tick_seconds: float = 1.0

    def decode_speed(self, batch: int) -> float:
        points = self.decode_speeds
        if batch <= points[0][0]:
            return points[0][1]
        for (b0, s0), (b1, s1) in itertools.pairwise(points):
            if batch <= b1:
                return s0 + (s1 - s0) * (batch - b0) / (b1 - b0)
        (b0, s0), (b1, s1) = points[-2], points[-1]
        return max(self.decode_floor, s1 + (s1 - s0) * (batch - b1) / (b1 - b0))

    def ideal_seconds(self, request: Request, batch: float) -> float:
        """How long a request takes when it never waits, at a batch of ``batch`` streams."""
        return request.prompt_tokens / self.prefill_tokens_per_second + request.output_tokens / (
            self.decode_speed(max(1, round(batch)))
        )

    def requests(self, times: list[float], rng: random.Random) -> list[Request]:
        out = []
        for index, arrival in enumerate(times):
            prompt = min(
                self.max_model_len // 2,
                max(
                    1,
                    round(
                        rng.lognormvariate(math.log(self.prompt_median_tokens), self.prompt_sigma)
                    ),
                ),
            )
            output = min(
                self.max_model_len - prompt,
                max(
                    1,
                    round(
                        rng.lognormvariate(math.log(self.output_median_tokens), self.output_sigma)
                    ),
                ),
            )
            out.append(Request(index, arrival, prompt, output))
        return out


@dataclass(eq=False)
class Request:
    id: int
    arrival: float
    prompt_tokens: int
    output_tokens: int
    prefill_left: float = 0.0
    tokens_left: float = 0.0
    started: float = -1.0  # when vLLM began the prefill (the end of all queueing)
    finished: float = -1.0
    status: int = 0  # 200, 408 or 429 once decided


@dataclass(eq=False)
class Instance:
    id: int
    created: float
    ready_at: float
    removed_at: float = -1.0  # asked to leave: takes no new requests, drains, then is gone
    gone_at: float = -1.0
    held: list[Request] = field(default_factory=list)  # in vLLM: the first max_num_seqs run
    busy_seconds: float = 0.0  # this minute, with at least one stream running

    def serving(self, now: float) -> bool:
        return self.ready_at <= now and self.removed_at < 0


@dataclass
class MinuteSample:
    """What one minute looked like, for Azure Monitor's metrics and the report."""

    minute: int
    instances: int  # billed this minute (starting, serving, draining)
    serving: int
    capacity: int
    arrived: int = 0
    ok: int = 0
    rejected: int = 0
    timed_out: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    gpu_percent: list[tuple[int, float]] = field(default_factory=list)  # (instance, %)
    vllm: list[tuple[int, int, int, float]] = field(default_factory=list)  # running, waiting, kv
    front_queue: int = 0


class Deployment:
    """Instances, the front end's queue and every request's fate."""

    def __init__(self, model: ServingModel, deployment: DeploymentModel, initial: int):
        self.model = model
        self.deployment = deployment
        self.instances: list[Instance] = []
        self.queue: deque[Request] = deque()
        self.done: list[Request] = []
        self.instance_seconds = 0.0
        self._this_minute: list[Request] = []
        self._next_id = 0
        for _ in range(initial):
            self._add(now=0.0, ready_at=0.0)

    @property
    def capacity(self) -> int:
        """Instances autoscale counts: those not asked to leave."""
        return sum(1 for i in self.instances if i.removed_at < 0)

    def _add(self, now: float, ready_at: float) -> None:
        self.instances.append(Instance(self._next_id, now, ready_at))
        self._next_id += 1

    def scale_to(self, target: int, now: float) -> None:
        change = target - self.capacity
        for _ in range(change):
            self._add(now, now + self.model.cold_start_minutes * 60)
        if change < 0:
            # Starting instances go first (nothing to drain), newest first; then the least busy.
            active = [i for i in self.instances if i.removed_at < 0]
            active.sort(key=lambda i: (i.ready_at <= now, len(i.held), -i.created))
            for instance in active[:-change]:
                instance.removed_at = now

    def _finish(self, request: Request, status: int, now: float) -> None:
        request.status, request.finished = status, now
        self.done.append(request)
        self._this_minute.append(request)

    def admit(self, request: Request, now: float) -> None:
        serving = sum(1 for i in self.instances if i.serving(now))
        in_flight = len(self.queue) + sum(len(i.held) for i in self.instances if i.removed_at < 0)
        limit = 2 * self.deployment.max_concurrent_requests_per_instance * serving
        if in_flight >= limit:
            self._finish(request, 429, now)
        else:
            request.prefill_left = request.prompt_tokens / self.model.prefill_tokens_per_second
            request.tokens_left = float(request.output_tokens)
            self.queue.append(request)

    def step(self, now: float, dt: float) -> None:
        """Advance ``dt`` seconds ending at ``now``: dispatch, decode, time out, drain."""
        concurrency = self.deployment.max_concurrent_requests_per_instance
        timeout = self.deployment.request_timeout_seconds
        serving = [i for i in self.instances if i.serving(now)]
        while self.queue and serving:
            target = min(serving, key=lambda i: len(i.held))
            if len(target.held) >= concurrency:
                break
            target.held.append(self.queue.popleft())
        while self.queue and now - self.queue[0].arrival > timeout:
            self._finish(self.queue.popleft(), 408, now)
        seqs = self.deployment.max_num_seqs
        for instance in self.instances:
            if instance.gone_at >= 0:
                continue
            self.instance_seconds += dt
            if instance.held:
                alive = []
                for request in instance.held:
                    if now - request.arrival > timeout:
                        self._finish(request, 408, now)
                    else:
                        alive.append(request)
                instance.held = alive
            if not instance.held:
                if instance.removed_at >= 0:
                    instance.gone_at = now
                continue
            instance.busy_seconds += dt
            running = instance.held[:seqs]
            speed = self.model.decode_speed(len(running)) * dt
            still: list[Request] = []
            for request in running:
                if request.started < 0:
                    request.started = max(request.arrival, now - dt)
                if request.prefill_left > 0:
                    request.prefill_left -= dt
                    still.append(request)
                    continue
                request.tokens_left -= speed
                if request.tokens_left <= 0:
                    self._finish(request, 200, now)
                else:
                    still.append(request)
            # Finished streams leave the batch; waiting ones move up, oldest first.
            instance.held = still + instance.held[seqs:]

    def sample(self, minute: int, now: float) -> MinuteSample:
        """The gauges at the end of a minute (what the publisher reads every 60 s)."""
        sample = MinuteSample(
            minute=minute,
            instances=sum(1 for i in self.instances if i.gone_at < 0),
            serving=sum(1 for i in self.instances if i.serving(now)),
            capacity=self.capacity,
            front_queue=len(self.queue),
        )
        for request in self._this_minute:
            if request.status == 200:
                sample.ok += 1
                sample.latencies_ms.append((request.finished - request.arrival) * 1000)
            elif request.status == 429:
                sample.rejected += 1
            else:
                sample.timed_out += 1
        self._this_minute = []
        seqs = self.deployment.max_num_seqs
        for instance in self.instances:
            if instance.ready_at > now or instance.gone_at >= 0:
                instance.busy_seconds = 0.0
                continue
            busy = min(1.0, instance.busy_seconds / 60)
            sample.gpu_percent.append((instance.id, self.model.gpu_busy_percent * busy))
            running = min(seqs, len(instance.held))
            tokens = sum(
                r.prompt_tokens + r.output_tokens - max(0.0, r.tokens_left)
                for r in instance.held[:seqs]
            )
            sample.vllm.append(
                (
                    instance.id,
                    running,
                    len(instance.held) - running,
                    min(1.0, tokens / self.model.kv_cache_tokens),
                )
            )
            instance.busy_seconds = 0.0
        self.instances = [i for i in self.instances if i.gone_at < 0]
        return sample


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]
