"""The autoscale simulator's own properties: Azure Monitor's semantics, monotonic response to load,
cooldowns and bounds, exact CSV replay, determinism, and the command line."""

from __future__ import annotations

import itertools
import json
import struct
import zlib
from pathlib import Path

import pytest

from tests.support import sim_inputs
from tools.autoscale_sim import __main__ as cli
from tools.autoscale_sim import engine, png, simulate, traffic
from tools.autoscale_sim.inputs import InputsError, minutes
from tools.autoscale_sim.inputs import from_json as inputs_from_json
from tools.autoscale_sim.serving import ServingModel

MODEL = ServingModel(tick_seconds=2.0)
OPTIONS = simulate.Options()


def _ramp(peak: float, hours: int = 4) -> traffic.Traffic:
    """Quiet, a plateau at ``peak`` requests per minute, quiet again."""
    quarter = hours * 15
    rates = (2.0,) * quarter + (peak,) * (2 * quarter) + (2.0,) * quarter
    return traffic.Traffic("ramp", rates, exact=False)


def _run(load: traffic.Traffic, **make) -> simulate.Result:
    return simulate.run(sim_inputs.make(**make), load, MODEL, OPTIONS)


@pytest.mark.parametrize("duration", ["PT1M", "PT1H30M", "P7D", "PT180S", "PT5M"])
def test_iso_durations(duration: str) -> None:
    assert (
        minutes(duration)
        == {"PT1M": 1, "PT1H30M": 90, "P7D": 10080, "PT180S": 3, "PT5M": 5}[duration]
    )


@pytest.mark.parametrize("bad", ["", "P", "PT", "5M", "PT5X"])
def test_bad_durations_are_refused(bad: str) -> None:
    with pytest.raises(InputsError):
        minutes(bad)


def test_more_load_never_gives_fewer_instances() -> None:
    previous_max, previous_hours = 0, 0.0
    for peak in (10, 40, 80, 160):
        result = _run(_ramp(peak))
        peak_instances = max(m.capacity for m in result.minutes)
        assert peak_instances >= previous_max, peak
        assert result.instance_hours >= previous_hours - 1e-9, peak
        previous_max, previous_hours = peak_instances, result.instance_hours
    assert previous_max > 1  # the heaviest load did scale out


def test_cooldowns_and_bounds_hold() -> None:
    result = _run(_ramp(200, hours=6), minimum=2, maximum=5, initial=2)
    capacities = [m.capacity for m in result.minutes]
    assert min(capacities) >= 2 and max(capacities) == 5
    rule_actions = [d for d in result.decisions if d.reason != "profile bounds"]
    assert len(rule_actions) >= 3
    cooldown = {"Increase": 15, "Decrease": 10}
    for first, second in itertools.pairwise(rule_actions):
        direction = "Increase" if first.after > first.before else "Decrease"
        assert second.minute - first.minute >= cooldown[direction], (first, second)


def test_recurrence_bounds_apply_when_the_profile_starts() -> None:
    # A recurrence runs until the next one starts (a lone one would never end): quiet from
    # Monday 00:00, busy (at least 3 instances) from 02:00.
    inputs = sim_inputs.make(
        recurrences=(("quiet", ("Monday",), 0, 1, 2), ("busy", ("Monday",), 2, 3, 4))
    )
    load = traffic.Traffic("flat", (1.0,) * 240, exact=False)
    result = simulate.run(inputs, load, MODEL, OPTIONS)
    assert all(m.capacity == 1 for m in result.minutes[:119])
    assert all(m.capacity == 3 for m in result.minutes[120:])


def test_csv_replays_exactly_and_runs_are_deterministic(tmp_path: Path) -> None:
    counts = [0, 3, 7, 1, 0, 12, 5] * 20
    path = tmp_path / "rpm.csv"
    path.write_text("timestamp,Total\n" + "".join(f"{i},{c}\n" for i, c in enumerate(counts)))
    load = traffic.from_csv(path)
    first = simulate.run(sim_inputs.make(), load, MODEL, OPTIONS)
    assert [m.arrived for m in first.minutes] == counts
    second = simulate.run(sim_inputs.make(), load, MODEL, OPTIONS)
    assert [(r.arrival, r.output_tokens, r.status) for r in first.requests] == [
        (r.arrival, r.output_tokens, r.status) for r in second.requests
    ]


