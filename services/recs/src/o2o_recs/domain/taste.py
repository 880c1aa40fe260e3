"""The member's taste: implicit-feedback matrix factorisation (ALS, the `implicit` library)
over who bought what how often, and item similarity from the same factors.

A model is immutable once trained: a rebuild makes a new one and the service swaps it in whole.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

FACTORS = 48
ITERATIONS = 12
REGULARIZATION = 0.05
# Confidence of an observed purchase count c: 1 + ALPHA * log(1 + c).
ALPHA = 8.0
# Items scored per step of the bounded search (at least this many, or four times the limit).
SCAN_BLOCK = 1024


@dataclass(frozen=True)
class Interactions:
    member_ids: Sequence[str]
    skus: Sequence[str]
    # Parallel arrays: member index, item index, purchase count.
    rows: NDArray[np.int32]
    cols: NDArray[np.int32]
    counts: NDArray[np.float32]


class TasteModel:
    def __init__(
        self,
        member_ids: Sequence[str],
        skus: Sequence[str],
        user_factors: NDArray[np.float32],
        item_factors: NDArray[np.float32],
        version: str = "",
    ) -> None:
        self.version = version
        self.member_ids = list(member_ids)
        self.skus = list(skus)
        self.member_index = {member: i for i, member in enumerate(self.member_ids)}
        self.sku_index = {sku: i for i, sku in enumerate(self.skus)}
        self.user_factors = user_factors
        self.item_factors = item_factors
        norms = np.linalg.norm(item_factors, axis=1)
        self.unit_items = (item_factors / np.maximum(norms, 1e-9)[:, None]).astype(np.float32)
        # Items by factor norm, largest first: a member's score of an item is at most the two
        # norms' product, so the search for the best stops as soon as no later item can beat
        # the ones found (popular items carry the large norms, so that is usually one block).
        self.norm_order = np.argsort(-norms, kind="stable")
        self.items_by_norm = np.ascontiguousarray(item_factors[self.norm_order])
        self.norms_by_norm = norms[self.norm_order]

    @classmethod
    def empty(cls) -> TasteModel:
        return cls([], [], np.zeros((0, FACTORS), np.float32), np.zeros((0, FACTORS), np.float32))

    @classmethod
    def train(
        cls, data: Interactions, *, factors: int = FACTORS, iterations: int = ITERATIONS, seed: int = 7
    ) -> TasteModel:
        from implicit.cpu.als import AlternatingLeastSquares

        if not len(data.member_ids) or not len(data.skus):
            return cls.empty()
        confidence = 1.0 + ALPHA * np.log1p(data.counts.astype(np.float32))
        matrix = csr_matrix(
            (confidence, (data.rows, data.cols)), shape=(len(data.member_ids), len(data.skus)), dtype=np.float32
        )
        # BLAS threads would fight implicit's own threads for the cores.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=factors,
                regularization=REGULARIZATION,
                iterations=iterations,
                random_state=seed,
                calculate_training_loss=False,
            )
            model.fit(matrix, show_progress=False)
        return cls(
            data.member_ids,
            data.skus,
            np.asarray(model.user_factors, dtype=np.float32),
            np.asarray(model.item_factors, dtype=np.float32),
        )

    def __len__(self) -> int:
        return len(self.skus)

    def for_member(self, member_id: str, limit: int, history: Sequence[str] = ()) -> list[tuple[str, float, str]]:
        """The items the member's factors score highest, each with the history item it is most
        like (the reason's item); [] for a member the model has not seen."""
        index = self.member_index.get(member_id)
        if index is None or not self.skus:
            return []
        positions, scores = best_by_inner_product(
            self.user_factors[index], self.items_by_norm, self.norms_by_norm, limit
        )
        picked = [
            (int(self.norm_order[p]), float(score)) for p, score in zip(positions, scores, strict=True) if score > 0
        ]
        known = [self.sku_index[sku] for sku in history if sku in self.sku_index]
        if not picked or not known:
            return [(self.skus[i], score, "") for i, score in picked]
        # Every pick against every history item in one product: the most alike is the reason.
        top = [i for i, _ in picked]
        likest = np.argmax(self.unit_items[top] @ self.unit_items[known].T, axis=1)
        return [(self.skus[i], score, self.skus[known[int(j)]]) for (i, score), j in zip(picked, likest, strict=True)]

    def similar(self, sku: str, limit: int) -> list[tuple[str, float]]:
        index = self.sku_index.get(sku)
        if index is None:
            return []
        scores = self.unit_items @ self.unit_items[index]
        scores[index] = -np.inf
        return [(self.skus[i], float(scores[i])) for i in _top(scores, limit) if np.isfinite(scores[i])]

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            member_ids=np.array(self.member_ids, dtype=str),
            skus=np.array(self.skus, dtype=str),
            user_factors=self.user_factors,
            item_factors=self.item_factors,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes, version: str = "") -> TasteModel:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            return cls(
                [str(m) for m in data["member_ids"]],
                [str(s) for s in data["skus"]],
                data["user_factors"].astype(np.float32),
                data["item_factors"].astype(np.float32),
                version,
            )


def _top(scores: NDArray[np.float32], limit: int) -> list[int]:
    if limit <= 0 or not len(scores):
        return []
    if limit >= len(scores):
        order = np.argsort(-scores)
    else:
        head = np.argpartition(-scores, limit)[:limit]
        order = head[np.argsort(-scores[head])]
    return [int(i) for i in order]


def best_by_inner_product(
    query: NDArray[np.float32], items: NDArray[np.float32], norms: NDArray[np.float32], limit: int
) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    """The positions and scores of the limit items with the largest inner product with query,
    best first (exact). items are ordered by norm, largest first, with norms their norms: a
    block is scored only while its first item could still beat the limit-th best found."""
    if limit <= 0 or not len(items):
        return np.empty(0, np.intp), np.empty(0, np.float32)
    reach = float(np.linalg.norm(query))
    block = max(SCAN_BLOCK, 4 * limit)
    best = np.empty(0, np.intp)
    best_scores = np.empty(0, np.float32)
    for start in range(0, len(items), block):
        if len(best) == limit and best_scores.min() >= reach * norms[start]:
            break
        scores = np.concatenate([best_scores, items[start : start + block] @ query])
        positions = np.concatenate([best, np.arange(start, start + min(block, len(items) - start))])
        if len(scores) > limit:
            keep = np.argpartition(-scores, limit)[:limit]
            scores, positions = scores[keep], positions[keep]
        best, best_scores = positions, scores
    order = np.argsort(-best_scores, kind="stable")
    return best[order], best_scores[order]
