"""Writes `old/`: a search directory in the format of keras-nas before the run record.

It was run at commit 402a2a2 (trial outcomes recorded only as a marker inside the
failure message), then the trials' weight checkpoints and the lock file were
deleted. `tests/test_run_record.py` checks that such a directory still resumes,
reports and exports. Running it again with a later keras-nas writes the new format.

    git checkout 402a2a2 && python tests/data/old_search/make_old_search.py /tmp/runs
"""

import sys

from keras_nas import NASModel
from keras_nas.datasets import load_digits

(x, y), (x_val, y_val), _ = load_digits()
# Latency estimated from MAC counts on the MCU target: deterministic, so trial 0000
# is always rejected (0.8 ms > 0.5 ms) and 0001, 0002 are trained.
model = NASModel(
    constraints={"latency_ms": 0.5}, target="cortex-m4", strategy="random", space="mlp",
    max_trials=2, max_rejected_trials=3, seed=3, latency_runs=2, finalists=1,
    directory=sys.argv[1], project_name="old", overwrite=True,
)
model.fit(x[:300], y[:300], validation_data=(x_val[:100], y_val[:100]), epochs=1, verbose=1)
