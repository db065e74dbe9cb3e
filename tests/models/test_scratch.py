"""The from-scratch CNN: architecture, embedder interface, save/load, augmentation, training renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from models.augment import AugmentConfig, augment_batch, background_pool
from models.scratch import (
    NAME,
    ScratchConfig,
    ScratchEmbedder,
    ScratchModelError,
    build_scratch_cnn,
    save_model,
)
from models.training_data import TrainingModel, render_training_views, soft_view_labels
from render.cameras import sphere_cameras

PLAIN = AugmentConfig(scale=(1.0, 1.0), shift=0.0, p_white=1.0, p_flat=0.0, brightness=0.0,
                      contrast=(1.0, 1.0), saturation=(1.0, 1.0), channel_gain=(1.0, 1.0), p_blur=0.0,
                      noise_std=(0.0, 0.0))


def _config(**kw) -> ScratchConfig:
    return ScratchConfig(model_ids=["a", "b", "c"], seat_kinds=["chair", "stool"], n_views=12, **kw)


def test_default_architecture_is_a_small_cnn_with_three_heads() -> None:
    model = build_scratch_cnn(_config(input_size_px=128))
    assert 1_000_000 <= model.count_params() <= 3_000_000  # the 1-3 M parameters
    outputs = model(np.zeros((2, 128, 128, 3), np.float32))
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {"model": (2, 3), "kind": (2, 2), "view": (2, 12)}
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D"} <= kinds


def test_embedder_round_trips_through_its_folder(tmp_path: Path) -> None:
    config = _config(input_size_px=32, widths=(8, 16, 16), embedding_dim=24)
    model = build_scratch_cnn(config)
    save_model(model, config, tmp_path / "m")
    embedder = ScratchEmbedder(tmp_path / "m")
    images = np.random.default_rng(0).integers(0, 256, (5, 40, 50, 3), dtype=np.uint8)
    vectors = embedder.embed(images)
    assert vectors.shape == (5, 24) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.info.name == NAME and embedder.info.dim == 24 and embedder.info.input_size_px == 32
    assert embedder.embed(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, 24)
    heads = embedder.predict_heads(images[:2])
    np.testing.assert_allclose(heads["kind"].sum(axis=1), 1.0, atol=1e-5)
    again = ScratchEmbedder(tmp_path / "m").embed(images)  # the weights were really saved
    np.testing.assert_allclose(again, vectors, atol=1e-5)
    from models.embedder import PreparedEmbedder

    np.testing.assert_allclose(embedder.spec.build().embed(images), vectors, atol=1e-5)  # for Ray workers
    assert isinstance(embedder, PreparedEmbedder)  # the service's micro-batcher can stack its inputs
    stacked = embedder.embed_prepared(np.concatenate([embedder.prepare(images[:2]), embedder.prepare(
        np.zeros((1, 70, 20, 3), np.uint8))]))
    np.testing.assert_allclose(stacked[:2], vectors[:2], atol=1e-5)


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScratchModelError, match="photo2cad train"):
        ScratchEmbedder(tmp_path / "nothing")


def test_augmentation_composites_and_is_seeded() -> None:
    rgba = np.zeros((2, 16, 16, 4), np.uint8)
    rgba[1] = (200, 10, 10, 255)  # an opaque red image; image 0 is fully transparent
    backgrounds = tf.constant(np.full((3, 16, 16, 3), 40, np.uint8))
    plain = augment_batch(tf.constant(rgba), backgrounds, tf.constant([1, 2]), 16, PLAIN).numpy()
    assert (plain[0] == 255).all()  # p_white=1: transparent becomes white
    np.testing.assert_allclose(plain[1], np.broadcast_to([200, 10, 10], (16, 16, 3)), atol=1e-3)
    on_photo = augment_batch(tf.constant(rgba), backgrounds, tf.constant([1, 2]), 16,
                             AugmentConfig(**{**PLAIN.__dict__, "p_white": 0.0})).numpy()
    assert (on_photo[0] == 40).all()
    small = backgrounds[:, :12, :12]
    full = [augment_batch(tf.constant(rgba), small, tf.constant(s), 12).numpy() for s in ([3, 4], [3, 4], [5, 6])]
    assert full[0].shape == (2, 12, 12, 3) and full[0].min() >= 0 and full[0].max() <= 255
    np.testing.assert_array_equal(full[0], full[1])
    assert np.abs(full[0] - full[2]).mean() > 1


def test_table_hides_the_lower_part_of_the_seat_and_all_below() -> None:
    rgba = np.zeros((8, 20, 20, 4), np.uint8)
    rgba[:4] = (200, 10, 10, 255)  # seats filling the frame
    rgba[4:, 2:10, 5:15] = (200, 10, 10, 255)  # seats in rows 2-9 only, background below
    backgrounds = tf.constant(np.full((2, 20, 20, 3), 40, np.uint8))
    config = AugmentConfig(**{**PLAIN.__dict__, "p_white": 0.0, "p_table": 1.0, "table_depth": (0.4, 0.6)})
    out = augment_batch(tf.constant(rgba), backgrounds, tf.constant([7, 8]), 20, config).numpy()
    red = np.all(np.abs(out - [200, 10, 10]) < 1e-3, axis=-1)  # (8, 20, 20) the seat still seen
    backdrop = np.all(np.abs(out - 40) < 1e-3, axis=-1)
    table = ~red & ~backdrop
    assert red[:4, :8].all() and table[:4, 12:].all()  # the seat's top 0.4 seen, its bottom 0.4 hidden
    assert red[4:, 2:5, 5:15].all() and not red[4:, 7:].any()  # of rows 2-9: the top 3 seen, the bottom 3 hidden
    assert table[4:, 10:].all() and backdrop[4:, :2].all()  # the table goes down to the frame, not above the seat
    for image, covered in zip(out, table):  # whole rows, one surface colour
        assert (covered.all(axis=1) | ~covered.any(axis=1)).all() and np.ptp(image[covered], axis=0).max() < 1e-3
    assert len({int(covered.any(axis=1).sum()) for covered in table[:4]}) > 1  # random depths
    half = AugmentConfig(**{**config.__dict__, "table_depth": (0.5, 0.5)})  # exactly half of rows 2-9
    out = augment_batch(tf.constant(rgba[4:]), backgrounds, tf.constant([7, 8]), 20, half).numpy()
    seen_rows = np.all(np.abs(out - [200, 10, 10]) < 1e-3, axis=-1).any(axis=2)  # (4, 20)
    assert (seen_rows == (np.arange(20) >= 2) & (np.arange(20) <= 5)).all()
    empty = augment_batch(tf.zeros((2, 20, 20, 4), tf.uint8), backgrounds, tf.constant([7, 8]), 20, config).numpy()
    assert (np.abs(empty - 40) < 1e-3).all()  # nothing to hide: no table
    none = augment_batch(tf.constant(rgba[:4]), backgrounds, tf.constant([7, 8]), 20,
                         AugmentConfig(**{**config.__dict__, "p_table": 0.0})).numpy()
    np.testing.assert_allclose(none, np.broadcast_to([200, 10, 10], none.shape), atol=1e-3)


def test_background_pool_crops_every_panorama() -> None:
    panoramas = [np.full((64, 128, 3), v, np.uint8) for v in (10, 250)]
    pool = background_pool(panoramas, 16, 4, seed=0)
    assert pool.shape == (4, 16, 16, 3)
    assert sorted({int(p.mean()) for p in pool}) == [10, 250]


def test_soft_view_labels_peak_on_their_own_camera() -> None:
    cameras = sphere_cameras(1, "icosphere", (0.0, 180.0), 0)
    labels = soft_view_labels(cameras, sigma_deg=12.0)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    assert (labels.argmax(axis=1) == np.arange(len(cameras))).all()
    assert (np.diag(labels) < 1).all()  # neighbours share some of the mass


def test_training_renders_are_labelled_and_cached(tmp_path: Path, tiny_cad_dir: Path, monkeypatch) -> None:
    models = [TrainingModel("chair", str(tiny_cad_dir / "box_chair.glb"), "chair"),
              TrainingModel("stool", str(tiny_cad_dir / "stool.ply"), "stool")]
    cameras = sphere_cameras(0, "icosphere", (20.0, 90.0), 0)
    views = render_training_views(models, cameras, 24, variants=2, cache_dir=tmp_path, workers=1, progress=False)
    per_model = 2 * len(cameras)
    assert views.rgba.shape == (2 * per_model, 24, 24, 4)
    assert list(views.model[:per_model]) == [0] * per_model and views.kind[-1] == views.seat_kinds.index("stool")
    assert list(views.view[:len(cameras)]) == list(range(len(cameras)))
    first, second = views.rgba[0].astype(int), views.rgba[len(cameras)].astype(int)  # same camera, other light
    assert np.abs(first - second)[..., :3].mean() > 0.5 and (first[..., 3] == second[..., 3]).all()

    from models import training_data

    monkeypatch.setattr(training_data, "render_jobs", lambda *a, **k: pytest.fail("cache not used"))
    cached = render_training_views(models, cameras, 24, 2, tmp_path, workers=1, progress=False)
    np.testing.assert_array_equal(cached.rgba, views.rgba)
