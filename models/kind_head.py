"""A seat-kind head for a frozen embedder's vectors, fitted on photo-like renders and shipped as a file.

The seat-kind classifier an index fits on its own clean views (index/kinds.py) learns renders on white.
The same class-balanced ridge fitted on the embedder's vectors of domain-randomised renders of many
shapes (`photo2cad fit-kind-head`: the catalogue's training models and the procedural training shapes,
app.adapter.photo_training_set) answers real photographs better (EVALUATION.md, "Seat kind on real
photographs"). A head is (kinds, weights (dim + 1, k) float32 with the bias last, temperature):
softmax((v @ W[:-1] + W[-1]) / temperature) for a unit query vector v, the interface of
models.adapter.AdapterEmbedder.kind_head. Saved as one .npz with the embedder's info (a head is refused
for an embedder with other weights, layer or input size) and the training manifest (what it saw).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import models
from models.embedder import Embedder, EmbedderInfo

SHIPPED_DIR = Path(models.__file__).resolve().parent / "artifacts" / "kind_heads"
FORMAT = 1


class KindHeadError(ValueError):
    """A head file that cannot be read, or was fitted for another embedder."""


@dataclass(frozen=True)
class KindHead:
    """kinds (k,) sorted names; weights (dim + 1, k) float32, the last row the bias; temperature > 0;
    embedder: the EmbedderInfo fields it was fitted for; manifest: how it was fitted (data, settings)."""

    kinds: tuple[str, ...]
    weights: np.ndarray
    temperature: float
    embedder: dict
    manifest: dict

    def save(self, path: Path) -> None:
        """Write atomically (temp file + fsync + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, format=FORMAT, kinds=np.array(self.kinds, dtype=str), weights=self.weights,
                     temperature=self.temperature, embedder=json.dumps(self.embedder, sort_keys=True),
                     manifest=json.dumps(self.manifest))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # shipped and read by other users (the Docker image)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> KindHead:
        try:
            with np.load(path, allow_pickle=False) as saved:
                if int(saved["format"]) != FORMAT:
                    raise KindHeadError(f"{path}: head format {int(saved['format'])}, this code reads {FORMAT}")
                return cls(tuple(str(k) for k in saved["kinds"]), saved["weights"].astype(np.float32),
                           float(saved["temperature"]), json.loads(str(saved["embedder"])),
                           json.loads(str(saved["manifest"])))
        except (OSError, KeyError, ValueError) as exc:
            raise KindHeadError(f"cannot read the seat-kind head {path}: {exc}") from exc

    def fits(self, info: EmbedderInfo) -> bool:
        """Fitted for vectors of this embedder (same name, layer, input size, dim and weights)."""
        return self.embedder == _identity(info)


class WithKindHead:
    """`embedder` answering seat kinds with `head` (index.search reads `kind_head()`); every other
    attribute is the embedder's own, so it embeds, prepares and is described exactly as before."""

    def __init__(self, embedder: Embedder, head: KindHead) -> None:
        if not head.fits(embedder.info):
            raise KindHeadError(f"the seat-kind head was fitted for {head.embedder.get('weights')} "
                                f"({head.embedder.get('name')}), not for {embedder.info.weights}")
        self.embedder, self.head = embedder, head

    def kind_head(self) -> tuple[tuple[str, ...], np.ndarray, float]:
        return self.head.kinds, self.head.weights, self.head.temperature

    def __getattr__(self, name: str):
        return getattr(self.embedder, name)


def head_for(info: EmbedderInfo, kinds: tuple[str, ...], weights: np.ndarray, temperature: float,
             manifest: dict) -> KindHead:
    """A KindHead for vectors of the embedder described by `info`."""
    return KindHead(tuple(kinds), np.asarray(weights, np.float32), float(temperature), _identity(info), manifest)


def _identity(info: EmbedderInfo) -> dict:
    """What decides the vectors: everything in EmbedderInfo but the free-form extra."""
    return {k: v for k, v in asdict(info).items() if k != "extra"}
