"""Command line of the autoscale simulator.

    python -m tools.autoscale_sim --stack prod --traffic day [--csv FILE] [--json] [--plot FILE.png]

Exit status 0 on success, 2 on bad arguments or inputs (with a message, never a traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
from pathlib import Path

from tools.autoscale_sim import inputs as sim_inputs
from tools.autoscale_sim import png, report, simulate, traffic
from tools.autoscale_sim.serving import ServingModel


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.autoscale_sim",
        description="Replay traffic against a stack's autoscale setting (docs/autoscale.md).",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stack", default="prod", help="committed stack to read (default prod)")
    source.add_argument(
        "--inputs", type=Path, help="replay a recorded setting (from --dump-inputs) instead"
    )
    parser.add_argument(
        "--stack-file", type=Path, help="read this Pulumi.<stack>.yaml instead (a variant to try)"
    )
    parser.add_argument("--deployment", help="the autoscaled deployment, if there are several")
    parser.add_argument(
        "--traffic",
        default="day",
        choices=traffic.BUILTIN_PROFILES,
        help="built-in traffic profile (default day)",
    )
    parser.add_argument("--csv", type=Path, help="requests per minute to replay exactly")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the traffic")
    parser.add_argument(
        "--focus",
        metavar="FROM:TO",
        help="also report the requests that arrive in these minutes (a spike in a CSV)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cold-start-minutes", type=float, default=12.0)
    parser.add_argument("--lag-minutes", type=int, default=1, help="metric delay (default 1)")
    parser.add_argument("--hourly-price", type=float, help="price of one instance-hour")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--plot", type=Path, help="write load and instances as a PNG")
    parser.add_argument("--dump-inputs", type=Path, help="write the recorded setting as JSON")
    return parser


def _fail(message: str) -> int:
    print(f"autoscale_sim: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.scale < 0 or args.cold_start_minutes < 0 or args.lag_minutes < 0:
        return _fail("--scale, --cold-start-minutes and --lag-minutes must not be negative")
    if args.hourly_price is not None and not args.hourly_price > 0:
        return _fail("--hourly-price must be a positive price per instance-hour")
    gc.disable()  # a short-lived process: the collector only slows the replay down
    try:
        if args.inputs:
            recorded = sim_inputs.from_json(args.inputs.read_text(), str(args.inputs))
        else:
            recorded = _from_program(args.stack, args.deployment, args.stack_file)
        load = traffic.from_csv(args.csv) if args.csv else traffic.builtin(args.traffic)
    except (sim_inputs.InputsError, traffic.TrafficError) as error:
        return _fail(str(error))
    except OSError as error:
        return _fail(f"cannot read {error.filename}: {error.strerror}")
    if args.focus:
        try:
            start, end = (int(part) for part in args.focus.split(":"))
        except ValueError:
            return _fail(f"--focus {args.focus!r}: expected FROM:TO in minutes, e.g. 600:660")
        if not 0 <= start < end <= len(load.per_minute):
            return _fail(
                f"--focus {args.focus!r}: minutes must lie within the traffic's {len(load.per_minute)}"
            )
        load = dataclasses.replace(load, focus=(start, end))
    if args.dump_inputs:
        args.dump_inputs.write_text(sim_inputs.to_json(recorded) + "\n")
    model = dataclasses.replace(ServingModel(), cold_start_minutes=args.cold_start_minutes)
    options = simulate.Options(seed=args.seed, lag_minutes=args.lag_minutes)
    try:
        result = simulate.run(recorded, traffic.scaled(load, args.scale), model, options)
    except sim_inputs.InputsError as error:
        return _fail(str(error))
    price, price_source = _price(args.hourly_price, recorded.deployment)
    figures = report.summary(result, price, price_source)
    print(json.dumps(figures, indent=2, sort_keys=True) if args.json else report.text(figures))
    if args.plot:
        args.plot.write_bytes(
            png.plot(
                load=[m.arrived for m in result.minutes],
                lost=[m.rejected + m.timed_out for m in result.minutes],
                instances=[m.capacity for m in result.minutes],
                oracle=result.oracle_instances,
                max_instances=max(p.maximum for p in recorded.profiles),
            )
        )
    return 0


def _price(given: float | None, deployment: sim_inputs.DeploymentModel) -> tuple[float | None, str]:
    """--hourly-price, else the dated price table (lib/prices.json); never a guess."""
    if given is not None:
        return given, "--hourly-price"
    from lib import prices

    return prices.load().priced(
        deployment.region or "an unrecorded region", deployment.instance_type
    )


def _from_program(
    stack: str, deployment: str | None, stack_file: Path | None
) -> sim_inputs.SimInputs:
    from settings import SettingsError
    from tools.offline import StackFileError, stack_file_name

    try:
        if stack_file is not None:
            stack = stack_file_name(stack_file)
        return sim_inputs.from_program(stack, deployment, stack_file)
    except (SettingsError, StackFileError) as error:
        raise sim_inputs.InputsError(str(error)) from None


if __name__ == "__main__":
    sys.exit(main())
