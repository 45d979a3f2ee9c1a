"""Built-in data sets that need no download: scikit-learn's digits, procedural MNIST-1D (with injected
faults), spoken command words synthesized with espeak-ng (`keras_nas.spoken_words`) and meter digits
rendered from matplotlib's fonts (`keras_nas.meter_digits`)."""

from __future__ import annotations

import numpy as np

from keras_nas.meter_digits import load_meter_digits
from keras_nas.spoken_words import load_spoken_words

Split = tuple[np.ndarray, np.ndarray]


def load_digits(validation_fraction: float = 0.15, test_fraction: float = 0.2, seed: int = 0) -> tuple[Split, Split, Split]:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), as images.

    Args:
        validation_fraction: Share of all samples for validation.
        test_fraction: Share of all samples for the test set.
        seed: Seed of the stratified shuffle.

    Returns:
        `(x_train, y_train), (x_val, y_val), (x_test, y_test)`; x has shape
        `(n, 8, 8, 1)`, float32 pixel values 0..16; y integer labels.

    Example:

    ```python
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_digits()
    ```
    """
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    x = digits.images.astype("float32")[..., None]
    y = digits.target.astype("int64")
    return _split(x, y, validation_fraction, test_fraction, seed)


def load_mnist1d(num_samples: int = 5000, validation_fraction: float = 0.1, seed: int = 42) -> tuple[Split, Split, Split]:
    """MNIST-1D (Greydanus 2020): 40-step 1D signals of 10 classes, generated offline.

    The test set is the generator's own (20 % of `num_samples`, as in the paper:
    MLP 68 %, CNN 94 % test accuracy); validation comes out of its training part.

    Args:
        num_samples: Samples generated in all (the paper uses 5,000).
        validation_fraction: Share of the training part held out for validation.
        seed: Generator seed (42 reproduces the paper's data).

    Returns:
        `(x_train, y_train), (x_val, y_val), (x_test, y_test)`; x has shape `(n, 40, 1)`.
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise ImportError(
            "MNIST-1D needs the `mnist1d` package, an optional extra of keras-nas: "
            "pip install 'keras-nas[mnist1d]' (or pip install mnist1d)."
        ) from e

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    data = make_dataset(args)
    x = data["x"].astype("float32")[..., None]
    y = data["y"].astype("int64")
    n_val = int(round(len(x) * validation_fraction))
    x_test = data["x_test"].astype("float32")[..., None]
    y_test = data["y_test"].astype("int64")
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:]), (x_test, y_test)


def inject_faults(x: np.ndarray, fraction: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Signals with sensor faults, for anomaly detection: a `fraction` of them corrupted.

    Each corrupted signal gets, with equal odds, three spikes of 4 standard
    deviations (of all of `x`) at random steps of its first channel, or a
    dropout: 12 consecutive steps set to 0.

    Args:
        x: Signals `(n, steps, channels)`, e.g. MNIST-1D's `(n, 40, 1)`; at least 13 steps.
        fraction: Share of signals corrupted.
        seed: Seed of which signals, which fault and where.

    Returns:
        `(x_faulty, labels)`: a corrupted copy of `x`, and 1 for a corrupted signal, 0 otherwise.

    Example:

    ```python
    (x_train, _), (x_val, _), _ = load_mnist1d()
    x_val, labels = inject_faults(x_val)
    NASModel(task="anomaly").fit(x_train, validation_data=(x_val, labels))
    ```
    """
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype="float32", copy=True)
    labels = (rng.random(len(x)) < fraction).astype("int64")
    scale = float(x.std())
    for signal, faulty in zip(x, labels):
        if not faulty:
            continue
        if rng.random() < 0.5:
            where = rng.choice(len(signal), 3, replace=False)
            signal[where, 0] += rng.choice([-1.0, 1.0], 3) * 4 * scale
        else:
            start = int(rng.integers(0, len(signal) - 12))
            signal[start:start + 12, 0] = 0.0
    return x, labels


DATASETS = {"digits": load_digits, "mnist1d": load_mnist1d, "spoken_words": load_spoken_words,
            "meter_digits": load_meter_digits}


def _split(x, y, validation_fraction, test_fraction, seed) -> tuple[Split, Split, Split]:
    from sklearn.model_selection import train_test_split

    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    val_share = validation_fraction / (1.0 - test_fraction)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_share, random_state=seed, stratify=y_rest
    )
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)
