"""What a trained embedder has seen, checked against everything an evaluation holds out."""

from __future__ import annotations

from dataclasses import dataclass, field


class LeakageError(ValueError):
    """A trained embedder has seen something the evaluation holds out: its figures would be a lie."""


@dataclass(frozen=True)
class TrainingData:
    """The ids of what a training run saw (from its manifest): catalogue model ids, HDRI panorama
    file names, background photo file names and real photographs (ids of the real-photo manifest)."""

    models: tuple[str, ...] = ()
    panoramas: tuple[str, ...] = ()
    background_photos: tuple[str, ...] = ()
    real_photos: tuple[str, ...] = ()

    @classmethod
    def from_manifest(cls, manifest: dict) -> TrainingData:
        """A trained model's manifest (models.train): its "data" section names what it saw."""
        data = manifest.get("data", {})
        return cls(*(tuple(data.get(key, ())) for key in
                     ("model_ids", "panoramas", "background_photos", "real_photos")))


@dataclass(frozen=True)
class HeldOut:
    """Everything one evaluation keeps out of training, by the same kinds of ids as TrainingData."""

    models: tuple[str, ...] = ()
    panoramas: tuple[str, ...] = ()
    background_photos: tuple[str, ...] = ()
    real_photos: tuple[str, ...] = field(default=())


def leaks(seen: TrainingData, held_out: HeldOut) -> dict[str, list[str]]:
    """Per kind of data, the sorted ids both seen in training and held out (empty dict: no leak)."""
    found = {kind: sorted(set(getattr(seen, kind)) & set(getattr(held_out, kind)))
             for kind in ("models", "panoramas", "background_photos", "real_photos")}
    return {kind: ids for kind, ids in found.items() if ids}


def check_no_leakage(label: str, seen: TrainingData | None, held_out: HeldOut) -> None:
    """Raise LeakageError naming what `label` was trained on but the evaluation holds out."""
    found = leaks(seen, held_out) if seen is not None else {}
    if found:
        detail = "; ".join(f"{len(ids)} held-out {kind.replace('_', ' ')} ({', '.join(ids[:3])}...)"
                           for kind, ids in found.items())
        raise LeakageError(f"{label} was trained on {detail}; train it without them "
                           f"(photo2cad train without --include-heldout)")
