"""Data sets for networks: the shipped digits against facts of the published set, generated sets
against their geometry (noise 0), the CSV reader's errors, the split and normalization."""

from __future__ import annotations

import numpy as np
import pytest

from engine.datasets import (
    GENERATORS,
    Dataset,
    DatasetError,
    digit_images,
    generate,
    load_dataset,
    load_digits,
    normalize,
    read_csv,
    split,
)

# ---- digits --------------------------------------------------------------------------------


def test_digits_are_the_published_set():
    d = load_digits()
    assert d.x.shape == (1797, 64)
    assert d.n_classes == 10
    assert d.x.min() == 0
    assert d.x.max() == 16
    assert np.array_equal(d.x, np.round(d.x))
    # class counts of the UCI test set, and its first image (a 0) and label order
    assert np.bincount(d.y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert d.y[:10].tolist() == list(range(10))
    first = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0]
    assert d.x[0, :16].tolist() == first
    assert digit_images(d)[0, 1].tolist() == first[8:]


def test_digits_by_name():
    assert load_dataset("digits").x.shape == (1797, 64)


# ---- generated sets ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(GENERATORS))
def test_generated_sets_have_their_size_balance_and_seed(name):
    classes = GENERATORS[name].classes or 2
    d = generate(name, seed=3, samples=101)
    assert d.x.shape == (101, 2)
    counts = np.bincount(d.y, minlength=classes)
    assert len(counts) == classes
    assert counts.max() - counts.min() <= 1
    again = generate(name, seed=3, samples=101)
    assert np.array_equal(again.x, d.x)
    assert np.array_equal(again.y, d.y)
    assert not np.array_equal(generate(name, seed=4, samples=101).x, d.x)
    # shuffled as made: the first ten examples are not all of one class
    assert len(set(d.y[:10].tolist())) > 1


@pytest.mark.parametrize("name", list(GENERATORS))
def test_noise_moves_points_by_its_standard_deviation(name):
    clean = generate(name, seed=0, samples=4000, noise=0.0)
    noisy = generate(name, seed=0, samples=4000, noise=0.3)
    # the same draws up to the noise, added last: the difference is the noise itself
    assert np.array_equal(clean.y, noisy.y)
    assert np.std(noisy.x - clean.x) == pytest.approx(0.3, rel=0.05)


def test_moons_lie_on_their_arcs_without_noise():
    d = generate("moons", seed=1, samples=400, noise=0.0)
    upper, lower = d.x[d.y == 0], d.x[d.y == 1]
    assert np.allclose(np.hypot(*upper.T), 1.0)
    assert (upper[:, 1] >= 0).all()
    assert np.allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)
    assert (lower[:, 1] <= 0.5).all()


def test_circles_have_radius_one_and_a_half():
    d = generate("circles", seed=1, samples=400, noise=0.0)
    radius = np.hypot(*d.x.T)
    assert np.allclose(radius[d.y == 0], 1.0)
    assert np.allclose(radius[d.y == 1], 0.5)


def test_xor_labels_are_the_sign_rule():
    d = generate("xor", seed=1, samples=400, noise=0.0)
    assert np.array_equal(d.y, (np.sign(d.x[:, 0]) != np.sign(d.x[:, 1])).astype(int))
    assert (np.abs(d.x) <= 1).all()


