"""Judge the cross-lingual query sets: each shopping need, typed in English and in Chinese, is
graded against every catalog title by the patterns written next to it.

  relevance 2  the title is the product asked for: the need's `exact` pattern matches (brand and
               product type when the need names a brand) and its `not` pattern does not
  relevance 1  an acceptable answer: the `ok` pattern matches (a close product type, or the type
               from the brand's own sub-line), and `not` does not
Patterns are case-insensitive regular expressions over the title. Every matched title was read
when the patterns were written; accessories for a product (cases, mounts, cables, batteries) are
excluded with `not` unless the need asks for them.

  .venv/bin/python bench/queries/crosslingual_judge.py   # rewrites crosslingual_{abt,buy,demo}.csv
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

# (id, English query, Chinese query, exact, ok, not)
ABT_NEEDS = [
    ("sony-headphones", "sony headphones", "索尼 耳机", r"^sony.*(headphone|ear ?bud)", None, None),
    ("headphones", "headphones", "耳机", r"headphone|ear ?bud|earphone", r"headset", r"case|cable|adapter"),
    ("panasonic-microwave", "panasonic microwave", "松下微波炉", r"^panasonic.*microwave", None, r"trim kit"),
    ("microwave", "microwave oven", "微波炉", r"microwave", None, r"trim kit"),
    ("lg-refrigerator", "lg refrigerator", "LG 冰箱", r"^lg.*refrigerator", None, None),
    ("refrigerator", "refrigerator", "冰箱", r"refrigerator", r"freezer|fridge", r"water filter"),
    ("dishwasher", "dishwasher", "洗碗机", r"dishwasher", None, None),
    ("whirlpool-dishwasher", "whirlpool dishwasher", "惠而浦 洗碗机", r"^whirlpool.*dishwasher", None, None),
    ("canon-printer", "canon printer", "佳能打印机", r"^canon.*printer", None, r"ink|cartridge|paper"),
    ("ink-cartridge", "ink cartridge", "墨盒", r"ink cartridge|ink tank|cartridge", r"\bink\b", r"trim"),
    ("router", "wireless router", "无线路由器", r"router", None, None),
    ("logitech-mouse", "logitech mouse", "罗技 鼠标", r"^logitech.*mouse", None, None),
    ("keyboard", "keyboard", "键盘", r"keyboard", None, r"case|cover"),
    ("sony-camcorder", "sony camcorder", "索尼 摄像机", r"^sony.*(camcorder)", None, r"case|tripod|media|cable|battery|bag"),
    ("camcorder", "camcorder", "摄像机", r"camcorder", None, r"case|tripod|media|cable|battery|bag|kit"),
    ("digital-camera", "digital camera", "数码相机", r"digital (slr )?camera|camera body|slr camera|digital camera", None,
     r"case|bag|back ?pack|battery|charger|jacket|lens accessory|printer|paper|strap|pouch|network"),
    ("nikon-camera", "nikon camera", "尼康 相机", r"^nikon.*(camera|coolpix|slr|d\d0)", None, r"case|bag|lens accessory"),
    ("canon-camera", "canon digital camera", "佳能 数码相机", r"^canon.*(powershot|eos|camera)", None,
     r"case|bag|battery|lens$|printer|camcorder"),
    ("camera-lens", "camera lens", "相机镜头", r"zoom lens|nikkor lens|telephoto|converter lens|\blens - ", r"with .*lens|lens kit|and .*lens",
     r"case|lumix|iphone"),
    ("samsung-tv", "samsung tv", "三星 电视", r"^samsung.*(hdtv|lcd tv|plasma tv|television|\btv\b)", None, r"stand|mount"),
    ("sony-tv", "sony tv", "索尼电视", r"^sony.*(hdtv|bravia.*(lcd|tv)|television)", None, r"stand|mount|home theater|cable|projector|speaker"),
    ("lcd-tv", "lcd tv", "液晶电视", r"lcd.*(hdtv|tv|television)", None, r"mount|stand|turntable|arm|shelf|cleaning"),
    ("plasma-tv", "plasma tv", "等离子电视", r"plasma.*hdtv|plasma.*tv", None, r"mount|stand|arm"),
    ("blu-ray-player", "blu-ray player", "蓝光播放器", r"blu-?ray (disc )?(dvd.*)?player|blu-ray disc dvd", None, r"remote|home theater|sound system"),
    ("dvd-player", "dvd player", "DVD播放器", r"dvd player|dvd/cd player|dvd-cd player", r"dvd.*(combo|changer)", r"hdtv|remote|recorder|head unit"),
    ("home-theater", "home theater system", "家庭影院", r"home theater (system|in a box|surround|speaker system|sound system)|home theater.*system", None,
     r"receiver|projector"),
    ("denon-receiver", "denon receiver", "天龙 功放", r"^denon.*receiver", None, None),
    ("receiver", "av receiver", "功放", r"(a/v|audio|stereo|theater|channel).*receiver", None, r"satellite|radio|head unit"),
    ("garmin-gps", "garmin gps", "佳明 导航仪", r"^garmin.*(gps|nuvi|navigat)", None, r"mount|case|charger|cable|map"),
    ("gps", "gps navigator", "导航仪", r"gps|navigat|nuvi", None, r"mount|case|charger|cable|map|camera|watch|phone"),
    ("cordless-phone", "cordless phone", "无绳电话", r"cordless (telephone|phone)|dect.*(phone|telephone)", r"expandable.*handset|handset", r"battery|headset"),
    ("panasonic-cordless-phone", "panasonic cordless phone", "松下 无绳电话", r"^panasonic.*(cordless|dect).*(phone|telephone|handset)", None, r"battery|headset"),
    ("tv-wall-mount", "tv wall mount", "电视挂架", r"tv.*wall mount|wall mount|wall arm|flat panel.*mount", r"mount", r"camera|gps|speaker|car"),
    ("speakers", "speakers", "音箱", r"speaker", None, r"mount|stand|cable|wire|bracket|phone|headset"),
    ("bose-speakers", "bose speakers", "博士 音箱", r"^bose.*speaker", r"^bose.*(system|surround)", None),
    ("memory-card", "memory card", "存储卡", r"memory card|sd card|sdhc|memory stick|micro sd|secure digital", None, r"memory card reader|adapt"),
    ("external-hard-drive", "external hard drive", "移动硬盘", r"external hard drive|portable hard drive", r"wireless hard drive",
     r"camcorder|dvd|recorder|tivo|player"),
    ("laptop", "laptop", "笔记本电脑", r"notebook|laptop|macbook", None, r"mouse|case|bag|sleeve|cooler|shell|cover|keyboard|adapter|lock|skin|stand|battery|station|superdrive|cush"),
    ("sony-laptop", "sony laptop", "索尼 笔记本电脑", r"^sony.*vaio.*(notebook|laptop|computer)|^sony vaio", None, r"case|bag|adapter|mouse|battery"),
    ("washer", "washing machine", "洗衣机", r"washer|washing machine", None, r"dishwasher|pressure|pedestal|stacking|floor"),
    ("dryer", "clothes dryer", "烘干机", r"dryer", None, r"hair|pedestal|stacking"),
    ("grill", "outdoor grill", "烧烤炉", r"grill", None, r"cover|tool|brush|thermometer|light|rotisserie|griddle|basket"),
    ("remote-control", "remote control", "遥控器", r"remote", None, r"with remote|and remote|tripod|antenna|monitor"),
    ("coffee-maker", "coffee maker", "咖啡机", r"coffee|espresso", None, r"grinder|filter|carafe|stand"),
]

DEMO_NEEDS = [
    ("red-heart-lantern", "red heart lantern", "红色 心形 灯笼", r"heart.*lantern|lantern.*heart", r"lantern", None),
    ("lantern", "lantern", "灯笼", r"lantern", None, None),
    ("red-lamp", "red lamp", "红色 灯", r"^(?=.*(\bred\b|retrospot)).*(\blamp|night light|table light)",
     r"\blamp\b|night light|table light|lights", r"t-light|tealight|keyring"),
    ("doormat", "doormat", "门垫", r"doormat", None, None),
    ("christmas-doormat", "christmas doormat", "圣诞 门垫", r"doormat.*christmas", r"doormat", None),
    ("hand-warmer", "hand warmer", "暖手宝", r"hand warmer", None, None),
    ("red-hand-warmer", "red hand warmer", "红色暖手宝", r"hand warmer.*red", r"hand warmer", None),
    ("wall-clock", "wall clock", "挂钟", r"wall clock", r"clock", r"magnet"),
    ("alarm-clock", "alarm clock", "闹钟", r"alarm clock", r"clock", r"magnet"),
    ("wreath", "wreath", "花环", r"wreath", None, r"cardholder"),
    ("heart-wreath", "heart wreath", "心形花环", r"heart.*wreath", r"wreath", r"cardholder"),
    ("photo-frame", "photo frame", "相框", r"(photo|picture) frames?\b", None, r"sticker|magnet"),
    ("heart-photo-frame", "heart photo frame", "心形 相框", r"heart.*(photo|picture) frame", r"(photo|picture) frames?\b",
     r"sticker|magnet"),
    ("candles", "candles", "蜡烛", r"\bcandles?\b|candlepot|t-lights\b", None,
     r"holder|stand|plate|bowl|wire|candlestick|goblet|t-light holder"),
    ("candle-holder", "candle holder", "烛台", r"candle ?holder|candlestick|t-light holder|tealight holder", r"candle (plate|stand|bowl)|candlepot", None),
    ("mug", "mug", "马克杯", r"\bmug\b", None, r"cosy|warmer|basil"),
    ("coffee-mug", "coffee mug", "咖啡杯", r"coffee mug", r"\bmug\b", r"cosy|warmer|basil"),
    ("teapot", "teapot", "茶壶", r"teapot", None, None),
    ("teacup", "teacup and saucer", "茶杯和茶碟", r"teacup|tea cup", None, None),
    ("christmas-decoration", "christmas decoration", "圣诞装饰", r"christmas.*decoration|decoration.*christmas",
     r"christmas.*(hanging|bauble|ornament|tree)", None),
    ("paper-napkins", "paper napkins", "餐巾纸", r"napkins\b", None, r"charms|rings?"),
    ("paper-cups", "paper cups", "纸杯", r"paper cups", None, r"cake cases"),
    ("stickers", "stickers", "贴纸", r"stickers?\b", None, None),
    ("lunch-box", "lunch box", "午餐盒", r"lunch box", None, None),
    ("cake-stand", "cake stand", "蛋糕架", r"cake stand", None, r"t-light"),
    ("umbrella", "umbrella", "雨伞", r"umbrella", None, r"stand"),
    ("doorstop", "doorstop", "门挡", r"doorstop|door stop", None, None),
    ("cushion-cover", "cushion cover", "抱枕套", r"cushion ?cover", r"cushion", None),
    ("jigsaw", "jigsaw puzzle", "拼图", r"jigsaw", None, None),
    ("tea-towel", "tea towel", "茶巾", r"tea towels?", None, None),
    ("money-box", "money box", "存钱罐", r"money box|piggy bank", None, None),
    ("hot-water-bottle", "hot water bottle", "热水袋", r"hot water bottle", None, None),
    ("necklace", "necklace", "项链", r"necklace", None, None),
    ("earrings", "earrings", "耳环", r"earrings", None, None),
]


def abt_items() -> list[dict[str, str]]:
    """Abt.csv (cp1252) as catalog items: title and description; the brand lives in the title."""
    from bench.common import SHARED_DATA

    with open(SHARED_DATA / "abt_buy" / "Abt.csv", encoding="cp1252", newline="") as handle:
        rows = list(csv.DictReader(handle))
    items = []
    for row in rows:
        price = (row.get("price") or "").replace("$", "").replace(",", "").strip()
        item = {"item_id": f"abt-{row['id']}", "title": row["name"].strip(), "description": (row.get("description") or "").strip()}
        if price:
            item["price"] = float(price)
            item["currency"] = "USD"
        items.append(item)
    return items


def buy_items() -> list[dict]:
    """Buy.csv (cp1252): another English electronics catalog, with a manufacturer (brand) field."""
    from bench.common import SHARED_DATA

    with open(SHARED_DATA / "abt_buy" / "Buy.csv", encoding="cp1252", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        {"item_id": f"buy-{row['id']}", "title": row["name"].strip(), "description": (row.get("description") or "").strip(),
         "brand": (row.get("manufacturer") or "").strip() or None}
        for row in rows
    ]


def demo_items() -> list[dict]:
    """The demo store's catalog, derived exactly as `cartwise demo` derives it."""
    import tempfile

    import polars as pl

    from cartwise.demo.retail import build_catalog, packaged_slice

    with tempfile.TemporaryDirectory() as folder:
        path = build_catalog(packaged_slice(), Path(folder) / "catalog.parquet")
        return pl.read_parquet(path).to_dicts()


