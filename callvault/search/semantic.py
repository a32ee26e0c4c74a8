"""Fusing rankings: full-text relevance and semantic similarity, by reciprocal rank.

The semantic ranking itself (the in-memory index of sign codes, exact re-ranking) is `vectors`.
"""
from collections import defaultdict

RRF_K = 60  # reciprocal-rank fusion's usual constant: damps the weight of the very top ranks


def fuse(*rankings: dict[int, float]) -> list[int]:
    """Call ids ordered by reciprocal-rank fusion of score maps (higher is better in each).

    Only ranks count, so full-text scores and cosine similarities need no common scale.
    """
    fused: dict[int, float] = defaultdict(float)
    for scores in rankings:
        for position, call_id in enumerate(sorted(scores, key=lambda c: (-scores[c], -c))):
            fused[call_id] += 1.0 / (RRF_K + position + 1)
    return sorted(fused, key=lambda c: (-fused[c], -c))
