"""`SuperNet`: one network holding every architecture of a `OneShotSpace`, with shared weights.

Layout. Every stage position holds two candidate ops with their own weights
("per-choice" weights for the block type): a depthwise-separable block and
an MBConv block, each at the largest kernel size, expansion and width. The
other choices share weights by slicing (Once-for-All's elastic kernel,
expansion and width): a smaller kernel is the centre of the largest one
(outer taps masked to zero, which with "same" padding is exactly the smaller
convolution), and a channel mask keeps the first `w` channels (or the first
`expansion * w` hidden channels), so a narrow subnet uses the leading slice
of the wide one's weights. In softmax mode the masks are mixed (FBNetV2). Depth is a choice of which position's
output leaves the stage. The stem, the positions' ops and the head mirror the
layers `OneShotSpace.build` makes for a stand-alone subnet (same blocks, ReLU,
batch norm, residuals of stride-1 MBConv blocks of equal width).

What the network computes is set by one probability vector per choice point
(`OneShotSpace.choice_points`), in one of three modes:

- `"fixed"`: one-hot vectors held in variables (`set_architecture`): the
  network computes exactly that subnet, with inherited weights;
- `"sample"`: a fresh uniformly random one-hot subnet is drawn on every call
  (single-path one-shot training, SPOS, Guo et al. 2020);
- `"softmax"`: the softmax of trainable architecture logits (`alphas`),
  mixing every choice (DARTS, Liu et al. 2019; FBNet-style channel masks).

`expected_cost` gives, for the current probabilities, the expected MACs and
weight bytes of the int8 subnet, differentiable in the logits, so a DARTS
loss can be made latency- and size-aware (FBNet, ProxylessNAS).

The supernet is a subclassed Keras model used only inside a search; what is
exported is always the stand-alone subnet `OneShotSpace.build` makes.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops as K

from . import ops
from .oneshot_space import OneShotSpace

MODES = ("fixed", "sample", "softmax")


def _softmax(logits):
    """Softmax of a choice's logits (a fixed choice, one option, has probability 1)."""
    return K.ones((1,)) if logits.shape[0] == 1 else K.softmax(logits)


class _ElasticDepthwise(keras.layers.Layer):
    """A depthwise convolution at the largest kernel size; smaller kernels are its centre.

    With "same" padding, a kernel whose outer taps are zero computes exactly
    what the smaller centred kernel computes (stride 1 or 2), so one weight
    tensor serves every kernel size (Once-for-All's elastic kernel, without
    its transformation matrices).
    """

    def __init__(self, rank, max_kernel, strides, **kwargs):
        super().__init__(**kwargs)
        self.rank, self.max_kernel, self.strides = rank, max_kernel, strides

    def build(self, input_shape):
        shape = (self.max_kernel,) * self.rank + (input_shape[-1], 1)
        self.kernel = self.add_weight(shape=shape, initializer=ops.depthwise_initializer(), name="kernel")

    def call(self, x, tap_mask):
        return K.depthwise_conv(x, self.kernel * tap_mask, strides=self.strides, padding="same")


class _DepthwiseSeparableOp(keras.layers.Layer):
    """Depthwise conv - BN - ReLU - pointwise conv - BN - ReLU, elastic in kernel and widths."""

    def __init__(self, rank, max_kernel, strides, out_channels, **kwargs):
        super().__init__(**kwargs)
        self.depthwise = _ElasticDepthwise(rank, max_kernel, strides, name="dw_conv")
        self.depthwise_bn = ops.batch_norm_layer(name="dw_bn")
        self.pointwise = ops.conv_layer(rank, out_channels, 1, name="pw_conv")
        self.pointwise_bn = ops.batch_norm_layer(name="pw_bn")

    def call(self, x, tap_mask, in_mask, training=False):
        h = K.relu(self.depthwise_bn(self.depthwise(x, tap_mask), training=training)) * in_mask
        return K.relu(self.pointwise_bn(self.pointwise(h), training=training))


class _MBConvOp(keras.layers.Layer):
    """Expand - BN - ReLU - depthwise - BN - ReLU - project - BN, elastic in kernel, expansion, widths."""

    def __init__(self, rank, max_kernel, strides, max_expansion, in_channels, out_channels, **kwargs):
        super().__init__(**kwargs)
        self.expand = ops.conv_layer(rank, max_expansion * in_channels, 1, name="expand_conv")
        self.expand_bn = ops.batch_norm_layer(name="expand_bn")
        self.depthwise = _ElasticDepthwise(rank, max_kernel, strides, name="dw_conv")
        self.depthwise_bn = ops.batch_norm_layer(name="dw_bn")
        self.project = ops.conv_layer(rank, out_channels, 1, name="project_conv")
        self.project_bn = ops.batch_norm_layer(name="project_bn")

    def call(self, x, tap_mask, hidden_mask, training=False):
        h = K.relu(self.expand_bn(self.expand(x), training=training)) * hidden_mask
        h = K.relu(self.depthwise_bn(self.depthwise(h, tap_mask), training=training)) * hidden_mask
        return self.project_bn(self.project(h), training=training)


