"""Group-wise numpy helpers: rows grouped by an owner (customer) without a Python loop per group."""

from __future__ import annotations

import numpy as np


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of the given sizes: each row's group and its rank (0, 1, ...) inside the group."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(owner)) - np.repeat(starts, counts)
    return owner, rank


def group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Running sum of `values` restarting at each group (groups are consecutive, of sizes `counts`)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = np.cumsum(values)
    starts = np.cumsum(counts) - counts
    nonempty = counts > 0
    before = np.zeros(len(counts), dtype=total.dtype)
    before[nonempty] = total[starts[nonempty]] - values[starts[nonempty]]
    return total - np.repeat(before, counts)


def last_row_per_owner(owner: np.ndarray, owners: int) -> np.ndarray:
    """Index of the last row of each owner (rows in any order), -1 for owners without rows."""
    last = np.full(owners, -1, dtype=np.int64)
    # ufunc.at, unlike fancy assignment, is defined for repeated indices.
    np.maximum.at(last, owner, np.arange(len(owner)))
    return last


def counts_per_owner(owner: np.ndarray, owners: int) -> np.ndarray:
    return np.bincount(owner, minlength=owners)
