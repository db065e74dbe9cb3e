"""One model's rendered views made ready to store: composited RGB images, their cameras, embeddings.

The same `embed_views` runs in the local indexing writer thread and in a Ray worker, so both backends
store identical views. It never renders: rendering happens in spawn workers without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.embedder import Embedder
from render.backgrounds import composite
from render.pool import RenderResult

VIEW_BACKGROUND = (255, 255, 255)


@dataclass
class EmbeddedViews:
    """key: the model id. images: (n, S, S, 3) uint8 RGB on VIEW_BACKGROUND; cameras: (n, 3) float64 unit
    vectors; embeddings: (n, d) float32, rows L2-normalised. On failure the arrays are None and `error`
    is a one-line reason (empty mesh, NaN vertices, unreadable file, ...)."""

    key: str
    images: np.ndarray | None
    cameras: np.ndarray | None
    embeddings: np.ndarray | None
    error: str | None = None


def embed_views(embedder: Embedder, result: RenderResult, cameras: np.ndarray) -> EmbeddedViews:
    """Composite a render result onto the view background and embed it. cameras: (n, 3), the ones
    `result` was rendered from. A failed render stays a failure with its reason."""
    if result.error is not None:
        return EmbeddedViews(result.key, None, None, None, result.error)
    rgb = composite(result.images, VIEW_BACKGROUND)
    cameras = np.asarray(cameras, dtype=np.float64)
    return EmbeddedViews(result.key, rgb, cameras, np.asarray(embedder.embed(rgb), np.float32))
