"""The four MLPerf Tiny v0.5 reference models, rebuilt in Keras 3 (untrained).

Architectures follow the MLPerf Tiny reference training scripts
(github.com/mlcommons/tiny, `benchmark/training/`): the layer types, filter
counts, kernel sizes and strides are what determines MACs, parameters and
latency, so untrained weights are enough for the cost figures.

The three classification references are the first designs of the presets
`space="mlperf-kws"`, `"mlperf-vww"`, `"mlperf-ic"` (`keras_nas.blocks.mlperf_tiny`,
one home for each), with the published head (average pooling over the whole
map, then dense). Their convolutions have no bias before a batch norm, the
published ones do; converted to int8 both are the same graph.
"""

import keras
import keras_tuner

from keras_nas.blocks import get_space


def _reference(preset: str, name: str) -> keras.Model:
    """The preset's reference (its first design) with the published head: average pooling over the map, dense."""
    space = get_space(preset)
    hp = keras_tuner.HyperParameters()
    hp.values.update(space.initial_architectures(space.reference_input_shape)[0])
    inputs = keras.Input(space.reference_input_shape)
    x = space.build(hp, inputs)
    x = keras.layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(space.reference_num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def ds_cnn_kws() -> keras.Model:
    """KWS DS-CNN: 49x10x1 MFCC input, 64 filters, 4 depthwise-separable blocks, 12 classes."""
    return _reference("mlperf-kws", "kws_ds_cnn")


def resnet8_ic() -> keras.Model:
    """IC ResNet-8: 32x32x3 CIFAR-10 input, 3 residual stacks (16/32/64 filters), 10 classes."""
    return _reference("mlperf-ic", "ic_resnet8")


def mobilenet_v1_025_vww() -> keras.Model:
    """VWW MobileNetV1 (alpha 0.25): 96x96x3 input, 2 classes."""
    return _reference("mlperf-vww", "vww_mobilenet_v1_025")


def fc_autoencoder_ad() -> keras.Model:
    """AD FC autoencoder: 640 inputs, 4x128 encoder, 8 bottleneck, 4x128 decoder, 640 outputs."""
    inputs = keras.Input((640,))
    x = inputs
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = keras.layers.Dense(units)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
    outputs = keras.layers.Dense(640)(x)
    return keras.Model(inputs, outputs, name="ad_fc_autoencoder")


REFERENCE_MODELS = {
    "kws": ds_cnn_kws,
    "vww": mobilenet_v1_025_vww,
    "ic": resnet8_ic,
    "ad": fc_autoencoder_ad,
}
