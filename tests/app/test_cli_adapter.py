"""The adapter's, the fine-tuning's and the kind head's CLI commands refuse bad input with one line and exit 2,
before any work."""

from __future__ import annotations

import pytest

from app.cli import main


@pytest.mark.parametrize("flags, message", [
    (["fit-kind-head", "--l2", "-1"], "must be a positive number"), (["fit-kind-head", "--l2", "x"], "not a number"),
    (["fit-kind-head", "--extra-queries", "0"], "must be at least 1"),
    (["fit-kind-head", "--extra-shapes", "/nowhere/manifest.json"], "cannot read shape set manifest"),
    (["--extra-shapes", "/nowhere/manifest.json"], "cannot read shape set manifest"),
    (["--epochs", "0"], "must be at least 1"), (["--render-size", "8"], "must be at least 32"),
    (["--queries", "x"], "not a whole number"), (["--max-minutes", "-1"], "must be a positive number"),
    (["--materials", "plastic"], "invalid choice"), (["--random-materials", "1.5"], "must be between 0 and 1"),
    (["--random-materials", "half"], "not a number"), (["--extra-queries", "0"], "must be at least 1"),
    (["train-finetune", "--extra-shapes", "/nowhere/manifest.json"], "cannot read shape set manifest"),
    (["train-finetune", "--first-block", "0"], "must be a Lite0 block from 1 to 15"),
    (["train-finetune", "--first-block", "16"], "must be a Lite0 block from 1 to 15"),
    (["train-finetune", "--learning-rate", "-1"], "must be a positive number"),
    (["train-finetune", "--batch-size", "1"], "must be at least 2"),
    (["train-finetune", "--render-seeds", "0,x"], "expected seeds like 0,1"),
    (["train-finetune", "--render-seeds", "1,1"], "expected distinct non-negative seeds"),
    (["train-finetune", "--render-seeds", "0,-1"], "expected distinct non-negative seeds"),
    (["train-finetune", "--table-occlusion", "1.5"], "must be between 0 and 1"),
    (["train-finetune", "--table-occlusion", "some"], "not a number"),
    (["calibrate", "--unseen-share", "1.5"], "must be between 0 and 1"),
])
def test_train_adapter_and_fit_kind_head_refuse_bad_flags_with_one_line(flags, message, capsys) -> None:
    command = [] if flags[0] in ("fit-kind-head", "train-finetune", "calibrate") else ["train-adapter"]
    with pytest.raises(SystemExit) as stopped:
        main([*command, *flags])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_derive_adapter_from_a_missing_index_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PHOTO2CAD_DATA_DIR", str(tmp_path))
    assert main(["index", "derive-adapter", "--from", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "no index at" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_feature_options_reach_the_feature_config() -> None:
    from app.cli import _parser
    from app.cli_adapter import feature_config

    parse = _parser().parse_args
    assert feature_config(parse(["train-adapter"])).p_random_materials == 0.0
    assert feature_config(parse(["train-adapter", "--random-materials", "0.25"])).p_random_materials == 0.25
    assert feature_config(parse(["train-adapter", "--plain", "--queries", "9"])).queries == 9
    assert feature_config(parse(["train-finetune"])).augment.p_table == 0.0
    tabled = feature_config(parse(["train-finetune", "--table-occlusion", "0.3"])).augment
    assert tabled.p_table == 0.3 and tabled.p_occlusion == 0.3  # on top of the domain randomisation



def test_render_seeds_reach_the_training(monkeypatch, tmp_path) -> None:
    from types import SimpleNamespace

    import app.cli
    import app.finetune

    asked = {}

    def train(*args, **kwargs):
        asked.update(kwargs)
        raise SystemExit(0)

    monkeypatch.setenv("PHOTO2CAD_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(app.finetune, "train_lite0_finetune", train)
    monkeypatch.setattr(app.cli, "_training_holdouts", lambda *a: SimpleNamespace(models=[], panoramas=[], split_seed=0))
    with pytest.raises(SystemExit):
        main(["train-finetune", "--render-seeds", "0,3"])
    assert asked["render_seeds"] == (0, 3)
