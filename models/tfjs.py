"""Decoding of TensorFlow.js layers models: JS-wrapped model.json, weight manifests, quantised shards."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)'
    r"|(?P<bool>!0|!1)|(?P<ident>[A-Za-z_$][\w$]*)|(?P<punct>[{}\[\]:,]))"
)
_QUANT_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}
_PLAIN_DTYPES = {"float32": np.float32, "int32": np.int32}


class TfjsFormatError(ValueError):
    """A tfjs model or weight file is not in the expected form."""


def js_literal_to_json(text: str, start: int) -> tuple[str, int]:
    """Rewrites the JS object literal beginning at text[start] (a '{') as JSON.

    Handles what minifiers emit: unquoted keys, `!0`/`!1` booleans and numbers like `.5`.
    Returns (json_text, index just past the literal's closing brace).
    """
    out: list[str] = []
    depth, pos = 0, start
    while True:
        match = _TOKEN.match(text, pos)
        if match is None:
            raise TfjsFormatError(f"cannot parse JS literal at offset {pos}")
        pos = match.end()
        out.append(_token_as_json(match, text, pos))
        if match.group("punct") in ("{", "["):
            depth += 1
        elif match.group("punct") in ("}", "]"):
            depth -= 1
            if depth == 0:
                return "".join(out), pos


def _token_as_json(match: re.Match, text: str, end: int) -> str:
    """One token of a JS literal as JSON text; identifiers followed by ':' are object keys."""
    if match.group("num") is not None:
        number = match.group("num")
        return repr(float(number)) if re.search(r"[.eE]", number) else number
    if match.group("bool") is not None:
        return "true" if match.group("bool") == "!0" else "false"
    ident = match.group("ident")
    if ident is not None:
        if text[end:].lstrip().startswith(":"):
            return json.dumps(ident)
        if ident in ("null", "true", "false"):
            return ident
        raise TfjsFormatError(f"unexpected identifier {ident!r} in JS literal")
    return match.group("str") or match.group("punct")


def read_model_js(path: Path) -> dict:
    """The model.json object ({modelTopology, weightsManifest}) embedded in a UMD-wrapped .js file."""
    text = Path(path).read_text(encoding="utf-8")
    start = text.find("{modelTopology")
    if start < 0:
        raise TfjsFormatError(f"{path}: no modelTopology object found")
    json_text, _ = js_literal_to_json(text, start)
    return json.loads(json_text)


def read_shard_js(path: Path) -> bytes:
    """The raw bytes of a weight shard embedded as a base64 string export in a .js file."""
    text = Path(path).read_text(encoding="ascii")
    match = re.search(r'exports\s*=\s*"([A-Za-z0-9+/=]+)"', text)
    if match is None:
        raise TfjsFormatError(f"{path}: no base64 shard string found")
    return base64.b64decode(match.group(1))


def decode_weights(manifest: list[dict], shards: dict[str, bytes]) -> dict[str, np.ndarray]:
    """Splits each manifest group's concatenated shards into named arrays, dequantising.

    manifest: tfjs weightsManifest (groups with `paths` and `weights` entries).
    shards: raw bytes per path named in the manifest.
    Returns name -> array of the entry's shape, float32 for (de)quantised floats.
    """
    arrays: dict[str, np.ndarray] = {}
    for group in manifest:
        missing = [p for p in group["paths"] if p not in shards]
        if missing:
            raise TfjsFormatError(f"missing weight shards: {missing}")
        buffer = b"".join(shards[p] for p in group["paths"])
        offset = 0
        for entry in group["weights"]:
            arrays[entry["name"]], offset = _decode_entry(entry, buffer, offset)
        if offset != len(buffer):
            raise TfjsFormatError(f"shards hold {len(buffer)} bytes, manifest describes {offset}")
    return arrays


def _decode_entry(entry: dict, buffer: bytes, offset: int) -> tuple[np.ndarray, int]:
    """One manifest entry read from buffer at offset. Returns (array, offset after it)."""
    shape = tuple(entry["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    quant = entry.get("quantization")
    dtype = _QUANT_DTYPES.get(quant["dtype"]) if quant else _PLAIN_DTYPES.get(entry["dtype"])
    if dtype is None:
        raise TfjsFormatError(f"{entry['name']}: unsupported dtype {entry.get('dtype')} / {quant}")
    end = offset + count * np.dtype(dtype).itemsize
    if end > len(buffer):
        raise TfjsFormatError(f"{entry['name']}: shards end before this weight does")
    raw = np.frombuffer(buffer[offset:end], dtype=dtype).reshape(shape)
    if quant is None:
        return raw.copy(), end
    if quant["dtype"] == "float16":
        return raw.astype(np.float32), end
    # tfjs affine quantisation: value = q * scale + min.
    return (raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])), end


def load_tfjs_js_model(model_js: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Reads model.min.js and its sibling group shards (<path>.min.js).

    Returns (model_json, name -> weight array).
    """
    model_js = Path(model_js)
    model = read_model_js(model_js)
    shards = {}
    for group in model["weightsManifest"]:
        for shard_path in group["paths"]:
            candidates = [model_js.parent / f"{shard_path}.min.js", model_js.parent / f"{shard_path}.js"]
            found = next((c for c in candidates if c.exists()), None)
            if found is None:
                raise TfjsFormatError(f"weight shard {shard_path} not found next to {model_js}")
            shards[shard_path] = read_shard_js(found)
    return model, decode_weights(model["weightsManifest"], shards)
