"""Which Sweet Home 3D catalogue entries are seats, and of which kind, decided from name/category/tags.

The rule (deterministic, checked against every candidate's catalogue icon; see docs/catalogue.md):
1. Entries of a category that holds no furniture to sit on (people, vehicles, ...) are not seats.
2. Entries whose English name is in EXCLUDED_NAMES are not seats: they contain a seat keyword or look
   like one but are a car, a toy, a bed, sports gear... Names with a table/desk/bed word are not seats.
3. The first kind in KIND_KEYWORDS whose keyword is a word (or phrase) of the name wins; a name with
   the word "chair" in the Office category is an office_chair (all three are swivel chairs on
   casters), and a "chair" tagged Armchair an armchair.
4. Otherwise the same keywords are looked up in the tags (e.g. "Puff" tagged Chair, Seat).
"""

from __future__ import annotations

import re

SEAT_KINDS = ("chair", "armchair", "sofa", "stool", "bench", "office_chair", "lounger")

NON_SEAT_CATEGORIES = frozenset({
    "characters", "vehicles", "doors and windows", "lights", "staircases",
})

# Looked at in the icons: these match a keyword (or nearly) but are not furniture to sit on.
EXCLUDED_NAMES = frozenset({
    "seat leon",                 # a car (Vehicles)
    "rocking horse",             # a toy
    "wheelchair",                # medical equipment, not furniture
    "abdominal bench",           # fitness equipment
    "workbench",
    "child swing", "seesaw",     # playground
    "potty",
    "day bed", "futon", "tatami", "hammock", "opened convertible sofa bz",   # beds / mats
    "contemporary living room",  # a whole room set (sofa + cabinets)
    "umbrella", "barnum", "wheelbarrow", "motorbike", "sunglasses",
})

NOT_SEAT_WORDS = frozenset({"table", "tables", "desk", "bed", "bunk"})

# Priority order: the first kind with a matching word or phrase wins ("deck chair" is a lounger,
# "armchair ottoman" an armchair, "sofa 2 seats" a sofa).
KIND_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("lounger", ("deck chair", "beach chair", "relax chair", "pool lounge", "lounger", "chaise")),
    ("office_chair", ("office chair", "desk chair", "swivel chair")),
    ("sofa", ("sofa", "couch", "settee", "loveseat")),
    ("armchair", ("armchair", "puff", "pouf", "beanbag")),
    ("stool", ("stool",)),
    ("bench", ("bench", "bank")),  # "Wood bank", "Little bank": wooden benches (Dutch/German bank)
    ("chair", ("chair", "seat")),
)


def seat_kind(name: str, category: str, tags: list[str]) -> str | None:
    """The seat kind (one of SEAT_KINDS) of a catalogue entry, or None when it is not a seat."""
    name_l = _normalise(name)
    if _normalise(category) in NON_SEAT_CATEGORIES or name_l in EXCLUDED_NAMES:
        return None
    if NOT_SEAT_WORDS & set(name_l.split()):
        return None
    tag_words = {_normalise(t) for t in tags}
    kind = _match([name_l])
    if kind == "chair" and _normalise(category) == "office" and "chair" in name_l.split():
        return "office_chair"
    if kind == "chair" and "armchair" in tag_words:
        return "armchair"
    return kind if kind is not None else _match(sorted(tag_words))


def _match(texts: list[str]) -> str | None:
    """The first kind whose keyword occurs as whole words in one of `texts` (already normalised)."""
    padded = [f" {t} " for t in texts]
    for kind, words in KIND_KEYWORDS:
        if any(f" {w} " in p for w in words for p in padded):
            return kind
    return None


def _normalise(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces: "Bar-stool" -> "bar stool"."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())
