"""Look up a search-space preset by name (for `NASModel(space="kws")`-style APIs)."""

from __future__ import annotations

from .autoencoder import ConvAutoencoder1D, DenseAutoencoder
from .base import Block
from .mlperf_tiny import MLPerfADSpace, MLPerfICSpace, MLPerfKWSSpace, MLPerfVWWSpace
from .nb201_cell import NB201Space
from .oneshot_space import OneShotSpace
from .presets import KWSSpace, MicroSpace, MobileSpace
from .spaces import ConvSpace, MLPSpace

PRESETS = {
    "autoencoder": DenseAutoencoder,
    "conv": ConvSpace,
    "conv_autoencoder": ConvAutoencoder1D,
    "kws": KWSSpace,
    "micro": MicroSpace,
    "mlp": MLPSpace,
    "mlperf-ad": MLPerfADSpace,
    "mlperf-ic": MLPerfICSpace,
    "mlperf-kws": MLPerfKWSSpace,
    "mlperf-vww": MLPerfVWWSpace,
    "mobile": MobileSpace,
    "nb201": NB201Space,
    "oneshot": OneShotSpace,
}
"""Preset names and their classes (built with default arguments)."""


def get_space(space: str | Block) -> Block:
    """Returns a search space from a preset name, or the block itself.

    Args:
        space: A `Block`, or one of `"autoencoder"`, `"conv"`,
            `"conv_autoencoder"`, `"kws"`, `"micro"`, `"mlp"`, `"mobile"`,
            `"nb201"`, `"oneshot"`, or an MLPerf Tiny task's preset,
            `"mlperf-ad"`, `"mlperf-ic"`, `"mlperf-kws"`, `"mlperf-vww"` (see
            `keras_nas.blocks.mlperf_tiny`) (case-insensitive).

    Returns:
        The block (a new preset instance with default arguments for a name).

    Raises:
        ValueError: For an unknown name or a value that is neither.

    Example:

    ```python
    get_space("kws")  # KWSSpace(name='kws_space')
    ```
    """
    if isinstance(space, Block):
        return space
    if isinstance(space, str) and space.lower() in PRESETS:
        return PRESETS[space.lower()]()
    raise ValueError(
        f"Unknown search space {space!r}; pass a keras_nas.blocks.Block or one of "
        f"{sorted(PRESETS)}."
    )
