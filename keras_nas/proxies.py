"""Zero-cost proxies: score untrained candidates to pre-screen them before training.

A zero-cost proxy looks at a freshly initialized network (one forward/backward
pass on one batch) and returns a number that should rank architectures like
their trained accuracy does. They are cheap (well under a second for the small
candidates of keras-nas) but noisy: check `benchmarks/RESULTS.md` for
how well each one ranks candidates of the default space, and compare with the
trivial "number of parameters" baseline before trusting one.

- `synflow`: Synaptic Flow (Tanaka et al., 2020, "Pruning neural networks
  without any data by iteratively conserving synaptic flow", NeurIPS).
- `naswot`: the log-determinant of the activation-pattern kernel (Mellor et al.,
  2021, "Neural Architecture Search without Training", ICML).
- `grad_norm`: the norm of the loss gradient at initialization (as evaluated
  in Abdelfattah et al., 2021, "Zero-Cost Proxies for Lightweight NAS", ICLR).
- `jacob_cov`: the Jacobian covariance score of the first version of Mellor et al.
  (arXiv:2006.04647v1).

Every proxy works on a copy of the model (the caller's weights and batch-norm
statistics are never modified), runs eagerly with `tf.GradientTape` (no
`tf.function` retracing), and is deterministic for a given model and batch.
`score_candidates` and `ProxyScreen` build candidates from hyperparameter
values with a fixed seed, so their scores are reproducible.

Example:

```python
from keras_nas import proxies

score = proxies.naswot(model, x_train[:64])
scores = proxies.score_candidates(hypermodel.build, values_list, x_train, y_train,
                                  proxy="synflow", seed=0)
screen = proxies.ProxyScreen(hypermodel, x_train, y_train, proxy="naswot")
best = values_list[screen(values_list)]
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import keras_tuner
import numpy as np
import tensorflow as tf

# Activations whose binary code "unit is active" is `output > 0` (NASWOT).
RELU_LIKE = frozenset(
    {"relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "hard_silu",
     "hard_swish", "mish"}
)
_RELU_LIKE_LAYERS = (
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
)
# Output activations that squash logits; `synflow` and `jacob_cov` score the logits
# (the sum of softmax outputs is the constant 1, whose gradient is zero).
_SQUASHING = frozenset({"softmax", "sigmoid", "log_softmax"})

DEFAULT_BATCH_SIZE = 64


# -- input checks ------------------------------------------------------------------------


def _single_input_shape(model: keras.Model) -> tuple:
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a built `keras.Model`, got {type(model).__name__}.")
    if len(model.inputs or []) != 1:
        raise ValueError(
            f"Zero-cost proxies support single-input models; model {model.name!r} has "
            f"{len(model.inputs or [])} inputs."
        )
    return tuple(model.inputs[0].shape[1:])


def _check_x(model: keras.Model, x, *, what: str = "x", min_samples: int = 1) -> np.ndarray:
    """Returns `x` as a float32 array after checking it fits the model's input."""
    expected = _single_input_shape(model)
    try:
        array = np.asarray(x, dtype="float32")
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"`{what}` must be a numeric array of shape (batch, *{expected}); could not "
            f"convert it to float32: {error}"
        ) from None
    if array.ndim != len(expected) + 1 or any(
        e is not None and e != a for e, a in zip(expected, array.shape[1:])
    ):
        raise ValueError(
            f"`{what}` has shape {array.shape} but model {model.name!r} takes samples of "
            f"shape {expected}: pass an array of shape (batch, *{expected})."
        )
    if len(array) < min_samples:
        raise ValueError(
            f"`{what}` holds {len(array)} samples; this proxy needs at least "
            f"{min_samples}. Pass a larger batch."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{what}` contains NaN or infinite values; clean the data first.")
    return array


def _check_y(y, n: int, num_outputs: int) -> np.ndarray:
    """Returns labels as an array after checking them against `n` samples and the outputs."""
    array = np.asarray(y)
    if len(array) != n:
        raise ValueError(
            f"`y` has {len(array)} labels but `x` has {n} samples; pass one label per sample."
        )
    if array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1 and num_outputs > 1):
        if not np.issubdtype(array.dtype, np.integer):
            if not np.all(np.equal(np.mod(array, 1), 0)):
                raise ValueError("`y` holds class indices that are not integers.")
        labels = array.reshape(-1).astype("int64")
        high = max(num_outputs, 2)
        if labels.min() < 0 or labels.max() >= high:
            raise ValueError(
                f"`y` holds class indices in [{labels.min()}, {labels.max()}] but the model "
                f"has {num_outputs} outputs; indices must lie in [0, {high - 1}]."
            )
        return labels
    if array.ndim == 2 and array.shape[1] == num_outputs:
        return array.astype("float32")
    raise ValueError(
        f"`y` has shape {array.shape}; expected class indices of shape ({n},) or one-hot "
        f"labels of shape ({n}, {num_outputs})."
    )


# -- model copies ------------------------------------------------------------------------


def _activation_name(layer) -> str | None:
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None
    try:
        name = keras.activations.serialize(fn)
    except (ValueError, TypeError):
        return getattr(fn, "__name__", None)
    return name if isinstance(name, str) else getattr(fn, "__name__", None)


def _output_layer_names(model: keras.Model) -> set[str]:
    return {t._keras_history.operation.name for t in model.outputs}


def _copy(
    model: keras.Model,
    *,
    dtype: str | None = None,
    logits: bool = False,
    skip_normalization: bool = False,
) -> keras.Model:
    """A functional copy of `model` with the same weights, for scoring.

    Dropout layers become identities (the scores must not depend on dropout
    masks). With `logits`, squashing output activations (softmax, sigmoid) are
    removed. With `skip_normalization`, `Normalization` layers become identities.
    With `dtype`, every layer computes in that dtype.
    """
    outputs = _output_layer_names(model)

    def clone_layer(layer):
        config = layer.get_config()
        if dtype is not None:
            config["dtype"] = dtype
        identity = {"name": layer.name, "dtype": config.get("dtype")}
        if isinstance(layer, keras.layers.Dropout) or (
            skip_normalization and isinstance(layer, keras.layers.Normalization)
        ):
            return keras.layers.Identity(**identity)
        if logits and layer.name in outputs:
            if isinstance(layer, keras.layers.Softmax) or (
                isinstance(layer, keras.layers.Activation)
                and _activation_name(layer) in _SQUASHING
            ):
                return keras.layers.Identity(**identity)
            if _activation_name(layer) in _SQUASHING:
                config["activation"] = "linear"
        return layer.__class__.from_config(config)

    try:
        copy = keras.models.clone_model(model, clone_function=clone_layer)
    except Exception as error:  # noqa: BLE001 - re-raised with what to do
        raise ValueError(
            f"Could not copy model {model.name!r} to score it ({type(error).__name__}: "
            f"{error}). Zero-cost proxies need a Functional or Sequential model made of "
            f"serializable layers."
        ) from error
    for layer in model.layers:
        if not layer.weights:
            continue
        target = copy.get_layer(layer.name)
        if len(target.weights) != len(layer.weights):
            continue  # Replaced by an identity.
        for source, dest in zip(layer.weights, target.weights):
            dest.assign(np.asarray(source.numpy()).astype(dest.dtype))
    return copy


def _scored_weights(model: keras.Model) -> list:
    """Kernels (rank >= 2) of the trainable layers: the weights the references score."""
    weights = [w for w in model.trainable_weights if len(w.shape) >= 2]
    if not weights:
        raise ValueError(
            f"Model {model.name!r} has no trainable kernels (Dense/Conv weights) to score."
        )
    return weights


# -- proxies -----------------------------------------------------------------------------


def synflow(model: keras.Model, input_shape: Sequence[int] | None = None) -> float:
    """Synaptic-flow score of an (untrained) model.

    Follows Tanaka et al. (2020), "Pruning neural networks without any data by
    iteratively conserving synaptic flow" (NeurIPS): on a float64 copy of the
    model every weight is replaced by its absolute value, an all-ones input is
    propagated, and with `R` the sum of the outputs (logits) the score is
    `sum |theta * dR/dtheta|` over the kernels of the Dense/Conv layers (as in
    the reference implementation of Abdelfattah et al., 2021).

    Batch normalization runs in inference mode with its moving mean set to
    zero, so the linearized network stays positive (at initialization, mean 0
    and variance 1, this is the paper's setting). `Normalization` layers are
    skipped (the all-ones input enters the first weight layer directly), dropout
    is off, and a softmax/sigmoid output is removed (the sum of softmax outputs
    is constant, so its gradient would be zero). The caller's model is not
    modified. Scores grow multiplicatively with depth and width; compare them
    on a log scale.

    Args:
        model: A single-input Keras Functional or Sequential model.
        input_shape: Shape of one sample without the batch axis; `None` takes it
            from the model (it must be fully defined then).

    Returns:
        The synflow score (a float >= 0; `inf` if it overflows float64).

    Raises:
        ValueError: If `input_shape` does not match the model or is not fully
            defined, or the model cannot be copied or has no kernels.

    Example:

    ```python
    score = synflow(model, (8, 8, 1))
    ```
    """
    expected = _single_input_shape(model)
    if input_shape is None:
        input_shape = expected
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"`input_shape` must be a tuple of ints without the batch axis, got "
            f"{input_shape!r}; the model's is {expected}."
        ) from None
    if len(shape) != len(expected) or any(
        e is not None and e != s for e, s in zip(expected, shape)
    ) or any(s < 1 for s in shape):
        raise ValueError(
            f"`input_shape` {shape} does not match model {model.name!r}, whose samples "
            f"have shape {expected} (pass the shape without the batch axis)."
        )
    copy = _copy(model, dtype="float64", logits=True, skip_normalization=True)
    for layer in copy.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.moving_mean is not None:
            layer.moving_mean.assign(np.zeros(layer.moving_mean.shape))
        for weight in layer.weights:
            weight.assign(tf.abs(weight.value))
    weights = _scored_weights(copy)
    ones = tf.ones((1,) + shape, dtype="float64")
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(copy(ones, training=False))
    grads = tape.gradient(total, weights)
    score = 0.0
    for weight, grad in zip(weights, grads):
        if grad is not None:
            score += float(tf.reduce_sum(tf.abs(tf.cast(weight.value, "float64") * grad)))
    return score


def activation_layers(model: keras.Model) -> list:
    """The ReLU-like activation layers of a model (the units NASWOT codes).

    Finds `ReLU`/`LeakyReLU`/`PReLU`/`ELU` layers, `Activation` layers and layers
    with a fused activation (e.g. `Conv2D(..., activation="relu")`) whose
    activation is one of `RELU_LIKE` (`relu`, `relu6`, `hard_swish`, ...). The
    blocks of keras-nas apply activations as `ReLU` (relu, relu6) and
    `Activation("hard_swish")` layers, and a fused ReLU in squeeze-excitation.

    Args:
        model: A Keras model.

    Returns:
        The layers, in the model's order.
    """
    found = []
    for layer in model.layers:
        if isinstance(layer, _RELU_LIKE_LAYERS) or _activation_name(layer) in RELU_LIKE:
            found.append(layer)
    return found


def _binary_codes(model: keras.Model, x: np.ndarray, training: bool) -> list[np.ndarray]:
    copy = _copy(model)
    layers = activation_layers(copy)
    if not layers:
        raise ValueError(
            f"Model {model.name!r} has no ReLU-like activation layers ({sorted(RELU_LIKE)}); "
            f"NASWOT codes which units are active, so it cannot score this model."
        )
    extractor = keras.Model(copy.inputs, [layer.output for layer in layers])
    outputs = extractor(tf.constant(x), training=training)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [(np.asarray(out) > 0).reshape(len(x), -1) for out in outputs]


def naswot(model: keras.Model, x_batch, training: bool = True) -> float:
    """NASWOT score: log-determinant of the kernel of binary activation codes.

    Follows Mellor et al. (2021), "Neural Architecture Search without
    Training" (ICML): each sample of the batch gets a binary code, one bit per
    ReLU-like unit (active: output > 0); with `N_A` the number of units and
    `d_H` the Hamming distance, the kernel is `K[i, j] = N_A - d_H(c_i, c_j)`,
    and the score is `log|K|` (`numpy.linalg.slogdet`). Networks that separate
    the samples of the batch into distinct linear regions score higher.

    Args:
        model: A single-input Keras model with ReLU-like activations (see
            `activation_layers`).
        x_batch: A batch of real inputs, shape `(batch, *input_shape)`, at least
            2 samples (the paper uses 128; 64 is enough for small models).
        training: Whether batch normalization uses the batch statistics, as in
            the reference code (the default); it runs on a copy, so the caller's
            moving statistics are not updated. Dropout is always off.

    Returns:
        The score; `-inf` if `K` is singular (e.g. all units dead, or two
        samples with identical codes).

    Raises:
        ValueError: If `x_batch` does not fit the model, is too small, holds
            NaNs, or the model has no ReLU-like activation.

    Example:

    ```python
    score = naswot(model, x_train[:64])
    ```
    """
    x = _check_x(model, x_batch, what="x_batch", min_samples=2)
    codes = _binary_codes(model, x, training)
    kernel = np.zeros((len(x), len(x)), dtype="float64")
    for code in codes:
        c = code.astype("float64")
        kernel += c @ c.T + (1.0 - c) @ (1.0 - c).T
    sign, logdet = np.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else float("-inf")


def _loss_fn(model: keras.Model, loss, y: np.ndarray):
    if loss is None:
        loss = getattr(model, "loss", None)
    if loss is None:
        loss = (
            "sparse_categorical_crossentropy" if y.ndim == 1 else "categorical_crossentropy"
        )
    try:
        return keras.losses.get(loss)
    except (ValueError, TypeError) as error:
        raise ValueError(f"Unknown `loss` {loss!r}: {error}") from None


def grad_norm(model: keras.Model, x, y, loss=None, training: bool = True) -> float:
    """Gradient-norm score: how strongly the loss gradient flows at initialization.

    As evaluated by Abdelfattah et al. (2021), "Zero-Cost Proxies for
    Lightweight NAS" (ICLR): the loss of one batch is differentiated with
    respect to the kernels of the Dense/Conv layers, and the score is the sum
    over layers of the L2 norms of their gradients.

    Args:
        model: A single-input Keras classifier.
        x: A batch of inputs, shape `(batch, *input_shape)`.
        y: Its labels: class indices `(batch,)` or one-hot `(batch, classes)`.
        loss: A Keras loss (name or callable). `None` takes the model's compiled
            loss, or (uncompiled) the sparse/categorical cross-entropy matching `y`.
        training: Whether batch normalization uses the batch statistics (the
            default, as in the reference); it runs on a copy, so the caller's
            moving statistics are not updated. Dropout is always off.

    Returns:
        The score (a float >= 0).

    Raises:
        ValueError: If `x`/`y` do not fit the model or each other, or the loss is unknown.

    Example:

    ```python
    score = grad_norm(model, x_train[:64], y_train[:64])
    ```
    """
    x = _check_x(model, x)
    num_outputs = int(model.outputs[0].shape[-1] or 1)
    y = _check_y(y, len(x), num_outputs)
    loss_fn = _loss_fn(model, loss, y)
    copy = _copy(model)
    weights = _scored_weights(copy)
    with tf.GradientTape() as tape:
        predictions = copy(tf.constant(x), training=training)
        value = tf.reduce_mean(loss_fn(tf.constant(y), predictions))
    grads = tape.gradient(value, weights)
    return float(sum(float(tf.norm(g)) for g in grads if g is not None))


def jacob_cov(model: keras.Model, x_batch, training: bool = True) -> float:
    """Jacobian-covariance score (Mellor et al., arXiv:2006.04647v1).

    For each sample the Jacobian of the summed logits with respect to the
    input is computed; with `v` the eigenvalues of the correlation matrix of
    these Jacobians across the batch and `k = 1e-5`, the score is
    `-sum(log(v + k) + 1 / (v + k))`. Higher means less correlated Jacobians.

    The correlation matrix has rank at most the input size, so with more
    samples than input values (e.g. 64 samples of MNIST-1D's 40 steps) the
    null eigenvalues add a constant `batch - input_size` times `1 / k` and only
    the remaining part ranks models; keep the batch at most the input size.

    Args:
        model: A single-input Keras model.
        x_batch: A batch of real inputs, shape `(batch, *input_shape)`, at least
            2 samples.
        training: Whether batch normalization uses the batch statistics (on a copy).

    Returns:
        The score; `-inf` if a Jacobian is constant (the correlation is undefined).

    Raises:
        ValueError: If `x_batch` does not fit the model, is too small or holds NaNs.

    Example:

    ```python
    score = jacob_cov(model, x_train[:64])
    ```
    """
    x = _check_x(model, x_batch, what="x_batch", min_samples=2)
    copy = _copy(model, logits=True)
    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        total = tf.reduce_sum(copy(inputs, training=training))
    jacobians = np.asarray(tape.gradient(total, inputs), dtype="float64").reshape(len(x), -1)
    if np.any(jacobians.std(axis=1) == 0):
        return float("-inf")
    correlations = np.corrcoef(jacobians)
    eigenvalues = np.linalg.eigvalsh(correlations)
    k = 1e-5
    return float(-np.sum(np.log(np.maximum(eigenvalues, 0.0) + k) + 1.0 / (np.maximum(eigenvalues, 0.0) + k)))


PROXIES: dict[str, Callable[..., float]] = {
    "synflow": synflow,
    "naswot": naswot,
    "grad_norm": grad_norm,
    "jacob_cov": jacob_cov,
}
"""The available proxies by name. Higher scores should mean better candidates."""


def check_proxy(proxy: str) -> str:
    """Returns `proxy` if it names one of `PROXIES`, else raises a `ValueError`.

    Args:
        proxy: A proxy name.

    Returns:
        The name.

    Raises:
        ValueError: For an unknown name (the message lists the known ones).
    """
    if not isinstance(proxy, str) or proxy not in PROXIES:
        raise ValueError(f"Unknown proxy {proxy!r}; expected one of {sorted(PROXIES)}.")
    return proxy


def compute_proxy(proxy: str, model: keras.Model, x, y) -> float:
    """Computes a proxy by name on a model with one batch of data.

    Args:
        proxy: One of `PROXIES`.
        model: The (untrained) model.
        x: A batch of inputs (`synflow` only uses its sample shape).
        y: Its labels (only `grad_norm` uses them).

    Returns:
        The score; NaN scores are returned as `-inf` so they rank last.

    Raises:
        ValueError: For an unknown proxy or data that does not fit the model.
    """
    check_proxy(proxy)
    if proxy == "synflow":
        score = synflow(model, np.shape(x)[1:])
    elif proxy == "grad_norm":
        score = grad_norm(model, x, y)
    else:
        score = PROXIES[proxy](model, x)
    return float("-inf") if np.isnan(score) else float(score)


# -- screening candidates ----------------------------------------------------------------


def _batch(x, y, batch_size: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 2:
        raise ValueError(f"`batch_size` must be an integer >= 2, got {batch_size!r}.")
    try:
        x = np.asarray(x, dtype="float32")
    except (TypeError, ValueError) as error:
        raise ValueError(f"`x` must be a numeric array: {error}") from None
    if x.ndim < 2 or len(x) < 2:
        raise ValueError(
            f"`x` must hold at least 2 samples with a batch axis first, got shape {x.shape}."
        )
    if y is not None and len(y) != len(x):
        raise ValueError(
            f"`y` has {len(y)} labels but `x` has {len(x)} samples; pass one label per sample."
        )
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(x), size=min(batch_size, len(x)), replace=False))
    return x[index], (None if y is None else np.asarray(y)[index])


def _build(build_fn, values: dict) -> keras.Model:
    if not isinstance(values, dict):
        raise TypeError(
            f"Each candidate must be a dict of hyperparameter values, got "
            f"{type(values).__name__}."
        )
    hp = keras_tuner.HyperParameters()
    hp.values = dict(values)
    if isinstance(build_fn, keras_tuner.HyperModel):
        return build_fn.build(hp)
    return build_fn(hp)


def score_candidates(
    build_fn: Callable[[keras_tuner.HyperParameters], keras.Model] | keras_tuner.HyperModel,
    values_list: Sequence[dict],
    x,
    y,
    proxy: str = "naswot",
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[float]:
    """Builds each candidate and scores it with a zero-cost proxy.

    Every candidate is built after `keras.backend.clear_session()` (memory stays
    flat over many candidates) and `keras.utils.set_random_seed(seed)`, and all
    are scored on the same batch of `batch_size` samples drawn from `x` with
    `seed`, so the scores are reproducible and comparable.

    Note: this reseeds the global Python, NumPy and Keras random generators.

    Args:
        build_fn: A `keras_tuner.HyperModel` or a function taking
            `keras_tuner.HyperParameters` and returning a model (e.g.
            `NASHyperModel(...).build`).
        values_list: Hyperparameter values of the candidates (dicts, as the
            strategies propose them).
        x: Inputs, shape `(n, *input_shape)`.
        y: Labels (class indices or one-hot); only `grad_norm` uses them.
        proxy: One of `PROXIES`.
        seed: Seed of the weight initialization and of the batch.
        batch_size: Samples per score (at least 2).

    Returns:
        One score per candidate (higher is better; NaN scores become `-inf`).

    Raises:
        ValueError: For an unknown proxy or data that does not fit the candidates.

    Example:

    ```python
    scores = score_candidates(hypermodel.build, values_list, x_train, y_train,
                              proxy="naswot")
    ```
    """
    check_proxy(proxy)
    if proxy == "grad_norm" and y is None:
        raise ValueError("proxy='grad_norm' needs labels: pass `y`.")
    if isinstance(values_list, dict):
        raise TypeError("`values_list` must be a list of dicts, got a single dict.")
    x_batch, y_batch = _batch(x, y, batch_size, seed)
    scores = []
    for values in values_list:
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = _build(build_fn, values)
        scores.append(compute_proxy(proxy, model, x_batch, y_batch))
        del model
    keras.backend.clear_session()
    return scores


class ProxyScreen:
    """Picks the most promising of a pool of candidates with a zero-cost proxy.

    A strategy draws `pool_size` random proposals and trains only the one this
    screen picks ("draw 8, train the best-by-proxy"). Each call builds and
    scores the pool with `score_candidates` (cost: a fraction of a second per
    small candidate) and keeps the scores in `last_scores`.

    Args:
        hypermodel: A `keras_tuner.HyperModel` (e.g. `NASHyperModel`) or a build
            function taking `keras_tuner.HyperParameters`.
        x: Training inputs, shape `(n, *input_shape)`.
        y: Training labels (used by `grad_norm`).
        proxy: One of `PROXIES`; `"naswot"` by default.
        pool_size: How many proposals a strategy should draw per pick.
        seed: Seed of the weight initialization and of the scoring batch.
        batch_size: Samples per score.

    Raises:
        ValueError: For an unknown proxy, a bad `pool_size`, or data without samples.

    Example:

    ```python
    screen = ProxyScreen(hypermodel, x_train, y_train, proxy="naswot", pool_size=8)
    pool = [oracle.random_values(rng) for _ in range(screen.pool_size)]
    values = pool[screen(pool)]
    ```
    """

    def __init__(
        self,
        hypermodel,
        x,
        y,
        proxy: str = "naswot",
        pool_size: int = 8,
        seed: int = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ):
        self.proxy = check_proxy(proxy)
        if proxy == "grad_norm" and y is None:
            raise ValueError("proxy='grad_norm' needs labels: pass `y`.")
        if not isinstance(pool_size, (int, np.integer)) or isinstance(pool_size, bool) or pool_size < 1:
            raise ValueError(f"`pool_size` must be a positive integer, got {pool_size!r}.")
        if not (isinstance(hypermodel, keras_tuner.HyperModel) or callable(hypermodel)):
            raise TypeError(
                f"`hypermodel` must be a keras_tuner.HyperModel or a build function, got "
                f"{type(hypermodel).__name__}."
            )
        self.hypermodel = hypermodel
        self.x_batch, self.y_batch = _batch(x, y, batch_size, seed)
        self.pool_size = int(pool_size)
        self.seed = seed
        self.batch_size = batch_size
        self.last_scores: list[float] = []

    def scores(self, candidates: Sequence[dict]) -> list[float]:
        """Returns the proxy score of each candidate (higher is better)."""
        if isinstance(candidates, dict) or len(candidates) == 0:
            raise ValueError("`candidates` must be a non-empty list of hyperparameter dicts.")
        self.last_scores = score_candidates(
            self.hypermodel,
            candidates,
            self.x_batch,
            self.y_batch,
            proxy=self.proxy,
            seed=self.seed,
            batch_size=len(self.x_batch),
        )
        return list(self.last_scores)

    def __call__(self, candidates: Sequence[dict]) -> int:
        """Returns the index of the candidate with the best proxy score (first on ties).

        Args:
            candidates: Hyperparameter values of the candidates.

        Returns:
            An index into `candidates`.

        Raises:
            ValueError: If `candidates` is empty.
        """
        return int(np.argmax(self.scores(candidates)))
