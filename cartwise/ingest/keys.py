"""Event keys: the signed 64-bit identity that makes re-sending an event harmless.

An event with an `event_id` is keyed by that id alone; otherwise by its content: user,
item, type, session and query joined by U+001F, each one's byte length (-1 when
missing), the time (ms) and the value's float64 bits. Keys are persisted, so the hash
must never change between releases of Cartwise, Python or polars (polars' own ``hash``
may, and must not be used here). :func:`hash_texts` is defined byte for byte: the
UTF-8 text zero-padded to whole little-endian 64-bit words, folded word by word with a
multiply-xorshift step, then its byte length, then the splitmix64 finaliser. Working a
word at a time over all rows at once keeps it vectorised (a handful of numpy calls per
ingest, no Python call per row); ``tests/ingest/test_ingest_keys.py`` pins its values.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

SEED = np.uint64(0xCBF29CE484222325)
MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_NO_VALUE = np.uint64(0x7FF8_0000_0000_0001)  # a NaN pattern: no stored value has it
_MISSING_LENGTH = -1
_CONTENT_TEXT = ("user_id", "item_id", "event_type", "session_id", "query")
_ID_PREFIX = "\x00event_id\x00"
_PADDING = "\x00" * 7


def _step(hashes: np.ndarray, words: np.ndarray) -> np.ndarray:
    mixed = (hashes ^ words) * MULTIPLIER
    return mixed ^ (mixed >> np.uint64(32))


def _finalise(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hash_texts(texts: pl.Series) -> np.ndarray:
    """Stable 64-bit hash (uint64) of each string's UTF-8 bytes; null hashes as ""."""
    texts = texts.cast(pl.Utf8).fill_null("")
    lengths = texts.str.len_bytes().cast(pl.Int64)
    padded = pl.select(pl.concat_str(texts, pl.lit(_PADDING).str.slice(0, (8 - lengths % 8) % 8))).to_series()
    array = padded.to_arrow()
    array = pa.concat_arrays(array.chunks) if isinstance(array, pa.ChunkedArray) else array
    array = array.cast(pa.large_binary())
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(8, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    if data.ctypes.data % 8:
        data = data.copy()
    words = data.view("<u8")
    first = (offsets[:-1] - offsets[0]) // 8
    counts = np.diff(offsets) // 8
    order = np.argsort(-counts, kind="stable")
    first = first[order]
    # active[j]: how many strings (most words first) have a word number j
    active = np.searchsorted(-counts[order], -np.arange(int(counts.max(initial=0))), side="left")
    hashes = np.full(len(counts), SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j, count in enumerate(active.tolist()):
            hashes[:count] = _step(hashes[:count], words[first[:count] + j])
        out = np.empty_like(hashes)
        out[order] = hashes
        return _finalise(_step(out, lengths.to_numpy().astype(np.uint64)))


def event_keys(events: pl.DataFrame) -> pl.Series:
    """Int64 key per row of a frame with the validated event columns (`ts` in ms)."""
    # The texts joined by a separator, then each one's byte length (or "missing"):
    # with the lengths mixed in, no two different field lists hash the same input.
    joined = events.select(pl.concat_str([pl.col(c).fill_null("") for c in _CONTENT_TEXT], separator="\x1f"))
    content = hash_texts(joined.to_series())
    lengths = events.select(
        [pl.col(c).str.len_bytes().cast(pl.Int64).fill_null(_MISSING_LENGTH) for c in _CONTENT_TEXT]
    ).to_numpy()
    with np.errstate(over="ignore"):
        for column in range(lengths.shape[1]):
            content = _step(content, np.ascontiguousarray(lengths[:, column]).view(np.uint64))
    values = events["value"].cast(pl.Float64)
    # -0.0 + 0.0 is 0.0: one value, one bit pattern (numpy adds; polars drops "+ 0.0").
    bits = (values.fill_null(0.0).to_numpy() + 0.0).view(np.uint64)
    bits[values.is_null().to_numpy()] = _NO_VALUE
    with np.errstate(over="ignore"):
        content = _step(content, events["ts"].cast(pl.Int64).to_numpy().view(np.uint64))
        keys = _finalise(_step(content, bits))
    ids = events["event_id"]
    if ids.null_count() < len(ids):
        by_id = hash_texts(pl.select(pl.concat_str(pl.lit(_ID_PREFIX), pl.lit(ids))).to_series())
        keys = np.where(ids.is_not_null().to_numpy(), by_id, keys)
    return pl.Series("event_key", keys.view(np.int64), dtype=pl.Int64)
