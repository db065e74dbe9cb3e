"""Store + FAISS + manifest: writes, replacement, removal, verification and rebuild on load."""

import json
from dataclasses import replace

import faiss
import numpy as np
import pytest

from index.collection import Collection, CollectionError, ViewConfig
from index.store import ModelRecord, StoreError
from index.vectors import VectorIndex, VectorIndexError
from models.embedder import EmbedderInfo
from tests.conftest import held_index_lock

from .conftest import INFO, model_vectors


def test_views_and_vectors_agree(collection, cameras):
    assert collection.vectors.ntotal == collection.store.count_views() == 4 * len(cameras)
    table = collection.store.view_table()
    assert np.allclose(np.linalg.norm(table.cameras, axis=1), 1)
    assert set(table.model_ids) == {"lib#m0", "lib#m1", "lib#m2", "lib#m3"}
    assert json.loads((collection.root / "manifest.json").read_text())["counts"] == {
        "models": 4, "views": 4 * len(cameras)}


def test_replacing_a_model_keeps_one_copy_of_its_views(collection, cameras):
    record = collection.store.get_model("lib#m1")
    record.file_hash = "changed"
    collection.put_model(record, cameras[:5], model_vectors(9, cameras[:5]), [None] * 5)
    assert collection.store.view_counts()["lib#m1"] == 5
    assert collection.vectors.ntotal == 3 * len(cameras) + 5
    assert collection.store.file_hash("lib#m1") == "changed"


def test_remove_model_and_unknown_id(collection, cameras):
    assert collection.remove_model("lib#m2") == len(cameras)
    assert collection.store.get_model("lib#m2") is None
    assert collection.vectors.ntotal == 3 * len(cameras)
    with pytest.raises(StoreError, match="no model"):
        collection.remove_model("lib#nope")


def test_open_rebuilds_a_stale_faiss_file(collection, cameras):
    root = collection.root
    collection.remove_model("lib#m0")  # store changed, vectors.faiss on disk not saved
    collection.close()
    reopened = Collection.open(root)
    assert reopened.vectors.ntotal == reopened.store.count_views() == 3 * len(cameras)
    (root / "vectors.faiss").write_bytes(b"garbage")
    assert Collection.open(root).vectors.ntotal == 3 * len(cameras)


def test_open_errors_are_clear(tmp_path, collection):
    with pytest.raises(CollectionError, match="photo2cad index build"):
        Collection.open(tmp_path / "nowhere")
    (collection.root / "manifest.json").write_text("{not json")
    with pytest.raises(CollectionError, match="corrupt manifest"):
        Collection.open(collection.root)


def test_embedder_mismatch_is_refused(collection):
    other = EmbedderInfo(name="other", layer="x", input_size_px=32, dim=8, weights="w")
    with pytest.raises(CollectionError, match="rebuild the index"):
        collection.check_embedder(other)
    retrained = replace(INFO, weights="trained again")  # same network, other weights: other vectors
    with pytest.raises(CollectionError, match="trained again"):
        collection.check_embedder(retrained)
    collection.check_embedder(INFO)
    with pytest.raises(CollectionError, match="already exists"):
        Collection.create(collection.root, INFO, ViewConfig())


def test_failed_write_leaves_store_unchanged(collection, cameras):
    before = collection.store.count_views()
    bad = ModelRecord("lib#bad", "Bad", "/x", "h")
    with pytest.raises(StoreError):
        collection.put_model(bad, cameras, model_vectors(5, cameras)[:-1], [None] * len(cameras))
    assert collection.store.count_views() == before and collection.store.get_model("lib#bad") is None


def test_vector_index_factories_and_validation():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(100, 400)
    for factory in ("Flat", "HNSW16,Flat", "IVF4,Flat"):
        index = VectorIndex.from_batches(8, factory, [(ids, vectors)])
        if "IVF" in factory:
            faiss.extract_index_ivf(index._index.index).nprobe = 4
        sims, found = index.search(vectors[:3], 1)
        assert list(found[:, 0]) == [100, 101, 102] and np.allclose(sims[:, 0], 1, atol=1e-5)
    with pytest.raises(VectorIndexError, match="factory"):
        VectorIndex(8, "NotAnIndex")
    with pytest.raises(VectorIndexError, match="shape"):
        index.add(np.array([1]), np.ones((1, 3), np.float32))
    with pytest.raises(VectorIndexError, match="NaN"):
        index.add(np.array([1]), np.full((1, 8), np.nan, np.float32))


def test_a_missing_metadata_store_is_an_error_not_an_empty_index(collection):
    root = collection.root
    collection.close()
    for name in ("metadata.sqlite", "metadata.sqlite-wal", "metadata.sqlite-shm"):
        (root / name).unlink(missing_ok=True)
    with pytest.raises(CollectionError, match="lost its metadata.sqlite"):
        Collection.open(root)
    assert not (root / "metadata.sqlite").exists()


def test_opening_repairs_a_stale_faiss_file_on_disk_only_under_the_write_lock(collection):
    """A service (re)opening the index while `photo2cad index add/remove` writes it must not write."""
    root = collection.root
    VectorIndex(INFO.dim, "Flat").save(root / "vectors.faiss")  # stale: no vectors
    stale = (root / "vectors.faiss").read_bytes()
    with held_index_lock(root):
        opened = Collection.open(root)
        assert opened.vectors.ntotal == collection.store.count_views()  # repaired in memory
        assert (root / "vectors.faiss").read_bytes() == stale  # the writer's file, untouched
        opened.close()
    Collection.open(root).close()  # nobody writing: repaired on disk
    assert VectorIndex.load(root / "vectors.faiss", "Flat").ntotal == collection.store.count_views()
