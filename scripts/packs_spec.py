"""The committed seat packs: where each model comes from, its licence, creator, seat kind and rotation.

rotation turns the file (as written by scripts/make_packs.py) into the canonical frame, up +Y and
front +Z (the side one sits down from), as 3 rows of 3 (v' = R @ v); None is the identity. A pack's
rotation applies to each of its models unless the model has its own. Checked on the contact sheet.
"""

from __future__ import annotations

CC0 = "CC0"  # as catalogue.licences names it for the Sweet Home 3D libraries
# Turns about +Y (yaw) taking the model's front to +Z.
FRONT_MINUS_Z = [[-1, 0, 0], [0, 1, 0], [0, 0, -1]]
FRONT_PLUS_X = [[0, 0, -1], [0, 1, 0], [1, 0, 0]]
FRONT_MINUS_X = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]


def _models(folder: str, suffix: str, rows: list[tuple], prefix: str = "") -> list[dict]:
    """[(file stem in `folder`, display name, seat kind[, rotation])] -> model dicts of a pack."""
    return [{"file": f"{prefix}{stem}", "origin": f"{folder}/{stem}{suffix}", "name": name, "seat_kind": kind,
             **({"rotation": rest[0]} if rest else {})} for stem, name, kind, *rest in rows]


KAYKIT = "addons/kaykit_furniture_bits/Assets/gltf"
SHOWCASE = "public/glb"
KENNEY = "Kenny NL Assets/Furniture Pack (1.0)/Models"
QUATERNIUS = "FreeModels by Quaternius[Patreon]"
Q2019 = f"{QUATERNIUS}/Home and Buildings/Furniture Pack - March 2019/FBX"
Q2017 = f"{QUATERNIUS}/Home and Buildings/Furniture Pack - Oct 2017/FBX"

