"""Candidates that cannot ship or cannot train: recorded with their reason, the search goes on."""

import keras
import keras_tuner

from keras_nas import NASModel, run_record
from keras_nas.blocks import Block
from keras_nas.datasets import load_digits


class ActivationProbe(Block):
    """A tiny space whose 'gelu' choice converts to int8 but has no TFLite Micro kernel."""

    def build(self, hp, inputs):
        activation = hp.Choice("activation", ["gelu", "relu"])
        filters = hp.Choice("filters", [4, 8, 12])
        return keras.layers.Conv2D(filters, 3, padding="same", activation=activation, name=f"{self.name}_conv")(inputs)


def test_a_candidate_tflite_micro_cannot_run_is_rejected_not_trained(tmp_path):
    (x_train, y_train), (x_val, y_val), _ = load_digits()
    model = NASModel(space=ActivationProbe(), strategy="random", max_trials=2, seed=4, finalists=1,
                     directory=str(tmp_path), project_name="probe")
    model.fit(x_train[:300], y_train[:300], validation_data=(x_val, y_val), epochs=1, verbose=0)
    trials = model.trials()
    rejected = [t for t in trials if t["status"] == "REJECTED"]
    trained = [t for t in trials if t["status"] == "COMPLETED"]
    assert len(trained) == 2
    assert all(t["hyperparameters"]["activation_probe/activation"] == "relu" for t in trained)
    assert rejected, "seed 4 draws a gelu candidate first; pick another seed if the space changes"
    for t in rejected:
        assert t["hyperparameters"]["activation_probe/activation"] == "gelu"
        assert "does not run on TFLite Micro" in t["message"] and "GELU" in t["message"]
    assert "gelu" not in [layer.activation.__name__ for layer in model.layers if hasattr(layer, "activation")]


def test_failure_reason_is_the_exception_message_alone():
    from keras_nas.errors import CandidateRejected
    from keras_nas.failure_text import failure_reason

    traceback = "Traceback (most recent call last):\n  File ...\nkeras_tuner.src.errors.FailedTrialError: Training diverged (NaN)."
    assert failure_reason(traceback) == "Training diverged (NaN)."
    # A trial of an older directory says it was rejected in its message only; its reasons are read from it.
    rejected = f"Traceback ...\nkeras_nas.errors.CandidateRejected: {CandidateRejected(['flash 80.0 KB > 64 KB'])}"
    old_trial = keras_tuner.engine.trial.Trial(keras_tuner.HyperParameters(), trial_id="0", status="FAILED",
                                               message=rejected)
    assert run_record.outcome_of(old_trial) == run_record.Outcome("rejected", "flash 80.0 KB > 64 KB")
    assert failure_reason("no class here: just text") == "no class here: just text"
    assert failure_reason("") is None and failure_reason(None) is None
