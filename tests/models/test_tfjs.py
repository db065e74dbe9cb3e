"""tfjs decoding on a tiny synthetic model: minified JS literal, base64 shards, uint8 quantisation."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from models.tfjs import TfjsFormatError, decode_weights, js_literal_to_json, load_tfjs_js_model

QUANT = {"min": -1.5, "scale": 0.25, "dtype": "uint8"}


def _manifest() -> list[dict]:
    return [
        {
            "paths": ["group1-shard1of2", "group1-shard2of2"],
            "weights": [
                {"name": "dense/kernel", "shape": [2, 3], "dtype": "float32", "quantization": QUANT},
                {"name": "dense/bias", "shape": [3], "dtype": "float32"},
            ],
        }
    ]


def _shards() -> tuple[dict[str, bytes], np.ndarray, np.ndarray]:
    q = np.array([[0, 1, 2], [10, 200, 255]], dtype=np.uint8)
    bias = np.array([0.5, -2.0, 3.25], dtype=np.float32)
    buffer = q.tobytes() + bias.tobytes()  # 6 + 12 bytes, split across two shards mid-weight
    shards = {"group1-shard1of2": buffer[:10], "group1-shard2of2": buffer[10:]}
    return shards, q.astype(np.float32) * 0.25 - 1.5, bias


def test_decode_dequantises_across_shards():
    shards, kernel, bias = _shards()
    weights = decode_weights(_manifest(), shards)
    np.testing.assert_allclose(weights["dense/kernel"], kernel)
    np.testing.assert_array_equal(weights["dense/bias"], bias)
    assert weights["dense/kernel"].dtype == np.float32 and weights["dense/kernel"].shape == (2, 3)


def test_decode_rejects_size_mismatch_and_missing_shard():
    shards, _, _ = _shards()
    with pytest.raises(TfjsFormatError):
        decode_weights(_manifest(), {**shards, "group1-shard2of2": shards["group1-shard2of2"] + b"\0"})
    with pytest.raises(TfjsFormatError):
        decode_weights(_manifest(), {"group1-shard1of2": shards["group1-shard1of2"]})


def test_js_literal_conversion_handles_minifier_output():
    text = 'x={a:!0,b:!1,c:.5,d:-.25,e:1e-7,f:null,"g":[1,"s:{",{h:[]}]},tail'
    json_text, end = js_literal_to_json(text, 2)
    assert json.loads(json_text) == {"a": True, "b": False, "c": 0.5, "d": -0.25, "e": 1e-7,
                                     "f": None, "g": [1, "s:{", {"h": []}]}
    assert text[end:] == ",tail"


def _umd(body: str) -> str:
    """A UMD/browserify-like wrapper as in the nsfwjs dist files."""
    head = "!function(a){module.exports=a()}(function(){return {1:[function(a,n,i){n.exports="
    return head + body + "},{}]}});"


def test_loads_model_and_shards_from_js_files(tmp_path):
    shards, kernel, bias = _shards()
    model = {"modelTopology": {"keras_version": "2.2.4", "trainable": False}, "weightsManifest": _manifest()}
    body = json.dumps(model).replace('"modelTopology"', "modelTopology").replace("false", "!1")
    (tmp_path / "model.min.js").write_text(_umd(body))
    for name, data in shards.items():
        (tmp_path / f"{name}.min.js").write_text(_umd(json.dumps(base64.b64encode(data).decode())))
    topology, weights = load_tfjs_js_model(tmp_path / "model.min.js")
    assert topology["modelTopology"] == {"keras_version": "2.2.4", "trainable": False}
    np.testing.assert_allclose(weights["dense/kernel"], kernel)
    np.testing.assert_array_equal(weights["dense/bias"], bias)


def test_missing_shard_file_is_an_error(tmp_path):
    body = json.dumps({"modelTopology": {}, "weightsManifest": _manifest()})
    body = body.replace('"modelTopology"', "modelTopology")
    (tmp_path / "model.min.js").write_text(_umd(body))
    with pytest.raises(TfjsFormatError):
        load_tfjs_js_model(tmp_path / "model.min.js")
