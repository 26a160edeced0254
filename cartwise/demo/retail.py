"""The demo store: the UCI Online Retail data set turned into a catalog and purchases.

Online Retail is a flat list of invoice lines. The catalog is derived from it (one item
per stock code: its most common description as the title, its median unit price); the
events are the invoice lines themselves, loaded through the ordinary ingest path with a
column mapping, so the demo exercises the same cleaning a store's own export gets
(cancellations, missing customers, odd prices are rejected and reported).
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

# Stock codes of postage, fees and manual adjustments: lines on invoices, not products.
_NOT_PRODUCTS = r"^(POST|DOT|M|C2|D|S|B|CRUK|PADS|BANK CHARGES|AMAZONFEE|gift_.*)$"


def packaged_slice() -> Path:
    """The slice of Online Retail shipped inside the package (see data/ATTRIBUTION.md)."""
    return Path(str(resources.files("cartwise.demo").joinpath("data", PACKAGED_SLICE)))


def build_catalog(data: Path, out: Path) -> Path:
    """Derive a catalog file (Parquet) from Online Retail invoice lines."""
    try:
        lines = pl.read_csv(data, infer_schema=False, columns=RETAIL_COLUMNS)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ValidationError(
            f"{data} is not an Online Retail CSV: {exc}",
            hint=f"the file needs the columns {', '.join(RETAIL_COLUMNS)}",
        ) from exc
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
    prices = sold.group_by("StockCode").agg(price.median().round(2).alias("price"))
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
