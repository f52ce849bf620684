"""Vectorised builders of text columns (Arrow compute), so no Python loop runs per row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Text = pa.Array | pa.ChunkedArray | pa.Scalar | str


def pick(options: Sequence[str], index: np.ndarray) -> pa.Array:
    return pa.array(list(options), pa.string()).take(pa.array(index, pa.int64()))


def choose_weighted(
    rng: np.random.Generator, options: Sequence[str], weights: Sequence[float], size: int
) -> pa.Array:
    probabilities = np.asarray(weights, dtype=float)
    return pick(options, rng.choice(len(options), size=size, p=probabilities / probabilities.sum()))


def join(*parts: Text, separator: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, separator)


def integers(values: np.ndarray, width: int = 0) -> pa.Array:
    text = pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())
    return pc.utf8_lpad(text, width=width, padding="0") if width else text


def money(values: np.ndarray) -> pa.Array:
    """Amounts in whole currency units, written without a decimal part (as most CRMs export them)."""
    return integers(np.rint(values).astype(np.int64))


def timestamps(seconds: np.ndarray) -> pa.Array:
    """UTC epoch seconds as `YYYY-MM-DD HH:MM:SS`."""
    return pa.array(np.asarray(seconds, dtype=np.int64)).cast(pa.timestamp("s")).cast(pa.string())


def dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int64).astype("datetime64[D]")).cast(pa.string())


def utc_offsets(seconds: np.ndarray) -> pa.Array:
    """`+03:00` style suffixes for offsets in seconds (all the sample's zones are east of UTC)."""
    minutes = np.asarray(seconds, dtype=np.int64) // 60
    sign = np.where(minutes < 0, "-", "+")
    minutes = np.abs(minutes)
    return join(pa.array(sign), integers(minutes // 60, 2), pa.scalar(":"), integers(minutes % 60, 2))


def blank_where(values: pa.Array, mask: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), values)
