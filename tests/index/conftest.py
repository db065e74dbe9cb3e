"""Synthetic index data: seeded random unit vectors standing in for view embeddings."""

import numpy as np
import pytest

from index.collection import Collection, ViewConfig
from index.store import ModelRecord
from models.embedder import EmbedderInfo, l2_normalise
from render.cameras import sphere_cameras

DIM = 16
INFO = EmbedderInfo(name="fake", layer="none", input_size_px=32, dim=DIM, weights="seeded random")


class TableEmbedder:
    """Embeds an image to the vector stored under its first pixel value (test double: the real
    embedders are tested in tests/models; here we test the index around them)."""

    info = INFO

    def __init__(self, table: dict[int, np.ndarray]):
        self.table = table

    def embed(self, images: np.ndarray) -> np.ndarray:
        return l2_normalise(np.stack([self.table[int(img[0, 0, 0])] for img in images]))


def model_vectors(seed: int, cameras: np.ndarray) -> np.ndarray:
    """One model's view embeddings: a model direction plus a smooth function of the camera, so that
    nearby views have nearby vectors (like real renders)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=DIM)
    mix = rng.normal(size=(3, DIM))
    return l2_normalise(base + 0.8 * cameras @ mix)


@pytest.fixture
def cameras():
    return sphere_cameras(2, "icosphere", (20, 90))


@pytest.fixture
def collection(tmp_path, cameras):
    col = Collection.create(tmp_path / "idx", INFO, ViewConfig(size_px=32, count=2), "Flat")
    for i, kind in enumerate(["chair", "chair", "sofa", "stool"]):
        record = ModelRecord(f"lib#m{i}", f"Model {i}", f"/x/m{i}.obj", f"hash{i}", seat_kind=kind,
                             licence="CC0", creator="test")
        col.put_model(record, cameras, model_vectors(i, cameras), [None] * len(cameras))
    col.save()
    yield col
    col.close()