PACKS: dict[str, dict] = {
    "kaykit-furniture-bits": {
        "repository": "KayKit-Game-Assets/KayKit-Furniture-Bits-1.0", "licence": CC0,
        "licence_file": "LICENSE.txt", "creator": "Kay Lousberg (KayKit)", "rotation": None,
        "models": _models(KAYKIT, ".gltf", [
            ("armchair", "KayKit armchair", "armchair"),
            ("armchair_pillows", "KayKit armchair with pillows", "armchair"),
            ("chair_A", "KayKit chair A", "chair"), ("chair_A_wood", "KayKit wooden chair A", "chair"),
            ("chair_B", "KayKit chair B", "chair"), ("chair_B_wood", "KayKit wooden chair B", "chair"),
            ("chair_C", "KayKit chair C", "chair"),
            ("chair_stool", "KayKit stool", "stool"), ("chair_stool_wood", "KayKit wooden stool", "stool"),
            ("couch", "KayKit couch", "sofa"), ("couch_pillows", "KayKit couch with pillows", "sofa"),
        ]),
    },
    "quaternius-showcase": {
        "repository": "trebeljahr/quaternius-showcase", "licence": CC0,
        "licence_file": None,
        "licence_note": "Quaternius publishes these packs as CC0 (quaternius.com); the repository holds no "
                        "licence file for its models (its LICENSE, MIT, covers the site's code).",
        "creator": "Quaternius", "rotation": None,
        "models": _models(f"{SHOWCASE}/house_interior_pack", ".glb", [
            ("Chair_1", "Quaternius chair 1", "chair"), ("Chair_2", "Quaternius chair 2", "chair"),
            ("Chair_3", "Quaternius chair 3", "chair"), ("Chair_4", "Quaternius chair 4", "chair"),
            ("Couch_L", "Quaternius corner couch", "sofa"),
            ("Couch_Large1", "Quaternius large couch 1", "sofa"),
            ("Couch_Large2", "Quaternius large couch 2", "sofa"),
            ("Couch_Large3", "Quaternius large couch 3", "sofa"),
            ("Couch_Medium1", "Quaternius medium couch 1", "sofa"),
            ("Couch_Medium2", "Quaternius medium couch 2", "sofa"),
            ("Couch_Small1", "Quaternius small couch 1", "armchair"),
            ("Couch_Small2", "Quaternius small couch 2", "armchair"),
            ("Stool", "Quaternius stool", "stool"),
        ]) + _models(f"{SHOWCASE}/medieval_village_pack", ".glb", [
            ("Bench_1", "Quaternius wooden bench 1", "bench", FRONT_MINUS_Z), ("Bench_2", "Quaternius wooden bench 2", "bench"),
        ]) + _models(f"{SHOWCASE}/modular_dungeon_1", ".glb", [
            ("Chair", "Quaternius wooden chair", "chair"),
        ], prefix="Dungeon_"),
    },
    "quaternius-furniture": {
        "repository": "beep2bleep/FreeAssetsByKenneyNLandQuaternius", "licence": CC0,
        "licence_file": f"{QUATERNIUS}/License.txt",
        "creator": "Quaternius", "rotation": None,
        "models": _models(Q2019, ".fbx", [
            ("Chair", "Quaternius dining chair (2019)", "chair"),
            ("OfficeChair", "Quaternius office chair", "office_chair"),
            ("Sofa", "Quaternius sofa (2019)", "sofa"), ("Sofa2", "Quaternius sofa 2 (2019)", "sofa"),
            ("Sofa3", "Quaternius sofa 3 (2019)", "sofa"),
            ("Sofa_individual", "Quaternius one-seat sofa (2019)", "armchair"),
            ("Stool", "Quaternius stool (2019)", "stool"),
        ], prefix="2019_") + _models(Q2017, ".fbx", [
            ("Chair", "Quaternius chair (2017)", "chair", FRONT_PLUS_X),
            ("ChairCushioned", "Quaternius cushioned chair (2017)", "chair", FRONT_PLUS_X),
            ("ChairHandle", "Quaternius armchair (2017)", "armchair", FRONT_PLUS_X),
            ("Sofa", "Quaternius sofa (2017)", "sofa", FRONT_PLUS_X),
            ("SofaDouble", "Quaternius two-seat sofa (2017)", "sofa", FRONT_PLUS_X),
            ("SofaLong", "Quaternius long sofa (2017)", "sofa", FRONT_PLUS_X),
            ("Stool", "Quaternius stool (2017)", "stool"),
        ], prefix="2017_"),
    },
    "kenney-furniture-kit": {
        "repository": "beep2bleep/FreeAssetsByKenneyNLandQuaternius", "licence": CC0,
        "licence_file": "Kenny NL Assets/Furniture Pack (1.0)/License.txt",
        "creator": "Kenney (www.kenney.nl)", "rotation": FRONT_MINUS_Z,
        "models": _models(KENNEY, ".fbx", [
            ("bench", "Kenney bench", "bench"), ("benchCushion", "Kenney cushioned bench", "bench"),
            ("benchCushionLow", "Kenney low cushioned bench", "bench"),
            ("chair", "Kenney chair", "chair"), ("chairCushion", "Kenney cushioned chair", "chair"),
            ("chairDesk", "Kenney desk chair", "office_chair"), ("chairRounded", "Kenney rounded chair", "chair"),
            ("loungeChair", "Kenney lounge chair", "armchair"),
            ("loungeChairRelax", "Kenney relax lounge chair", "lounger"),
            ("loungeSofa", "Kenney lounge sofa", "sofa"), ("loungeSofaCorner", "Kenney corner sofa", "sofa"),
            ("loungeSofaLong", "Kenney long sofa", "sofa"),
            ("stoolBar", "Kenney bar stool", "stool"), ("stoolBarSquare", "Kenney square bar stool", "stool"),
        ]),
    },
    "aws-robomaker": {
        "repository": "aws-robotics/aws-robomaker-small-house-world", "licence": "MIT-0",
        "licence_file": "LICENSE", "creator": "Amazon.com, Inc. or its affiliates (AWS RoboMaker)",
        "rotation": None,
        "models": [
            {"file": f"{m}", "origin": f"models/aws_robomaker_residential_{m}/meshes/aws_{m}_visual.DAE",
             "name": name, "seat_kind": kind, **({"rotation": turn} if turn else {})}
            for m, name, kind, turn in [("ChairA_01", "AWS small house chair A", "chair", FRONT_MINUS_X),
                                        ("ChairD_01", "AWS small house chair D", "chair", FRONT_PLUS_X),
                                        ("Sofa_01", "AWS small house corner sofa", "sofa", None),
                                        ("SofaB_01", "AWS small house one-seat sofa", "armchair", FRONT_PLUS_X)]
        ],
    },
    "aws-robomaker-bookstore": {
        "repository": "aws-robotics/aws-robomaker-bookstore-world", "licence": "MIT-0",
        "licence_file": "LICENSE", "creator": "Amazon.com, Inc. or its affiliates (AWS RoboMaker)",
        "rotation": None,
        "models": [{"file": "ChairB_01", "origin": "models/aws_robomaker_retail_ChairB_01/meshes/"
                    "aws_ChairB_01_visual.DAE", "name": "AWS bookstore bar stool", "seat_kind": "stool"}],
    },
}
