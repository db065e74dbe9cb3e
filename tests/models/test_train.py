"""Training the from-scratch CNN on a tiny real set: the loss falls, a manifest is written, an
interrupted run resumes where it stopped, and a run with other settings is refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import models.train as train_module
from models.scratch import ScratchEmbedder
from models.train import TrainConfig, TrainingError, is_trained, train
from models.training_data import TrainingModel
from render.cameras import sphere_cameras

TINY = TrainConfig(input_size_px=32, render_size_px=40, widths=(8, 16, 16, 32), embedding_dim=32, epochs=15,
                   batch_size=8, learning_rate=3e-3, variants=2, val_views_per_model=2, background_pool=8)


@pytest.fixture(scope="module")
def tiny_models(tiny_cad_dir: Path) -> list[TrainingModel]:
    return [TrainingModel("chair", str(tiny_cad_dir / "box_chair.glb"), "chair"),
            TrainingModel("stool", str(tiny_cad_dir / "stool.ply"), "stool"),
            TrainingModel("sofa", str(tiny_cad_dir / "sofa.glb"), "sofa")]


@pytest.fixture(scope="module")
def panoramas() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {f"p{i}.exr": rng.integers(0, 256, (32, 64, 3), dtype=np.uint8) for i in range(2)}


CAMERAS = sphere_cameras(1, "icosphere", (20.0, 90.0), 0)


def _train(models, panoramas, out: Path, config: TrainConfig = TINY) -> dict:
    return train(models, CAMERAS, panoramas, out, config, workers=1, progress=False,
                 data_info={"cameras": "icosphere 1"})


def test_training_lowers_the_loss_and_writes_a_usable_model(tmp_path, tiny_models, panoramas) -> None:
    manifest = _train(tiny_models, panoramas, tmp_path / "m")
    losses = [h["loss"] for h in manifest["history"]]
    assert len(losses) == TINY.epochs and np.mean(losses[-3:]) < 0.85 * losses[0]
    assert manifest["history"][-1]["model_accuracy"] > 0.6  # chance is 1/3
    assert is_trained(tmp_path / "m") and not (tmp_path / "m" / "backup").exists()
    saved = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert saved["config"]["epochs"] == TINY.epochs and saved["data"]["models"] == 3
    assert saved["data"]["training_images"] == 3 * TINY.variants * len(CAMERAS)
    assert saved["data"]["panoramas"] == ["p0.exr", "p1.exr"] and saved["data"]["cameras"] == "icosphere 1"
    assert {"keras", "numpy"} <= set(saved["versions"]) and saved["versions"].keys() & {"tensorflow", "tensorflow-cpu"}
    val = saved["metrics"]["val"]
    assert val["images"] == 6 and 0 <= val["model_accuracy"] <= 1 and val["view_head_mean_error_deg"] >= 0
    embedder = ScratchEmbedder(tmp_path / "m")
    vectors = embedder.embed(np.zeros((2, 50, 50, 3), np.uint8))
    assert vectors.shape == (2, 32)
    assert embedder.config.model_ids == ["chair", "stool", "sofa"]


def test_an_interrupted_run_resumes_at_the_last_finished_epoch(tmp_path, tiny_models, panoramas,
                                                               monkeypatch) -> None:
    original_end = train_module._ProgressFile.on_epoch_end

    def stop_after_two(self, epoch, logs=None):
        original_end(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt  # like Ctrl-C right after epoch 2 was saved

    monkeypatch.setattr(train_module._ProgressFile, "on_epoch_end", stop_after_two)
    config = replace(TINY, epochs=4)  # resuming is the point here, not learning
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_models, panoramas, tmp_path / "m", config)
    assert not train_module.is_trained(tmp_path / "m") and (tmp_path / "m" / "backup").exists()
    monkeypatch.setattr(train_module._ProgressFile, "on_epoch_end", original_end)

    begun = []
    original_begin = train_module._ProgressFile.on_epoch_begin
    monkeypatch.setattr(train_module._ProgressFile, "on_epoch_begin",
                        lambda self, epoch, logs=None: (begun.append(epoch), original_begin(self, epoch, logs)))
    manifest = _train(tiny_models, panoramas, tmp_path / "m", config)
    assert begun == list(range(2, config.epochs))  # epochs 1 and 2 came back from the backup
    assert [h["epoch"] for h in manifest["history"]] == list(range(1, config.epochs + 1))


def test_a_folder_holding_other_settings_is_refused(tmp_path, tiny_models, panoramas) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "train_config.json").write_text(json.dumps(replace(TINY, epochs=9).to_json()))
    with pytest.raises(TrainingError, match="epochs"):
        _train(tiny_models, panoramas, tmp_path / "m")


def test_training_needs_backgrounds(tmp_path, tiny_models) -> None:
    with pytest.raises(TrainingError, match="panorama"):
        _train(tiny_models, {}, tmp_path / "m")
