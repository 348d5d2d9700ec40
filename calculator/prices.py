"""Public GPU rental prices with their provenance (`data/gpu_prices.csv`): every point names its provider,
region, kind (on demand, spot, 1-year or 3-year reserved), GPUs per instance, $/instance-hour and $/GPU-hour,
the date it was read and where, with the line it was read from. The catalog's one default price per
accelerator (`hardware.csv` cloud_usd_per_hour, what the engine bills) is one of these points; the service
stores all of them as PricePoints (`manage.py seed_catalog`) so a team compares providers and dates.
Whole-server purchase prices (`data/server_prices.csv`, load_server_prices) are beside them: the
break-even's buy option prices an accelerator at its server's price per GPU where one is published.

Rule for the default: Lambda's single-GPU on-demand rate where Lambda rents the accelerator (as the first
prices were), otherwise the on-demand point nearest the median of those listed. Accelerators with no public
on-demand price are listed in NO_PUBLIC_PRICE with what was tried; they show "no price", never $0.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PRICES_CSV = Path(__file__).parent / "data" / "gpu_prices.csv"
SERVER_PRICES_CSV = Path(__file__).parent / "data" / "server_prices.csv"
KINDS = ("on_demand", "spot", "reserved_1y", "reserved_3y", "capacity_block")
"""Price kinds: on demand, spot (interruptible), a 1-year or 3-year reserved term (billed for every hour of
the term whether used or not), and a capacity block (GPUs reserved for a block of days to weeks booked ahead
and paid in full for the block: AWS EC2 Capacity Blocks for ML; a steady deployment books block after
block, so it bills every hour like on demand)."""
INSTANCE_PRICE_TOLERANCE_USD_PER_GPU = 0.01
"""usd_per_instance_hour may differ from usd_per_gpu_hour x gpus_per_instance by this much per GPU (a
provider that quotes both rounds each to the cent)."""

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
    gpus_per_instance: int = 1
    """The GPUs of the smallest instance the provider rents at this price (1 where it rents single GPUs or the
    quote names no instance)."""
    usd_per_instance_hour: float = 0.0
    """That instance's hourly price (usd_per_gpu_hour x gpus_per_instance, to the cent per GPU)."""


@dataclass(frozen=True, kw_only=True)
class ServerPrice:
    """A vendor's price for a whole server (GPUs, baseboard, CPUs, memory, network cards), with its source."""

    server: str
    hardware: str
    gpus_per_server: int
    usd: float
    kind: str
    """list (the vendor's list price, as reported), street or quote."""
    as_of: dt.date
    source: str
    quote: str

    @property
    def usd_per_gpu(self) -> float:
        return self.usd / self.gpus_per_server


class PriceDataError(ValueError):
    """A malformed row of gpu_prices.csv; the message names the line and the column."""


def _reader(path: Path):
    """(line number, row, need) for each data row: need(column) is the stripped cell, or a PriceDataError
    naming the file, line and column when it is empty."""
    with path.open(newline="", encoding="utf-8") as handle:
        for line, raw in enumerate(csv.DictReader(handle), start=2):

            def need(column: str, raw: dict[str, str] = raw, line: int = line) -> str:
                value = (raw.get(column) or "").strip()
                if not value:
                    raise PriceDataError(f"{path.name} line {line}: {column} is empty")
                return value

            yield line, raw, need


def _number(path: Path, line: int, column: str, text: str, *, whole: bool = False) -> float:
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise PriceDataError(f"{path.name} line {line}: {column} must be {kind}, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise PriceDataError(f"{path.name} line {line}: {column} must be positive, got {text!r}")
    return value


def _date(path: Path, line: int, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PriceDataError(f"{path.name} line {line}: as_of must be an ISO date, got {text!r}") from None


def load_price_points(path: Path = PRICES_CSV) -> list[PricePointRow]:
    """Every row of the price file, checked: a known kind, a positive $/GPU-hour, a positive whole number of
    GPUs per instance and an instance price of $/GPU-hour x GPUs (within a cent per GPU), an ISO date, a
    source and the quoted line. Errors name the file, the line and the column."""
    rows: list[PricePointRow] = []
    for line, raw, need in _reader(path):
        kind = need("kind")
        if kind not in KINDS:
            raise PriceDataError(f"{path.name} line {line}: kind {kind!r} is not one of {', '.join(KINDS)}")
        price = _number(path, line, "usd_per_gpu_hour", need("usd_per_gpu_hour"))
        gpus = int(_number(path, line, "gpus_per_instance", need("gpus_per_instance"), whole=True))
        instance = _number(path, line, "usd_per_instance_hour", need("usd_per_instance_hour"))
        if abs(instance - price * gpus) > INSTANCE_PRICE_TOLERANCE_USD_PER_GPU * gpus + 1e-9:
            raise PriceDataError(
                f"{path.name} line {line}: usd_per_instance_hour {instance:g} is not usd_per_gpu_hour "
                f"{price:g} x gpus_per_instance {gpus} (= {price * gpus:g}, to a cent per GPU)"
            )
        rows.append(
            PricePointRow(
                hardware=need("hardware"),
                provider=need("provider"),
                region=(raw.get("region") or "").strip(),
                kind=kind,
                usd_per_gpu_hour=price,
                as_of=_date(path, line, need("as_of")),
                source=need("source"),
                quote=need("quote"),
                gpus_per_instance=gpus,
                usd_per_instance_hour=instance,
            )
        )
    return rows


def cheapest_by_hardware(points: Iterable[PricePointRow], kind: str) -> dict[str, PricePointRow]:
    """The lowest $/GPU-hour point of `kind` per accelerator (of two equal prices, the later read): what
    renting at that kind costs at best among the points listed."""
    best: dict[str, PricePointRow] = {}
    for point in points:
        if point.kind != kind:
            continue
        current = best.get(point.hardware)
        if current is None or (point.usd_per_gpu_hour, current.as_of) < (
            current.usd_per_gpu_hour,
            point.as_of,
        ):
            best[point.hardware] = point
    return best


SERVER_KINDS = ("list", "street", "quote")


def load_server_prices(path: Path = SERVER_PRICES_CSV) -> list[ServerPrice]:
    """Whole-server prices (`data/server_prices.csv`), checked like the rental file: a positive price, a
    positive whole number of GPUs, a known kind, an ISO date, a source and the quoted text."""
    rows: list[ServerPrice] = []
    for line, _raw, need in _reader(path):
        kind = need("kind")
        if kind not in SERVER_KINDS:
            raise PriceDataError(
                f"{path.name} line {line}: kind {kind!r} is not one of {', '.join(SERVER_KINDS)}"
            )
        rows.append(
            ServerPrice(
                server=need("server"),
                hardware=need("hardware"),
                gpus_per_server=int(
                    _number(path, line, "gpus_per_server", need("gpus_per_server"), whole=True)
                ),
                usd=_number(path, line, "usd", need("usd")),
                kind=kind,
                as_of=_date(path, line, need("as_of")),
                source=need("source"),
                quote=need("quote"),
            )
        )
    return rows


def cheapest_servers(servers: Iterable[ServerPrice]) -> dict[str, ServerPrice]:
    """The whole server with the lowest price per GPU for each accelerator."""
    best: dict[str, ServerPrice] = {}
    for server in servers:
        current = best.get(server.hardware)
        if current is None or server.usd_per_gpu < current.usd_per_gpu:
            best[server.hardware] = server
    return best
