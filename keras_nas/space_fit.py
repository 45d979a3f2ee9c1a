"""Fit the space to the board before the search: MCUNet's TinyNAS sub-space choice.

A space's resolution knobs (input resolution, the first layer's strides along
time and frequency) and its widths trade against each other under a memory
limit: a wide network on a halved input can fit where a narrow one on the full
input is all that fits otherwise, and which of them holds more capacity depends
on the limits. MCUNet (Lin et al., NeurIPS 2020) chooses, before any training,
the sub-space (resolution x width multiplier) whose models that fit the limits
have the most computation, and searches inside it.

`fit_space` does this with what the search already has: each sub-space (every
combination of the space's resolution knobs, `RESOLUTION_NAMES`, times a band
of its width multiplier, `WIDTH_BANDS`, when the space has one width knob) is
sampled `SAMPLES_PER_SUBSPACE` times (fewer when there are many sub-spaces, so
that the fit builds about `MAX_SAMPLES` models in all); a few samples are converted and measured on the real runtime to calibrate the cost
predictor (`keras_nas.cost_predictor`) for this input shape, and every sample is
then predicted. Per sub-space it records the share predicted to fit and the
median MACs of those that fit, and chooses the one with the most MACs among
those where at least `MIN_FEASIBLE` of 16 samples (as many in proportion, two
at least) fit. The oracle then draws most
random proposals inside it (`keras_nas.strategies.proposals`); expert designs,
mutations and the rest still reach the whole space.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from keras_nas.cost_predictor import FeasibilityFilter, width_choices

# Hyperparameters that set the resolution the network works at, by the end of their names:
# `MobileSpace`/`MLPerfVWWSpace` input resolution, the first conv's strides of `KWSSpace`
# (time, frequency), the stem stride of `ConvSpace`, `MicroSpace`, `MLPerfICSpace`, and an audio
# front-end's hop (frames per second) and mel bands (`keras_nas.front_end_space.FrontEndSpace`).
RESOLUTION_NAMES = ("/resolution", "/stem_strides", "/freq_strides", "/stem/strides", "/hop_ms", "/bands")
# A space with one width knob (`KWSSpace`'s width, `MobileSpace`'s width multiplier: TinyNAS's
# width multiplier) has its values split into this many bands, narrow to wide. A space with a
# width per stage (`ConvSpace`) keeps them free: the choice tally and the widening of
# `keras_nas.strategies.proposals` size them for the limits.
WIDTH_BANDS = 3
SAMPLES_PER_SUBSPACE = 16
# Each sample is a Keras model built (about 0.1 s on 2 cores). A space with many sub-spaces (an
# audio front-end's hop x bands times the network's strides x width bands: 96) samples fewer in
# each, at least `MIN_SAMPLES_PER_SUBSPACE`, so that the fit stays a small share of the search.
MAX_SAMPLES = 384
MIN_SAMPLES_PER_SUBSPACE = 4
# Proposals measured on the real runtime to calibrate the predictor before the choice.
CALIBRATION_SAMPLES = 4
# A sub-space needs this many of `SAMPLES_PER_SUBSPACE` samples predicted to fit to be chosen (in
# proportion when it has fewer, and two at least: one sample's MACs are no median).
MIN_FEASIBLE = 3

# `draw(rng, allowed)`: a random point of the space whose choices named in `allowed` take one
# of the values listed there (`ProposalHelpers.random_values`).
Draw = Callable[[np.random.Generator, dict], dict]
# `measure(values)`: the measured `{"flash_kb": ..., "peak_ram_kb": ...}` of a point, or `None`
# if it cannot be converted or run.
Measure = Callable[[dict], dict]


@dataclass(frozen=True)
class SubSpace:
    """One sub-space and what sampling it found.

    Attributes:
        allowed: `{hyperparameter name: values it may take}`.
        samples: Points sampled.
        feasible_share: Share of them predicted to fit the limits.
        median_macs: Median MACs of those predicted to fit (`None`: none fits).
    """

    allowed: dict
    samples: int
    feasible_share: float
    median_macs: float | None

    @property
    def label(self) -> str:
        """E.g. `stem_strides=2 freq_strides=1 width=48-64`."""
        parts = []
        for name, values in self.allowed.items():
            short = name.rsplit("/", 1)[-1] if not name.endswith("stem/strides") else "stem/strides"
            shown = values[0] if len(values) == 1 else f"{values[0]}-{values[-1]}"
            parts.append(f"{short}={shown}")
        return " ".join(parts)

    def to_dict(self) -> dict:
        return {
            "allowed": {k: list(v) for k, v in self.allowed.items()},
            "samples": self.samples,
            "feasible_share": self.feasible_share,
            "median_macs": self.median_macs,
        }

    @classmethod
    def from_dict(cls, state: dict) -> "SubSpace":
        return cls({k: list(v) for k, v in state["allowed"].items()}, int(state["samples"]),
                   float(state["feasible_share"]), state["median_macs"])


@dataclass(frozen=True)
class SpaceFit:
    """The sub-spaces sampled for the limits and the one chosen (`None`: no sub-space has enough that fits)."""

    subspaces: tuple
    chosen: int | None
    seconds: float
    calibrated: int = 0

    @property
    def best(self) -> SubSpace | None:
        """The chosen sub-space, or `None`."""
        return None if self.chosen is None else self.subspaces[self.chosen]

    def table(self) -> list[dict]:
        """One row per sub-space: `subspace`, `feasible_share`, `median_macs`, `chosen`."""
        return [
            {"subspace": s.label, "feasible_share": round(s.feasible_share, 3),
             "median_macs": None if s.median_macs is None else int(s.median_macs), "chosen": i == self.chosen}
            for i, s in enumerate(self.subspaces)
        ]

    def summary(self) -> dict:
        """For `search_summary()`: `chosen` (its label or `None`), `seconds`, `calibrated` and `table`."""
        return {"chosen": None if self.best is None else self.best.label, "seconds": self.seconds,
                "calibrated": self.calibrated, "table": self.table()}

    def to_dict(self) -> dict:
        """`summary()` (what a report reads from `oracle.json`) and the sub-spaces to restore."""
        return {**self.summary(), "subspaces": [s.to_dict() for s in self.subspaces],
                "chosen_index": self.chosen}

    @classmethod
    def from_dict(cls, state: dict | None) -> "SpaceFit | None":
        if not state:
            return None
        return cls(tuple(SubSpace.from_dict(s) for s in state["subspaces"]), state["chosen_index"],
                   float(state["seconds"]), int(state.get("calibrated", 0)))


def is_resolution(name: str) -> bool:
    """Whether a hyperparameter is one of `RESOLUTION_NAMES`."""
    return name.endswith(RESOLUTION_NAMES) or name == "stem/strides"


def subspaces(space) -> list[dict]:
    """The sub-spaces of `space` as `allowed` dicts: resolution knobs x width bands.

    Args:
        space: The search space's hyperparameters (`keras_tuner.HyperParameters.space`).

    Returns:
        One `{name: allowed values}` per sub-space; empty if the space has
        fewer than two (no resolution knob and no width with a choice).
    """
    knobs = [
        (hp.name, [[v] for v in hp.values])
        for hp in space
        if is_resolution(hp.name) and len(getattr(hp, "values", ()) or ()) > 1
    ]
    widths = {name: values for name, values in width_choices(space).items() if len(values) > 1}
    if len(widths) == 1:
        (name, values), = widths.items()
        bands = np.array_split(np.array(values, dtype=object), min(WIDTH_BANDS, len(values)))
        knobs.append((name, [list(band) for band in bands]))
    result = [dict(zip((name for name, _ in knobs), combination))
              for combination in itertools.product(*(options for _, options in knobs))]
    return result if len(result) > 1 else []


def samples_per_subspace(count: int) -> int:
    """How many points each of `count` sub-spaces is sampled with (see `MAX_SAMPLES`)."""
    return int(np.clip(MAX_SAMPLES // max(count, 1), MIN_SAMPLES_PER_SUBSPACE, SAMPLES_PER_SUBSPACE))


def fit_space(space, feasibility: FeasibilityFilter, draw: Draw, rng: np.random.Generator,
              measure: Measure | None = None, samples: int | None = None) -> SpaceFit | None:
    """Samples each sub-space of `space` and chooses the one whose fitting models have the most MACs.

    Args:
        space: The search space's hyperparameters.
        feasibility: The search's `FeasibilityFilter` (its limits and predictor).
        draw: Draws a point inside a sub-space (see `Draw`).
        rng: Source of randomness (the search's seed).
        measure: Measures a point on the real runtime; `CALIBRATION_SAMPLES`
            points spread over the sub-spaces calibrate the predictor first.
        samples: Points per sub-space (default: `samples_per_subspace`).

    Returns:
        The `SpaceFit`, or `None` when the space has no sub-spaces.
    """
    start = time.perf_counter()
    options = subspaces(space)
    if not options:
        return None
    samples = samples or samples_per_subspace(len(options))
    drawn = [[draw(rng, allowed) for _ in range(samples)] for allowed in options]
    features = [[feasibility.features(values) for values in points] for points in drawn]
    calibrated = 0
    if measure is not None:
        # The sample nearest the limits in sub-spaces spread from the first to the last.
        for index in np.unique(np.linspace(0, len(options) - 1, CALIBRATION_SAMPLES).round().astype(int)):
            ratios = [abs(feasibility.ratio(f) - 1.0) for f in features[index]]
            nearest = int(np.argmin(ratios))
            measured = measure(drawn[index][nearest])
            if measured is not None:
                feasibility.observe(features[index][nearest], measured)
                calibrated += 1
    found = []
    for allowed, points in zip(options, features):
        fitting = [f["macs"] for f in points if feasibility.ratio(f) <= 1.0]
        found.append(SubSpace(allowed, len(points), len(fitting) / len(points),
                              float(np.median(fitting)) if fitting else None))
    needed = max(2, math.ceil(MIN_FEASIBLE * samples / SAMPLES_PER_SUBSPACE))
    eligible = [i for i, s in enumerate(found) if round(s.feasible_share * s.samples) >= needed]
    chosen = max(eligible, key=lambda i: found[i].median_macs) if eligible else None
    return SpaceFit(tuple(found), chosen, time.perf_counter() - start, calibrated)