def judge(needs: list[tuple], items: list[dict], *, skip_id=None) -> list[tuple[str, str, str, int]]:
    rows = []
    for key, english, chinese, exact, ok, never in needs:
        graded = []
        for item in items:
            title, item_id = item["title"], item["item_id"]
            if skip_id is not None and skip_id(item_id):
                continue
            if never and re.search(never, title, re.I):
                continue
            if re.search(exact, title, re.I):
                graded.append((item_id, 2))
            elif ok and re.search(ok, title, re.I):
                graded.append((item_id, 1))
        if not any(grade == 2 for _, grade in graded):
            raise SystemExit(f"need {key!r} has no exact answer in the catalog")
        for prefix, query in (("en", english), ("zh", chinese)):
            rows += [(f"{prefix}-{key}", query, item_id, grade) for item_id, grade in graded]
    return rows


def write(path: Path, rows: list[tuple[str, str, str, int]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["query_id", "query", "item_id", "relevance"])
        out.writerows(rows)


def main() -> None:
    write(HERE / "crosslingual_abt.csv", judge(ABT_NEEDS, abt_items()))
    # A transfer check: the Abt needs' patterns applied to Buy's titles as they are (written
    # without reading that catalog, and not reviewed against it).
    write(HERE / "crosslingual_buy.csv", judge(ABT_NEEDS, buy_items()))
    # Stock codes with lower-case letters are case-only duplicates of upper-case codes in this
    # data set (85123a of 85123A), merged by newer demo builds: judged on the upper-case code only.
    write(HERE / "crosslingual_demo.csv", judge(DEMO_NEEDS, demo_items(), skip_id=lambda i: i != i.upper()))


if __name__ == "__main__":
    main()
