"""Seeded evaluation test sets: held-out cameras, photo-like composites, held-out models (saved as JSON).

Three sets, all rendered at query time from the indexed CAD files:
    render          off-grid cameras (Monte Carlo in the index's polar range) on a white background
    photo           the same model/camera pairs rendered under seeded random lighting, composited on
                    crops of held-out HDRI panoramas, with colour jitter and blur: synthetic
                    "photo-like" images, not real photographs
    heldout_models  off-grid cameras of a seeded subset of models that a trained model must not see
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from index.store import ModelRecord
from render.backgrounds import composite, load_panorama, panorama_crop
from render.cameras import angular_error_deg, sphere_cameras
from render.pool import RenderJob, render_jobs

SET_NAMES = ("render", "photo", "heldout_models")
WHITE = (255, 255, 255)


class SplitError(ValueError):
    """A split that cannot be made (too few models or panoramas) or a query that cannot be rendered."""


@dataclass(frozen=True)
class Query:
    """One test image: a model seen from `camera` ((3,) unit vector, canonical frame); `background`
    is a panorama file name (photo-like) or None (white); `seed` drives its crop and jitter."""

    model_id: str
    camera: tuple[float, float, float]
    background: str | None = None
    seed: int = 0


@dataclass
class EvaluationSplit:
    """The saved description of every test set; `sets` maps a SET_NAMES entry to its queries."""

    seed: int
    polar_range_deg: tuple[float, float]
    min_grid_distance_deg: float
    heldout_models: list[str]
    train_panoramas: list[str]
    test_panoramas: list[str]
    sets: dict[str, list[Query]] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> EvaluationSplit:
        raw = json.loads(Path(path).read_text())
        sets = {name: [Query(q["model_id"], tuple(q["camera"]), q["background"], q["seed"]) for q in qs]
                for name, qs in raw.pop("sets").items()}
        return cls(**{**raw, "polar_range_deg": tuple(raw["polar_range_deg"])}, sets=sets)


def offgrid_cameras(n: int, grid: np.ndarray, polar_range_deg: tuple[float, float],
                    rng: np.random.Generator, min_distance_deg: float = 2.0) -> np.ndarray:
    """n random cameras, area-uniform in the polar range, each at least `min_distance_deg` from every
    grid camera (so no query is an indexed view). grid: (m, 3). Returns (n, 3) float64 unit rows."""
    found = np.zeros((0, 3))
    for _ in range(100):
        seed = int(rng.integers(2**31))
        batch = sphere_cameras(max(2 * n, 16), "montecarlo", polar_range_deg, seed)
        far = angular_error_deg(batch[:, None, :], np.asarray(grid)[None]).min(axis=1) >= min_distance_deg
        found = np.concatenate([found, batch[far]])
        if len(found) >= n:
            return found[:n]
    raise SplitError(f"cannot place cameras {min_distance_deg} deg away from a grid this dense")


def choose_heldout_models(model_ids: list[str], fraction: float, rng: np.random.Generator) -> list[str]:
    """A seeded subset (at least one model, at most all but one). Returns sorted ids."""
    ids = sorted(model_ids)
    if len(ids) < 2:
        raise SplitError("holding models out needs at least two models")
    count = int(np.clip(round(fraction * len(ids)), 1, len(ids) - 1))
    return sorted(rng.choice(ids, size=count, replace=False).tolist())


def split_panoramas(names: list[str], n_test: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """(train, test) panorama names; the test ones are only ever used as evaluation backgrounds."""
    names = sorted(names)
    if not 0 < n_test < len(names):
        raise SplitError(f"cannot keep {n_test} of {len(names)} panoramas for testing")
    test = sorted(rng.choice(names, size=n_test, replace=False).tolist())
    return [n for n in names if n not in test], test


def holdouts(model_ids: list[str], panoramas: list[str], rng: np.random.Generator | int,
             heldout_fraction: float = 0.2, n_test_panoramas: int = 3,
             ) -> tuple[list[str], list[str], list[str]]:
    """(held-out model ids, training panoramas, test panoramas): the first draws of a split. Training
    calls it with the evaluation's seed, so a trained model never sees what the evaluation holds out."""
    rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
    heldout = choose_heldout_models(model_ids, heldout_fraction, rng)
    train_panos, test_panos = split_panoramas(panoramas, n_test_panoramas, rng)
    return heldout, train_panos, test_panos


