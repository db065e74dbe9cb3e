"""Shared, session-scoped real weights for the models tests (all offline)."""

from __future__ import annotations

import numpy as np
import pytest

from models.torch_checkpoint import read_torch_state_dict
from models.weights import lite0_checkpoint_path, prepare_weights


@pytest.fixture(scope="session")
def lite0_state_dict() -> dict[str, np.ndarray]:
    return read_torch_state_dict(lite0_checkpoint_path())


@pytest.fixture(scope="session")
def lite0_weights_file(tmp_path_factory):
    return prepare_weights("efficientnet_lite0", tmp_path_factory.mktemp("weights"), progress=False)
