"""Leakage checks: every kind of held-out data, the real training and evaluation paths, at run time."""

import pytest

from evaluation.leakage import HeldOut, LeakageError, TrainingData, check_no_leakage, leaks
from evaluation.plan import training_holdouts
from evaluation.report import EvalTarget, _split, check_targets, held_out, run_evaluation
from evaluation.splits import SplitError

PANOS = [f"p{i}.exr" for i in range(5)]
HELD = HeldOut(models=("m3",), panoramas=("p2.exr",), background_photos=("room.jpg",), real_photos=("rp7",))


@pytest.mark.parametrize("kind, value", [("models", "m3"), ("panoramas", "p2.exr"),
                                         ("background_photos", "room.jpg"), ("real_photos", "rp7")])
def test_each_kind_of_held_out_data_is_caught(kind, value):
    seen = TrainingData(**{kind: ("a", value)})
    assert leaks(seen, HELD) == {kind: [value]}
    with pytest.raises(LeakageError, match=f"leaky was trained on 1 held-out {kind.replace('_', ' ')}"):
        check_no_leakage("leaky", seen, HELD)


def test_clean_and_untrained_targets_pass():
    check_no_leakage("clean", TrainingData(("m1",), ("p1.exr",), ("street.jpg",), ("rp1",)), HELD)
    check_no_leakage("transfer", None, HELD)


def test_training_data_is_read_from_a_training_manifest():
    manifest = {"data": {"model_ids": ["m1"], "panoramas": ["p1.exr"], "real_photos": ["rp2"]}}
    assert TrainingData.from_manifest(manifest) == TrainingData(("m1",), ("p1.exr",), (), ("rp2",))


def _catalogue(collection):
    """The catalogue training draws from: the indexed models and more that no index holds yet."""
    return sorted(list(collection.store.view_counts()) + [f"new#{i}" for i in range(4)])


def _panoramas_dir(tmp_path):
    for i in range(5):
        (tmp_path / f"p{i}.exr").touch()
    return tmp_path


def test_training_leaves_out_what_the_evaluation_holds_out_on_the_real_paths(collection, tmp_path):
    """Training draws its hold-outs from the catalogue's ids, the evaluation queries the models common to
    every index: a model training saw is never a held-out query, a test panorama never a background."""
    catalogue, panoramas = _catalogue(collection), _panoramas_dir(tmp_path)
    target, checked, naive_leaks = EvalTarget("t", collection, None), 0, 0
    for seed in range(12):
        skip = training_holdouts(catalogue, [p.name for p in panoramas.glob("*.exr")], seed)
        trained = set(catalogue) - set(skip.models)
        try:
            split = _split([target], 4, seed, panoramas, catalogue)
        except SplitError:  # every held-out model is one no index holds yet: refused, not leaked
            continue
        checked += 1
        assert not trained & set(split.heldout_models)
        assert split.test_panoramas == skip.panoramas
        assert {q.model_id for q in split.sets["heldout_models"]} <= set(split.heldout_models)
        # drawing from the index's ids instead (the old path) would have queried models training saw
        naive_leaks += bool(trained & set(_split([target], 4, seed, panoramas, None).heldout_models))
    assert checked >= 4 and naive_leaks >= 1


def test_run_evaluation_refuses_a_leaky_target_before_rendering(collection, tmp_path):
    catalogue, target = _catalogue(collection), EvalTarget("t", collection, None)
    seed = next(s for s in range(20) if set(training_holdouts(catalogue, PANOS, s).models) & set(catalogue[:4]))
    split = _split([target], 4, seed, _panoramas_dir(tmp_path), catalogue)
    leaky = EvalTarget("leaky", collection, None, trained_on=TrainingData(models=(split.heldout_models[0],)))
    with pytest.raises(LeakageError, match="leaky was trained on 1 held-out models"):
        run_evaluation([leaky], 4, seed, tmp_path, tmp_path / "E.md", tmp_path / "art", catalogue_ids=catalogue)
    assert not (tmp_path / "E.md").exists()
    check_targets([EvalTarget("clean", collection, None, trained_on=TrainingData(("none",)))], held_out(split))


def test_include_heldout_skips_nothing():
    assert training_holdouts(["a", "b"], ["p.exr"], include_heldout=True).models == []
