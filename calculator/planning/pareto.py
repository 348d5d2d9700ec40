"""The Pareto front in (cost, TPOT, throughput): minimise the first two, maximise the third."""

from __future__ import annotations

import numpy as np

from calculator.planning.rows import ResultRow


def _dominates(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> np.ndarray:
    """[i, j]: point i of a dominates point j of b (cost, tpot lower-or-equal, throughput higher-or-equal,
    one strictly)."""
    (ac, at, as_), (bc, bt, bs) = a, b
    c1, c2 = ac[:, None], bc[None, :]
    t1, t2 = at[:, None], bt[None, :]
    s1, s2 = as_[:, None], bs[None, :]
    return (c1 <= c2) & (t1 <= t2) & (s1 >= s2) & ((c1 < c2) | (t1 < t2) | (s1 > s2))


def pareto_indices(
    cost: np.ndarray, tpot: np.ndarray, throughput: np.ndarray, block: int = 256
) -> np.ndarray:
    """Indices of the non-dominated points (minimise cost and tpot, maximise throughput), ascending.

    Points are sorted lexicographically by (cost, tpot, -throughput), so no point is dominated by a later
    one; blocks of the sorted survivors are reduced pairwise and then strike every later point they
    dominate (vectorised), so the work is about n x |front| comparisons."""
    cost, tpot, throughput = (np.asarray(a, dtype=np.float64) for a in (cost, tpot, throughput))
    remaining = np.lexsort((-throughput, tpot, cost))
    front: list[np.ndarray] = []
    while remaining.size:
        head, remaining = remaining[:block], remaining[block:]
        head_points = (cost[head], tpot[head], throughput[head])
        head = head[~_dominates(head_points, head_points).any(axis=0)]
        front.append(head)
        if not remaining.size:
            break
        points = (cost[head], tpot[head], throughput[head])
        keep = np.ones(remaining.size, dtype=bool)
        step = max(1, 2_000_000 // max(head.size, 1))
        for start in range(0, remaining.size, step):
            part = remaining[start : start + step]
            keep[start : start + step] = ~_dominates(points, (cost[part], tpot[part], throughput[part])).any(
                axis=0
            )
        remaining = remaining[keep]
    return np.sort(np.concatenate(front)) if front else np.empty(0, dtype=np.intp)


def pareto_order(row: ResultRow) -> tuple[float, float, float, str]:
    return (row.cost_per_million_tokens_usd, row.tpot_ms, -row.output_tokens_per_s, row.key)
