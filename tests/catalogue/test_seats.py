"""The seat rule: names, categories and tags of real Sweet Home 3D entries -> seat kind or None."""

from __future__ import annotations

import pytest

from catalogue.seats import EXCLUDED_NAMES, SEAT_KINDS, seat_kind


@pytest.mark.parametrize(("name", "category", "tags", "kind"), [
    ("Chair", "Living room", ["Default", "Seat"], "chair"),
    ("Baby high chair", "Kitchen", ["Seat", "Kid"], "chair"),
    ("Class seat", "Office", ["Chair", "School"], "chair"),       # "seat": a school chair, not a swivel
    ("Chair", "Office", ["Seat"], "office_chair"),
    ("Armchair", "Office", ["Seat"], "armchair"),
    ("Teck chair", "Exterior", ["Seat", "Armchair"], "armchair"),
    ("Winchester armchair", "Living room", ["Seat"], "armchair"),
    ("Armchair ottoman", "Living room", ["Seat"], "armchair"),
    ("Puff", "Living room", ["Chair", "Seat"], "armchair"),       # a beanbag
    ("Sofa 2 seats", "Living room", ["Couch"], "sofa"),
    ("Futon couch", "Living room", ["Sofa", "Seat"], "sofa"),
    ("Convertible sofa BZ", "Bedroom", ["Bed"], "sofa"),
    ("Bar stool", "Living room", ["Chair", "Seat"], "stool"),
    ("Piano bench", "Living room", ["Music"], "bench"),
    ("Wood bank", "Exterior", ["Outdoor"], "bench"),
    ("Deck chair", "Exterior", ["Seat", "Outdoor"], "lounger"),
    ("Relax chair", "Exterior", ["Seat"], "lounger"),
    ("Pool lounge", "Exterior", ["Deck", "Chair", "Seat"], "lounger"),
    ("Garden thing", "Exterior", ["Outdoor", "Seat"], "chair"),     # no name keyword: tags decide
    ("Garden thing", "Exterior", ["Deck", "Chair"], "chair"),       # tags are not joined into phrases
])
def test_seat_kinds(name: str, category: str, tags: list[str], kind: str) -> None:
    assert seat_kind(name, category, tags) == kind
    assert kind in SEAT_KINDS


@pytest.mark.parametrize(("name", "category", "tags"), [
    ("Seat Leon", "Vehicles", ["Car"]),
    ("Seat Leon", "Exterior", ["Car"]),                  # excluded by name whatever its category
    ("Rocking horse", "Bedroom", ["Toy", "Decoration"]),
    ("Wheelchair", "Miscellaneous", ["Disabled"]),
    ("Abdominal bench", "Miscellaneous", ["Sport"]),
    ("Workbench", "Miscellaneous", ["Table"]),
    ("Opened convertible sofa BZ", "Bedroom", ["Bed"]),
    ("Sitting female", "Characters", ["Human", "Seat"]),
    ("Bar table", "Living room", ["Outdoor", "Deck"]),
    ("Cafe table", "Exterior", ["Seat"]),                # a table word beats a seat tag
    ("Bed 140x190", "Bedroom", ["Double"]),
    ("Lamp", "Lights", []),
])
def test_not_seats(name: str, category: str, tags: list[str]) -> None:
    assert seat_kind(name, category, tags) is None


def test_every_exclusion_is_needed_or_documented() -> None:
    """Exclusions are matched on the normalised name: each must be lower case, single-spaced."""
    assert all(n == " ".join(n.lower().split()) for n in EXCLUDED_NAMES)
    assert seat_kind("SEAT  Leon", "Exterior", []) is None
