"""The embedder's viewpoint head as a prior on the pose.

A transfer embedder trained with a viewpoint head (models.finetuned.FinetunedEmbedder.view_head: soft labels
over the training index's view grid) says from its query vector alone where the camera is:
p(grid camera | query) = softmax((query @ W + b) / temperature). index.pose.estimate_pose multiplies each
retrieved view's weight by the head's probability of that view's camera (its nearest grid camera), so that
when a back view matches a photo of the front almost as well as the front view does, the head decides.
On real photographs the head alone gets the coarse view right more often than retrieval (EVALUATION.md,
"View head as a pose prior"), while retrieval ties the pose to the matched model; the product keeps both.
The prior is used only when the index's view grid has as many cameras as the head has classes (the default
index's grid is the one the shipped network was trained on; a grid of another size gets no prior). A grid of
the same size but other cameras would be misread: the head's grid is not stored with its weights.

Mirror averaging: a seat photographed from azimuth a looks, mirrored left to right, like the seat (mirrored:
seats are nearly left-right symmetric) from azimuth -a at the same polar. So the head's answer on the mirrored
crop, read at each grid camera's mirror image (x -> -x in the model frame), is a second opinion on the same
camera; the two are combined by their normalised geometric mean. On the real photos' dev split this took flips
of the main seat from 0.12 to 0.08 (EVALUATION.md, "Mirror averaging"). It needs a grid that is its own
mirror image (the icosphere grids are); on another grid `mirror` is None and the head is read once.
"""

from __future__ import annotations

import numpy as np

from index.collection import ViewConfig
from models.embedder import Embedder


class ViewPrior:
    """weights (dim + 1, v) float32 with the bias last; temperature > 0; grid (v, 3) unit cameras, the
    head's classes in order."""

    def __init__(self, weights: np.ndarray, temperature: float, grid: np.ndarray) -> None:
        if weights.shape[1] != len(grid):
            raise ValueError(f"a view head of {weights.shape[1]} classes over a grid of {len(grid)} cameras")
        self.weights, self.temperature = np.asarray(weights, np.float32), float(temperature)
        self.grid = np.asarray(grid, np.float64) / np.linalg.norm(grid, axis=1, keepdims=True)
        self.mirror = mirror_permutation(self.grid)

    def probabilities(self, queries: np.ndarray, mirrored: np.ndarray | None = None) -> np.ndarray:
        """queries (q, dim) float32 unit rows -> (q, v) float64 rows summing to 1. mirrored (q, dim): the
        vectors of the same images mirrored left to right, or None; when given (and the grid has a mirror),
        the normalised geometric mean of both answers (module docstring)."""
        log_p = self._log_probabilities(queries)
        if mirrored is not None and self.mirror is not None:
            log_p = (log_p + self._log_probabilities(mirrored)[:, self.mirror]) / 2
        log_p -= log_p.max(axis=1, keepdims=True)
        exp = np.exp(log_p)
        return exp / exp.sum(axis=1, keepdims=True)

    def _log_probabilities(self, queries: np.ndarray) -> np.ndarray:
        logits = (queries @ self.weights[:-1] + self.weights[-1]).astype(np.float64) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    def at(self, probabilities: np.ndarray, cameras: np.ndarray) -> np.ndarray:
        """One query's probabilities (v,) at cameras (k, 3): each camera's nearest grid camera's, (k,)."""
        cameras = np.asarray(cameras, np.float64)
        return probabilities[np.argmax(cameras @ self.grid.T, axis=1)]


def mirror_permutation(grid: np.ndarray, tolerance_deg: float = 1.0) -> np.ndarray | None:
    """grid (v, 3) unit cameras -> (v,) int: for each camera, the grid camera at its mirror image (x -> -x);
    None when some mirror image is farther than tolerance_deg from every grid camera."""
    mirrored = grid * np.array([-1.0, 1.0, 1.0])
    dots = mirrored @ grid.T
    nearest = np.argmax(dots, axis=1)
    worst = float(np.min(dots[np.arange(len(grid)), nearest]))
    return nearest if worst >= np.cos(np.radians(tolerance_deg)) else None


def own_view_prior(embedder: Embedder, config: ViewConfig) -> ViewPrior | None:
    """The embedder's viewpoint head over the grid of `config` (an index's views), or None when it has no
    head or the grid has another number of cameras than the head has classes."""
    from index.build import view_cameras

    head = getattr(embedder, "view_head", None)
    if head is None:
        return None
    weights, temperature = head()
    grid = view_cameras(config)
    return ViewPrior(weights, temperature, grid) if weights.shape[1] == len(grid) else None
