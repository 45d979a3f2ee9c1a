"""A small real NASModel search on digits, run as its own process by the reliability tests.

Usage: `python tests/_search_script.py CONFIG.json`. The config holds `directory`,
`project_name`, `seed`, `strategy`, `max_trials`, `n_train`, `out` (where the results
JSON is written) and optional `constraints`, `strategy_kwargs`, `space_fit` and `space` ("tiny":
`tiny_space()`, else the default space). With the Keras Tuner environment
variables of a worker (`KERASTUNER_TUNER_ID` without "chief"), `fit` only runs
trials for the chief; the chief (and a process without those variables) runs
`NASModel.fit` through to the winner's final training and writes the results.
"""

import json
import os
import sys

CONSTRAINTS = {"flash_kb": 64, "peak_ram_kb": 32}


def tiny_space():
    """A small search space (one or two convolutions) that keeps each trial to seconds."""
    import keras

    from keras_nas.blocks import Block

    class TinySpace(Block):
        def build(self, hp, inputs):
            x = inputs
            filters = hp.Choice("filters", [4, 8, 16])
            x = keras.layers.Conv2D(filters, hp.Choice("kernel", [3, 5]), padding="same",
                                    activation="relu", name=f"{self.name}_conv1")(x)
            if hp.Boolean("second"):
                x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu",
                                        name=f"{self.name}_conv2")(x)
            return x

    return TinySpace()


def _is_worker() -> bool:
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in tuner_id


def main(config_path: str) -> None:
    with open(config_path) as f:
        config = json.load(f)

    from keras_nas import NASModel
    from keras_nas.datasets import load_digits

    (x_train, y_train), (x_val, y_val), _ = load_digits()
    n = config.get("n_train", 400)
    x_train, y_train = x_train[:n], y_train[:n]
    model = NASModel(
        num_classes=10,
        constraints=config.get("constraints", CONSTRAINTS),
        strategy=config["strategy"],
        max_trials=config["max_trials"],
        seed=config["seed"],
        directory=config["directory"],
        project_name=config["project_name"],
        strategy_kwargs=config.get("strategy_kwargs"),
        space=tiny_space() if config.get("space") == "tiny" else None,
        latency_runs=3,
        space_fit=config.get("space_fit", True),
    )
    fit_kwargs = dict(epochs=1, batch_size=32, verbose=1)
    if _is_worker():
        # A worker only runs trials: the chief holds the results and trains the winner.
        # Its `fit` either returns early or says so once the chief told it to stop.
        try:
            model.fit(x_train, y_train, validation_data=(x_val, y_val), **fit_kwargs)
        except RuntimeError as e:
            if "the chief process holds the results" not in str(e):
                raise
            print(f"worker done: {e}")
        return
    model.fit(x_train, y_train, validation_data=(x_val, y_val), **fit_kwargs)
    results = {
        "trials": [
            {
                "trial_id": t["trial_id"],
                "status": t["status"],
                "score": t["score"],
                "hyperparameters": t["hyperparameters"],
                "message": t["message"],
            }
            for t in model.trials()
        ],
        "best_trial_id": model.best_trial_.trial_id,
        "best_score": model.best_trial_.score,
    }
    with open(config["out"], "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
