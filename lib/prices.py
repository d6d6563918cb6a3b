"""Pay-as-you-go prices of the VM sizes AzureML deployments run on: a dated table with its source.

    python -m lib.prices --refresh                 # regions of the committed stacks, every GPU size
    python -m lib.prices --refresh --region westeurope --region eastus2

The table (``lib/prices.json``) is what the offline preview and the autoscale simulator price with.
It never guesses: a size or region missing from it is reported as "price unknown", with the command
that fills it in. ``--refresh`` reads Azure's public Retail Prices API (no login needed), so it runs
only where that host is reachable; it rewrites the table with today's date as ``retrieved``.

AzureML bills a managed online deployment as its instances' compute: instance-hours times the VM
size's price (Azure Machine Learning pricing page: "no additional charge" for the service itself).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

TABLE = Path(__file__).with_name("prices.json")
RETAIL_PRICES_API = "https://prices.azure.com/api/retail/prices"
# The Azure pricing calculator's month: 730 hours (365 x 24 / 12).
HOURS_PER_MONTH = 730
# The API pages 100 items at a time; one size in one region has a handful of meters.
MAX_PAGES = 20
REQUEST_TIMEOUT_SECONDS = 30
REFRESH_DEADLINE_SECONDS = 600


@dataclass(frozen=True)
class PriceTable:
    """Hourly prices by region and VM size, with where and when they were read."""

    retrieved: str
    source: str
    currency: str
    prices: Mapping[str, Mapping[str, float]]

    def hourly(self, region: str, size: str) -> float | None:
        return self.prices.get(region, {}).get(size)

    def priced(self, region: str, size: str) -> tuple[float | None, str]:
        """The hourly price and where it comes from, or None and :meth:`unknown`'s message."""
        hourly = self.hourly(region, size)
        if hourly is None:
            return None, self.unknown(region, size)
        return hourly, f"{self.currency}, lib/prices.json, retrieved {self.retrieved}"

    def unknown(self, region: str, size: str) -> str:
        """The message for a price the table does not hold: never a guess."""
        return (
            f"price unknown for {size} in {region} (not in lib/prices.json, retrieved "
            f"{self.retrieved}; `make prices REGION={region}` adds it where prices.azure.com is "
            "reachable)"
        )


def load(path: Path = TABLE) -> PriceTable:
    data = json.loads(path.read_text(encoding="utf-8"))
    return PriceTable(
        retrieved=data["retrieved"],
        source=data["source"],
        currency=data["currency"],
        prices={
            region: {size: float(price) for size, price in sizes.items()}
            for region, sizes in data["prices"].items()
        },
    )


# --- Refresh from the Retail Prices API ------------------------------------------------------------

Fetch = Callable[[str], Mapping[str, Any]]


def _http_get_json(url: str) -> Mapping[str, Any]:
    import requests

    response = requests.get(url, timeout=REQUEST_TIMEOUT_SECONDS)
    response.raise_for_status()
    return response.json()


def _query(region: str, size: str) -> str:
    expression = (
        "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' "
        f"and armRegionName eq '{region}' and armSkuName eq '{size}'"
    )
    return f"{RETAIL_PRICES_API}?currencyCode='USD'&$filter={quote(expression)}"


def _is_linux_pay_as_you_go(item: Mapping[str, Any]) -> bool:
    """The Linux on-demand meter: not Windows, not Spot, not Low Priority, billed per hour."""
    meter = str(item.get("meterName", ""))
    product = str(item.get("productName", ""))
    return (
        item.get("type") in (None, "Consumption")
        and item.get("unitOfMeasure", "1 Hour") == "1 Hour"
        and "Windows" not in product
        and "Spot" not in meter
        and "Low Priority" not in meter
    )


def fetch_price(region: str, size: str, fetch: Fetch, deadline: float) -> float | None:
    """The size's Linux pay-as-you-go price in the region, or None when Azure lists none."""
    url: str | None = _query(region, size)
    found: list[float] = []
    for _ in range(MAX_PAGES):
        if url is None:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the refresh took longer than {REFRESH_DEADLINE_SECONDS} s")
        page = fetch(url)
        items = page.get("Items", [])
        if not isinstance(items, list):
            raise ValueError("unexpected Retail Prices API answer: Items is not a list")
        found += [
            float(item["retailPrice"])
            for item in items
            if isinstance(item, dict) and _is_linux_pay_as_you_go(item)
        ]
        next_link = page.get("NextPageLink")
        url = next_link if isinstance(next_link, str) and next_link else None
    # One meter per size and region is the norm; where Azure lists several, the highest is the
    # one that does not assume a discount.
    return max(found) if found else None


def refresh(
    regions: Iterable[str], sizes: Iterable[str], fetch: Fetch = _http_get_json, today: str = ""
) -> dict[str, Any]:
    """A new table for the regions and sizes, read from the Retail Prices API."""
    deadline = time.monotonic() + REFRESH_DEADLINE_SECONDS
    prices: dict[str, dict[str, float]] = {}
    for region in sorted(set(regions)):
        for size in sorted(set(sizes)):
            price = fetch_price(region, size, fetch, deadline)
            if price is not None:
                prices.setdefault(region, {})[size] = price
    return {
        "currency": "USD",
        "note": (
            "Pay-as-you-go Linux prices per instance-hour (Azure Retail Prices API, priceType "
            "Consumption, no Spot or Low Priority meters). AzureML managed online deployments "
            "bill the VM size's compute price. Refresh with `make prices` on a machine that "
            "reaches prices.azure.com."
        ),
        "retrieved": today or datetime.now(UTC).date().isoformat(),
        "source": f"Azure Retail Prices API ({RETAIL_PRICES_API})",
        "prices": prices,
    }


def write(table: Mapping[str, Any], path: Path = TABLE) -> None:
    path.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _stack_regions() -> list[str]:
    import yaml

    root = TABLE.parent.parent
    regions = []
    for stack_file in sorted(root.glob("Pulumi.*.yaml")):
        config = (yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}).get("config", {})
        region = config.get("azure-native:location")
        if isinstance(region, str):
            regions.append(region)
    return regions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lib.prices", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--refresh", action="store_true", help="read the Retail Prices API")
    parser.add_argument("--region", action="append", default=[], help="a region (repeatable)")
    arguments = parser.parse_args(argv)
    if not arguments.refresh:
        table = load()
        print(f"{TABLE.name}: retrieved {table.retrieved}; source: {table.source}")
        for region, sizes in sorted(table.prices.items()):
            for size, price in sorted(sizes.items()):
                print(f"  {region:<20} {size:<28} {price:>9.3f} {table.currency}/h")
        return 0
    from lib.catalog import GPU_INSTANCE_TYPES

    regions = arguments.region or _stack_regions()
    try:
        table = refresh(regions, GPU_INSTANCE_TYPES)
    except (OSError, ValueError, TimeoutError) as error:
        # requests' errors derive from OSError; none of them carries a credential (no login).
        print(f"Could not read the Retail Prices API: {error}", file=sys.stderr)
        return 1
    write(table)
    count = sum(len(sizes) for sizes in table["prices"].values())
    print(f"Wrote {count} prices for {', '.join(sorted(set(regions)))} to {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
