"""The space sizes in docs/blocks.md are what `blocks.space_size` computes."""

import re
from pathlib import Path

from keras_nas import blocks

DOC = Path(__file__).resolve().parents[1] / "docs" / "blocks.md"
# A size row: `| `Class` ... | ... | 8x8x1 ... | 1,234 |`; a continuation row leaves the class cell empty.
ROW = re.compile(r"\| (`(\w+)`[^|]*)?\|[^|]*\| ([0-9x]+)[^|]*\| ([0-9,]+) \|$")


def documented_sizes() -> list[tuple[str, tuple[int, ...], int]]:
    rows, space = [], None
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            space = match.group(2) or space
            shape = tuple(int(v) for v in match.group(3).split("x"))
            rows.append((space, shape, int(match.group(4).replace(",", ""))))
    return rows


def test_documented_space_sizes_are_space_size():
    rows = documented_sizes()
    assert {"ConvSpace", "KWSSpace", "MicroSpace", "MobileSpace", "MLPSpace", "OneShotSpace"} <= {
        r[0] for r in rows
    }
    wrong = [
        f"{space} {'x'.join(map(str, shape))}: docs {size:,}, space_size {actual:,}"
        for space, shape, size in rows
        if size != (actual := blocks.space_size(getattr(blocks, space)(), shape))
    ]
    assert not wrong, "; ".join(wrong)
