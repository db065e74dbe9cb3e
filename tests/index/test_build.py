"""Batch indexing: walking folders, ids, .sh3f libraries, per-file failures, skip/update, interrupted updates."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from app import bootstrap
from app.settings import Settings
from index.build import sweep_views
from index.collection import Collection
from index.sources import SourceError, find_files, library_entries, model_id_for, user_sources
from tests.shapes import make_box_chair, make_sofa, make_stool

VIEWS = 24  # icosphere level 1 within the default polar range


def _obj_text(mesh) -> str:
    return mesh.export(file_type="obj")


def make_library(path: Path, chair_scale: float = 1.0) -> Path:
    """A Sweet Home 3D furniture library: a chair, a table (not a seat) and a stool."""
    icon = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(icon, "PNG")
    props = ["id=test.lib", "name=Test library"]
    for n, (name, model) in enumerate([("Test chair", "chair"), ("Coffee table", "table"),
                                       ("Bar stool", "stool")], start=1):
        props += [f"id#{n}=test.lib#{model}", f"name#{n}={name}", f"category#{n}=Living room",
                  f"model#{n}=/{model}/{model}.obj", f"icon#{n}=/{model}/icon.png",
                  f"width#{n}=50", f"depth#{n}=50", f"height#{n}=90", f"creator#{n}=tests"]
    chair = make_box_chair()
    chair.apply_scale(chair_scale)
    meshes = {"chair": chair, "table": make_sofa(), "stool": make_stool()}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("PluginFurnitureCatalog.properties", "\n".join(props) + "\n")
        for model, mesh in meshes.items():
            zf.writestr(f"{model}/{model}.obj", _obj_text(mesh))
            zf.writestr(f"{model}/icon.png", icon.getvalue())
    return path


@pytest.fixture
def cad_folder(tmp_path) -> Path:
    """a/chair.obj, b/chair.obj, sofa.glb, stool.ply, a .sh3f library, bad files and things to ignore."""
    root = tmp_path / "cad"
    for sub in ("a", "b", ".hidden", "bad"):
        (root / sub).mkdir(parents=True)
    (root / "a/chair.obj").write_text(_obj_text(make_box_chair()))
    (root / "b/chair.obj").write_text(_obj_text(make_stool()))
    make_sofa().export(root / "sofa.glb")
    make_stool().export(root / "stool.ply")
    make_stool().export(root / ".hidden/ignored.ply")
    (root / "notes.txt").write_text("not a model")
    make_library(root / "lib.sh3f")
    (root / "bad/empty.stl").write_bytes(b"")
    (root / "bad/zero_area.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 2\nf 1 3 3\nf 1 4 4\n")
    (root / "bad/huge.obj").write_text("v 0 0 0\nv 1e9 0 0\nv 0 1e9 0\nv 0 0 1e9\nf 1 2 3\nf 1 3 4\n")
    (root / "bad/nan.off").write_text("OFF\n3 1 0\n0 0 0\nnan 1 0\n0 1 1\n3 0 1 2\n")
    (root / "bad/garbage.glb").write_bytes(b"glTF but not really")
    return root


def test_walk_finds_models_and_libraries_only(cad_folder):
    found = {f.path.relative_to(cad_folder).as_posix() for f in find_files([cad_folder])}
    assert found == {"a/chair.obj", "b/chair.obj", "sofa.glb", "stool.ply", "lib.sh3f", "bad/empty.stl",
                     "bad/zero_area.obj", "bad/huge.obj", "bad/nan.off", "bad/garbage.glb"}
    again = find_files([cad_folder, cad_folder / "sofa.glb"])  # a file inside a walked folder: once
    assert len(again) == len(found)
    with pytest.raises(FileNotFoundError, match="no such file"):
        find_files([cad_folder / "nope.obj"])


def test_ids_from_name_collide_and_from_path_do_not(cad_folder, tmp_path):
    by_name = user_sources([cad_folder], tmp_path / "x")
    failed = dict(by_name.failed)
    assert set(failed) == {str(cad_folder / "a/chair.obj"), str(cad_folder / "b/chair.obj")}
    assert "--id-from path" in failed[str(cad_folder / "a/chair.obj")]
    assert "chair" not in {s.model_id for s in by_name.models}
    by_path = user_sources([cad_folder], tmp_path / "x", id_from="path")
    assert not by_path.failed
    ids = {s.model_id for s in by_path.models}
    assert {"a/chair", "b/chair", "sofa", "bad/nan", "test.lib#chair", "test.lib#stool"} <= ids
    assert model_id_for(find_files([cad_folder / "a/chair.obj"])[0], "path") == "chair"
    with pytest.raises(SourceError, match="one model"):
        user_sources([cad_folder], tmp_path / "x", model_id="x")


def test_library_seats_by_catalogue_rule_or_category(tmp_path):
    library = make_library(tmp_path / "lib.sh3f")
    seats = library_entries(library, tmp_path / "out")
    assert {(e.model_id, e.seat_kind) for e in seats} == {("test.lib#chair", "chair"),
                                                          ("test.lib#stool", "stool")}
    assert all(Path(e.model_path).is_file() and e.creator == "tests" for e in seats)
    everything = library_entries(library, tmp_path / "out", seat_kind="sofa")
    assert {e.seat_kind for e in everything} == {"sofa"} and len(everything) == 3
    chair = next(e for e in seats if e.model_id == "test.lib#chair")
    before = Path(chair.model_path).read_bytes()
    make_library(library, chair_scale=2.0)  # the library changed: extracted again
    changed = next(e for e in library_entries(library, tmp_path / "out") if e.model_id == "test.lib#chair")
    assert changed.model_path == chair.model_path and Path(changed.model_path).read_bytes() != before


@pytest.fixture
def settings(tmp_path, weights_dir) -> Settings:
    return Settings(data_dir=tmp_path / "data", weights_dir=weights_dir, view_size_px=64, view_count=1,
                    render_workers=1, _env_file=None)


def _assert_consistent(settings: Settings) -> Collection:
    collection = Collection.open(settings.resolved_index_dir)
    counts = collection.store.view_counts()
    assert collection.vectors.ntotal == collection.store.count_views() == sum(counts.values())
    assert set(counts.values()) <= {VIEWS}
    for record in collection.store.list_models():  # one version folder per model, complete
        (version,) = collection.views_dir(record.model_id).iterdir()
        assert len(list(version.glob("*.jpg"))) == VIEWS and (version / "model.glb").is_file()
    assert len(list((collection.root / "views").iterdir())) == len(counts)
    return collection


def test_add_folder_reports_failures_skips_unchanged_and_updates_changed(cad_folder, settings, tiny_embedder):
    report = bootstrap.add_files(settings, [cad_folder], id_from="path", embedder=tiny_embedder)
    assert sorted(report.added) == ["a/chair", "b/chair", "sofa", "stool", "test.lib#chair", "test.lib#stool"]
    reasons = dict(report.failed)
    assert set(reasons) == {"bad/empty", "bad/zero_area", "bad/huge", "bad/nan", "bad/garbage"}
    assert "empty" in reasons["bad/empty"] and "zero surface area" in reasons["bad/zero_area"]
    assert "absurd size" in reasons["bad/huge"] and "NaN" in reasons["bad/nan"]
    assert "cannot read" in reasons["bad/garbage"]
    collection = _assert_consistent(settings)
    assert collection.store.get_model("test.lib#stool").seat_kind == "stool"
    collection.close()

    make_box_chair().export(cad_folder / "stool.ply")  # changed content, same id
    again = bootstrap.add_files(settings, [cad_folder], id_from="path", embedder=tiny_embedder)
    assert again.updated == ["stool"] and not again.added and len(again.skipped) == 5
    assert "updated 1, skipped 5" in again.summary()
    _assert_consistent(settings).close()


def test_readding_an_unchanged_file_with_new_labels_relabels_it(settings, tiny_embedder, tmp_path):
    path = tmp_path / "seat.ply"
    make_stool().export(path)
    assert bootstrap.add_files(settings, [path], seat_kind="chair", embedder=tiny_embedder).added == ["seat"]
    collection = Collection.open(settings.resolved_index_dir)
    views_before = collection.store.view_ids("seat").tolist()
    collection.close()

    again = bootstrap.add_files(settings, [path], seat_kind="stool", licence="CC0", embedder=tiny_embedder)
    assert again.relabelled == ["seat"] and not (again.added or again.updated or again.skipped)
    assert "relabelled 1, skipped 0" in again.summary() and again.views == 0  # nothing rendered
    collection = Collection.open(settings.resolved_index_dir)
    record = collection.store.get_model("seat")
    assert (record.seat_kind, record.licence) == ("stool", "CC0")
    assert collection.store.view_ids("seat").tolist() == views_before  # same views, same vectors
    collection.close()

    unchanged = bootstrap.add_files(settings, [path], embedder=tiny_embedder)  # no labels given: kept
    assert unchanged.skipped == ["seat"] and not unchanged.relabelled
    collection = Collection.open(settings.resolved_index_dir)
    assert collection.store.get_model("seat").seat_kind == "stool"
    collection.close()


def test_interrupted_update_keeps_the_stored_views(settings, tiny_embedder, tmp_path, monkeypatch):
    path = tmp_path / "model.ply"
    make_stool().export(path)
    assert bootstrap.add_files(settings, [path], embedder=tiny_embedder).added == ["model"]
    collection = Collection.open(settings.resolved_index_dir)
    stored = [collection.root / p for p in collection.store.view_table().image_paths]
    old_bytes = [p.read_bytes() for p in stored]
    collection.close()

    make_box_chair().export(path)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if Ctrl-C hit between writing the new views and the commit

    monkeypatch.setattr(Collection, "put_model", killed)
    with pytest.raises(KeyboardInterrupt):
        bootstrap.add_files(settings, [path], embedder=tiny_embedder)
    monkeypatch.undo()
    collection = Collection.open(settings.resolved_index_dir)
    assert [p.read_bytes() for p in stored] == old_bytes  # the stored version is untouched
    assert len(list(collection.views_dir("model").iterdir())) == 2  # plus the uncommitted version
    (collection.root / "views" / "never-committed" / "abc").mkdir(parents=True)
    assert sweep_views(collection) == 2 and not (collection.root / "views" / "never-committed").exists()
    collection.close()

    assert bootstrap.add_files(settings, [path], embedder=tiny_embedder).updated == ["model"]
    collection = _assert_consistent(settings)
    assert not any(p.exists() for p in stored)
    collection.close()
