"""Reads PyTorch state dicts into numpy without torch (legacy pre-1.6 format and zip format)."""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# Storage class names as pickled by torch, mapped to numpy element types.
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """The file is not a PyTorch checkpoint this reader understands."""


class _StorageType:
    """Stand-in for torch.FloatStorage etc.: only its numpy dtype matters."""

    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """A storage to be filled later (legacy format) or already read (zip format)."""

    def __init__(self, dtype: np.dtype, size: int, data: np.ndarray | None = None) -> None:
        self.dtype, self.size, self.data = dtype, size, data


def _rebuild_tensor(storage: _Storage, offset: int, shape: tuple, stride: tuple, *_: Any) -> tuple:
    """Deferred tensor: the storage may not be read yet when the pickle is."""
    return ("tensor", storage, offset, tuple(shape), tuple(stride))


def _rebuild_parameter(data: Any, requires_grad: bool = False, backward_hooks: Any = None) -> Any:
    return data


class _Unpickler(pickle.Unpickler):
    """Unpickler that resolves only the few torch globals a state dict refers to."""

    def __init__(self, file: BinaryIO, load_storage) -> None:
        super().__init__(file)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise CheckpointError(f"checkpoint refers to unsupported global {module}.{name}")

    def persistent_load(self, pid: Any) -> _Storage:
        # pid = ('storage', storage_type, key, location, size[, view_metadata])
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointError(f"unsupported persistent id {pid!r}")
        return self._load_storage(pid[1], str(pid[2]), int(pid[4]))


def read_torch_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a torch.save()d state dict, by name, as numpy arrays (in the saved dtype).

    Non-tensor entries (e.g. `num_batches_tracked` scalars are tensors and kept) are dropped.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        return _read_zip(path)
    with path.open("rb") as file:
        return _read_legacy(file)


def _read_legacy(file: BinaryIO) -> dict[str, np.ndarray]:
    """Legacy layout: pickles of magic, protocol, sys info, the object, the storage keys, then storages."""
    if pickle.load(file) != LEGACY_MAGIC:
        raise CheckpointError("not a PyTorch checkpoint (bad magic number)")
    if pickle.load(file) != LEGACY_PROTOCOL:
        raise CheckpointError("unsupported legacy protocol version")
    sys_info = pickle.load(file)
    if not sys_info.get("little_endian", True):
        raise CheckpointError("big-endian checkpoints are not supported")
    storages: dict[str, _Storage] = {}

    def load_storage(storage_type: _StorageType, key: str, size: int) -> _Storage:
        return storages.setdefault(key, _Storage(storage_type.dtype, size))

    state = _Unpickler(file, load_storage).load()
    for key in pickle.load(file):
        storage = storages[key]
        # Each storage is prefixed by its element count as a little-endian int64.
        (count,) = struct.unpack("<q", file.read(8))
        raw = file.read(count * storage.dtype.itemsize)
        if count != storage.size or len(raw) != count * storage.dtype.itemsize:
            raise CheckpointError(f"storage {key}: truncated or inconsistent size")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _materialise(state)


def _read_zip(path: Path) -> dict[str, np.ndarray]:
    """Zip layout (torch >= 1.6): <root>/data.pkl plus one <root>/data/<key> file per storage."""
    with zipfile.ZipFile(path) as archive:
        pickle_name = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
        if pickle_name is None:
            raise CheckpointError(f"{path}: zip without data.pkl")
        root = pickle_name[: -len("data.pkl")]

        def load_storage(storage_type: _StorageType, key: str, size: int) -> _Storage:
            data = np.frombuffer(archive.read(f"{root}data/{key}"), dtype=storage_type.dtype)
            return _Storage(storage_type.dtype, size, data)

        state = _Unpickler(io.BytesIO(archive.read(pickle_name)), load_storage).load()
    return _materialise(state)


def _materialise(state: Any) -> dict[str, np.ndarray]:
    """Turns deferred tensors into arrays with their shape and strides."""
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint holds a {type(state).__name__}, not a state dict")
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    tensors = {}
    for name, value in state.items():
        if isinstance(value, tuple) and value and value[0] == "tensor":
            tensors[name] = _tensor_array(*value[1:])
    return tensors


def _tensor_array(storage: _Storage, offset: int, shape: tuple, stride: tuple) -> np.ndarray:
    """A copy of the strided view of storage.data (strides are in elements)."""
    if storage.data is None:
        raise CheckpointError("tensor refers to a storage that was never read")
    itemsize = storage.data.dtype.itemsize
    last = offset + sum((d - 1) * s for d, s in zip(shape, stride)) if all(shape) else offset - 1
    if last >= len(storage.data):
        raise CheckpointError("tensor view reaches past the end of its storage")
    view = np.lib.stride_tricks.as_strided(
        storage.data[offset:], shape=shape, strides=tuple(s * itemsize for s in stride)
    )
    return np.array(view)
