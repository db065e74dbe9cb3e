"""Query an index: image -> nearest views -> ranked models with pose, and seat-kind probabilities.

Ranking: a model's score is the cosine similarity of its best-matching view, clipped to [0, 1].
Seat-kind probabilities: an equal mixture of two answers. The retrieval vote, a softmax over the
retrieved models' scores (temperature `category_temperature`) summed per seat kind (models without a
seat kind do not vote), is right for seats in the catalogue; the seat-kind classifier (index/kinds.py),
fitted on the index's views, generalises better to seats that are not. A well-matched catalogue model
makes the vote near one-hot, so it outweighs the classifier when the seat is in the catalogue.
Rule: the seat kind never contradicts a confident top-1 model. When the best model holds more than
CONFIDENT_SHARE of the retrieval vote on its own and its score reaches the embedder's confident score
(CONFIDENT_SCORES: a seat outside the catalogue also has a best model, but a lower score), the answer
is the vote alone, so that model's kind.
An embedder with its own seat-kind head (models.adapter.AdapterEmbedder.kind_head) replaces the fitted
classifier; one with its own viewpoint head weighs each model's views for the pose by it (index.view_prior),
unless the model's best view reaches the confident score. A detector's label and ImageNet's cues on the crop
are evidence applied after this mixture, per detected seat (index.scene; index.kind_cues). The cues weigh two
kinds at most (1 + floor) / floor = 21 to 1 apart, so they overturn a confident top-1 model's vote only for a
kind holding at least 1/21 of that model's kind's share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from index.calibration import PoseCalibration
from index.collection import Collection
from index.kind_calibration import fitted_temperature
from index.kind_cues import CUE_FLOOR, CUE_WEIGHT, kind_cues
from index.kinds import KindClassifier, collection_kind_classifier
from index.pose import PoseEstimate, estimate_pose, view_spacing_deg
from index.store import ModelRecord
from index.symmetry import NO_SYMMETRY, Symmetry, record_symmetry, symmetric_angular_error_deg
from index.vectors import VectorIndex
from index.view_prior import ViewPrior, own_view_prior
from models.embedder import Embedder
from render.cameras import angular_error_deg


@dataclass(frozen=True)
class ModelMatch:
    """One ranked model: score in [0, 1]; pose in the canonical frame; errors in degrees."""

    record: ModelRecord
    score: float
    pose: PoseEstimate | None  # None only for models past top_k that just vote for the seat kind
    best_view_id: int
    angular_error_deg: float | None
    refined: bool = False  # pose moved by render-and-compare (index.refine)
    symmetry: Symmetry | None = None  # None: not detected yet for this model
    refine_status: str | None = None  # what refinement did, when it was asked for
    score_gap: float = 0.0  # score minus the next model's (a calibration feature)
    symmetric_error_deg: float | None = None  # minimum over the cameras equivalent by symmetry


@dataclass(frozen=True)
class SearchAnswer:
    categories: list[tuple[str, float]]  # (seat kind, probability), most probable first
    matches: list[ModelMatch]  # best first


class NeighbourSearch(Protocol):
    """Nearest views of queries in a vector index, e.g. shared with other callers' queries."""

    def search(self, vectors: VectorIndex, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As vectors.search: queries (q, dim) float32 -> (similarities (q, k) float32, ids (q, k) int64)."""
        ...


class ImageClassifier(Protocol):
    """Class probabilities of images, e.g. models.imagenet_classifier.ImagenetClassifier."""

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(n, H, W, 3) uint8 RGB -> (n, classes) float32, rows summing to 1."""
        ...


KIND_VOTE_WEIGHT = 0.5  # chosen on off-grid renders of the evaluation's training models (docs/kinds.md)
CONFIDENT_SHARE = 0.5  # a top-1 model holding more of the vote than this decides the seat kind
# Scores at which a top-1 model counts as confident, per embedder (others: never); chosen on the
# evaluation's photo-like and held-out-model sets (EVALUATION.md, "lite0_adapter"; lite0_finetuned:
# bench/confident_score.py, bench/results/confident_score_lite0_finetuned.json: 0.9 does as well as never,
# lower scores cost held-out models one or two seat kinds in 50, and no right top-1 was contradicted).
CONFIDENT_SCORES = {"efficientnet_lite0": 0.8, "lite0_adapter": 0.8, "lite0_finetuned": 0.9, "scratch_cnn": 0.8}
# Pose with a viewpoint-head prior (index.view_prior): the retrieval weights' temperature is then 0.05, not
# estimate_pose's 0.02, so that the head can choose among views that match almost equally. Chosen on the
# real-photo dev split with the shipped lite0_finetuned (bench/view_prior_sweep.py: head exponent 0-2,
# temperature 0.02-0.08; exponent 0 at any temperature gains nothing, so the gain is the head's). A model
# whose best view reaches the confident score (CONFIDENT_SCORES) keeps retrieval's pose: on renders the head
# moved a few right poses (mean error 5.8 -> 7.6 deg), with the gate 5.5 (EVALUATION.md, "View head as a
# pose prior").
VIEW_PRIOR_TEMPERATURE = 0.05


class Searcher:
    """Holds an embedder, a snapshot of a collection's views and its seat-kind classifier; `search` is
    thread-safe. neighbours: how the index is searched (default: directly, one call per search).
    kind_holdouts: models the classifier must not learn from (the evaluation's held-out models);
    kind_vote_weight: the retrieval vote's share of the seat-kind probabilities (1: vote only, no fit);
    calibration: turns each answer's pose features into a calibrated expected error (None: the spread);
    confident_score: see the module's rule (default: CONFIDENT_SCORES by embedder name);
    kind_head_of: the embedder whose own seat-kind head to use when `embedder` only forwards to it (a
    micro-batcher), default `embedder`; view_prior: weigh the pose's views by that embedder's viewpoint head
    when it has one that fits the index's view grid, for models scoring under confident_score
    (index.view_prior; False: retrieval alone); mirror_views: read the head on each image and on its mirror
    image (`embed_with_mirror`, one more embedding per image; index.view_prior, "Mirror averaging");
    kind_temperature: softens the seat-kind probabilities of photo answers about detected seats (index.scene
    applies it last; index.kind_calibration; default: that module's temperature for the embedder);
    whole_image_kind_temperature: the same for whole-image answers (no seat detected); kind_cues: weigh in
    ImageNet's classifier's answers on the photo's crops as seat-kind evidence (index.scene, index.kind_cues)
    with `imagenet`, default the embedder's own (`imagenet_classifier()`, the fine-tuned Lite0's: its
    registry ImageNet weights untouched); an embedder without one gets no cues. kind_cue_floor and
    kind_cue_weight: the evidence's floor and weight (index.kind_cues)."""

    def __init__(self, collection: Collection, embedder: Embedder, min_views: int = 256,
                 category_temperature: float = 0.02, neighbours: NeighbourSearch | None = None,
                 kind_holdouts: Iterable[str] = (), kind_vote_weight: float = KIND_VOTE_WEIGHT,
                 calibration: PoseCalibration | None = None, confident_score: float | None = None,
                 kind_head_of: Embedder | None = None, view_prior: bool = True, mirror_views: bool = True,
                 kind_temperature: float | None = None, whole_image_kind_temperature: float | None = None,
                 kind_cues: bool = False, imagenet: ImageClassifier | None = None) -> None:
        collection.check_embedder(embedder.info)
        self.collection = collection
        self.embedder = embedder
        self.neighbours = neighbours
        self.min_views = min_views
        self.category_temperature = category_temperature
        snapshot = collection.snapshot()  # never another process's half-applied change (see there)
        self.views, self.models, self.vectors = snapshot.views, snapshot.models, snapshot.vectors
        self.symmetries = {m: record_symmetry(r) for m, r in self.models.items()}
        self.calibration = calibration
        self.kinds = sorted({m.seat_kind for m in self.models.values() if m.seat_kind})
        # Integer codes, so that a query's views are grouped by model with array operations:
        # view row -> model code, model code -> model id and seat-kind code (-1: none).
        self._model_ids, self._view_models = np.unique(self.views.model_ids.astype(str), return_inverse=True)
        self._model_kinds = np.array([self.kinds.index(self.models[m].seat_kind) if self.models[m].seat_kind
                                      else -1 for m in self._model_ids], dtype=np.int64)
        self.view_spacing_deg = _typical_spacing(self.views.cameras, self.views.model_ids)
        self.kind_vote_weight = kind_vote_weight
        self.confident_score = (CONFIDENT_SCORES.get(embedder.info.name, float("inf"))
                                if confident_score is None else confident_score)
        self.kind_classifier: KindClassifier | None = (
            _own_kind_classifier(kind_head_of or embedder)
            or collection_kind_classifier(collection, frozenset(kind_holdouts))
            if kind_vote_weight < 1 else None)
        self.view_prior: ViewPrior | None = (own_view_prior(kind_head_of or embedder, collection.view_config)
                                             if view_prior else None)
        self.mirror_views = bool(mirror_views and self.view_prior and self.view_prior.mirror is not None)
        self.kind_temperature = (fitted_temperature(embedder.info.name) if kind_temperature is None
                                 else kind_temperature)
        self.whole_image_kind_temperature = (fitted_temperature(embedder.info.name, whole_image=True)
                                             if whole_image_kind_temperature is None
                                             else whole_image_kind_temperature)
        self.imagenet: ImageClassifier | None = (imagenet or _own_imagenet(kind_head_of or embedder)
                                                 if kind_cues else None)
        self.kind_cue_floor, self.kind_cue_weight = CUE_FLOOR, CUE_WEIGHT  # index.kind_cues

    def embed(self, images: np.ndarray) -> np.ndarray:
        """images (n, H, W, 3) uint8 -> (n, d) float32 unit rows."""
        return self.embedder.embed(images)

    def kind_cues(self, images: np.ndarray) -> list[dict[str, float] | None]:
        """images (n, H, W, 3) uint8 -> each image's seat-kind cues from ImageNet's classifier
        (index.kind_cues.kind_cues), or n Nones without one."""
        if self.imagenet is None:
            return [None] * len(images)
        return [kind_cues(row) for row in self.imagenet.probabilities(images)]

    def embed_with_mirror(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """images (n, H, W, 3) uint8 -> their vectors (n, d) and, when `mirror_views`, the vectors of the
        images mirrored left to right (n, d) (one embedding call for both), else None."""
        if not self.mirror_views:
            return self.embed(images), None
        both = self.embed(np.concatenate([images, images[:, :, ::-1]]))
        return both[:len(images)], both[len(images):]

    def search(self, image: np.ndarray, top_k: int = 5, true_camera: np.ndarray | None = None,
               ) -> SearchAnswer:
        """image (H, W, 3) uint8 RGB; true_camera (3,) optional, gives angular_error_deg per match."""
        vectors, mirrored = self.embed_with_mirror(image[None])
        return self.search_embeddings(vectors, top_k, true_camera, mirrored)[0]

    def search_embeddings(self, queries: np.ndarray, top_k: int = 5, true_camera: np.ndarray | None = None,
                          mirrored: np.ndarray | None = None) -> list[SearchAnswer]:
        """queries (q, d) float32 unit rows. Returns one answer per query. mirrored (q, d): the vectors of
        the query images mirrored (`embed_with_mirror`), read by the viewpoint head only; or None."""
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        sims, ids = self._nearest(queries, top_k)
        classified = self.classify(queries)
        heads = (self.view_prior.probabilities(queries, mirrored) if self.view_prior is not None
                 else [None] * len(queries))
        return [self._answer(s, i, c, top_k, true_camera, h) for s, i, c, h in zip(sims, ids, classified, heads)]

    def _nearest(self, queries: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        """Enough nearest views to rank min(top_k, models) models: (q, k) similarities and ids (-1 =
        none). k starts at max(min_views, 32 top_k) and grows 4x while a query's views hold fewer."""
        wanted = min(top_k, len(self.models))
        k = max(self.min_views, top_k * 32)
        sims, ids = self._search(queries, k)
        while k < self.vectors.ntotal and any(self._model_count(row) < wanted for row in ids):
            k *= 4
            sims, ids = self._search(queries, k)
        return sims, ids

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.neighbours is None:
            return self.vectors.search(queries, k)
        return self.neighbours.search(self.vectors, queries, k)

    def _model_count(self, ids: np.ndarray) -> int:
        """How many models the view ids (k,) int64 (-1 = none) belong to."""
        return len(set(self.views.model_ids[np.searchsorted(self.views.ids, ids[ids >= 0])]))

    def classify(self, queries: np.ndarray) -> list[dict[str, float]]:
        """The seat-kind classifier's probabilities per query, queries (q, d) float32 unit rows; empty
        dicts when there is no classifier (vote weight 1, or no model with a seat kind)."""
        if self.kind_classifier is None:
            return [{} for _ in range(len(queries))]
        kinds = self.kind_classifier.kinds
        return [dict(zip(kinds, map(float, row))) for row in self.kind_classifier.probabilities(queries)]

    def _answer(self, sims: np.ndarray, ids: np.ndarray, classified: dict[str, float], top_k: int,
                true_camera: np.ndarray | None, head: np.ndarray | None = None) -> SearchAnswer:
        """One query's neighbours (sims (k,) descending, ids (k,)) -> every retrieved model votes for
        the seat kind; only the top_k best get a pose (the costly part). head: the query's viewpoint-head
        probabilities over the grid (v,), or None."""
        rows = np.searchsorted(self.views.ids, ids[ids >= 0])
        sims = sims[ids >= 0]
        codes = self._view_models[rows]
        best = np.sort(np.unique(codes, return_index=True)[1])  # each model's best view, best model first
        kinds, scores = self._model_kinds[codes[best]], np.clip(sims[best], 0.0, 1.0)
        gaps = sims[best] - np.append(sims[best][1:], 0.0)  # score minus the next model's
        matches = [self._match(code, rows[codes == code], sims[codes == code], true_camera, float(gap), head)
                   for code, gap in zip(codes[best[:top_k]], gaps[:top_k])]
        confident = self._confident(matches[0] if matches else None, scores[kinds >= 0])
        return SearchAnswer(self._mixed(self._vote(kinds, scores), classified, confident), matches)

    def _match(self, code: int, rows: np.ndarray, sims: np.ndarray, true_camera: np.ndarray | None,
               score_gap: float = 0.0, head: np.ndarray | None = None) -> ModelMatch:
        """The model of integer `code` from its views among the neighbours: view rows (m,) and their
        similarities (m,), best first; score_gap: its score minus the next model's (a calibration feature);
        head: the query's viewpoint-head probabilities (v,), a prior on the pose, or None."""
        model_id = self._model_ids[code]
        symmetry = self.symmetries.get(model_id)
        cameras = self.views.cameras[rows]
        if head is None or self.view_prior is None or sims[0] >= self.confident_score:
            pose = estimate_pose(cameras, sims, self.view_spacing_deg, symmetry or NO_SYMMETRY)
        else:
            pose = estimate_pose(cameras, sims, self.view_spacing_deg, symmetry or NO_SYMMETRY,
                                 temperature=VIEW_PRIOR_TEMPERATURE, prior=self.view_prior.at(head, cameras))
        if self.calibration is not None:
            pose = self.calibration.apply(pose, float(np.clip(sims[0], 0.0, 1.0)), score_gap,
                                          self.view_spacing_deg)
        error, symmetric = true_errors(true_camera, pose.camera, symmetry)
        return ModelMatch(self.models[model_id], float(np.clip(sims[0], 0.0, 1.0)), pose,
                          int(self.views.ids[rows[0]]), error, symmetry=symmetry, score_gap=score_gap,
                          symmetric_error_deg=symmetric)

    def seat_kinds(self, matches: list[ModelMatch], classified: dict[str, float]) -> list[tuple[str, float]]:
        """(seat kind, probability) most probable first, summing to 1 (empty if no part answers): the
        vote over `matches` mixed with `classified` (one query's `classify` answer); the vote alone when
        the top-1 model is confident (module docstring)."""
        return self._mixed(self.vote(matches), classified, self.confident_top1(matches))

    def _mixed(self, vote: dict[str, float], classified: dict[str, float], confident: bool,
               ) -> list[tuple[str, float]]:
        if vote and confident:
            return sorted((dict.fromkeys(self.kinds, 0.0) | vote).items(), key=lambda kv: -kv[1])
        parts = [(p, w) for p, w in ((vote, self.kind_vote_weight), (classified, 1 - self.kind_vote_weight))
                 if p and w > 0]
        total_weight = sum(w for _, w in parts)
        totals: dict[str, float] = dict.fromkeys(self.kinds, 0.0) if parts else {}
        for probabilities, weight in parts:
            for kind, p in probabilities.items():
                totals[kind] = totals.get(kind, 0.0) + weight / total_weight * p
        return sorted(totals.items(), key=lambda kv: -kv[1])

    def confident_top1(self, matches: list[ModelMatch]) -> bool:
        """The best match has a seat kind, a score of at least `confident_score` and more than
        CONFIDENT_SHARE of the retrieval vote over `matches`."""
        scores = np.array([m.score for m in matches if m.record.seat_kind])
        return self._confident(matches[0] if matches else None, scores)

    def _confident(self, top: ModelMatch | None, voter_scores: np.ndarray) -> bool:
        """`confident_top1` given the scores (m,) of every model with a seat kind, best first."""
        if top is None or not top.record.seat_kind or top.score < self.confident_score:
            return False
        weights = np.exp((voter_scores - voter_scores.max()) / self.category_temperature)
        return float(weights[0] / weights.sum()) > CONFIDENT_SHARE

    def vote(self, matches: list[ModelMatch]) -> dict[str, float]:
        """The retrieval vote: softmax(score / category_temperature) summed per seat kind over the
        matches that have one; empty if none has."""
        kinds = [self.kinds.index(m.record.seat_kind) if m.record.seat_kind in self.kinds else -1
                 for m in matches]
        return self._vote(np.array(kinds, dtype=np.int64), np.array([m.score for m in matches]))

    def _vote(self, kinds: np.ndarray, scores: np.ndarray) -> dict[str, float]:
        """`vote` on arrays: seat-kind codes (m,) int64 (-1: none) and scores (m,) of the models."""
        voters = kinds >= 0
        if not voters.any():
            return {}
        scores = scores[voters]
        weights = np.exp((scores - scores.max()) / self.category_temperature)
        totals = np.bincount(kinds[voters], weights / weights.sum(), minlength=len(self.kinds))
        return {self.kinds[k]: float(totals[k]) for k in np.unique(kinds[voters])}


def true_errors(true_camera: np.ndarray | None, camera: np.ndarray, symmetry: Symmetry | None,
                ) -> tuple[float | None, float | None]:
    """(plain, symmetric) angular errors in degrees of `camera` (3,) against the true camera (3,), or
    (None, None) without one; the symmetric one is None while the model's symmetry is unknown."""
    if true_camera is None:
        return None, None
    plain = float(angular_error_deg(true_camera, camera))
    return plain, None if symmetry is None else symmetric_angular_error_deg(true_camera, camera, symmetry)


def _own_imagenet(embedder: Embedder) -> ImageClassifier | None:
    """The embedder's ImageNet classifier (`imagenet_classifier()`), if it has one."""
    own = getattr(embedder, "imagenet_classifier", None)
    return own() if callable(own) else None


def _own_kind_classifier(embedder: Embedder) -> KindClassifier | None:
    """The embedder's trained seat-kind head as a classifier of its vectors, if it has one."""
    head = getattr(embedder, "kind_head", None)
    return KindClassifier(*head()) if head is not None else None


def _typical_spacing(cameras: np.ndarray, model_ids: np.ndarray) -> float:
    """View spacing of the first model (all models share the sampling); 0 for an empty index."""
    if not len(cameras):
        return 0.0
    return view_spacing_deg(cameras[model_ids == model_ids[0]])
