"""The price table: read as committed, refreshed from a fake Retail Prices API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lib import prices


def test_committed_table_is_dated_sourced_and_positive() -> None:
    table = prices.load()
    assert table.retrieved and table.source and table.currency == "USD"
    assert all(price > 0 for sizes in table.prices.values() for price in sizes.values())


def test_lookup_and_unknown_message() -> None:
    table = prices.PriceTable("2026-01-01", "s", "USD", {"eastus": {"Standard_X": 2.0}})
    assert table.hourly("eastus", "Standard_X") == 2.0
    assert table.hourly("westus", "Standard_X") is None
    assert "price unknown for Standard_X in westus" in table.unknown("westus", "Standard_X")


def api(pages: dict[str, dict[str, Any]]) -> prices.Fetch:
    def fetch(url: str) -> dict[str, Any]:
        for marker, page in pages.items():
            if marker in url:
                return page
        return {"Items": []}

    return fetch


def test_refresh_keeps_only_linux_pay_as_you_go_meters_and_follows_pages(tmp_path: Path) -> None:
    size = "Standard_NC24ads_A100_v4"
    pages = {
        "eastus2": {
            "Items": [
                {
                    "retailPrice": 0.9,
                    "meterName": "NC24ads A100 v4 Spot",
                    "productName": "Virtual Machines NCadsA100v4 Series",
                    "type": "Consumption",
                    "unitOfMeasure": "1 Hour",
                },
                {
                    "retailPrice": 5.1,
                    "meterName": "NC24ads A100 v4",
                    "productName": "Virtual Machines NCadsA100v4 Series Windows",
                    "type": "Consumption",
                    "unitOfMeasure": "1 Hour",
                },
            ],
            "NextPageLink": "https://prices.azure.com/api/retail/prices?page2",
        },
        "page2": {
            "Items": [
                {
                    "retailPrice": 3.67,
                    "meterName": "NC24ads A100 v4",
                    "productName": "Virtual Machines NCadsA100v4 Series",
                    "type": "Consumption",
                    "unitOfMeasure": "1 Hour",
                }
            ]
        },
    }
    table = prices.refresh(["eastus2", "nowhere"], [size], fetch=api(pages), today="2026-12-01")
    assert table["prices"] == {"eastus2": {size: 3.67}}
    assert table["retrieved"] == "2026-12-01"
    path = tmp_path / "prices.json"
    prices.write(table, path)
    again = prices.load(path)
    assert again.hourly("eastus2", size) == 3.67
    assert json.loads(path.read_text())["source"].startswith("Azure Retail Prices API")


def test_refresh_pages_are_bounded() -> None:
    endless = {"Items": [], "NextPageLink": "https://prices.azure.com/api/retail/prices?again"}
    calls: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        calls.append(url)
        return endless

    assert prices.fetch_price("eastus", "Standard_X", fetch, deadline=float("inf")) is None
    assert len(calls) == prices.MAX_PAGES


def test_refresh_rejects_a_garbled_answer() -> None:
    with pytest.raises(ValueError, match="unexpected"):
        prices.fetch_price(
            "eastus", "Standard_X", lambda url: {"Items": "x"}, deadline=float("inf")
        )