class SuperNet(keras.Model):
    """The weight-sharing supernet of a `OneShotSpace` (see the module docstring).

    Args:
        space: The `OneShotSpace` whose architectures the supernet holds.
        input_shape: Shape of one sample, without the batch axis.
        num_classes: Number of classes of the softmax output.
        mean: Optional per-channel input mean (normalization as in the candidates).
        variance: Optional per-channel input variance.
        dropout: Dropout rate before the classifier (as the candidates' head).
        seed: Seed of the path sampling in `"sample"` mode.

    Example:

    ```python
    space = OneShotSpace()
    net = SuperNet(space, (40, 1), 10)
    net.set_architecture(space.sample(np.random.default_rng(0), rank=1))
    probs = net(np.zeros((2, 40, 1), "float32"))  # that subnet's predictions
    ```
    """

    def __init__(self, space: OneShotSpace, input_shape: tuple, num_classes: int,
                 mean=None, variance=None, dropout: float = 0.1, seed: int = 0):
        super().__init__(name="supernet")
        self.space = space
        self.sample_shape = tuple(input_shape)
        self.rank = len(self.sample_shape) - 1
        if self.rank not in (1, 2):
            raise ValueError(
                f"A supernet takes 1D (steps, channels) or 2D (height, width, channels) samples, "
                f"got shape {self.sample_shape}."
            )
        self.num_classes = int(num_classes)
        self.points = space.choice_points(self.rank)
        self.point_names = [p.name for p in self.points]
        self.stage_options = space.stage_ops(self.rank)
        self.mode = "fixed"
        self._seed = keras.random.SeedGenerator(seed)
        self._fixed = [
            self.add_weight(shape=(len(p),), initializer="zeros", trainable=False,
                            name=f"fixed_{p.name.replace('/', '_')}")
            for p in self.points
        ]
        self.alphas = [
            self.add_weight(shape=(len(p),), initializer="zeros", trainable=True,
                            name=f"alpha_{p.name.replace('/', '_')}")
            for p in self.points
        ]
        self.normalization = (
            keras.layers.Normalization(mean=mean, variance=variance, name="normalization")
            if mean is not None else None
        )
        if self.normalization is not None:
            # Built eagerly: its constants must not be created inside a traced graph.
            self.normalization.build((None, *self.sample_shape))
        rank = self.rank
        self.stem_conv = ops.conv_layer(rank, max(space.stem_filters), space.stem_kernel(rank), name="stem_conv")
        self.stem_bn = ops.batch_norm_layer(name="stem_bn")
        self.spatial = [self._spatial_size(0)]  # spatial elements before each stage, then after the last
        self.candidates = []  # [stage][position] -> (depthwise-separable op, MBConv op)
        in_channels = max(space.stem_filters)
        out_channels = max(space.filters)
        max_kernel = max(space.kernels(rank))
        for s in range(len(space.strides)):
            stage = []
            for j in range(max(space.depths)):
                strides = self._stride(s) if j == 0 else 1
                name = f"stage_{s + 1}_{j}"
                stage.append((
                    _DepthwiseSeparableOp(rank, max_kernel, strides, out_channels, name=f"{name}_ds"),
                    _MBConvOp(rank, max_kernel, strides, max(space.expansions),
                              in_channels, out_channels, name=f"{name}_mbconv"),
                ))
                in_channels = out_channels
            self.candidates.append(stage)
            self.spatial.append(self._spatial_size(s + 1))
        self.pool = (keras.layers.GlobalAveragePooling1D if rank == 1 else keras.layers.GlobalAveragePooling2D)(name="pool")
        self.dropout = keras.layers.Dropout(dropout, name="dropout")
        self.classifier = keras.layers.Dense(self.num_classes, activation="softmax", name="predictions")
        self(np.zeros((1, *self.sample_shape), "float32"))  # builds every layer

    # -- geometry ---------------------------------------------------------------------------

    def _dims_after(self, stages: int) -> list[int]:
        dims = list(self.sample_shape[:-1])
        for s in range(stages):
            dims = [d if d == 1 else math.ceil(d / self.space.strides[s]) for d in dims]
        return dims

    def _stride(self, stage: int):
        """The stage's stride as `ops.effective_strides` gives it for the stand-alone subnet."""
        dims = self._dims_after(stage)
        per_dim = tuple(1 if d == 1 else self.space.strides[stage] for d in dims)
        return per_dim[0] if all(s == per_dim[0] for s in per_dim) else per_dim

    def _spatial_size(self, stages: int) -> int:
        return int(np.prod(self._dims_after(stages)))

    # -- architecture -----------------------------------------------------------------------

    def set_architecture(self, indices: dict[str, int]) -> None:
        """Makes the network compute one subnet (mode `"fixed"`).

        Args:
            indices: `{choice point name: option index}`, e.g. from
                `OneShotSpace.encode` or `OneShotSpace.sample`.
        """
        missing = [name for name in self.point_names if name not in indices]
        if missing:
            raise ValueError(f"No option given for the choice points {missing}.")
        for point, variable in zip(self.points, self._fixed):
            index = int(indices[point.name])
            if not 0 <= index < len(point):
                raise ValueError(f"Option {index} of {point.name!r} is out of range ({len(point)} options).")
            variable.assign(np.eye(len(point), dtype="float32")[index])
        self.mode = "fixed"

    def probabilities(self) -> dict:
        """The probability vector of every choice point under the current mode."""
        if self.mode not in MODES:
            raise ValueError(f"Unknown supernet mode {self.mode!r}; expected one of {MODES}.")
        if self.mode == "fixed":
            vectors = list(self._fixed)
        elif self.mode == "softmax":
            vectors = [_softmax(alpha) for alpha in self.alphas]
        else:
            vectors = [
                K.one_hot(keras.random.randint((), 0, len(p), seed=self._seed), len(p))
                for p in self.points
            ]
        return dict(zip(self.point_names, vectors))

    def architecture_distribution(self) -> dict[str, np.ndarray]:
        """The softmax of the architecture logits, as numpy arrays per choice point."""
        return {p.name: np.asarray(K.convert_to_numpy(_softmax(a))) for p, a in zip(self.points, self.alphas)}

    def network_weights(self) -> list:
        """The trainable weights other than the architecture logits."""
        alpha_ids = {id(a) for a in self.alphas}
        return [w for w in self.trainable_weights if id(w) not in alpha_ids]

    # -- forward ----------------------------------------------------------------------------

    @staticmethod
    def _mask(probs, widths, size):
        table = np.array([[1.0 if i < w else 0.0 for i in range(size)] for w in widths], "float32")
        return K.matmul(K.reshape(probs, (1, -1)), table)[0]

    @staticmethod
    def _same_width(p_in, in_widths, p_out, out_widths):
        """Probability that input and output widths are equal (independent choices)."""
        total = 0.0
        for a, w in enumerate(in_widths):
            if w in out_widths:
                total = total + p_in[a] * p_out[out_widths.index(w)]
        return total

    @staticmethod
    def _match_channels(x, channels):
        have = x.shape[-1]
        if have == channels:
            return x
        if have > channels:
            return x[..., :channels]
        pad = [[0, 0]] * (len(x.shape) - 1) + [[0, channels - have]]
        return K.pad(x, pad)

    def _tap_mask(self, probs_by_kernel: dict):
        """Mixture of centred kernel masks (`{kernel size: probability}`), shaped like a depthwise kernel."""
        size = max(self.space.kernels(self.rank))
        total = 0.0
        for k, prob in probs_by_kernel.items():
            taps = np.zeros(size, "float32")
            taps[(size - k) // 2:(size + k) // 2] = 1.0
            if self.rank == 2:
                taps = np.outer(taps, taps)
            total = total + prob * taps
        return K.reshape(total, (size,) * self.rank + (1, 1))

    def _op_masks(self, op_p, h_probs, h_widths, in_size):
        """Per block type: its probability, tap mask and (MBConv) hidden mask, from the joint op choice."""
        result = {}
        for block_type in ("ds", "mbconv"):
            members = [(o, opt) for o, opt in enumerate(self.stage_options) if opt["block_type"] == block_type]
            total = sum(op_p[o] for o, _ in members)
            denominator = total + 1e-9
            by_kernel, hidden = {}, 0.0
            for o, option in members:
                share = op_p[o] / denominator
                by_kernel[option["kernel_size"]] = by_kernel.get(option["kernel_size"], 0.0) + share
                if block_type == "mbconv":
                    e = option["expansion"]
                    hidden = hidden + share * self._mask(
                        h_probs, [e * w for w in h_widths], max(self.space.expansions) * in_size)
            result[block_type] = (total, self._tap_mask(by_kernel), hidden)
        return result

    def call(self, inputs, training=False):
        p = self.probabilities()
        space = self.space
        x = self.normalization(inputs) if self.normalization is not None else inputs
        x = K.relu(self.stem_bn(self.stem_conv(x), training=training))
        in_probs, in_widths = p["stem/filters"], list(space.stem_filters)
        x = x * self._mask(in_probs, in_widths, max(in_widths))
        out_widths, out_max = list(space.filters), max(space.filters)
        for s, stage in enumerate(self.candidates):
            op_p, width_p, depth_p = (p[f"stage_{s + 1}/{key}"] for key in ("op", "filters", "depth"))
            out_mask = self._mask(width_p, out_widths, out_max)
            h, h_probs, h_widths = x, in_probs, in_widths
            outputs = []
            for j, (ds_op, mb_op) in enumerate(stage):
                in_mask = self._mask(h_probs, h_widths, h.shape[-1])
                masks = self._op_masks(op_p, h_probs, h_widths, h.shape[-1])
                ds_p, ds_taps, _ = masks["ds"]
                mb_p, mb_taps, hidden_mask = masks["mbconv"]
                y = ds_p * ds_op(h, ds_taps, in_mask, training=training)
                mb = mb_op(h, mb_taps, hidden_mask, training=training)
                if j > 0 or self._stride(s) == 1:  # residual where the widths match
                    same = 1.0 if j > 0 else self._same_width(h_probs, h_widths, width_p, out_widths)
                    mb = mb + same * self._match_channels(h * in_mask, out_max)
                y = (y + mb_p * mb) * out_mask
                outputs.append(y)
                h, h_probs, h_widths = y, width_p, out_widths
            x = 0.0
            for i, depth in enumerate(space.depths):
                x = x + depth_p[i] * outputs[depth - 1]
            in_probs, in_widths = width_p, out_widths
        x = self.dropout(self.pool(x), training=training)
        return self.classifier(x)

    # -- expected cost ----------------------------------------------------------------------

    def expected_cost(self, probabilities: dict | None = None) -> dict:
        """Expected MACs, weight bytes and blocks of the int8 subnet under `probabilities`.

        Counts the convolutions and the classifier as the stand-alone subnet
        has them (MACs per sample; weight bytes = int8 weights + int32 biases of
        the batch-norm-folded layers). With one-hot probabilities the figures
        are exact for that subnet; with softmax ones they are expectations over
        independent choices, differentiable in the architecture logits.

        Args:
            probabilities: `{choice point: vector}`; defaults to `probabilities()`.

        Returns:
            `{"macs": ..., "weight_bytes": ..., "blocks": ...}` as scalar tensors.
        """
        p = probabilities if probabilities is not None else self.probabilities()
        p = {name: K.convert_to_tensor(v, "float32") for name, v in p.items()}
        space, rank = self.space, self.rank

        def moments(probs, widths):
            w = np.array(widths, "float32")
            return K.sum(probs * w), K.sum(probs * w * w)

        channels_in = self.sample_shape[-1]
        stem_k = space.stem_kernel(rank) ** rank
        c1, _ = moments(p["stem/filters"], space.stem_filters)
        macs = self.spatial[0] * stem_k * channels_in * c1
        weights = stem_k * channels_in * c1 + 4 * c1
        blocks = 0.0
        in_mean, in_square = c1, None
        in_probs, in_widths = p["stem/filters"], space.stem_filters
        for s in range(len(space.strides)):
            op_p, width_p, depth_p = (p[f"stage_{s + 1}/{key}"] for key in ("op", "filters", "depth"))
            out_mean, out_square = moments(width_p, space.filters)
            in_mean, in_square = moments(in_probs, in_widths)
            for j in range(max(space.depths)):
                active = sum(depth_p[i] for i, d in enumerate(space.depths) if d > j)
                l_in = self.spatial[s] if j == 0 else self.spatial[s + 1]
                l_out = self.spatial[s + 1]
                if j == 0:
                    ci, ci2, cio = in_mean, in_square, in_mean * out_mean
                else:
                    ci, ci2, cio = out_mean, out_square, out_square
                for o, option in enumerate(self.stage_options):
                    k = option["kernel_size"] ** rank
                    if option["block_type"] == "ds":
                        op_macs = l_out * k * ci + l_out * cio
                        op_weights = k * ci + 4 * ci + cio + 4 * out_mean
                    else:
                        e = option["expansion"]
                        op_macs = l_in * e * ci2 + l_out * k * e * ci + l_out * e * cio
                        op_weights = e * ci2 + 4 * e * ci + k * e * ci + 4 * e * ci + e * cio + 4 * out_mean
                    macs = macs + active * op_p[o] * op_macs
                    weights = weights + active * op_p[o] * op_weights
                blocks = blocks + active
            in_probs, in_widths = width_p, space.filters
        last_mean, _ = moments(in_probs, in_widths)
        macs = macs + last_mean * self.num_classes
        weights = weights + last_mean * self.num_classes + 4 * self.num_classes
        return {"macs": macs, "weight_bytes": weights, "blocks": blocks}
