"""Public GPU rental prices with their provenance (`data/gpu_prices.csv`): every point names its provider,
region, kind (on demand, spot, reserved), $/GPU-hour, the date it was read and where, with the line it was
read from. The catalog's one default price per accelerator (`hardware.csv` cloud_usd_per_hour, what the engine
bills) is one of these points; the service stores all of them as PricePoints (`manage.py seed_catalog`) so a
team compares providers and dates.

Rule for the default: Lambda's single-GPU on-demand rate where Lambda rents the accelerator (as the first
prices were), otherwise the on-demand point nearest the median of those listed. Accelerators with no public
on-demand price are listed in NO_PUBLIC_PRICE with what was tried; they show "no price", never $0.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

PRICES_CSV = Path(__file__).parent / "data" / "gpu_prices.csv"
KINDS = ("on_demand", "spot", "reserved")

NO_PUBLIC_PRICE: dict[str, str] = {
    "gb300-288gb": "CoreWeave lists GB300 NVL72 as 'Contact sales'; Azure's ND GB300 v6 pages give no price",
    "gaudi2-96gb": "only on Intel's developer cloud, no hourly list price found",
    "gaudi3-128gb": "announced for IBM Cloud and Intel's AI cloud, no hourly list price found",
    "mi250x-128gb": "one undated aggregator listing ($1.35/h) beside an obviously wrong $0.00 one: not used",
    "v100-pcie-16gb": (
        "V100 rentals found are SXM2 (AWS p3; Google Cloud's nvidia-tesla-v100, 15.7 FP32 TFLOPS with "
        "NVLink, priced under v100-sxm2-16gb) or do not state the form factor"
    ),
    "v100-pcie-32gb": (
        "V100 rentals found are SXM2 (AWS p3dn; Google Cloud offers only the 16 GB SXM2 part) or do not "
        "state the form factor"
    ),
}
"""Datacenter accelerators of the catalog without a public on-demand price point, and why."""


@dataclass(frozen=True)
class PricePointRow:
    hardware: str
    provider: str
    region: str
    kind: str
    usd_per_gpu_hour: float
    as_of: dt.date
    source: str
    quote: str


class PriceDataError(ValueError):
    """A malformed row of gpu_prices.csv; the message names the line and the column."""


def load_price_points(path: Path = PRICES_CSV) -> list[PricePointRow]:
    """Every row of the price file, checked: a known kind, a positive price, an ISO date not in the future,
    a source and the quoted line."""
    rows: list[PricePointRow] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line, raw in enumerate(csv.DictReader(handle), start=2):

            def need(column: str, raw: dict[str, str] = raw, line: int = line) -> str:
                value = (raw.get(column) or "").strip()
                if not value:
                    raise PriceDataError(f"{path.name} line {line}: {column} is empty")
                return value

            kind = need("kind")
            if kind not in KINDS:
                raise PriceDataError(
                    f"{path.name} line {line}: kind {kind!r} is not one of {', '.join(KINDS)}"
                )
            try:
                price = float(need("usd_per_gpu_hour"))
                as_of = dt.date.fromisoformat(need("as_of"))
            except ValueError as error:
                raise PriceDataError(f"{path.name} line {line}: {error}") from None
            if not price > 0:
                raise PriceDataError(f"{path.name} line {line}: usd_per_gpu_hour must be positive")
            rows.append(
                PricePointRow(
                    hardware=need("hardware"),
                    provider=need("provider"),
                    region=(raw.get("region") or "").strip(),
                    kind=kind,
                    usd_per_gpu_hour=price,
                    as_of=as_of,
                    source=need("source"),
                    quote=need("quote"),
                )
            )
    return rows
