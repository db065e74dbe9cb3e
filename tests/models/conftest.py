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


@pytest.fixture
def interrupt_training(monkeypatch):
    """interrupt_training(epoch): the next adapter or fine-tune run (models.train_adapter.run_epoch) raises
    KeyboardInterrupt when epoch `epoch` (0-based) starts; returns the real run_epoch, to put back."""
    import models.train_adapter as train_module

    real_epoch = train_module.run_epoch

    def arm(at: int):
        def interrupted(step, data, config, epoch):
            if epoch == at:
                raise KeyboardInterrupt
            return real_epoch(step, data, config, epoch)

        monkeypatch.setattr(train_module, "run_epoch", interrupted)
        return real_epoch

    return arm
