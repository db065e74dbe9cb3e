"""The from-scratch CNN as the service and CLI see it: where the trained model lives, training it on the
default catalogue (without the hold-outs the CLI passes: the evaluation's), loading it as an embedder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import models
from app.settings import Settings
from index.build import view_cameras
from index.sources import source_from_entry

if TYPE_CHECKING:  # TensorFlow is imported only when training or embedding
    from catalogue.entry import CatalogueEntry
    from models.scratch import ScratchEmbedder
    from models.train import TrainConfig
    from models.training_data import TrainingModel

# Shipped as package data of `models` (installed with it, also in the Docker image); rebuilt with
# `photo2cad train --out models/artifacts/scratch_cnn` (README, "From-scratch CNN").
SHIPPED_DIR = Path(models.__file__).resolve().parent / "artifacts" / "scratch_cnn"


def scratch_dir(settings: Settings) -> Path:
    """The configured folder, else a model trained into data_dir (a finished run: its weights and config
    written last), else the one shipped in the repository. Imports no training code (the service calls it)."""
    from models.model_folder import missing_model_files
    from models.scratch import CONFIG_FILE, WEIGHTS_FILE

    if settings.scratch_model_dir:
        return settings.scratch_model_dir
    trained = settings.trained_scratch_dir
    return SHIPPED_DIR if missing_model_files(trained, CONFIG_FILE, WEIGHTS_FILE) else trained


def train_scratch(settings: Settings, config: TrainConfig, out_dir: Path, heldout_models: list[str],
                  heldout_panoramas: list[str], split_seed: int | None, progress: bool = True,
                  extra_shapes: Sequence[Path] = ()) -> dict:
    """Train on the default catalogue seen from the index's view grid, without the held-out model ids
    and panorama file names (what the evaluation with `split_seed` keeps out; the CLI draws them with
    evaluation.plan.training_holdouts; None: nothing held out). extra_shapes: manifest.json files of extra
    training shape sets (models.training_data.shape_set_models), added to the catalogue's models.
    Returns the manifest."""
    from app.bootstrap import ensure_catalogue, hdri_dir
    from models.train import train
    from models.training_data import shape_set_models
    from render.backgrounds import load_panorama

    extra = [m for manifest in extra_shapes for m in shape_set_models(manifest)]  # a bad set fails first
    entries = ensure_catalogue(settings)
    panorama_files = sorted(hdri_dir(settings).glob("*.exr"))
    models = [_training_model(e) for e in entries if e.model_id not in heldout_models] + extra
    panoramas = {p.name: load_panorama(p) for p in panorama_files if p.name not in heldout_panoramas}
    view = settings.view_config()
    info = {"catalogue": str(settings.catalogue_dir), "heldout_models_excluded": heldout_models,
            "heldout_panoramas_excluded": heldout_panoramas, "split_seed": split_seed,
            "extra_shape_sets": [str(p) for p in extra_shapes],
            "cameras": f"{view.sampling} {view.count}, polar {view.polar_min_deg}-{view.polar_max_deg} deg"}
    return train(models, view_cameras(view), panoramas, out_dir, config,
                 (view.polar_min_deg, view.polar_max_deg), settings.render_workers, progress, info,
                 cache_dir=settings.data_dir / "training" / "renders")


def _training_model(entry: CatalogueEntry) -> TrainingModel:
    from models.training_data import TrainingModel

    source = source_from_entry(entry)
    return TrainingModel(source.model_id, str(source.path), source.seat_kind or "unknown", source.rotation,
                         source.size)


def load_scratch_embedder(settings: Settings) -> ScratchEmbedder:
    from models.scratch import ScratchEmbedder

    return ScratchEmbedder(scratch_dir(settings))
