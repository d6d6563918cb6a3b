"""Autoscale for one deployment: Azure Monitor rules, recurrence profiles, notifications.

Keys under ``deployments[i].autoscale``: the instance bounds, ``metricsMode``, the scale-out and
scale-in thresholds (requests waiting and running per instance, rejected requests, requests per
instance), windows, steps, cooldowns, ``timeZone``,
``profiles`` and ``notifyEmails``/``notifyWebhooks``. Defaults and their reasons are in
settings/defaults.py; the rules that tie these keys to each other and to the deployment are in
settings/rules.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from lib.autoscale_rules import METRICS_MODES, default_thresholds
from lib.catalog import (
    AUTOSCALE_TIME_ZONES,
    MAX_AUTOSCALE_COOLDOWN_MINUTES,
    MAX_AUTOSCALE_PROFILES,
    MAX_AUTOSCALE_WINDOW_MINUTES,
    MAX_INSTANCES_PER_DEPLOYMENT,
    MIN_AUTOSCALE_COOLDOWN_MINUTES,
    MIN_AUTOSCALE_WINDOW_MINUTES,
    MIN_INSTANCES_PER_DEPLOYMENT,
    WEEKDAYS,
    Weekday,
)
from settings import rules
from settings.defaults import DEFAULT_AUTOSCALE, DEFAULT_PROFILE
from settings.model import AutoscaleSettings, RecurrenceProfile
from settings.reader import Reader, near_miss

EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"
START_PATTERN = r"([01][0-9]|2[0-3]):[0-5][0-9]"
WINDOW_WHY = " (Azure Monitor's time window is 5 minutes to 12 hours)"
# This project's bound on notifyEmails and notifyWebhooks each: enough for a team's rota.
MAX_NOTIFY_TARGETS = 20


def parse_autoscale(
    reader: Reader, key: str, raw: Any, max_num_seqs: int, concurrency: int
) -> AutoscaleSettings:
    """``max_num_seqs`` and ``concurrency`` are the deployment's vLLM batch and AzureML's
    per-instance concurrency: the thresholds default from them and are bounded by them."""
    values = reader.mapping(key, raw, DEFAULT_AUTOSCALE)
    profiles = _parse_profiles(reader, f"{key}.profiles", values["profiles"])
    autoscale = AutoscaleSettings(
        **_instance_bounds(reader, key, values),
        **_thresholds(reader, key, values, max_num_seqs, concurrency),
        **_scale_rules(reader, key, values),
        time_zone=_parse_time_zone(reader, f"{key}.timeZone", values["timeZone"]),
        profiles=profiles,
        notify_emails=reader.string_list(
            f"{key}.notifyEmails",
            values["notifyEmails"],
            EMAIL_PATTERN,
            "must be an e-mail address",
            max_items=MAX_NOTIFY_TARGETS,
        ),
        notify_webhooks=reader.string_list(
            f"{key}.notifyWebhooks",
            values["notifyWebhooks"],
            r"https://\S+",
            "must be an https:// URL",
            max_items=MAX_NOTIFY_TARGETS,
        ),
    )
    rules.check_instance_bounds(
        reader, key, autoscale.min_instances, autoscale.default_instances, autoscale.max_instances
    )
    rules.check_autoscale_thresholds(reader, key, autoscale, max_num_seqs)
    return autoscale


def _instance_bounds(reader: Reader, key: str, values: Mapping[str, Any]) -> dict[str, Any]:
    low, high = MIN_INSTANCES_PER_DEPLOYMENT, MAX_INSTANCES_PER_DEPLOYMENT
    why_min = " (managed online deployments cannot scale to zero)"
    why_max = f" ({high} instances is the per-deployment limit)"
    return {
        "enabled": reader.boolean(f"{key}.enabled", values["enabled"]),
        "min_instances": reader.integer(
            f"{key}.minInstances", values["minInstances"], low, high, why_min
        ),
        "default_instances": reader.integer(
            f"{key}.defaultInstances", values["defaultInstances"], low, high
        ),
        "max_instances": reader.integer(
            f"{key}.maxInstances", values["maxInstances"], low, high, why_max
        ),
    }


def _scale_rules(reader: Reader, key: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The scale-out and scale-in rules: thresholds, windows, steps and cooldowns."""

    def whole(name: str, low: int, high: int, why: str = "") -> int:
        return reader.integer(f"{key}.{name}", values[name], low, high, why)

    windows = (MIN_AUTOSCALE_WINDOW_MINUTES, MAX_AUTOSCALE_WINDOW_MINUTES)
    cooldowns = (MIN_AUTOSCALE_COOLDOWN_MINUTES, MAX_AUTOSCALE_COOLDOWN_MINUTES)
    # A step adds or removes instances; from 1 to one less than the per-deployment limit.
    max_step = MAX_INSTANCES_PER_DEPLOYMENT - 1
    return {
        "scale_out_rejected_per_minute": whole("scaleOutRejectedPerMinute", 0, 100000),
        "scale_out_window_minutes": whole("scaleOutWindowMinutes", *windows, WINDOW_WHY),
        "scale_in_window_minutes": whole("scaleInWindowMinutes", *windows, WINDOW_WHY),
        "scale_out_step": whole("scaleOutStep", 1, max_step),
        "scale_out_rejected_step": whole("scaleOutRejectedStep", 1, max_step),
        "scale_in_step": whole("scaleInStep", 1, max_step),
        "scale_out_cooldown_minutes": whole("scaleOutCooldownMinutes", *cooldowns),
        "scale_in_cooldown_minutes": whole("scaleInCooldownMinutes", *cooldowns),
    }


