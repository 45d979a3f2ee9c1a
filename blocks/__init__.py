"""Search-space blocks for keras-nas.

Blocks declare Keras Tuner hyperparameters and build plain graphs of standard
Keras layers, so every candidate model converts to int8 TFLite, runs under
TFLite Micro, and saves as `.keras` without custom objects.

Example:

```python
import keras
import keras_tuner
from keras_nas.blocks import ClassifierHead, default_space

def build_model(hp):
    inputs = keras.Input((40, 1))
    features = default_space((40, 1)).build(hp, inputs)
    outputs = ClassifierHead(10).build(hp, features)
    return keras.Model(inputs, outputs)

tuner = keras_tuner.RandomSearch(build_model, objective="val_accuracy")
```
"""

from .autoencoder import ConvAutoencoder1D, DenseAutoencoder
from .base import Block
from .cheap import FireBlock, GhostBlock
from .conv import ConvBNAct, DepthwiseSeparable, MBConv
from .genotype import from_json, to_json
from .head import ClassifierHead, DenseBlock, RegressionHead
from .mlperf_tiny import MLPerfADSpace, MLPerfICSpace, MLPerfKWSSpace, MLPerfVWWSpace
from .nb201 import (
    NB201_EDGES,
    NB201_OPS,
    declare_nb201,
    edge_name,
    from_nb201_string,
    to_nb201_string,
)
from .nb201_cell import NB201Cell, NB201Space
from .oneshot_space import ChoicePoint, OneShotSpace
from .ops import ACTIVATIONS
from .pooling import Pooling
from .presets import KWSSpace, MicroSpace, MobileSpace
from .registry import PRESETS, get_space
from .residual import ResidualBlock
from .scaled_net import ScaledNetSpace
from .scaling import compound_scale, search_compound_scaling
from .sequence import Sequence
from .space_size import space_size
from .spaces import ConvSpace, MLPSpace, default_space
from .stage import Stage
from .supernet import SuperNet

__all__ = [
    "ACTIVATIONS",
    "NB201_EDGES",
    "NB201_OPS",
    "PRESETS",
    "Block",
    "ChoicePoint",
    "ClassifierHead",
    "ConvBNAct",
    "ConvAutoencoder1D",
    "ConvSpace",
    "DenseAutoencoder",
    "DenseBlock",
    "DepthwiseSeparable",
    "FireBlock",
    "GhostBlock",
    "KWSSpace",
    "MBConv",
    "MLPSpace",
    "MLPerfADSpace",
    "MLPerfICSpace",
    "MLPerfKWSSpace",
    "MLPerfVWWSpace",
    "MicroSpace",
    "MobileSpace",
    "NB201Cell",
    "NB201Space",
    "OneShotSpace",
    "Pooling",
    "RegressionHead",
    "ResidualBlock",
    "ScaledNetSpace",
    "Sequence",
    "Stage",
    "SuperNet",
    "compound_scale",
    "declare_nb201",
    "default_space",
    "edge_name",
    "from_json",
    "from_nb201_string",
    "get_space",
    "search_compound_scaling",
    "space_size",
    "to_json",
    "to_nb201_string",
]
