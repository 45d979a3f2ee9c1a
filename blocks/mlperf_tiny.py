"""The MLPerf Tiny tasks as presets: each reference model is a point and the first design.

MLPerf Tiny (Banbury et al., 2021; github.com/mlcommons/tiny,
`benchmark/training/`) fixes one reference model per task. Each preset here is
a search space around its task's reference, over what an engineer changes to
fit it to a smaller board (widths down to a few channels, fewer blocks or
stages, kernels, strides, input resolution), and its
`initial_architectures(input_shape)` is the reference itself, so a search
starts from it:

| `space=` | reference | input | classes |
| --- | --- | --- | --- |
| `"mlperf-kws"` | DS-CNN (keyword spotting) | 49x10x1 MFCC | 12 |
| `"mlperf-vww"` | MobileNetV1, width 0.25 (visual wake words) | 96x96x3 | 2 |
| `"mlperf-ic"` | ResNet-8 (CIFAR-10 image classification) | 32x32x3 | 10 |
| `"mlperf-ad"` | dense autoencoder (anomaly detection, `task="anomaly"`) | 640 features | - |

Each preset builds its layers as its reference does (`ops.layer_conventions`):
a bias in every convolution, even before a batch norm (the converter folds
both into one bias: the int8 model is the same as without it), and, for
ResNet-8, projection shortcuts without a batch norm. So a reference built here
has the published parameter count (`tests/test_expert_designs.py`).
"""

from __future__ import annotations

from . import ops
from .autoencoder import DenseAutoencoder
from .presets import KWS_DS_CNN, KWSSpace
from .scaled_net import ScaledNetSpace

KWS_WIDTHS = [4, 8, 12, 16, 24, 32, 48, 64]
# MobileNetV1's widths at multiplier 1; the VWW reference runs at 0.25.
MOBILENET_V1_STEM = 32
MOBILENET_V1_STAGES = dict(
    stage_filters=(64, 128, 256, 512, 1024), stage_depths=(1, 2, 2, 6, 2), stage_strides=(1, 2, 2, 2, 2)
)
VWW_WIDTH_MULTIPLIERS = [0.0625, 0.125, 0.1875, 0.25]
VWW_RESOLUTION_SCALES = (0.5, 2 / 3, 5 / 6, 1.0)  # 96x96 -> 48, 64, 80, 96
IC_WIDTH_MULTIPLIERS = [0.25, 0.5, 0.75, 1.0]


def _scoped(name: str, values: dict) -> dict:
    return {f"{name}/{key}": value for key, value in values.items()}


class _BuiltAsPublished:
    """Builds the space under its reference's `ops.LayerConventions` (`reference_conventions`)."""

    reference_conventions = {"conv_bias": True}

    def build(self, hp, inputs):
        with ops.layer_conventions(**self.reference_conventions):
            return super().build(hp, inputs)


class MLPerfKWSSpace(_BuiltAsPublished, KWSSpace):
    """MLPerf Tiny keyword spotting: the DS-CNN reference and the `KWSSpace` around it.

    The reference (`keyword_spotting/keras_model.py`, `ds_cnn`): a 10x4 conv
    with 64 filters and stride 2 in time and frequency, four
    depthwise-separable layers of 64 (3x3), average pooling, 12 classes, on
    49 frames x 10 MFCC. Every convolution has a bias, as in the reference.

    Declared hyperparameters (block name `"mlperf_kws"`): `mlperf_kws/width`
    `[4, 8, 12, 16, 24, 32, 48, 64]`, `num_layers` `[1, 2, 3, 4]`,
    `stem_kernel` `[3, 5, 10]`, `stem_strides` `[1, 2]` (time),
    `freq_strides` `[1, 2]`, `kernel_size` `[3, 5]`; activation ReLU.

    Args:
        name: Block name.

    Example:

    ```python
    hypermodel = NASHyperModel(MLPerfKWSSpace.reference_input_shape, 12, space="mlperf-kws")
    reference = hypermodel.initial_architectures()[0]
    ```
    """

    reference_input_shape = (49, 10, 1)
    reference_num_classes = 12

    def __init__(self, name: str = "mlperf_kws"):
        super().__init__(
            width=KWS_WIDTHS,
            num_layers=[1, 2, 3, 4],
            stem_kernel=[3, 5, 10],
            stem_strides=[1, 2],
            kernel_size=[3, 5],
            activation="relu",
            name=name,
            freq_strides=[1, 2],
        )

    def initial_architectures(self, input_shape: tuple) -> list[dict]:
        """The DS-CNN reference (see `Block.initial_architectures`)."""
        return [_scoped(self.name, KWS_DS_CNN)]