def _thresholds(
    reader: Reader, key: str, values: Mapping[str, Any], max_num_seqs: int, concurrency: int
) -> dict[str, Any]:
    """The metrics mode and the per-instance thresholds; a key left out (None) takes its default
    from the deployment's batch size."""
    defaults = default_thresholds(max_num_seqs)

    def number(name: str, high: float, why: str) -> float:
        value = values[name]
        if value is None:
            return defaults[name]
        # Thresholds are counts per instance: above zero, and at most what one instance holds.
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= high:
            reader.problem(
                f"{key}.{name}", value, f"must be a number above 0 and at most {high:g}{why}"
            )
            return defaults[name]
        return value  # as written, so an error echoes 16, not 16.0

    admitted = 2 * concurrency
    return {
        "metrics_mode": reader.choice(f"{key}.metricsMode", values["metricsMode"], METRICS_MODES),
        "scale_out_waiting_requests": number(
            "scaleOutWaitingRequests",
            admitted,
            f" (AzureML admits 2 x maxConcurrentRequestsPerInstance = {admitted} per instance)",
        ),
        "scale_out_running_requests": number(
            "scaleOutRunningRequests", max_num_seqs, f" (vllm.maxNumSeqs, {max_num_seqs})"
        ),
        "scale_in_running_requests": number(
            "scaleInRunningRequests", max_num_seqs, f" (vllm.maxNumSeqs, {max_num_seqs})"
        ),
        # An instance finishes at most its batch every few seconds: a per-minute bound well
        # above any real figure, to catch a value in the wrong unit.
        "scale_in_requests_per_minute": number(
            "scaleInRequestsPerMinute", 60 * max_num_seqs, " (60 x vllm.maxNumSeqs a minute)"
        ),
    }


def _parse_profiles(reader: Reader, key: str, raw: Any) -> tuple[RecurrenceProfile, ...]:
    if not isinstance(raw, list):
        reader.problem(key, raw, "must be a list of recurrence profiles")
        raw = []
    # The profile that carries minInstances/defaultInstances/maxInstances takes one of the slots.
    most = MAX_AUTOSCALE_PROFILES - 1
    if len(raw) > most:
        reader.problem(
            key,
            len(raw),
            f"at most {most} recurrence profiles (Azure allows {MAX_AUTOSCALE_PROFILES} with the "
            "default)",
        )
    profiles = tuple(
        _parse_profile(reader, f"{key}[{index}]", item, index) for index, item in enumerate(raw)
    )
    rules.check_profile_names(reader, key, profiles)
    rules.check_profile_starts(reader, key, profiles)
    rules.check_profile_not_default(reader, key, profiles)
    return profiles


def _parse_profile(reader: Reader, key: str, raw: Any, index: int) -> RecurrenceProfile:
    defaults = {"name": f"profile-{index}", **DEFAULT_PROFILE}
    values = reader.mapping(key, raw, defaults)
    name = reader.string(
        f"{key}.name",
        values["name"],
        r"[A-Za-z0-9][A-Za-z0-9 _-]{0,62}",
        "must be 1-63 letters, digits, spaces, '-' or '_'",
    )
    days = _parse_days(reader, f"{key}.days", values["days"])
    start = reader.string(
        f"{key}.start",
        values["start"],
        START_PATTERN,
        "must be a 24-hour time HH:MM, for example 08:00",
    )
    hour, minute = (
        (int(part) for part in start.split(":")) if re.fullmatch(START_PATTERN, start) else (0, 0)
    )
    low, high = MIN_INSTANCES_PER_DEPLOYMENT, MAX_INSTANCES_PER_DEPLOYMENT
    profile = RecurrenceProfile(
        name=name,
        days=days,
        start_hour=hour,
        start_minute=minute,
        min_instances=reader.integer(f"{key}.minInstances", values["minInstances"], low, high),
        default_instances=reader.integer(
            f"{key}.defaultInstances", values["defaultInstances"], low, high
        ),
        max_instances=reader.integer(f"{key}.maxInstances", values["maxInstances"], low, high),
    )
    rules.check_instance_bounds(
        reader, key, profile.min_instances, profile.default_instances, profile.max_instances
    )
    return profile


def _parse_days(reader: Reader, key: str, raw: Any) -> tuple[Weekday, ...]:
    days = reader.string_list(key, raw)
    for index, day in enumerate(days):
        if day not in WEEKDAYS:
            reader.choice(f"{key}[{index}]", day, WEEKDAYS)
    if not days:
        reader.problem(key, raw, "must name at least one day")
    # A wrong name is reported above, and settings with a problem are never returned.
    return cast(tuple[Weekday, ...], days)


def _parse_time_zone(reader: Reader, key: str, value: Any) -> str:
    if isinstance(value, str) and value in AUTOSCALE_TIME_ZONES:
        return value
    reader.problem(
        key,
        value,
        "must be a Windows time zone id as Azure Monitor autoscale spells it, for example "
        "'UTC', 'W. Europe Standard Time' or 'Eastern Standard Time' (IANA names such as "
        f"'Europe/Berlin' are refused){near_miss(value, sorted(AUTOSCALE_TIME_ZONES))}",
    )
    return "UTC"
