"""The main job (`make demo`) end to end on small settings: search, export, and the hand design beside the winner."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_nas import demo, tflite  # noqa: E402


def test_demo_prints_the_hand_design_beside_the_winner(tmp_path, capsys):
    report = demo.main([
        "--dataset", "digits", "--max-trials", "2", "--epochs", "2", "--flash-kb", "10", "--ram-kb", "4",
        "--directory", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
    ])
    printed = capsys.readouterr().out
    assert "| keras-nas winner |" in printed and "| plain_cnn |" in printed
    hand = report["hand_design"]
    assert hand["name"] == "plain_cnn" and 0.0 <= hand["int8_test_accuracy"] <= 1.0
    int8 = (tmp_path / "out" / "model_int8.tflite").read_bytes()
    assert len(int8) / 1024 <= 10 and tflite.arena_bytes(int8) / 1024 <= 4
    assert (tmp_path / "out" / "model_data.cc").exists()


def test_every_built_in_data_set_has_the_hand_design_it_is_compared_with():
    import keras

    from keras_nas import baselines
    from keras_nas.datasets import DATASETS

    assert sorted(baselines.HAND_DESIGN_OF) == sorted(DATASETS)
    # Each design builds on its data set's input shape (a 1D design on images would not).
    shapes = {"digits": (8, 8, 1), "mnist1d": (40, 1), "spoken_words": (49, 40, 1), "meter_digits": (32, 32, 1)}
    for dataset, design in baselines.HAND_DESIGN_OF.items():
        model = baselines.HAND_DESIGNS[design](shapes[dataset], 10, None, None)
        assert model.output_shape == (None, 10), dataset
        keras.backend.clear_session()