def make_split(model_ids: list[str], grid: np.ndarray, panoramas: list[str], n_queries: int, seed: int,
               polar_range_deg: tuple[float, float] = (20.0, 90.0), heldout_fraction: float = 0.2,
               n_test_panoramas: int = 3, catalogue_ids: list[str] | None = None) -> EvaluationSplit:
    """Draw every set. render/photo use the same (model, camera) pairs over the models that are not
    held out, so the two sets differ only in the background; grid: the index's cameras (m, 3).
    model_ids: the models queries may show (those in every index); catalogue_ids: the ids the held-out
    models are drawn from, as training draws them (default model_ids), restricted to model_ids after."""
    rng = np.random.default_rng(seed)
    drawn, train_panos, test_panos = holdouts(sorted(catalogue_ids or model_ids), panoramas, rng,
                                              heldout_fraction, n_test_panoramas)
    heldout = sorted(set(drawn) & set(model_ids))
    if not heldout:
        raise SplitError("none of the held-out catalogue models is in every index")
    split = EvaluationSplit(seed, tuple(polar_range_deg), 2.0, heldout, train_panos, test_panos)
    kept = sorted(set(model_ids) - set(heldout))
    render = _queries(kept, grid, n_queries, rng, split)
    photo = [Query(q.model_id, q.camera, str(rng.choice(test_panos)), int(rng.integers(2**31)))
             for q in render]
    split.sets = {"render": render, "photo": photo,
                  "heldout_models": _queries(heldout, grid, n_queries, rng, split)}
    return split


def _queries(model_ids: list[str], grid: np.ndarray, n: int, rng: np.random.Generator,
             split: EvaluationSplit) -> list[Query]:
    models = rng.choice(model_ids, size=n, replace=True)
    cameras = offgrid_cameras(n, grid, split.polar_range_deg, rng, split.min_grid_distance_deg)
    return [Query(str(m), tuple(float(v) for v in c)) for m, c in zip(models, cameras)]


def render_queries(queries: list[Query], records: dict[str, ModelRecord], size_px: int,
                   workers: int = 2, lighting_seed: int | None = None) -> np.ndarray:
    """RGBA renders in query order, one render job per model (spawn workers: safe next to TensorFlow).
    records: the index's model records (file path, rotation, size); lighting_seed: None for the
    indexing light, else seeded random lighting per view. Returns (n, S, S, 4) uint8."""
    by_model: dict[str, list[int]] = defaultdict(list)
    for i, query in enumerate(queries):
        by_model[query.model_id].append(i)
    jobs = [_job(records[m], [queries[i].camera for i in rows], size_px,
                 None if lighting_seed is None else lighting_seed + n)
            for n, (m, rows) in enumerate(by_model.items())]
    out = np.zeros((len(queries), size_px, size_px, 4), np.uint8)
    for result in render_jobs(jobs, workers):
        if result.error is not None:
            raise SplitError(f"cannot render test views of {result.key}: {result.error}")
        out[by_model[result.key]] = result.images
    return out


def _job(record: ModelRecord, cameras: list, size_px: int, lighting_seed: int | None = None) -> RenderJob:
    size = record.extra.get("size")
    return RenderJob(record.model_id, record.file_path, record.extra.get("rotation"),
                     list(size) if size else None, np.asarray(cameras, np.float64), size_px, lighting_seed)


def compose(queries: list[Query], rgba: np.ndarray, panoramas_dir: Path | None) -> np.ndarray:
    """The query images: white background, or photo-like on a panorama. Returns (n, S, S, 3) uint8."""
    cache: dict[str, np.ndarray] = {}
    images = []
    for query, render in zip(queries, rgba):
        if query.background is None:
            images.append(composite(render, WHITE))
            continue
        if panoramas_dir is None:
            raise SplitError("photo-like queries need the HDRI panorama folder")
        if query.background not in cache:
            cache[query.background] = load_panorama(Path(panoramas_dir) / query.background)
        images.append(photo_like(render, cache[query.background], np.random.default_rng(query.seed)))
    return np.stack(images)


def photo_like(rgba: np.ndarray, panorama: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """rgba (S, S, 4) over a random crop of panorama (H, W, 3), then mild brightness, contrast,
    saturation jitter (x0.8-1.2 each) and Gaussian blur (radius 0-1 px). Returns (S, S, 3) uint8."""
    size = rgba.shape[0]
    image = Image.fromarray(composite(rgba, panorama_crop(panorama, size, rng)))
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhance(image).enhance(float(rng.uniform(0.8, 1.2)))
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 1.0))))
    return np.asarray(image, dtype=np.uint8)
