"""PyTorch checkpoint reader: hand-built legacy and zip files, and the real Lite0 checkpoint."""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import numpy as np
import pytest

from models.torch_checkpoint import LEGACY_MAGIC, CheckpointError, read_torch_state_dict


class _Global:
    """Pickles as a reference to a torch global without torch being importable."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle only accepts callables as reduce functions
        raise NotImplementedError


class _Tensor:
    def __init__(self, storage_key: str, offset: int, shape: tuple, stride: tuple) -> None:
        self.args = (storage_key, offset, shape, stride)

    def __reduce__(self):
        key, offset, shape, stride = self.args
        rebuild = _Global("torch._utils", "_rebuild_tensor_v2")
        return (rebuild, (_StorageRef(key), offset, shape, stride, False, collections.OrderedDict()))


class _StorageRef:
    def __init__(self, key: str) -> None:
        self.key = key


class _TorchPickler(pickle._Pickler):
    """Writes GLOBAL opcodes for _Global markers and persistent ids for storages, as torch.save does."""

    def __init__(self, file, storages: dict[str, np.ndarray]) -> None:
        super().__init__(file, protocol=2)
        self.storages = storages

    def save_global(self, obj, name=None):
        if isinstance(obj, _Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            return
        super().save_global(obj, name)

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Global):
            return self.save_global(obj)
        return super().save(obj, save_persistent_id)

    def persistent_id(self, obj):
        if not isinstance(obj, _StorageRef):
            return None
        data = self.storages[obj.key]
        type_name = {np.float32: "FloatStorage", np.int64: "LongStorage"}[data.dtype.type]
        return ("storage", _Global("torch", type_name), obj.key, "cpu", data.size, None)


def _state() -> tuple[collections.OrderedDict, dict[str, np.ndarray]]:
    storages = {"11": np.arange(12, dtype=np.float32), "22": np.array([7], dtype=np.int64)}
    state = collections.OrderedDict(
        [
            ("w", _Tensor("11", 0, (3, 4), (4, 1))),
            ("w_t", _Tensor("11", 0, (4, 3), (1, 4))),  # transposed view of the same storage
            ("tail", _Tensor("11", 10, (2,), (1,))),
            ("count", _Tensor("22", 0, (), ())),
        ]
    )
    return state, storages


def _pickled(obj, storages) -> bytes:
    buffer = io.BytesIO()
    _TorchPickler(buffer, storages).dump(obj)
    return buffer.getvalue()


def _write_legacy(path, state, storages) -> None:
    with open(path, "wb") as file:
        for header in (LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, file, protocol=2)
        file.write(_pickled(state, storages))
        keys = sorted(storages)
        pickle.dump(keys, file, protocol=2)
        file.writelines(struct.pack("<q", storages[key].size) + storages[key].tobytes() for key in keys)


def _check(tensors: dict[str, np.ndarray]) -> None:
    expected = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(tensors["w"], expected)
    np.testing.assert_array_equal(tensors["w_t"], expected.T)
    np.testing.assert_array_equal(tensors["tail"], [10.0, 11.0])
    assert tensors["count"].shape == () and tensors["count"].dtype == np.int64 and int(tensors["count"]) == 7


def test_reads_handmade_legacy_checkpoint(tmp_path):
    state, storages = _state()
    _write_legacy(tmp_path / "tiny.pth", state, storages)
    _check(read_torch_state_dict(tmp_path / "tiny.pth"))


def test_reads_handmade_zip_checkpoint(tmp_path):
    state, storages = _state()
    with zipfile.ZipFile(tmp_path / "tiny.pt", "w") as archive:
        archive.writestr("archive/data.pkl", _pickled(state, storages))
        for key, data in storages.items():
            archive.writestr(f"archive/data/{key}", data.tobytes())
    _check(read_torch_state_dict(tmp_path / "tiny.pt"))


def test_truncated_storage_is_an_error(tmp_path):
    state, storages = _state()
    _write_legacy(tmp_path / "tiny.pth", state, storages)
    data = (tmp_path / "tiny.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[:-4])
    with pytest.raises(CheckpointError):
        read_torch_state_dict(tmp_path / "cut.pth")


def test_not_a_checkpoint_is_an_error(tmp_path):
    (tmp_path / "x.pth").write_bytes(pickle.dumps(12345, protocol=2))
    with pytest.raises(CheckpointError):
        read_torch_state_dict(tmp_path / "x.pth")


def test_reads_real_lite0_checkpoint(lite0_state_dict):
    sd = lite0_state_dict
    assert len(sd) == 296
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert sd["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert sd["_fc.weight"].shape == (1000, 1280)
    assert sum(v.size for v in sd.values()) == 4_694_073
    assert np.all(sd["_bn1.running_var"] > 0)