def test_csv_with_azure_timestamps_starts_at_their_weekday(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("2026-12-02T08:00:00Z,4\n2026-12-02T08:01:00Z,5\n")  # a Wednesday
    load = traffic.from_csv(path)
    assert load.start_minute == 2 * 1440 + 8 * 60
    assert load.per_minute == (4.0, 5.0)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no rows"),
        ("0,3\n2,4\n", "one minute apart"),
        ("0,-1\n", "count >= 0"),
        ("0,1.5\n", "not whole"),
        ("yesterday,3\n", "neither a minute number"),
    ],
)
def test_bad_csv_is_refused(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(traffic.TrafficError, match=fragment):
        traffic.from_csv(path)


# --- Azure Monitor semantics, on a hand-made metric store -----------------------------------------


def _store(running: list[float], instances: int = 2) -> engine.MetricStore:
    store = engine.MetricStore()
    for minute, value in enumerate(running):
        for instance in range(instances):
            store.add("vllm", "requests_running", minute, value, {"instance": str(instance)}, True)
            store.add("vllm", "requests_waiting", minute, 0, {"instance": str(instance)}, True)
    return store


def test_scale_out_when_any_rule_fires() -> None:
    store = _store([15.0] * 10)  # the batch is full: the saturation rule fires, waiting does not
    scaler = engine.Autoscaler(sim_inputs.make(), store, lag_minutes=0, start_minute=0)
    assert scaler.evaluate(9, capacity=2) == 3
    assert scaler.decisions[-1].reason == "scale out: requests_running"
    assert scaler.evaluate(10, capacity=3) == 3  # cooldown


def test_scale_in_needs_every_scale_in_rule_and_no_flapping() -> None:
    inputs = sim_inputs.make()
    quiet = engine.Autoscaler(inputs, _store([2.0] * 30), lag_minutes=0, start_minute=0)
    assert quiet.evaluate(29, capacity=4) == 3
    # 7.5 per instance on 4 instances: below the scale-in threshold (8), but 3 instances would
    # carry 10 each and 2 would carry 15 >= 13.6: scale in by one only if that does not flap.
    borderline = engine.Autoscaler(inputs, _store([7.5] * 30), lag_minutes=0, start_minute=0)
    assert borderline.evaluate(29, capacity=4) == 3
    crowded = engine.Autoscaler(inputs, _store([7.5] * 30), lag_minutes=0, start_minute=0)
    assert crowded.evaluate(29, capacity=2) == 2  # one instance would carry 15: skipped
    assert crowded.flapping_skips == 1


def test_no_data_does_not_fire_a_rule() -> None:
    scaler = engine.Autoscaler(sim_inputs.make(), engine.MetricStore(), 0, 0)
    assert scaler.evaluate(30, capacity=3) == 3


def test_rules_on_unmodelled_metrics_are_refused() -> None:
    inputs = sim_inputs.make()
    profile = inputs.profiles[0]
    rule = profile.rules[0].__class__(**{**profile.rules[0].__dict__, "metric_name": "Mystery"})
    broken = inputs.__class__(
        **{
            **inputs.__dict__,
            "profiles": (profile.__class__(**{**profile.__dict__, "rules": (rule,)}),),
        }
    )
    with pytest.raises(InputsError, match="Mystery"):
        simulate.run(broken, _ramp(5, hours=1), MODEL, OPTIONS)


# --- Output --------------------------------------------------------------------------------------


def test_png_is_a_valid_image_of_one_column_per_minute() -> None:
    data = png.plot([1, 5, 9, 2] * 30, [0, 1, 0, 0] * 30, [1, 2, 2, 1] * 30, [1] * 120, 6)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (122, 362)
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    assert len(zlib.decompress(data[start : start + length])) == height * (1 + 3 * width)
    assert data == png.plot([1, 5, 9, 2] * 30, [0, 1, 0, 0] * 30, [1, 2, 2, 1] * 30, [1] * 120, 6)


def test_command_line_reads_the_program_and_writes_json_and_a_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "day.png"
    recorded = tmp_path / "inputs.json"
    assert (
        cli.main(
            [
                "--stack",
                "prod",
                "--traffic",
                "trickle",
                "--json",
                "--plot",
                str(plot),
                "--dump-inputs",
                str(recorded),
                "--hourly-price",
                "3.5",
            ]
        )
        == 0
    )
    figures = json.loads(capsys.readouterr().out)
    assert figures["stack"] == "prod" and figures["traffic"] == "trickle"
    assert figures["cost"] == pytest.approx(figures["instanceHours"] * 3.5, abs=0.05)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The recorded inputs replay to the same figures.
    assert (
        cli.main(
            ["--inputs", str(recorded), "--traffic", "trickle", "--json", "--hourly-price", "3.5"]
        )
        == 0
    )
    replayed = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in replayed.items() if k != "inputsFrom"} == {
        k: v for k, v in figures.items() if k != "inputsFrom"
    }


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--stack", "nosuchstack"], "No stack file"),
        (["--stack", "dev"], "no autoscale setting"),
        (["--csv", "/nonexistent/rpm.csv"], "cannot read"),
        (["--hourly-price", "0"], "positive"),
        (["--traffic", "spike", "--focus", "5:3"], "must lie within"),
        (["--traffic", "spike", "--focus", "noon"], "expected FROM:TO"),
    ],
)
def test_command_line_errors_are_messages(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert fragment in error and "Traceback" not in error


def test_the_recorded_rules_from_before_issue_14_still_replay() -> None:
    path = Path(cli.__file__).parent / "recorded" / "prod-before-489aca7.json"
    recorded = inputs_from_json(path.read_text(), str(path))
    assert [p.name for p in recorded.profiles] == [
        "default",
        "business-hours",
        "off-hours",
        "weekend",
    ]
    assert {r.metric_name for r in recorded.profiles[0].rules} == {
        "RequestsPerMinute",
        "RequestLatency_P90",
        "GpuUtilizationPercentage",
    }