class MLPerfVWWSpace(_BuiltAsPublished, ScaledNetSpace):
    """MLPerf Tiny visual wake words: MobileNetV1 at width 0.25 and the scaled MobileNetV1s around it.

    The reference (`visual_wake_words/vww_model.py`): a 3x3 stride-2 conv
    with 8 filters, 13 depthwise-separable layers of 16, 32 x2, 64 x2,
    128 x6, 256 x2 (stride 2 at the first of each group of width), average
    pooling, 2 classes, on 96x96 RGB images. Every convolution has a bias,
    as in the reference.

    Declared hyperparameters (block name `"mlperf_vww"`):
    `mlperf_vww/resolution` (images: `round(h * s)` for s in 1/2, 2/3, 5/6, 1;
    96 -> `[48, 64, 80, 96]`), `width_multiplier` `[0.0625, 0.125, 0.1875,
    0.25]` of MobileNetV1's widths (32; 64, 128, 256, 512, 1024), `kernel_size`
    `[3, 5]`, `num_stages` `Int(3, 5)`, `stage_{2..5}/depth` up to
    `(2, 2, 6, 2)`; activation ReLU.

    Args:
        name: Block name.
    """

    reference_input_shape = (96, 96, 3)
    reference_num_classes = 2

    def __init__(self, name: str = "mlperf_vww"):
        super().__init__(
            "ds",
            MOBILENET_V1_STEM,
            **MOBILENET_V1_STAGES,
            width_multipliers=VWW_WIDTH_MULTIPLIERS,
            stem_strides=2,
            kernel_sizes=[3, 5],
            resolution_scales=VWW_RESOLUTION_SCALES,
            min_stages=3,
            name=name,
        )

    def initial_architectures(self, input_shape: tuple) -> list[dict]:
        """MobileNetV1-0.25 at the input's resolution (see `Block.initial_architectures`)."""
        reference = {"width_multiplier": 0.25, "kernel_size": 3, "num_stages": 5}
        if len(input_shape) == 3:
            reference["resolution"] = input_shape[0]
        depths = MOBILENET_V1_STAGES["stage_depths"]
        reference.update({f"stage_{i + 1}/depth": d for i, d in enumerate(depths) if d > 1})
        return [_scoped(self.name, reference)]


class MLPerfICSpace(_BuiltAsPublished, ScaledNetSpace):
    """MLPerf Tiny image classification: ResNet-8 and the ResNets around it.

    The reference (`image_classification/keras_model.py`, `resnet_v1_eembc`
    of MLPerf Tiny v0.5, 16 filters): a 3x3 conv with 16 filters, three
    residual stacks of 16, 32 (stride 2) and 64 (stride 2), average pooling,
    10 classes, on 32x32 RGB images. As in the reference, every convolution
    has a bias and the 1x1 projection shortcuts have no batch norm.

    Declared hyperparameters (block name `"mlperf_ic"`):
    `mlperf_ic/width_multiplier` `[0.25, 0.5, 0.75, 1.0]` (widths 4-16,
    8-32, 16-64), `stem/strides` `[1, 2]`, `kernel_size` `[3, 5]`,
    `num_stages` `Int(2, 3)`, `stage_{1..3}/depth` `[1, 2]` (narrower
    ResNets with 2 to 6 basic blocks, from ResNet-6 to ResNet-14);
    activation ReLU.

    Args:
        name: Block name.
    """

    reference_input_shape = (32, 32, 3)
    reference_num_classes = 10
    reference_conventions = {"conv_bias": True, "shortcut_batch_norm": False}

    def __init__(self, name: str = "mlperf_ic"):
        super().__init__(
            "residual",
            16,
            stage_filters=(16, 32, 64),
            stage_depths=(2, 2, 2),
            stage_strides=(1, 2, 2),
            width_multipliers=IC_WIDTH_MULTIPLIERS,
            stem_strides=[1, 2],
            kernel_sizes=[3, 5],
            min_stages=2,
            name=name,
        )

    def initial_architectures(self, input_shape: tuple) -> list[dict]:
        """ResNet-8 (see `Block.initial_architectures`)."""
        reference = {"width_multiplier": 1.0, "stem/strides": 1, "kernel_size": 3, "num_stages": 3}
        reference.update({f"stage_{i}/depth": 1 for i in (1, 2, 3)})
        return [_scoped(self.name, reference)]


class MLPerfADSpace(DenseAutoencoder):
    """MLPerf Tiny anomaly detection: the dense autoencoder reference and the narrower ones around it.

    The reference (`anomaly_detection/keras_model.py`): 640 inputs (5 frames x
    128 log-mel bands), Dense 128 - batch norm - ReLU x4, a bottleneck of 8,
    Dense 128 x4, a linear output of 640; 269,992 parameters. For
    `NASModel(task="anomaly")`.

    Declared hyperparameters (block name `"mlperf_ad"`): `mlperf_ad/units`
    `[8, 16, 32, 64, 128]`, `num_layers` `[1, 2, 3, 4]`, `bottleneck`
    `[4, 8, 16]`, `use_batchnorm` (Boolean); activation ReLU.

    Args:
        name: Block name.
    """

    reference_input_shape = DenseAutoencoder.MLPERF_AD_INPUT_SHAPE
    reference_num_classes = None

    def __init__(self, name: str = "mlperf_ad"):
        super().__init__(units=[8, 16, 32, 64, 128], num_layers=[1, 2, 3, 4], bottleneck=[4, 8, 16],
                         activation="relu", use_batchnorm=None, name=name)
