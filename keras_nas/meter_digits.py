"""Meter digits made offline: one digit of a counter as a camera on a microcontroller sees it, fonts disjoint.

A classic microcontroller vision job is reading a utility meter: a camera on
an ESP32 or a Cortex-M board crops each digit of the counter and a small CNN
classifies it. No such data set can be downloaded here, so this one is
rendered: each image is a digit (10 classes) in one of the TrueType fonts
matplotlib ships (DejaVu Sans / Sans Mono / Serif, STIX and Computer Modern,
in their regular, bold and italic cuts: 21 fonts), with the neighbouring
digits of the counter wheel showing at the top and bottom edge, a random size,
place, slant and stroke blur, dark-on-light or light-on-dark, an uneven
illumination gradient and sensor noise, at 32x32 grayscale. Train, validation
and test fonts are disjoint (`FONT_SPLIT`: 13 / 3 / 5), so the test set asks
what a deployed reader meets: a counter printed in a typeface it never saw.

At 32x32 the activations, not the weights, fill a small CNN's RAM: the task on
which trading resolution for width (a strided stem) matters on a board.
Rendered again from the seed at every call (a quarter of a minute for the defaults); nothing is
cached or downloaded.
"""

from __future__ import annotations

import os

import numpy as np

SIZE = 32
# The 21 fonts of matplotlib's `mpl-data/fonts/ttf` that carry the digits as text glyphs.
FONT_SPLIT = {
    "train": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-BoldOblique.ttf", "DejaVuSansMono.ttf",
              "DejaVuSansMono-BoldOblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
              "DejaVuSerif-BoldItalic.ttf", "STIXGeneral.ttf", "STIXGeneralBolIta.ttf", "cmr10.ttf",
              "cmtt10.ttf", "cmti10.ttf"),
    "validation": ("DejaVuSansMono-Oblique.ttf", "STIXGeneralItalic.ttf", "cmb10.ttf"),
    "test": ("DejaVuSans-Oblique.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif-Italic.ttf",
             "STIXGeneralBol.ttf", "cmss10.ttf"),
}


def font_folder() -> str:
    """matplotlib's folder of TrueType fonts (installed with keras-nas)."""
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf")


def render(font_path: str, digit: int, rng: np.random.Generator) -> np.ndarray:
    """One 32x32 image of `digit` in the font at `font_path`, float32 in [0, 1].

    The digit sits near the middle at a random height (45-75 % of the frame),
    with the wheel's previous and next digits cut by the top and bottom edges
    (the wheel turned by a random part of a step), slanted by up to 8 degrees,
    blurred, lit by a gradient, possibly inverted, with Gaussian noise.
    """
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    canvas = 3 * SIZE  # drawn at 3x, then shrunk (anti-aliased strokes)
    height = rng.uniform(0.45, 0.75) * canvas
    font = ImageFont.truetype(font_path, int(round(height)))
    image = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(image)
    pitch = height * rng.uniform(1.05, 1.3)  # distance between the wheel's digits
    roll = rng.uniform(-0.15, 0.15) * pitch  # how far the wheel has turned off the centre
    centre_x = canvas / 2 + rng.uniform(-0.08, 0.08) * canvas
    centre_y = canvas / 2 + roll
    for step, shown in ((-1, (digit + 1) % 10), (0, digit), (1, (digit - 1) % 10)):
        draw.text((centre_x, centre_y + step * pitch), str(shown), fill=255, font=font, anchor="mm")
    image = image.rotate(rng.uniform(-8, 8), resample=Image.BILINEAR)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 2.5)))
    pixels = np.asarray(image.resize((SIZE, SIZE), Image.BILINEAR), dtype=np.float32) / 255.0
    ink, paper = rng.uniform(0.6, 1.0), rng.uniform(0.0, 0.35)
    pixels = paper + (ink - paper) * pixels
    if rng.random() < 0.5:
        pixels = 1.0 - pixels
    ramp = np.linspace(-1.0, 1.0, SIZE, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    pixels = pixels * (1.0 + rng.uniform(0.0, 0.35) * gradient)
    pixels = pixels + rng.normal(0.0, rng.uniform(0.02, 0.08), pixels.shape)
    return np.clip(pixels, 0.0, 1.0).astype(np.float32)


def load_meter_digits(images_per_digit: int = 50, seed: int = 0):
    """Meter digits (10 classes) in disjoint train / validation / test fonts, 32x32 grayscale.

    See the module docstring for how they are made. With the defaults 6,500 /
    1,500 / 2,500 images (`images_per_digit` per digit and font), rendered in
    about a quarter of a minute.

    Args:
        images_per_digit: Images of each digit in each font (each with its own
            size, place, slant, blur, light and noise).
        seed: Seed of every random choice.

    Returns:
        `(x_train, y_train), (x_val, y_val), (x_test, y_test)`; x has shape
        `(n, 32, 32, 1)`, float32 in [0, 1]; y integer labels (the digit).

    Raises:
        ValueError: `images_per_digit` is not a positive integer.

    Example:

    ```python
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_meter_digits()
    x_train.shape  # (6500, 32, 32, 1)
    ```
    """
    if isinstance(images_per_digit, bool) or not isinstance(images_per_digit, int) or images_per_digit < 1:
        raise ValueError(f"images_per_digit must be a positive integer, got {images_per_digit!r}.")
    folder = font_folder()
    splits = []
    for index, part in enumerate(("train", "validation", "test")):
        rng = np.random.default_rng([seed, index])
        x, y = [], []
        for name in FONT_SPLIT[part]:
            for digit in range(10):
                for _ in range(images_per_digit):
                    x.append(render(os.path.join(folder, name), digit, rng))
                    y.append(digit)
        order = rng.permutation(len(y))
        splits.append((np.stack(x)[order][..., None], np.asarray(y, dtype="int64")[order]))
    return tuple(splits)
