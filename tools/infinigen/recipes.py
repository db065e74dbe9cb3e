"""Which Infinigen seating factory makes which seat kind, and the few derived factories for the kinds
Infinigen 1.15.5 has no generator of its own (benches, low stools, loungers).

Runs inside tools/infinigen/.venv (bpy + infinigen), never in the service's venv. The derived factories
only change the sampled dimensions of Infinigen's ChairFactory / ArmChairFactory (and drop the back of a
backless seat); the geometry code is Infinigen's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from infinigen.assets.objects.seating import (
    ArmChairFactory,
    BarChairFactory,
    ChairFactory,
    OfficeChairFactory,
    SofaFactory,
)
from infinigen.assets.objects.seating.sofa import sofa_parameter_distribution
from infinigen.assets.utils.object import join_objects
from infinigen.core import surface
from infinigen.core.util import blender as butil
from infinigen.core.util.math import FixedSeed
from numpy.random import uniform


class BackedBenchFactory(ChairFactory):
    """A wide ChairFactory seat (0.9-1.8 m) with its back: a garden or hall bench."""

    def __init__(self, factory_seed, coarse=False):
        super().__init__(factory_seed, coarse)
        with FixedSeed(self.factory_seed + 1):  # own stream: the chair's draws stay as they were
            self.width = uniform(0.9, 1.8)
            self.size = uniform(0.38, 0.5)
            self.has_arm = uniform() < 0.4
            self.post_init()


class BacklessChairFactory(ChairFactory):
    """ChairFactory's seat, legs and stretchers without back or arms (subclasses set the dimensions)."""

    def create_asset(self, **params):
        parts = [self.make_seat()]
        legs = self.make_legs()
        parts += legs + self.make_leg_decors(legs)
        for leg in legs:
            self.solidify(leg, 2)
        obj = join_objects(parts)
        obj.rotation_euler.z += np.pi / 2
        butil.apply_transform(obj)
        with FixedSeed(self.factory_seed):
            surface.assign_material(obj, self.surface)
            surface.assign_material(obj, self.limb_surface, selection="limb")
        return obj


class BacklessBenchFactory(BacklessChairFactory):
    """A backless bench: a long seat (0.9-1.8 m) on four legs."""

    def __init__(self, factory_seed, coarse=False):
        super().__init__(factory_seed, coarse)
        with FixedSeed(self.factory_seed + 1):
            self.width = uniform(0.9, 1.8)
            self.size = uniform(0.3, 0.45)
            self.has_arm = False
            self.post_init()


class LowStoolFactory(BacklessChairFactory):
    """A low square or round stool: a small seat (0.28-0.4 m) at 0.4-0.5 m on four legs."""

    def __init__(self, factory_seed, coarse=False):
        super().__init__(factory_seed, coarse)
        with FixedSeed(self.factory_seed + 1):
            self.width = uniform(0.28, 0.4)
            self.size = self.width * uniform(0.45, 0.55)
            self.has_arm = False
            self.post_init()


class LoungerFactory(ChairFactory):
    """A sun lounger / deck chair: a long low seat (1.1-1.6 m deep) with a steeply reclined back."""

    def __init__(self, factory_seed, coarse=False):
        super().__init__(factory_seed, coarse)
        with FixedSeed(self.factory_seed + 1):
            self.width = uniform(0.55, 0.75)
            self.size = uniform(1.1, 1.6)
            self.leg_height = uniform(0.2, 0.35)
            self.back_height = uniform(0.55, 0.8)
            self.post_init()
            self.back_y_offset = self.back_height * uniform(0.6, 1.0)  # 30-40 deg from vertical


class ChaiseFactory(ArmChairFactory):
    """An upholstered chaise longue: an armchair stretched to a 1.5-1.9 m deep seat."""

    def __init__(self, factory_seed):
        super().__init__(factory_seed)
        with FixedSeed(factory_seed + 1):
            dimensions = (uniform(1.5, 1.9), uniform(0.7, 0.9), uniform(0.6, 0.85))
            self.params = sofa_parameter_distribution(dimensions=dimensions)


class LowBarStoolFactory(BarChairFactory):
    """Infinigen's bar chair at sitting height (0.42-0.55 m): a round low stool."""

    def __init__(self, factory_seed, coarse=False):
        with FixedSeed(factory_seed + 1):
            x, z = uniform(0.3, 0.4), uniform(0.42, 0.55)
        super().__init__(factory_seed, coarse, dimensions=(x, x, z))


@dataclass(frozen=True)
class Recipe:
    """count shapes of `kind` from `factory`, with factory seeds seed_base, seed_base + 1, ...

    front_axis: the Blender axis (+X: 0, -X: 1, +Y: 2, -Y: 3) the seat's front faces after spawn_asset.
    decimate_by_part: decimate each material's part to its share of the budget (generate.reduced_by_part),
    for seats whose dense casters or thin legs would otherwise leave the seat a few facets.
    """

    name: str
    kind: str
    factory: type
    count: int
    seed_base: int
    front_axis: int = 0
    decimate_by_part: bool = False


# Seed ranges are disjoint so that two factories never share a random stream.
RECIPES = (
    Recipe("chair", "chair", ChairFactory, 110, 100_000),
    Recipe("office_chair", "office_chair", OfficeChairFactory, 72, 200_000, decimate_by_part=True),
    Recipe("bar_stool", "stool", BarChairFactory, 40, 300_000, decimate_by_part=True),
    Recipe("low_bar_stool", "stool", LowBarStoolFactory, 14, 310_000, decimate_by_part=True),
    Recipe("low_stool", "stool", LowStoolFactory, 22, 320_000),
    Recipe("sofa", "sofa", SofaFactory, 72, 400_000),
    Recipe("armchair", "armchair", ArmChairFactory, 72, 500_000),
    Recipe("backed_bench", "bench", BackedBenchFactory, 36, 600_000),
    Recipe("backless_bench", "bench", BacklessBenchFactory, 26, 610_000),
    Recipe("lounger", "lounger", LoungerFactory, 36, 700_000),
    Recipe("chaise", "lounger", ChaiseFactory, 22, 710_000),
)
