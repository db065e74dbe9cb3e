"""A trained model's folder: weights and config, written so that a folder with a config is complete."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import keras


class SavableConfig(Protocol):
    def save(self, path: Path) -> None: ...


def write_model_folder(model: keras.Model, config: SavableConfig, folder: Path, weights_file: str,
                       config_file: str) -> None:
    """Weights, then config last, each written to a temporary name and renamed (atomic per file)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{weights_file}.tmp.weights.h5"
    model.save_weights(tmp)
    tmp.replace(folder / weights_file)
    tmp_config = folder / f".{config_file}.tmp"
    config.save(tmp_config)
    tmp_config.replace(folder / config_file)


def missing_model_files(folder: Path, *names: str) -> bool:
    """True when any of the named files is absent from `folder` (the model was never fully written)."""
    return not all((folder / name).exists() for name in names)
