"""Source: the seats of Minetest's Home Decor modpack (Debian `minetest-mod-homedecor`), OBJ + textures.

The game paints a mesh's groups (`g 1`, `g 2`, ...) with the node's tiles in order; the OBJ files name no
materials. So each seat's OBJ is copied with a `usemtl` after every group line and an MTL that maps the
tiles the mod's Lua gives that mesh (texture files of the modpack, or a flat colour for textures that
come from the base game and are not in the package).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from tqdm import tqdm

from catalogue.entry import CatalogueEntry, safe_id
from catalogue.licences import debian_licences
from catalogue.source import Source

PACKAGE = "minetest-mod-homedecor"
MODS = Path("usr/share/games/minetest/mods/homedecor")
MODELS = MODS / "homedecor_seating/models"
COPYRIGHT = Path("usr/share/doc") / PACKAGE / "copyright"
CREATOR = "Vanessa Ezekowitz and the homedecor_modpack contributors"
UPHOLSTERY = ("lrfurn_upholstery.png", "lrfurn_sofa_bottom.png")
# Base-game textures the modpack uses but does not ship: their look as a flat colour (RGB 0..1).
GAME_COLOURS = {"wool_white.png": (0.92, 0.92, 0.92), "wool_dark_grey.png": (0.25, 0.25, 0.25),
                "default_wood.png": (0.55, 0.38, 0.2)}
# Into the canonical frame (up +Y, front +Z), v' = R @ v. Upright meshes face -Z; the wall-mounted ones
# ("colorwallmounted" nodes) stand on -Z and face +Y (sofas) or +X (armchairs, kitchen chair).
FACING_MINUS_Z = [[-1, 0, 0], [0, 1, 0], [0, 0, -1]]
LYING_FACING_Y = [[-1, 0, 0], [0, 0, 1], [0, 1, 0]]
LYING_FACING_X = [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
# (mesh stem, name, seat kind, tiles in group order as homedecor_seating/*.lua registers them, rotation)
SEATS: tuple[tuple[str, str, str, tuple[str, ...], list[list[int]]], ...] = (
    ("homedecor_deckchair", "Deck chair", "lounger", ("homedecor_deckchair.png",), FACING_MINUS_Z),
    ("homedecor_office_chair_basic", "Basic office chair", "office_chair", ("homedecor_office_chair_basic.png",),
     FACING_MINUS_Z),
    ("homedecor_office_chair_upscale", "Upscale office chair", "office_chair",
     ("homedecor_office_chair_upscale.png",), FACING_MINUS_Z),
    ("homedecor_kitchen_chair", "Kitchen chair", "chair", ("homedecor_generic_wood_plain.png",) * 2,
     LYING_FACING_X),
    ("homedecor_bench_large_1", "Garden bench (style 1)", "bench",
     ("homedecor_generic_wood_old.png", "homedecor_generic_metal_wrought_iron.png"), FACING_MINUS_Z),
    ("homedecor_bench_large_2", "Garden bench (style 2)", "bench", ("homedecor_generic_wood_old.png",),
     FACING_MINUS_Z),
    ("lrfurn_armchair", "Armchair", "armchair", UPHOLSTERY, LYING_FACING_X),
    ("forniture_armchair", "Wool armchair", "armchair", ("wool_white.png", "wool_dark_grey.png", "default_wood.png"),
     LYING_FACING_X),
    ("lrfurn_sofa_short", "Sofa", "sofa", UPHOLSTERY, LYING_FACING_Y),
    ("lrfurn_sofa_long", "Long sofa", "sofa", UPHOLSTERY, LYING_FACING_Y),
)


def homedecor_seats(roots: dict[str, Path], out_dir: Path, progress: bool = True) -> list[CatalogueEntry]:
    """Copy each seat's OBJ (with materials) into out_dir/models/<safe id>/, once; paths relative."""
    root = roots[PACKAGE]
    licence = debian_licences(root / COPYRIGHT).get("*/models/*", "unknown")
    return [_copy_seat(root, out_dir, seat, licence) for seat in tqdm(SEATS, desc="homedecor seats",
                                                                       disable=not progress)]


def _copy_seat(root: Path, out_dir: Path, seat: tuple, licence: str) -> CatalogueEntry:
    stem, name, kind, tiles, rotation = seat
    model_id = f"homedecor#{stem}"
    rel = f"models/{safe_id(model_id)}"
    if not (out_dir / rel / f"{stem}.obj").is_file():
        _write_model(root, out_dir / rel, stem, tiles)
    return CatalogueEntry(model_id=model_id, name=name, category="", seat_kind=kind, size_cm=None,
                          rotation=rotation, creator=CREATOR, licence=licence,
                          source=f"{PACKAGE}/{MODELS / stem}.obj", model_path=f"{rel}/{stem}.obj",
                          icon_path="", tags=["homedecor"])


def _write_model(root: Path, dest: Path, stem: str, tiles: tuple[str, ...]) -> None:
    """OBJ, MTL and textures in a temporary dir renamed into place (an interruption leaves no half)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".homedecor-", dir=dest.parent) as tmp:
        work = Path(tmp) / "model"
        work.mkdir()
        obj = (root / MODELS / f"{stem}.obj").read_text(encoding="latin-1")
        (work / f"{stem}.obj").write_text(f"mtllib {stem}.mtl\n" + with_materials(obj), encoding="latin-1")
        (work / f"{stem}.mtl").write_text(_mtl(root, work, tiles), encoding="latin-1")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(work, dest)


def with_materials(obj: str) -> str:
    """The OBJ text with `usemtl tile<k>` after its k-th group line (k from 1; one tile without groups)."""
    count = 0

    def tile(match: re.Match) -> str:
        nonlocal count
        count += 1
        return f"{match.group(0)}\nusemtl tile{count}"

    text = re.sub(r"^g .*$", tile, obj, flags=re.MULTILINE)
    return text if count else "usemtl tile1\n" + text


def _mtl(root: Path, work: Path, tiles: tuple[str, ...]) -> str:
    blocks = []
    for k, texture in enumerate(tiles, start=1):
        found = sorted((root / MODS).glob(f"*/textures/{texture}"))
        if found:
            shutil.copyfile(found[0], work / texture)
            blocks.append(f"newmtl tile{k}\nKd 1 1 1\nmap_Kd {texture}")
        else:
            r, g, b = GAME_COLOURS.get(texture, (0.6, 0.6, 0.6))
            blocks.append(f"newmtl tile{k}\nKd {r} {g} {b}")
    return "\n\n".join(blocks) + "\n"


SOURCE = Source("homedecor", (PACKAGE,), homedecor_seats)
