"""Wi-Fi fingerprinting: weighted k-nearest neighbours over a survey, vectorised with NumPy.

Levers against what makes real surveys hard (phones of other gains, APs unheard, months of
drift): the "powed" representation, which weighs strong signals over the noisy weak tail and
puts an unheard AP at zero rather than at an invented dBm value; each fingerprint's signals
shifted so its strongest reads the same (a phone's gain moves all its readings alike); APs
heard too rarely in the survey left out; similarity as a cosine, on unit vectors, so the
search is matrix products. Cluster-then-kNN: references are grouped into cells (building,
floor, a few metres square) whose centroids are compared first; only the references of the
best cells are compared one by one. The building is voted first, then the floor within it,
and the position comes from the neighbours on that floor only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from o2o_positioning.domain.survey import Survey

FLOOR_DBM = -104.0
BETA = float(np.e)
# The strongest reading of a fingerprint is moved here (device gain normalisation).
TOP_DBM = -40.0
MIN_AP_SAMPLES = 2
VOTERS = 12
NEIGHBOURS = 4
CHUNK = 512
# Cluster-then-kNN: cells of this side, and how many of the best cells are searched.
CELL_M = 8.0
CELLS_SEARCHED = 6
# The accuracy radius never claims better than this, metres.
MIN_ACCURACY_M = 1.5

Array = NDArray[np.float32]


@dataclass(frozen=True)
class Estimates:
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    floor: NDArray[np.int64]
    building: NDArray[np.int64]
    accuracy_m: NDArray[np.float64]
    # How many APs of the model each query heard (0: no estimate).
    heard: NDArray[np.int64]


def represent(rssi: Array, normalise_gain: bool = True) -> Array:
    """(n, aps) dBm with NaN for unheard -> unit rows of the powed representation."""
    heard = ~np.isnan(rssi)
    values = np.where(heard, rssi, FLOOR_DBM).astype(np.float32)
    if normalise_gain:
        strongest = np.max(np.where(heard, values, -np.inf), axis=1, keepdims=True)
        strongest = np.where(np.isfinite(strongest), strongest, TOP_DBM)
        values = np.where(heard, values + (TOP_DBM - strongest), FLOOR_DBM)
    positive = np.clip((values - FLOOR_DBM) / -FLOOR_DBM, 0.0, 1.0)
    powed = (positive**BETA).astype(np.float32)
    norms = np.linalg.norm(powed, axis=1, keepdims=True)
    unit: Array = np.divide(powed, norms, out=np.zeros_like(powed), where=norms > 0)
    return unit


class FingerprintModel:
    """Fitted once per survey; `locate` takes a batch of scans over the model's AP columns."""

    def __init__(self, survey: Survey) -> None:
        counts = (~np.isnan(survey.rssi)).sum(axis=0)
        keep = counts >= MIN_AP_SAMPLES
        self.ap_ids: tuple[str, ...] = tuple(a for a, k in zip(survey.ap_ids, keep, strict=True) if k)
        self.columns = np.flatnonzero(keep)
        self.index = {ap: i for i, ap in enumerate(self.ap_ids)}
        # Transposed (aps, refs): each batch is one product with it.
        self.references_t: Array = np.ascontiguousarray(represent(survey.rssi[:, self.columns]).T)
        self.x = survey.x.astype(np.float64)
        self.y = survey.y.astype(np.float64)
        self.floor = survey.floor.astype(np.int64)
        self.building = survey.building.astype(np.int64)
        if not len(self.x):
            raise ValueError("a model needs at least one fingerprint")
        self.buildings = np.unique(self.building)
        self.floors = np.unique(self.floor)
        self.size = len(self.x)
        self._cells()

    def _cells(self) -> None:
        refs = self.references_t.T
        key = np.stack(
            [
                self.building,
                self.floor,
                np.floor(self.x / CELL_M).astype(np.int64),
                np.floor(self.y / CELL_M).astype(np.int64),
            ],
            axis=1,
        )
        _, cell_of = np.unique(key, axis=0, return_inverse=True)
        cell_of = cell_of.reshape(-1)
        cells = int(cell_of.max()) + 1 if len(cell_of) else 0
        sizes = np.bincount(cell_of, minlength=cells)
        width = int(sizes.max()) if cells else 0
        # (cells, width) member indices, padded with a sentinel reference of zeros (index n).
        members = np.full((cells, width), len(refs), dtype=np.int64)
        order = np.argsort(cell_of, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        slot = np.arange(len(order)) - starts[cell_of[order]]
        members[cell_of[order], slot] = order
        centroids = np.zeros((cells, refs.shape[1]), dtype=np.float32)
        np.add.at(centroids, cell_of, refs)
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        self.centroids_t: Array = np.ascontiguousarray(np.divide(centroids, norms, out=centroids, where=norms > 0).T)
        self.members = members
        # References row-wise with the zero sentinel last, for gathering candidates.
        self.padded: Array = np.vstack([refs, np.zeros((1, refs.shape[1]), dtype=np.float32)])
        self.sentinel = len(refs)
        # Labels of the sentinel: no building or floor, so it never wins a vote or a neighbour slot.
        self.x = np.append(self.x, 0.0)
        self.y = np.append(self.y, 0.0)
        self.floor = np.append(self.floor, np.iinfo(np.int64).min)
        self.building = np.append(self.building, -1)

    def __len__(self) -> int:
        return self.size

    def columns_of(self, survey: Survey) -> Array:
        """A survey's scans over this model's APs (APs the model does not know are dropped)."""
        where = {ap: i for i, ap in enumerate(survey.ap_ids)}
        out = np.full((len(survey), len(self.ap_ids)), np.nan, dtype=np.float32)
        for j, ap in enumerate(self.ap_ids):
            i = where.get(ap)
            if i is not None:
                out[:, j] = survey.rssi[:, i]
        return out

    def locate(self, scans: Array) -> Estimates:
        """scans: (n, model aps) dBm, NaN where unheard."""
        parts = [self._locate(scans[i : i + CHUNK]) for i in range(0, max(len(scans), 1), CHUNK)]
        return Estimates(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in Estimates.__dataclass_fields__)
        )

    def _locate(self, scans: Array) -> Estimates:
        n = len(scans)
        heard = (~np.isnan(scans)).sum(axis=1)
        queries = represent(scans)
        coarse = queries @ self.centroids_t
        searched = min(CELLS_SEARCHED, coarse.shape[1])
        best_cells = np.argpartition(-coarse, searched - 1, axis=1)[:, :searched]
        candidates = self.members[best_cells].reshape(n, -1)
        # Only the APs a scan heard add to its dot products: gather those columns alone.
        heard_max = max(int(heard.max()) if n else 0, 1)
        columns = np.argsort(queries <= 0, axis=1, kind="stable")[:, :heard_max]
        values = np.take_along_axis(queries, columns, axis=1)
        gathered = self.padded[candidates[:, :, None], columns[:, None, :]]
        similarity = np.einsum("nh,nkh->nk", values, gathered)
        similarity[candidates == self.sentinel] = -1.0
        voters = min(VOTERS, similarity.shape[1])
        local = np.argpartition(-similarity, voters - 1, axis=1)[:, :voters]
        top = np.take_along_axis(candidates, local, axis=1)
        weight = np.clip(np.take_along_axis(similarity, local, axis=1).astype(np.float64), 0, None) ** 4 + 1e-12
        # Building, then floor within it: weighted votes of the nearest references.
        building = self._vote(self.building[top], weight, self.buildings)
        in_building = self.building[top] == building[:, None]
        floor = self._vote(self.floor[top], np.where(in_building, weight, 0.0), self.floors)
        chosen = in_building & (self.floor[top] == floor[:, None])
        # The best NEIGHBOURS of the chosen floor among the voters.
        ranked = np.where(chosen, weight, -1.0)
        order = np.argsort(-ranked, axis=1)[:, :NEIGHBOURS]
        picked = np.take_along_axis(ranked, order, axis=1)
        refs = np.take_along_axis(top, order, axis=1)
        w = np.where(picked > 0, picked, 0.0)
        total = w.sum(axis=1, keepdims=True)
        w = np.divide(w, total, out=np.full_like(w, 1.0 / NEIGHBOURS), where=total > 0)
        x = (w * self.x[refs]).sum(axis=1)
        y = (w * self.y[refs]).sum(axis=1)
        spread = np.sqrt((w * ((self.x[refs] - x[:, None]) ** 2 + (self.y[refs] - y[:, None]) ** 2)).sum(axis=1))
        accuracy = np.maximum(spread * 1.5, MIN_ACCURACY_M)
        return Estimates(x, y, floor, building, accuracy, heard.astype(np.int64))

    @staticmethod
    def _vote(labels: NDArray[np.int64], weight: NDArray[np.float64], classes: NDArray[np.int64]) -> NDArray[np.int64]:
        scores = (weight[:, :, None] * (labels[:, :, None] == classes[None, None, :])).sum(axis=1)
        chosen: NDArray[np.int64] = classes[np.argmax(scores, axis=1)]
        return chosen


