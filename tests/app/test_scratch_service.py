"""The service on the from-scratch CNN: a tiny really-trained model, an index built with it through the
settings (PHOTO2CAD_EMBEDDER=scratch_cnn), and real HTTP searches; plus `photo2cad train` guards."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app import bootstrap
from app.cli import main
from app.main import create_app
from app.settings import Settings
from models.train import TrainConfig, train
from models.training_data import TrainingModel
from render.cameras import angles_to_camera, sphere_cameras
from tests.conftest import TINY_MODELS, render_rgb

CONFIG = TrainConfig(input_size_px=32, render_size_px=40, widths=(8, 16, 16, 32), embedding_dim=32, epochs=3,
                     batch_size=16, variants=1, val_views_per_model=1, background_pool=4)


@pytest.fixture(scope="module")
def scratch_settings(tmp_path_factory, tiny_cad_dir) -> Settings:
    models = [TrainingModel(f"test#{name}", str(tiny_cad_dir / f"{name}.{ext}"), kind)
              for name, (ext, kind) in TINY_MODELS.items()]
    folder = tmp_path_factory.mktemp("scratch")
    panoramas = {"p.exr": np.random.default_rng(0).integers(0, 256, (32, 64, 3), dtype=np.uint8)}
    train(models, sphere_cameras(1, "icosphere", (20.0, 90.0), 0), panoramas, folder, CONFIG, workers=1,
          progress=False)
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), embedder="scratch_cnn",
                        scratch_model_dir=folder, view_size_px=64, view_count=1, render_workers=1,
                        _env_file=None)
    for name, (ext, kind) in TINY_MODELS.items():
        report = bootstrap.add_files(settings, [tiny_cad_dir / f"{name}.{ext}"], model_id=f"test#{name}",
                                     seat_kind=kind)  # the embedder comes from the settings
        assert not report.failed and report.added == [f"test#{name}"]
    return settings


def test_the_service_runs_on_the_scratch_model(scratch_settings, tiny_cad_dir) -> None:
    camera = sphere_cameras(1, "icosphere", (20.0, 90.0), 0)[5]  # an indexed view: its vector is exact
    image = render_rgb(tiny_cad_dir / "stool.ply", camera[None], 64)[0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    with TestClient(create_app(scratch_settings)) as client:
        health = client.get("/api/health").json()
        assert health["embedder"]["name"] == "scratch_cnn" and health["embedder"]["dim"] == 32
        response = client.post("/api/search", files={"image": ("s.png", buffer.getvalue(), "image/png")})
    assert response.status_code == 200, response.text
    best = response.json()["results"][0]
    assert best["model_id"] == "test#stool" and best["score"] > 0.99


def test_train_leaves_a_trained_folder_alone(scratch_settings, capsys) -> None:
    assert main(["train", "--out", str(scratch_settings.scratch_model_dir)]) == 0
    assert "already holds a trained model" in capsys.readouterr().out


def test_an_index_from_other_weights_is_refused(scratch_settings, tmp_path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(scratch_settings.scratch_model_dir, other)
    from models.scratch import load_model, save_model

    model, config = load_model(other)
    dense = model.get_layer("embedding_dense")
    dense.set_weights([w + 0.1 for w in dense.get_weights()])
    save_model(model, config, other)  # "retrained": same architecture, other weights
    settings = scratch_settings.model_copy(update={"scratch_model_dir": other})
    with pytest.raises(ValueError, match="rebuild the index"), TestClient(create_app(settings)):
        pass


def test_classify_names_each_catalogue_seat_kind(scratch_settings, tiny_cad_dir) -> None:
    """A render of each catalogue seat, from off the index's camera grid, is classified as its kind."""
    with TestClient(create_app(scratch_settings)) as client:
        for name, (ext, kind) in TINY_MODELS.items():
            image = render_rgb(tiny_cad_dir / f"{name}.{ext}", angles_to_camera(50.0, 10.0)[None], 64)[0]
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            response = client.post("/api/classify", files={"image": ("c.png", buffer.getvalue(), "image/png")})
            assert response.status_code == 200
            categories = response.json()["categories"]
            assert categories[0]["label"] == kind, (name, categories)
            assert sum(c["probability"] for c in categories) == pytest.approx(1.0, abs=5e-4)  # 4 decimals each


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "must be at least 1"), (["--size", "8"], "must be at least 32"),
    (["--batch-size", "x"], "not a whole number"), (["--variants", "-1"], "must be at least 1"),
    (["--max-minutes", "0"], "must be a positive number"), (["--max-minutes", "nan"], "must be a positive"),
])
def test_train_refuses_bad_flags_with_one_line(flags, message, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["train", *flags])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
