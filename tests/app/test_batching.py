"""Micro-batching of queries: concurrent requests share forward passes and index searches, get their own
rows (equal to unbatched ones), all see a failure as an error, and batching can be switched off.

Batches are made deterministic by holding the first call until the other requests are queued."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from app.batching import BatcherClosed, EmbedBatcher, MicroBatcher, NeighbourBatcher
from app.main import create_app
from index.vectors import VectorIndex

SIZES = (40, 64, 96, 150)  # photo sides: the 96 px embedder shrinks some, enlarges others


class HeldEmbedder:
    """The real embedder whose first forward pass waits for `release`; raises while `failing` is set."""

    def __init__(self, real) -> None:
        self.real, self.info = real, real.info
        self.entered, self.release = threading.Event(), threading.Event()
        self.failing = False
        self.forward_sizes: list[int] = []

    def prepare(self, images: np.ndarray) -> np.ndarray:
        return self.real.prepare(images)

    def embed_prepared(self, inputs: np.ndarray) -> np.ndarray:
        self.forward_sizes.append(len(inputs))
        if len(self.forward_sizes) == 1:
            self.entered.set()
            assert self.release.wait(60), "test never released the first forward pass"
        if self.failing:
            raise RuntimeError("forward pass exploded")
        return self.real.embed_prepared(inputs)

    def embed(self, images: np.ndarray) -> np.ndarray:
        return self.embed_prepared(self.prepare(images))


class PlainEmbedder:
    """Only the basic Embedder interface (no prepare step): the batcher groups photos by shape."""

    def __init__(self, real) -> None:
        self.real, self.info = real, real.info

    def embed(self, images: np.ndarray) -> np.ndarray:
        return self.real.embed(images)


def _photos(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for side in SIZES]


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def _wait_until(condition, what: str) -> None:
    """Poll a condition that the code under test must reach (bounded so a bug fails, not hangs)."""
    for _ in range(6000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


class HeldVectors:
    """A vector index whose first search waits for `release`."""

    def __init__(self, real: VectorIndex) -> None:
        self.real = real
        self.entered, self.release = threading.Event(), threading.Event()
        self.calls = 0

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self.release.wait(60), "test never released the first search"
        return self.real.search(queries, k)


def _in_one_batch(batcher: MicroBatcher, held, calls: list, pool: ThreadPoolExecutor) -> list:
    """Start calls[0], hold its batch until the others are queued, then release: the others share the
    second batch. Returns the futures in call order."""
    first = pool.submit(calls[0])
    assert held.entered.wait(60)
    rest = [pool.submit(call) for call in calls[1:]]
    _wait_until(lambda: batcher.queued == len(rest), f"{len(rest)} queued photos")
    held.release.set()
    return [first, *rest]


def test_concurrent_photos_of_any_size_share_a_forward_pass_and_keep_their_own_rows(tiny_embedder):
    held, sizes = HeldEmbedder(tiny_embedder), []
    batcher = EmbedBatcher(held, max_batch=16, max_wait_ms=0, observe_batch=sizes.append)
    photos = _photos()
    with ThreadPoolExecutor(8) as pool:
        calls = [lambda p=p: batcher.embed(p[None])[0] for p in [photos[0], *photos]]
        rows = [f.result(60) for f in _in_one_batch(batcher.batcher, held, calls, pool)]
    batcher.close()
    assert sizes == [1, len(photos)] == held.forward_sizes
    expected = np.concatenate([tiny_embedder.embed(p[None]) for p in [photos[0], *photos]])
    np.testing.assert_allclose(np.stack(rows), expected, atol=1e-4)
    assert not np.allclose(rows[1], rows[2], atol=1e-2)  # distinct photos, distinct rows


def test_without_a_prepare_step_photos_are_grouped_by_shape(tiny_embedder):
    sizes = []
    batcher = EmbedBatcher(PlainEmbedder(tiny_embedder), max_batch=16, observe_batch=sizes.append)
    photos = _photos(1)
    many = np.stack([photos[1]] * 3)
    np.testing.assert_allclose(batcher.embed(many), tiny_embedder.embed(many), atol=1e-4)
    one = photos[2][None]
    np.testing.assert_allclose(batcher.embed(one), tiny_embedder.embed(one), atol=1e-4)
    batcher.close()
    assert sizes == [3, 1]


def test_a_group_of_recent_size_is_collected_even_when_it_arrives_spread_out(tiny_embedder):
    held, sizes = HeldEmbedder(tiny_embedder), []
    batcher = EmbedBatcher(held, max_batch=16, max_wait_ms=600_000, observe_batch=sizes.append)
    photo = _photos()[1][None]
    with ThreadPoolExecutor(8) as pool:
        for future in _in_one_batch(batcher.batcher, held, [lambda: batcher.embed(photo)] * 8, pool):
            future.result(60)
        later = []
        for _ in range(7):  # one at a time: the batcher waits for the 7 a recent batch held
            later.append(pool.submit(batcher.embed, photo))
            _wait_until(lambda: batcher.batcher.queued == len(later) or len(sizes) == 3, "the photo queued")
        for future in later:
            future.result(60)
    batcher.close()
    assert sizes == [1, 7, 7]


def test_one_client_never_waits_for_company(tiny_embedder):
    sizes = []
    batcher = EmbedBatcher(tiny_embedder, max_wait_ms=600_000, observe_batch=sizes.append)
    photo = _photos()[0][None]
    with ThreadPoolExecutor(1) as pool:
        for _ in range(3):  # a 10-minute wait would fail the 60 s bound
            np.testing.assert_allclose(pool.submit(batcher.embed, photo).result(60),
                                       tiny_embedder.embed(photo), atol=1e-4)
    batcher.close()
    assert sizes == [1, 1, 1]


def test_a_lone_caller_runs_its_batch_in_its_own_thread_and_crowds_go_to_the_worker():
    release, ran_in = threading.Event(), []

    def run(items: list[int]) -> list[int]:
        ran_in.append((threading.current_thread().name, len(items)))
        if items == [0]:
            assert release.wait(60)
        return [2 * item for item in items]

    batcher = MicroBatcher(run, max_batch=16, max_wait_ms=0, name="worker")
    assert batcher.submit([5]) == [10] and ran_in == [(threading.current_thread().name, 1)]
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.submit, [0])
        _wait_until(lambda: len(ran_in) == 2, "the first call running")
        rest = [pool.submit(batcher.submit, [i]) for i in (1, 2, 3)]
        _wait_until(lambda: batcher.queued == 3, "3 queued calls")  # not run beside the first one
        release.set()
        assert [f.result(60) for f in [first, *rest]] == [[0], [2], [4], [6]]
    assert ran_in[1][0] != "worker" and ran_in[2:] == [("worker", 3)]
    batcher.close()


def test_close_stops_the_worker_and_refuses_new_photos(tiny_embedder):
    batcher = EmbedBatcher(tiny_embedder)
    batcher.close()
    assert not batcher.batcher._worker.is_alive()
    with pytest.raises(BatcherClosed):
        batcher.embed(_photos()[0][None])


def test_searches_with_different_k_share_one_index_read_and_match_direct_searches():
    rng = np.random.default_rng(5)
    index, other = VectorIndex(16), VectorIndex(16)
    for vectors in (index, other):
        rows = rng.standard_normal((300, 16)).astype(np.float32)
        vectors.add(np.arange(300), rows / np.linalg.norm(rows, axis=1, keepdims=True))
    held, sizes = HeldVectors(index), []
    batcher = NeighbourBatcher(max_batch=16, max_wait_ms=0, observe_batch=sizes.append)
    queries = rng.standard_normal((6, 16)).astype(np.float32)
    targets = [(held, 5), (held, 3), (held, 40), (other, 10), (held, 400), (held, 3)]
    with ThreadPoolExecutor(6) as pool:
        calls = [lambda q=q, v=v, k=k: batcher.search(v, q[None], k) for q, (v, k) in zip(queries, targets)]
        answers = [f.result(60) for f in _in_one_batch(batcher.batcher, held, calls, pool)]
    batcher.close()
    assert sizes[0] == 1 and sorted(sizes[1:]) == [1, 4]  # the other index (a reload) is searched apart
    assert held.calls == 2
    for (sims, ids), query, (vectors, k) in zip(answers, queries, targets):
        expected_sims, expected_ids = (vectors.real if vectors is held else vectors).search(query[None], k)
        np.testing.assert_array_equal(ids, expected_ids)
        np.testing.assert_allclose(sims, expected_sims, atol=1e-6)
    assert answers[4][1].shape == (1, 300)  # k beyond the index size is clipped as before


def _batch_sizes(client: TestClient, stage: str = "embed") -> tuple[float, float]:
    """(count, sum) of the photo2cad_<stage>_batch_size histogram."""
    values = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name.startswith(f"photo2cad_{stage}_batch_size_"):
                values[sample.name.rsplit("_", 1)[1]] = sample.value
    return values.get("count", 0.0), values.get("sum", 0.0)


def _search(client: TestClient, photo: bytes) -> tuple[int, list[str], list[float]]:
    """Status, ranked model ids and their scores."""
    response = client.post("/api/search", files={"image": ("p.png", photo)}, data={"top_k": "3"})
    results = response.json()["results"]
    return response.status_code, [r["model_id"] for r in results], [r["score"] for r in results]


def _assert_same(answers: list[tuple], expected: list[tuple]) -> None:
    """Same status and ranking; scores equal up to float rounding (batched forward passes may sum in
    another order)."""
    assert [a[:2] for a in answers] == [e[:2] for e in expected]
    np.testing.assert_allclose([a[2] for a in answers], [e[2] for e in expected], atol=1e-4)


def test_concurrent_http_requests_are_batched_and_answered_like_single_ones(tiny_index_settings,
                                                                           tiny_embedder):
    held = HeldEmbedder(tiny_embedder)
    photos = [_png(p) for p in _photos(2)] * 2
    with TestClient(create_app(tiny_index_settings, held)) as client, ThreadPoolExecutor(8) as pool:
        batchers = client.app.state.services.batchers
        calls = [lambda p=p: _search(client, p) for p in photos]
        answers = [f.result(60) for f in _in_one_batch(batchers.embed.batcher, held, calls, pool)]
        assert _batch_sizes(client) == (2, 8) and held.forward_sizes == [1, 7]
        assert _batch_sizes(client, "search")[1] == 8
        singles = [_search(client, p) for p in photos]
    assert all(status == 200 for status, _, _ in answers)
    _assert_same(answers, singles)
    assert not batchers.embed.batcher._worker.is_alive()  # the lifespan stopped them
    assert not batchers.search.batcher._worker.is_alive()


def test_a_failed_forward_pass_is_a_json_500_for_every_waiting_request(tiny_index_settings, tiny_embedder):
    held = HeldEmbedder(tiny_embedder)
    held.failing = True
    photo = _png(_photos()[0])
    app = create_app(tiny_index_settings, held)
    with TestClient(app, raise_server_exceptions=False) as client, ThreadPoolExecutor(4) as pool:
        calls = [lambda: client.post("/api/classify", files={"image": ("p.png", photo)})] * 4
        batcher = client.app.state.services.batchers.embed.batcher
        responses = [f.result(60) for f in _in_one_batch(batcher, held, calls, pool)]
        assert [r.status_code for r in responses] == [500] * 4
        assert all(r.json() == {"detail": "internal server error"} for r in responses)
        assert held.forward_sizes == [1, 3]
        held.failing = False
        assert client.post("/api/classify", files={"image": ("p.png", photo)}).status_code == 200


def test_with_batching_off_the_searcher_uses_the_embedder_itself(tiny_index_settings, tiny_embedder):
    photo = _png(_photos()[3])
    off = tiny_index_settings.model_copy(update={"batching": False})
    with TestClient(create_app(off, tiny_embedder)) as client:
        services = client.app.state.services
        assert services.batchers is None and services.searcher.embedder is tiny_embedder
        assert services.searcher.neighbours is None
        unbatched = _search(client, photo)
        assert _batch_sizes(client) == (0, 0) == _batch_sizes(client, "search")
    with TestClient(create_app(tiny_index_settings, tiny_embedder)) as client:
        services = client.app.state.services
        assert services.searcher.embedder is services.batchers.embed
        assert services.searcher.neighbours is services.batchers.search
        _assert_same([_search(client, photo)], [unbatched])
        assert _batch_sizes(client) == (1, 1) == _batch_sizes(client, "search")
