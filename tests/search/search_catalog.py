"""A small hand-made catalog in English and Chinese for the search tests."""

from __future__ import annotations

import json

import polars as pl

from cartwise.store.frames import ITEM_SCHEMA, conform

SEARCH_CATALOG = [
    {"item_id": "dress-red", "title": "Red Summer Dress", "category": "Fashion > Women > Dresses", "brand": "Moda",
     "price": 49.0, "attributes": {"color": "red", "size": "M"}},
    {"item_id": "dress-blue", "title": "Blue Evening Dress", "category": "Fashion > Women > Dresses", "brand": "Moda",
     "price": 89.0},
    {"item_id": "dress-zh-red", "title": "红色 连衣裙 夏季", "category": "Fashion > Women > Dresses", "brand": "美衣",
     "price": 199.0, "attributes": {"颜色": "红色"}},
    {"item_id": "dress-zh-blue", "title": "蓝色连衣裙", "category": "Fashion > Women > Dresses", "brand": "美衣",
     "price": 159.0},
    {"item_id": "shirt-zh", "title": "白色 衬衫 男", "category": "Fashion > Men > Shirts", "brand": "美衣", "price": 99.0},
    {"item_id": "tshirt", "title": "Men's Cotton T-Shirt", "category": "Fashion > Men > Shirts", "brand": "Basics",
     "price": 15.0},
    {"item_id": "sony-xm4", "title": "Sony WH-1000XM4 Wireless Noise Cancelling Headphones",
     "category": "Electronics > Audio > Headphones", "brand": "Sony", "price": 279.0},
    {"item_id": "bose-qc45", "title": "Bose QuietComfort 45 Headphones", "category": "Electronics > Audio > Headphones",
     "brand": "Bose", "price": 249.0, "in_stock": False},
    {"item_id": "earbuds", "title": "Wireless Earbuds with Charging Case", "category": "Electronics > Audio"},
    {"item_id": "phone-case-zh", "title": "苹果手机壳 透明", "category": "Electronics > Accessories", "price": 29.0},
    {"item_id": "charger", "title": "USB-C Fast Charger 65W", "category": "Electronics > Accessories",
     "brand": "Anker", "price": 35.0},
    {"item_id": "mug-red", "title": "Red Ceramic Mug", "category": "Home > Kitchen > Mugs", "brand": "Acme",
     "price": 8.5},
    {"item_id": "mug-blue", "title": "Blue Ceramic Mug", "category": "Home > Kitchen > Mugs", "brand": "Acme",
     "price": 8.5},
    {"item_id": "teapot", "title": "Glass Teapot with Infuser", "category": "Home > Kitchen > Tea", "brand": "Brew",
     "price": 24.0},
    {"item_id": "kettle", "title": "Electric Kettle 1.7L", "category": "Home > Kitchen", "brand": "Brew",
     "price": 39.0, "attributes": "not json {"},
    {"item_id": "knife", "title": "Chef Knife 8 inch", "category": "Home > Kitchen > Knives", "brand": "ACME",
     "price": 59.0},
    {"item_id": "boots", "title": "Waterproof Hiking Boots", "category": "Outdoor > Shoes", "brand": "Trail",
     "price": 89.0, "in_stock": False, "attributes": {"waterproof": True, "sizes": ["42", "43"]}},
    {"item_id": "socks", "title": "Wool Hiking Socks", "category": "Outdoor > Shoes", "brand": "Trail", "price": 9.0},
    {"item_id": "tent", "title": "帐篷 户外 露营 2人", "category": "Outdoor > Camping", "brand": "Trail",
     "price": 129.0},
    {"item_id": "lamp", "title": "Desk Lamp LED", "category": "Home > Office", "price": 19.99,
     "description": "Adjustable arm, warm white light"},
    {"item_id": "bulb", "title": "LED Bulb", "category": "Home > Office", "price": 4.0,
     "description": "Fits any desk lamp or floor lamp holder"},
]


def catalog_frame(records: list[dict] = SEARCH_CATALOG) -> pl.DataFrame:
    rows = []
    for record in records:
        attributes = record.get("attributes")
        if attributes is not None and not isinstance(attributes, str):
            attributes = json.dumps(attributes, ensure_ascii=False)
        rows.append({**record, "attributes": attributes})
    return conform(pl.DataFrame(rows, infer_schema_length=None), ITEM_SCHEMA)
