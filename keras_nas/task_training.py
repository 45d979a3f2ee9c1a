"""What the tasks (`keras_nas.tasks`) add to a Keras training: a loss and a metric callback.

Kept apart from `keras_nas.tasks`, which imports no Keras (the CLI reads task
directions without loading TensorFlow).
"""

from __future__ import annotations

import keras
import numpy as np

from keras_nas.anomaly_scores import reconstruction_errors, roc_auc


@keras.saving.register_keras_serializable(package="keras_nas")
class StandardizedLoss(keras.losses.Loss):
    """MSE or Huber loss of standardized targets and predictions.

    The model predicts in the targets' units; the loss divides both by each
    column's training standard deviation first, so every target column counts
    alike whatever its unit (without it, a column in the hundreds drowns one
    in the ones), and the Huber `delta` is in standard deviations.

    Args:
        mean, std: Per-column mean and standard deviation of the training targets.
        loss: "mse" or "huber".
        delta: The Huber loss' delta, in standard deviations.
    """

    def __init__(self, mean, std, loss: str = "mse", delta: float = 1.0, name: str = "standardized_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.mean = [float(v) for v in np.ravel(mean)]
        self.std = [float(v) for v in np.ravel(std)]
        self.loss = loss
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        ops = keras.ops
        mean, std = ops.convert_to_tensor(self.mean), ops.convert_to_tensor(self.std)
        width = len(self.mean)
        y_true = (ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, width)) - mean) / std
        y_pred = (ops.reshape(y_pred, (-1, width)) - mean) / std
        if self.loss == "huber":
            return keras.losses.huber(y_true, y_pred, delta=self.delta)
        return keras.losses.mean_squared_error(y_true, y_pred)

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "std": self.std, "loss": self.loss,
                "delta": self.delta}


class ValidationAUC(keras.callbacks.Callback):
    """Adds `val_auc` to each epoch's logs: AUC of the reconstruction error on labelled validation data.

    Args:
        x_val: Validation inputs, normal and anomalous.
        labels: 0 normal / 1 anomaly per sample.
    """

    def __init__(self, x_val, labels):
        super().__init__()
        self.x_val, self.labels = x_val, labels

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            outputs = self.model.predict(self.x_val, verbose=0, batch_size=256)
            logs["val_auc"] = roc_auc(reconstruction_errors(outputs, self.x_val), self.labels)
