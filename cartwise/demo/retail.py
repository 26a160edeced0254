"""The demo store: the UCI Online Retail data set turned into a catalog and purchases.

Online Retail is a flat list of invoice lines. The catalog is derived from it (one item
per stock code: its most common description as the title, its most common unit price);
the events are the invoice lines themselves, loaded through the ordinary ingest path with
a column mapping, so the demo exercises the same cleaning a store's own export gets
(cancellations, missing customers, odd prices are rejected and reported).

Stock codes are upper-cased, merging codes that differ only in case (85123A and 85123a).
In this data set the lower-case spelling is the same product keyed in another way, not a
variant: the 49 such pairs in the packaged slice share their description, and the
lower-case lines are mostly sales without a customer at a marked-up price (EDWARDIAN
PARASOL BLACK: 5.95 to customers, 12.46 on lines with no customer). Kept apart they showed
as duplicate results with different prices. The merged item takes the most common
description and the most common unit price (the price shoppers paid most often, which
such marked-up lines cannot move as they moved the median), and the purchases are
remapped to the upper-case code (:func:`build_purchases`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import polars as pl

from cartwise.errors import ValidationError
from cartwise.ingest import ColumnMapping

PACKAGED_SLICE = "online_retail_2011-11.csv.gz"
RETAIL_COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]

EVENT_MAPPING = ColumnMapping.parse(
    [
        "user_id=CustomerID",
        "item_id=StockCode",
        "timestamp=InvoiceDate",
        "value=Quantity",
        "session_id=InvoiceNo",
    ],
    ["event_type=purchase"],
)

# A shopper of the packaged slice with a rich history (15 orders, 35 products, mostly
# Christmas decorations), shown by the demo page and `cartwise demo` as the example user;
# tests/demo/test_demo.py checks that the page names it and that it is in the demo's events.
EXAMPLE_USER = "12971"
# WHITE HANGING HEART T-LIGHT HOLDER, among the slice's best sellers.
EXAMPLE_ITEM = "85123A"

# Stock codes of postage, fees and manual adjustments: lines on invoices, not products.
_NOT_PRODUCTS = r"^(POST|DOT|M|C2|D|S|B|CRUK|PADS|BANK CHARGES|AMAZONFEE|gift_.*)$"


def packaged_slice() -> Path:
    """The slice of Online Retail shipped inside the package (see data/ATTRIBUTION.md)."""
    return Path(str(resources.files("cartwise.demo").joinpath("data", PACKAGED_SLICE)))


def _read_lines(data: Path, columns: list[str] | None = RETAIL_COLUMNS) -> pl.DataFrame:
    """The invoice lines as text, stock codes upper-cased (see the module docstring)."""
    try:
        lines = pl.read_csv(data, infer_schema=False, columns=columns)
        if columns is None and not set(RETAIL_COLUMNS) <= set(lines.columns):
            missing = sorted(set(RETAIL_COLUMNS) - set(lines.columns))
            raise pl.exceptions.ColumnNotFoundError(f"missing columns {missing}")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ValidationError(
            f"{data} is not an Online Retail CSV: {exc}",
            hint=f"the file needs the columns {', '.join(RETAIL_COLUMNS)}",
        ) from exc
    return lines.with_columns(pl.col("StockCode").str.to_uppercase())


def build_purchases(data: Path, out: Path) -> Path:
    """The invoice lines of `data` as CSV with upper-case stock codes, in the same order
    (so line numbers in ingest reports are those of `data`), for :data:`EVENT_MAPPING`."""
    lines = _read_lines(data, columns=None)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines.write_csv(out)
    return out


def build_catalog(data: Path, out: Path) -> Path:
    """Derive a catalog file (Parquet) from Online Retail invoice lines: one item per
    upper-cased stock code."""
    lines = _read_lines(data)
    price = pl.col("UnitPrice").cast(pl.Float64, strict=False)
    quantity = pl.col("Quantity").cast(pl.Float64, strict=False)
    sold = lines.filter(
        (price > 0)
        & (quantity > 0)
        & pl.col("Description").is_not_null()
        & ~pl.col("StockCode").str.to_uppercase().str.contains(_NOT_PRODUCTS.upper())
    ).with_columns(pl.col("Description").str.strip_chars().str.replace_all(r"\s+", " "))
    titles = (
        sold.group_by("StockCode", "Description")
        .agg(pl.len().alias("n"))
        .sort(["StockCode", "n", "Description"], descending=[False, True, False])
        .unique("StockCode", keep="first")
    )
    prices = (
        sold.group_by("StockCode", price.round(2).alias("price"))
        .agg(pl.len().alias("n"))
        .sort(["StockCode", "n", "price"], descending=[False, True, False])
        .unique("StockCode", keep="first")
        .select("StockCode", "price")
    )
    catalog = (
        titles.join(prices, on="StockCode")
        .select(
            pl.col("StockCode").alias("item_id"),
            pl.col("Description").alias("title"),
            pl.col("price"),
            pl.lit("GBP").alias("currency"),
            pl.lit(True).alias("in_stock"),
        )
        .sort("item_id")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_parquet(out)
    return out
