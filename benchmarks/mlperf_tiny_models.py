"""The four MLPerf Tiny v0.5 reference models, rebuilt in Keras 3 (untrained).

Architectures follow the MLPerf Tiny reference training scripts
(github.com/mlcommons/tiny, `benchmark/training/`): the layer types, filter
counts, kernel sizes and strides are what determines MACs, parameters and
latency, so untrained weights are enough for the cost figures.
"""

import keras


def ds_cnn_kws() -> keras.Model:
    """KWS DS-CNN: 49x10x1 MFCC input, 64 filters, 4 depthwise-separable blocks, 12 classes."""
    inputs = keras.Input((49, 10, 1))
    x = keras.layers.Conv2D(64, (10, 4), strides=(2, 2), padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    for _ in range(4):
        x = keras.layers.DepthwiseConv2D((3, 3), padding="same")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.Conv2D(64, (1, 1), padding="same")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
    x = keras.layers.AveragePooling2D(pool_size=(25, 5))(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(12, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="kws_ds_cnn")


def _resnet_stack(x, filters: int, strides: int):
    y = keras.layers.Conv2D(filters, 3, strides=strides, padding="same")(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.Activation("relu")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same")(y)
    y = keras.layers.BatchNormalization()(y)
    if strides != 1:
        x = keras.layers.Conv2D(filters, 1, strides=strides, padding="same")(x)
    y = keras.layers.Add()([x, y])
    return keras.layers.Activation("relu")(y)


def resnet8_ic() -> keras.Model:
    """IC ResNet-8: 32x32x3 CIFAR-10 input, 3 residual stacks (16/32/64 filters), 10 classes."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = _resnet_stack(x, 16, 1)
    x = _resnet_stack(x, 32, 2)
    x = _resnet_stack(x, 64, 2)
    x = keras.layers.AveragePooling2D(pool_size=8)(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="ic_resnet8")


def mobilenet_v1_025_vww() -> keras.Model:
    """VWW MobileNetV1 (alpha 0.25): 96x96x3 input, 2 classes."""
    inputs = keras.Input((96, 96, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    blocks = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)]
    blocks += [(128, 1)] * 5 + [(256, 2), (256, 1)]
    for filters, strides in blocks:
        x = keras.layers.DepthwiseConv2D(3, strides=strides, padding="same")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.Conv2D(filters, 1, padding="same")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
    x = keras.layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="vww_mobilenet_v1_025")


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
