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

from .base import Block
from .conv import ConvBNAct, DepthwiseSeparable, MBConv
from .head import ClassifierHead, DenseBlock
from .ops import ACTIVATIONS
from .sequence import Sequence
from .spaces import ConvSpace, MLPSpace, default_space
from .stage import Stage

__all__ = [
    "ACTIVATIONS",
    "Block",
    "ClassifierHead",
    "ConvBNAct",
    "ConvSpace",
    "DenseBlock",
    "DepthwiseSeparable",
    "MBConv",
    "MLPSpace",
    "Sequence",
    "Stage",
    "default_space",
]
