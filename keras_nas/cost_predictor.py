"""Predict a candidate's int8 flash and TFLite Micro arena from its Keras graph, before converting it.

A conversion plus a TFLite Micro run costs about a second; under a tight budget
most proposals of a space are over the limits, and measuring each of them is
most of the search time. The Keras graph already fixes what the int8 model
stores and allocates:

- flash: one byte per weight of every conv/dense kernel, an int32 bias and
  per-channel quantization parameters per output channel, and a per-operator
  and per-tensor overhead of the flatbuffer;
- arena: the int8 activations that are alive at the same time (TFLite Micro
  plans the arena so that tensors whose lifetimes do not overlap share
  memory), plus per-operator and per-channel bookkeeping.

`graph_features` counts these exactly on the Keras graph (batch norm and ReLU
fold into the layer before them, as the converter does), and `CostPredictor`
maps them to KB with a linear model whose coefficients were fitted on measured
candidates (`PRIOR_FLASH`, `PRIOR_ARENA`) and are re-fitted online on every
candidate the search measures. The prediction only decides what is worth
converting: the accept/reject decision stays on the measured int8 model.

A model on raw audio (`keras_nas.tflite.front_end_layer.FrontEndLayer` first)
is counted as what ships: the network after the front-end is counted as
above, and the front-end's own file and arena, measured once per front-end
on TFLite Micro (the layer's `board_cost()`), are added as they are.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass

import keras
import numpy as np

# Layers that leave no tensor of their own in the int8 model: the converter folds
# batch norm into the conv before it and ReLU/ReLU6 into the op before it; dropout
# and the input layer vanish.
_FOLDED = ("BatchNormalization", "Dropout", "InputLayer", "ReLU")
_FOLDED_ACTIVATIONS = ("relu", "relu6", "linear")
_WEIGHTED = ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "Dense")
# 1D layers the converter runs as 2D kernels between EXPAND_DIMS and RESHAPE.
_WRAPPED_1D = ("Conv1D", "DepthwiseConv1D", "MaxPooling1D", "AveragePooling1D")
# Operators counted by kind: each kind keeps its own data in the arena (a conv its
# per-channel multipliers, a pool almost nothing) and its own options in the file.
OP_KINDS = {
    "conv_ops": ("Conv1D", "Conv2D"),
    "depthwise_ops": ("DepthwiseConv1D", "DepthwiseConv2D"),
    "dense_ops": ("Dense",),
    "pool_ops": ("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D"),
    "global_pool_ops": (
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    ),
}

# Proposals whose graph features are remembered (a strategy often proposes one again).
FEATURE_CACHE_SIZE = 4096

# Coefficients of (1, weight_bytes, channels, ops, *OP_KINDS) -> flash bytes and of
# (1, activation_bytes, ops, channels, *OP_KINDS) -> arena bytes, fitted by least
# squares on 80 random candidates of the default space (digits 8x8x1 and MNIST-1D
# 40x1), measured as int8 TFLite / TFLite Micro (`benchmarks/bench_cost_predictor.py`).
PRIOR_FLASH = (1369.59, 1, 29.03, 180.63, 104.14, 136.79, -68.63, -13.12, 43.86)
PRIOR_ARENA = (1211.77, 0.99, 118, 8.58, 127.48, 102.41, -88.55, -20.47, 15.34)


def _is_folded(layer) -> bool:
    name = type(layer).__name__
    if name in _FOLDED:
        return True
    if name == "Activation":
        activation = getattr(layer.activation, "__name__", str(layer.activation))
        return activation in _FOLDED_ACTIVATIONS
    return False


def _split_pipeline(model: keras.Model) -> tuple[dict, keras.Model]:
    """The cost of a first stage that ships as its own file, and the network after it.

    A layer that runs before the network in a file of its own (the audio
    front-end's `FrontEndLayer`) says so with a `board_cost()` method giving
    its measured bytes (`front_end_flash_bytes`, `front_end_arena_bytes`).
    Without one: `({}, model)`.
    """
    stages = [layer for layer in model.layers if callable(getattr(layer, "board_cost", None))]
    if not stages:
        return {}, model
    return stages[0].board_cost(), keras.Model(stages[0].output, model.outputs)


def _node_key(layer, index: int) -> str:
    """How a Keras functional model names its nodes in `model._nodes` (`keras.src.ops.function.make_node_key`)."""
    return f"{id(layer)}_ib-{index}"


def _elements(shape) -> int:
    return int(math.prod(int(d) for d in shape[1:] if d is not None))


def graph_features(model: keras.Model) -> dict[str, int]:
    """What the int8 conversion of `model` will store and allocate, counted on its Keras graph.

    Args:
        model: A built Keras functional model.

    Returns:
        `weight_bytes` (int8 kernel weights), `channels` (output channels of
        weighted layers: one int32 bias and per-channel scales each), `ops`
        (layers that become an int8 operator), `activation_bytes` (the
        largest total of int8 activations alive at once, walking the graph in
        order), `macs` (multiply-accumulates of the weighted layers per
        inference: the capacity measure of MCUNet's space fitting) and the
        operators of each kind of `OP_KINDS` (`conv_ops`, ...). For a model on
        raw audio, those of the network after its front-end, and the
        front-end's `front_end_flash_bytes` and `front_end_arena_bytes`.

    Example:

    ```python
    features = graph_features(model)
    features["activation_bytes"]  # e.g. 2048 for conv 8 -> pool -> conv 16 on 8x8
    ```
    """
    fixed, model = _split_pipeline(model)
    weight_bytes = channels = ops = macs = 0
    kinds = dict.fromkeys(OP_KINDS, 0)
    alias: dict = {}  # tensor id -> id of the int8 tensor that holds it
    sizes: dict = {}
    last_use: dict = {}
    steps = []
    # A layer also keeps the nodes of other models built on it (the network split off a front-end is
    # one): only this model's count.
    own = getattr(model, "_nodes", None)
    for layer in model.layers:
        for index, node in enumerate(layer._inbound_nodes):
            if own is not None and _node_key(layer, index) not in own:
                continue
            inputs = [alias.get(id(t), id(t)) for t in node.input_tensors]
            outputs = node.output_tensors
            if _is_folded(layer) and len(inputs) == 1:
                for t in outputs:
                    alias[id(t)] = inputs[0]
                continue
            for kind, names in OP_KINDS.items():
                kinds[kind] += type(layer).__name__ in names
            if type(layer).__name__ in _WEIGHTED:
                kernel = layer.kernel if hasattr(layer, "kernel") else layer.depthwise_kernel
                weight_bytes += int(np.prod(kernel.shape))
                channels += int(outputs[0].shape[-1])
                # Each output position multiplies the whole kernel slice of its channel.
                positions = _elements(outputs[0].shape) // max(int(outputs[0].shape[-1]), 1)
                macs += positions * int(np.prod(kernel.shape))
            for t in outputs:
                sizes[id(t)] = _elements(t.shape)
            if type(layer).__name__ in _WRAPPED_1D:
                # Converted as EXPAND_DIMS -> the 2D op -> RESHAPE: two more int8
                # tensors, each alive beside its neighbour.
                expanded, result = (len(steps), "expanded"), (len(steps), "result")
                sizes[expanded] = sum(sizes.get(t, 0) for t in inputs)
                sizes[result] = _elements(outputs[0].shape)
                chain = [(inputs, [expanded]), ([expanded], [result]), ([result], [id(t) for t in outputs])]
            else:
                chain = [(inputs, [id(t) for t in outputs])]
            for step_inputs, step_outputs in chain:
                ops += 1
                for t in step_inputs:
                    last_use[t] = len(steps)
                steps.append((step_inputs, step_outputs))
    for t in model.inputs:
        sizes.setdefault(id(t), _elements(t.shape))
    for t in model.outputs:
        last_use[alias.get(id(t), id(t))] = len(steps)
    live = {id(t) for t in model.inputs}
    peak = sum(sizes.get(t, 0) for t in live)
    for step, (inputs, outputs) in enumerate(steps):
        live.update(outputs)
        peak = max(peak, sum(sizes.get(t, 0) for t in live))
        live = {t for t in live if last_use.get(t, -1) > step}
    return {
        "weight_bytes": weight_bytes,
        "channels": channels,
        "ops": ops,
        "activation_bytes": int(peak),
        "macs": int(macs),
        **kinds,
        **fixed,
    }


def has_all_features(features: dict) -> bool:
    """Whether `features` were counted by this version of `graph_features` (older searches lack the op kinds)."""
    return all(key in features for key in ("weight_bytes", "channels", "ops", "activation_bytes", *OP_KINDS))


def _flash_row(f: dict) -> list[float]:
    return [1.0, f["weight_bytes"], f["channels"], f["ops"], *(f[k] for k in OP_KINDS)]


def _arena_row(f: dict) -> list[float]:
    return [1.0, f["activation_bytes"], f["ops"], f["channels"], *(f[k] for k in OP_KINDS)]


def _front_end_kb(features: dict) -> dict[str, float]:
    """The audio front-end's measured flash and arena in a candidate's features, KB (0 without one)."""
    return {"flash_kb": features.get("front_end_flash_bytes", 0) / 1024,
            "peak_ram_kb": features.get("front_end_arena_bytes", 0) / 1024}


@dataclass(frozen=True)
class PredictedCost:
    """Predicted int8 flash and TFLite Micro arena of a candidate, in KB."""

    flash_kb: float
    peak_ram_kb: float

    def to_dict(self) -> dict[str, float]:
        return {"flash_kb": self.flash_kb, "peak_ram_kb": self.peak_ram_kb}


class CostPredictor:
    """Predicts flash and arena from `graph_features`, calibrated on measured candidates.

    Starts from coefficients fitted offline (`PRIOR_FLASH`, `PRIOR_ARENA`); once
    `min_samples` candidates were measured, each prediction uses a least-squares
    fit on them, regularized towards the prior, so the model follows the data
    set's input shape and the converter version at hand.

    Args:
        min_samples: Measured candidates needed before the online fit is used.
        ridge: Strength of the pull towards the prior coefficients.

    Example:

    ```python
    predictor = CostPredictor()
    features = graph_features(model)
    predictor.predict(features).flash_kb
    predictor.observe(features, {"flash_kb": 9.1, "peak_ram_kb": 3.2})
    ```
    """

    def __init__(self, min_samples: int = 4, ridge: float = 1.0):
        self.min_samples = int(min_samples)
        self.ridge = float(ridge)
        self.samples: list[tuple[dict, dict]] = []
        self._coefficients = (np.array(PRIOR_FLASH), np.array(PRIOR_ARENA))

    def observe(self, features: dict, measured: dict) -> None:
        """Adds a measured candidate (`measured` has `flash_kb` and `peak_ram_kb`) and re-fits."""
        network = {k: float(measured[k]) - fixed for k, fixed in _front_end_kb(features).items()}
        self.samples.append((dict(features), network))
        if len(self.samples) >= self.min_samples:
            self._coefficients = (
                self._fit(_flash_row, "flash_kb", np.array(PRIOR_FLASH)),
                self._fit(_arena_row, "peak_ram_kb", np.array(PRIOR_ARENA)),
            )

    def _fit(self, row, key: str, prior: np.ndarray) -> np.ndarray:
        # Relative least squares (every candidate counts alike whatever its size),
        # with a ridge pull towards the prior scaled to the rows' magnitude.
        x = np.array([row(f) for f, _ in self.samples], dtype="float64")
        y = np.array([m[key] * 1024 for _, m in self.samples], dtype="float64")
        w = 1.0 / np.maximum(y, 1.0)
        scale = np.maximum(np.abs(x * w[:, None]).max(axis=0), 1e-12)
        a = np.vstack([x * w[:, None], self.ridge * np.diag(scale)])
        b = np.concatenate([y * w, self.ridge * scale * prior])
        return np.linalg.lstsq(a, b, rcond=None)[0]

    def predict(self, features: dict) -> PredictedCost:
        """The predicted cost of a candidate with these `graph_features`."""
        flash, arena = self._coefficients
        front_end = _front_end_kb(features)
        return PredictedCost(
            flash_kb=max(0.0, float(np.dot(flash, _flash_row(features)))) / 1024 + front_end["flash_kb"],
            peak_ram_kb=max(0.0, float(np.dot(arena, _arena_row(features)))) / 1024 + front_end["peak_ram_kb"],
        )


@contextlib.contextmanager
def _without_variables():
    """Builds a model's graph without its TensorFlow variables (about 1.5-4x faster to build).

    A candidate's features need its layers and shapes only: inside a
    `keras.StatelessScope` Keras defers each variable's creation until it is
    initialized, which this scope never does; the deferred variables Keras
    lists (in its global state) are dropped again, so nothing is kept.
    """
    from keras.src.backend.common import global_state

    pending = list(global_state.get_global_attribute("uninitialized_variables") or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)


class FeasibilityFilter:
    """Says, before any conversion, whether a proposal is predicted to fit the flash and RAM limits.

    The search (`NASOracle`) asks it about every proposal and draws again when
    the prediction is over a limit by more than the margin; the tuner then
    measures the int8 model of what is proposed, which alone decides. Each
    measured candidate calibrates the predictor, and the margin follows how
    far the predictor recently over-estimated a cost (between `min_margin` and
    `max_margin`), so a candidate that may fit is not skipped for a prediction
    error. Under-estimates do not widen it: measuring more candidates predicted
    over a limit would not catch those.

    Args:
        build: `build(values) -> keras.Model`, the hypermodel's build on a set of
            hyperparameter values.
        flash_kb: The flash limit, or `None`.
        peak_ram_kb: The arena limit, or `None`.
        predictor: A `CostPredictor`; a new one by default.
        min_margin: Smallest share over a limit that still gets measured.
        max_margin: The share used until the predictor has been checked.
    """

    def __init__(
        self,
        build,
        flash_kb: float | None,
        peak_ram_kb: float | None,
        predictor: CostPredictor | None = None,
        min_margin: float = 0.02,
        max_margin: float = 0.15,
    ):
        self.build = build
        self.limits = {k: v for k, v in (("flash_kb", flash_kb), ("peak_ram_kb", peak_ram_kb)) if v}
        self.predictor = predictor or CostPredictor()
        self.min_margin, self.max_margin = float(min_margin), float(max_margin)
        # How far predictions made before measuring were over the measured cost (0 when under).
        self.over_estimates: list[float] = []
        self._features: dict[str, dict] = {}

    @property
    def margin(self) -> float:
        """How far over a limit a prediction may be and the candidate still be measured."""
        if len(self.over_estimates) < self.predictor.min_samples:
            return self.max_margin
        recent = self.over_estimates[-20:]
        return float(np.clip(np.percentile(recent, 90) * 1.25, self.min_margin, self.max_margin))

    def features(self, values: dict) -> dict:
        """`graph_features` of the candidate with these hyperparameter values (cached)."""
        key = repr(sorted(values.items()))
        if key not in self._features:
            if len(self._features) >= FEATURE_CACHE_SIZE:
                self._features.pop(next(iter(self._features)))
            with _without_variables():
                self._features[key] = graph_features(self.build(values))
        return self._features[key]

    def ratio(self, features: dict) -> float:
        """The predicted cost over the limit, the worst of flash and arena (1.0: exactly at it)."""
        predicted = self.predictor.predict(features).to_dict()
        return max((predicted[k] / v for k, v in self.limits.items()), default=0.0)

    def fits(self, values: dict) -> tuple[bool, float]:
        """Whether the candidate is worth measuring, and its predicted ratio to the limits."""
        ratio = self.ratio(self.features(values))
        return ratio <= 1.0 + self.margin, ratio

    def observe(self, features: dict, measured: dict) -> None:
        """Records a measured candidate: its prediction error, then a re-fit."""
        predicted = self.predictor.predict(features).to_dict()
        for key in self.limits:
            self.over_estimates.append(max(0.0, predicted[key] - measured[key]) / max(measured[key], 1e-9))
        self.predictor.observe(features, measured)


# Pseudo-count of the pull of a choice's rate of predicted fits towards the overall rate.
TALLY_PRIOR_STRENGTH = 5.0
TALLY_TEMPERATURE = 0.7


class ChoiceTally:
    """Learns which values of each choice lead to proposals predicted to fit, to draw those more often.

    Under a tight budget most random points of a space are over a limit (96 %
    of the default space on digits under 7.4 KB / 3.0 KB), and every one costs a
    Keras graph build to find out. The oracle records each prediction here, and
    draws each choice of a random proposal in proportion to how often its
    values were predicted to fit: an estimate of `P(fits | value)`, pulled
    towards the overall rate by `TALLY_PRIOR_STRENGTH` pseudo-counts, so a value
    seen a few times is not judged on them. Choices that do not change the cost
    (the learning rate) keep about equal weights. Drawing each choice from
    `P(value | fits)` approximates uniform sampling of the feasible region
    (ignoring interactions between choices); the proposals are still checked one
    by one, so this changes what is drawn, never what is accepted.

    Example:

    ```python
    tally = ChoiceTally()
    tally.record({"stage_0/filters": 64}, fits=False)
    tally.record({"stage_0/filters": 8}, fits=True)
    tally.weights("stage_0/filters", [8, 64])  # the first larger
    ```
    """

    def __init__(self):
        self.counts: dict[str, list[int]] = {}  # "name=value" -> [predicted to fit, proposals]
        self.fitted = self.total = 0

    @staticmethod
    def _key(name: str, value) -> str:
        return f"{name}={value!r}"

    def record(self, values: dict, fits: bool) -> None:
        """Counts one proposal that was predicted to fit (`fits`) or not."""
        self.total += 1
        self.fitted += bool(fits)
        for name, value in values.items():
            count = self.counts.setdefault(self._key(name, value), [0, 0])
            count[0] += bool(fits)
            count[1] += 1

    def weights(self, name: str, options: list) -> np.ndarray | None:
        """Probabilities of drawing each of `options` for `name`, or `None` before any proposal fitted."""
        if not self.fitted:
            return None
        rate = self.fitted / self.total
        strength = TALLY_PRIOR_STRENGTH
        fit_rates = []
        for option in options:
            fitted, seen = self.counts.get(self._key(name, option), (0, 0))
            fit_rates.append((fitted + strength * rate) / (seen + strength))
        weights = np.asarray(fit_rates, dtype="float64") ** TALLY_TEMPERATURE
        return weights / weights.sum()

    def to_dict(self) -> dict:
        return {"fitted": self.fitted, "total": self.total, "counts": self.counts}

    @classmethod
    def from_dict(cls, state: dict | None) -> "ChoiceTally":
        tally = cls()
        if state:
            tally.fitted, tally.total = int(state["fitted"]), int(state["total"])
            tally.counts = {k: [int(a), int(b)] for k, (a, b) in state["counts"].items()}
        return tally


# A design scaled to within this share of the limits (predicted) is tried alone; one
# predicted closer to a limit is followed by its next narrower version, in case the
# measurement finds it over (held-out errors of the prediction: benchmarks/RESULTS.md).
SCALE_TARGET = 0.9
# Width multipliers tried when scaling a design to the limits, largest first.
WIDTH_MULTIPLIERS = (4.0, 3.0, 2.0, 1.5, 1.0, 0.75, 0.5, 0.375, 0.25)
# The hyperparameters a design's widths are, by the end of their names: channel
# counts (`ConvSpace`, `KWSSpace`), a width multiplier (`MobileSpace`, the MLPerf Tiny presets)
# or dense units (`MLPSpace`'s `units_0`, ..., `DenseAutoencoder`'s `units`).
WIDTH_NAMES = ("filters", "/width", "/width_multiplier")
UNITS_NAME = re.compile(r"/units(_\d+)?$")


def is_width(name: str) -> bool:
    """Whether a hyperparameter is one of a design's widths (`WIDTH_NAMES`, `UNITS_NAME`)."""
    return name.endswith(WIDTH_NAMES) or UNITS_NAME.search(name) is not None


def width_choices(space) -> dict[str, list]:
    """`{name: sorted allowed values}` of the space's width choices (`is_width`)."""
    return {hp.name: sorted(hp.values) for hp in space if is_width(hp.name) and hasattr(hp, "values")}


def scaled_widths(values: dict, choices: dict[str, list], multiplier: float) -> dict:
    """`values` with every width of `choices` multiplied and snapped down to an allowed value."""
    scaled = dict(values)
    for name, allowed in choices.items():
        if name in scaled:
            target = scaled[name] * multiplier
            scaled[name] = max([w for w in allowed if w <= target + 1e-9] or allowed[:1])
    return scaled


def widened(values: dict, feasibility: FeasibilityFilter, space) -> dict | None:
    """The widest version of `values` predicted within `SCALE_TARGET` of the limits, or None.

    Only multipliers above 1 are tried (`WIDTH_MULTIPLIERS`): the result is
    wider than `values`, or there is none (no wider version is predicted to
    fit, or the space has no wider widths).
    """
    choices = width_choices(space)
    for multiplier in (m for m in WIDTH_MULTIPLIERS if m > 1):
        wider = scaled_widths(values, choices, multiplier)
        if wider != values and feasibility.ratio(feasibility.features(wider)) <= SCALE_TARGET:
            return wider
    return None


def scale_to_fit(designs: list[dict], feasibility: FeasibilityFilter, space) -> list[dict]:
    """Each design at the largest width multiplier worth measuring under the limits.

    Every width choice of a design (`.../filters`, `.../width`,
    `.../width_multiplier`, dense `.../units`) is multiplied and snapped down to the nearest
    value the space allows; the widest version worth measuring is
    kept (predicted within the limits, give or take the predictor's error:
    `FeasibilityFilter.margin`) and, when it is predicted within 10 % of a
    limit or over it, the next narrower one too, so the search starts from
    the expert designs sized for this board: a plain CNN grows on a roomy board and shrinks on a tight
    one. A design predicted over the limits even at its narrowest is left out
    (its depth does not fit the board), and designs that scale to the same
    values are kept once.

    Args:
        designs: Hyperparameter values of the designs.
        feasibility: The search's `FeasibilityFilter`.
        space: The search space's hyperparameters (`keras_tuner.HyperParameters.space`).

    Returns:
        The scaled designs.
    """
    choices = width_choices(space)
    result, seen = [], set()
    for design in designs:
        versions = [scaled_widths(design, choices, m) for m in WIDTH_MULTIPLIERS]
        ratios = [feasibility.ratio(feasibility.features(v)) for v in versions]
        # As for any proposal: worth measuring up to the predictor's error over a limit.
        fitting = [i for i, ratio in enumerate(ratios) if ratio <= 1.0 + feasibility.margin]
        if not fitting:
            continue
        chosen = [versions[fitting[0]]]
        if ratios[fitting[0]] > SCALE_TARGET and len(fitting) > 1:
            chosen.append(versions[fitting[1]])  # in case the measurement says it is over
        for values in chosen:
            key = repr(sorted(values.items()))
            if key not in seen:
                seen.add(key)
                result.append(values)
    return result


def smallest_point(space, feasibility: FeasibilityFilter) -> dict:
    """The point of the space predicted to be the smallest, by one greedy pass over its choices.

    Starting from every choice's default, each active hyperparameter in turn
    takes the value whose candidate is predicted smallest relative to the
    limits (choices made active by a change take their defaults). Used to tell
    an impossible budget from a search that has not found the feasible region.

    Args:
        space: The search space's hyperparameters, in declaration order.
        feasibility: The search's `FeasibilityFilter`.

    Returns:
        Hyperparameter values of the smallest point found.
    """
    from keras_nas.blocks.introspect import allowed_values

    def complete(values: dict) -> dict:
        done = {}
        for hp in space:
            if all(c.is_active(done) for c in hp.conditions):
                done[hp.name] = values.get(hp.name, hp.default)
        return done

    values = complete({})
    for hp in space:
        if hp.name not in values:
            continue
        options = allowed_values(hp) or []
        if len(options) < 2:
            continue
        trials = [complete({**values, hp.name: option}) for option in options]
        values = min(trials, key=lambda v: feasibility.ratio(feasibility.features(v)))
    return values