def plain_knn(train: Survey, scans: Array, k: int = 3) -> Estimates:
    """The textbook baseline: Euclidean distance in dBm (unheard as -105), k nearest weighted
    by inverse distance, floor and building by majority of those k."""
    refs = np.where(np.isnan(train.rssi), -105.0, train.rssi).astype(np.float32)
    queries = np.where(np.isnan(scans), -105.0, scans).astype(np.float32)
    ref_sq = (refs * refs).sum(axis=1)
    xs, ys, fs, bs = [], [], [], []
    for i in range(0, len(queries), CHUNK):
        q = queries[i : i + CHUNK]
        d2 = np.maximum((q * q).sum(axis=1)[:, None] + ref_sq[None, :] - 2 * q @ refs.T, 0)
        top = np.argpartition(d2, k - 1, axis=1)[:, :k]
        w = 1 / (np.sqrt(np.take_along_axis(d2, top, axis=1)) + 1e-6)
        w = w / w.sum(axis=1, keepdims=True)
        xs.append((w * train.x[top]).sum(axis=1))
        ys.append((w * train.y[top]).sum(axis=1))
        fs.append(np.array([np.bincount(row).argmax() for row in train.floor[top]]))
        bs.append(np.array([np.bincount(row).argmax() for row in train.building[top]]))
    x, y = np.concatenate(xs), np.concatenate(ys)
    return Estimates(x, y, np.concatenate(fs), np.concatenate(bs), np.zeros_like(x), np.zeros(len(x), dtype=np.int64))