def test_blobs_and_spirals_take_a_class_count():
    blobs = generate("blobs", seed=0, samples=50, noise=0.0, classes=5)
    assert np.bincount(blobs.y).tolist() == [10] * 5
    centres = np.unique(blobs.x.round(12), axis=0)
    assert len(centres) == 5
    assert np.allclose(np.hypot(*centres.T), 2.0)
    spirals = generate("spirals", seed=0, samples=60, noise=0.0, classes=3)
    assert np.bincount(spirals.y).tolist() == [20, 20, 20]
    assert (np.hypot(*spirals.x.T) <= 1).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "moons", "samples": 3}, "samples must be an integer ≥ 4"),
        ({"name": "moons", "samples": 10.5}, "samples must be an integer"),
        ({"name": "moons", "noise": -0.1}, "noise must be a number ≥ 0"),
        ({"name": "moons", "noise": float("inf")}, "noise must be a finite number"),
        ({"name": "moons", "classes": 3}, "moons has two classes"),
        ({"name": "blobs", "classes": 1}, "classes must be an integer ≥ 2"),
        ({"name": "swirls"}, "unknown generated data set 'swirls'"),
    ],
)
def test_bad_generator_settings_say_what_is_expected(kwargs, message):
    name = kwargs.pop("name")
    with pytest.raises(DatasetError, match=message):
        generate(name, 0, **kwargs)


def test_unknown_dataset_name_lists_the_choices():
    with pytest.raises(DatasetError, match=r"unknown data set 'mnist'; expected digits, moons"):
        load_dataset("mnist")


# ---- CSV -----------------------------------------------------------------------------------


def write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_csv_reads_features_and_sorted_numeric_classes(tmp_path):
    path = write(tmp_path, "a,label,b\n1,10,2\n3,2,4\n\n5,10.0,6\n7,2,8\n", encoding="utf-8-sig")
    d = read_csv(path)
    assert d.feature_names == ("a", "b")
    assert d.x.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert d.classes == ("2", "10")  # numbers sort as numbers; 10 and 10.0 are one class
    assert d.y.tolist() == [1, 0, 1, 0]


def test_csv_text_labels_and_another_label_column(tmp_path):
    path = write(tmp_path, "x,kind\n0.5,dog\n-1e3,cat\n2,dog\n")
    d = read_csv(path, label_column="kind")
    assert d.classes == ("cat", "dog")
    assert d.y.tolist() == [1, 0, 1]
    assert d.x[:, 0].tolist() == [0.5, -1000.0, 2.0]


def test_csv_by_path_relative_to_the_experiment(tmp_path):
    write(tmp_path, "x,label\n0,0\n1,1\n")
    assert load_dataset("data.csv", base_dir=tmp_path).n_examples == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"data\.csv is empty; expected a header row"),
        ("\n\n", r"data\.csv is empty"),
        ("x1,x2,y\n1,2,0\n", r"has no label column 'label' \(found columns x1, x2, y\)"),
        ("x,label\n1,0\n2,1\nthree,0\n", r"line 4, column 1 \('x'\): 'three' is not a number"),
        ("x,z,label\n1,2,0\n2,,1\n", r"line 3, column 2 \('z'\): '' is not a number"),
        ("x,label\n1,0\nnan,1\n", r"line 3, column 1 \('x'\): 'nan' is not a finite number"),
        ("x,label\n1,0\n2,1\ninf,1\n", r"line 4, column 1 \('x'\): 'inf' is not a finite"),
        ("x,label\n1,7\n2,7\n", r"column 'label' holds a single class \('7'\); .*at least two"),
        ("x,label\n", r"has a header but no rows"),
        ("x,label\n1,0\n2\n", r"line 3: 1 cells, but the header names 2 columns"),
        ("x,label\n1,0\n2, \n", r"line 3, column 2 \('label'\): the label is empty"),
        ("label\n0\n1\n", r"has no feature column"),
    ],
)
def test_bad_csv_files_name_line_and_column(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError, match=message):
        read_csv(path)


def test_a_value_beyond_the_dtype_it_is_used_in_is_a_bad_cell(tmp_path):
    """Without normalization the features enter the network as they are: in float32, 1e39
    would be inf. Blank line 3 skipped, the line counted as in the file."""
    path = write(tmp_path, "x,z,label\n1,2,0\n\n2,-1e39,1\n")
    with pytest.raises(DatasetError, match=r"line 4, column 2 \('z'\): '-1e39' is beyond the "
                       r"range of float32 \(±3\.4e\+38\)"):  # fmt: skip
        read_csv(path, raw_dtype=np.dtype("float32"))
    assert read_csv(path, raw_dtype=np.dtype("float64")).x[1, 1] == -1e39
    assert read_csv(path).x[1, 1] == -1e39  # normalized: only its statistics matter


def test_csv_missing_or_binary_file(tmp_path):
    with pytest.raises(DatasetError, match="cannot read data file"):
        read_csv(tmp_path / "nothing.csv")
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00x")
    with pytest.raises(DatasetError, match="is not a UTF-8 CSV text file"):
        read_csv(path)


# ---- split and normalization ---------------------------------------------------------------


def test_no_validation_keeps_the_file_order():
    d = generate("moons", seed=0, samples=50)
    parts = split(d, 0.0, seed=5)
    assert np.array_equal(parts.x_train, d.x)
    assert np.array_equal(parts.y_train, d.y)
    assert parts.x_val.shape == (0, 2)
    assert not parts.has_validation


def test_validation_split_is_drawn_from_the_seed():
    d = load_digits()
    parts = split(d, 0.2, seed=0)
    assert len(parts.y_train) == 1437  # ⌈0.2 · 1797⌉ = 360 held out
    assert len(parts.y_val) == 360
    both = np.concatenate([parts.train_index, parts.val_index])
    assert np.array_equal(np.sort(both), np.arange(1797))
    assert np.all(np.diff(parts.train_index) > 0)  # each part keeps the data's order
    assert np.array_equal(parts.x_val, d.x[parts.val_index])
    assert np.array_equal(split(d, 0.2, seed=0).val_index, parts.val_index)
    assert not np.array_equal(split(d, 0.2, seed=1).val_index, parts.val_index)
    # every class is represented in a random 20% of a balanced set this size
    assert len(np.unique(parts.y_val)) == 10


@pytest.mark.parametrize("fraction", [1.0, -0.1, 1.5, True, "0.2"])
def test_validation_fraction_out_of_range(fraction):
    with pytest.raises(DatasetError, match=r"validation_fraction must be a number in \[0, 1\)"):
        split(generate("moons", 0), fraction, seed=0)


def test_a_fraction_that_leaves_nothing_to_train_on():
    with pytest.raises(DatasetError, match="leaves no training example"):
        split(generate("moons", 0, samples=4), 0.9, seed=0)


def test_normalization_uses_training_statistics():
    d = load_digits()
    parts = normalize(split(d, 0.25, seed=2))
    raw_train = d.x[parts.train_index]
    varying = raw_train.std(axis=0) > 0
    assert np.allclose(parts.x_train.mean(axis=0), 0)
    assert np.allclose(parts.x_train.std(axis=0)[varying], 1)
    # a pixel blank in every training image is centred, not divided by zero
    assert (~varying).any()
    assert np.array_equal(parts.std[~varying], np.ones((~varying).sum()))
    # the validation part is scaled by the training mean and std, not its own
    expected = (d.x[parts.val_index] - raw_train.mean(axis=0)) / np.where(
        varying, raw_train.std(axis=0), 1
    )
    assert np.allclose(parts.x_val, expected)
    assert not np.allclose(parts.x_val.mean(axis=0)[varying], 0)


def test_normalization_of_values_whose_squares_overflow_is_scale_free():
    """A column near 1e200 (its squares 1e400): normalized as the same column scaled down
    would be, without a warning; a column of ordinary values beside it is untouched."""
    import warnings

    small = np.array([[1.0, 3.0], [3.0, -1.0], [2.0, 0.5], [6.0, 2.0]])
    big = small * np.array([1e200, 1.0])
    parts = split(Dataset("big", big, np.array([0, 1, 0, 1]), ("a", "b"), ("x", "y")), 0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = normalize(parts)
    closed = (small - small.mean(axis=0)) / small.std(axis=0)  # ddof 0, the contract's
    np.testing.assert_allclose(got.x_train, closed, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(got.x_train[:, 1], closed[:, 1])  # computed as before
    assert got.std[0] == pytest.approx(1e200 * small[:, 0].std(), rel=1e-12)
