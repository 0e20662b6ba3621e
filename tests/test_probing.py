import numpy as np
from sklearn.model_selection import train_test_split

from course_lib.probing import linear_probe, probe_over_splits


def test_probe_survives_saturated_units():
    # A trained LSTM has saturated units: constant on the probe's training rows, a little off on
    # a few held-out ones. Standardising them would turn those deviations into huge predictions.
    rng = np.random.default_rng(0)
    features = rng.uniform(-1, 1, size=(200, 20))
    targets = features[:, :2] @ np.array([[1.0, -2.0], [0.5, 1.0]])
    targets += 0.3 * rng.normal(size=targets.shape)
    _, held_out = train_test_split(np.arange(200), test_size=0.25, random_state=0)
    features[:, -5:] = 1.0 - 1e-6 * rng.random((200, 5))
    features[held_out[:3], -5:] = 0.9
    assert linear_probe(features, targets) > 0.8
    assert linear_probe(rng.uniform(-1, 1, size=(200, 20)), targets) < 0.2


def test_the_probe_over_splits_holds_out_other_rows_each_time():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(120, 8))
    targets = features[:, :1] + 0.8 * rng.normal(size=(120, 1))
    r2 = probe_over_splits(features, targets, n_splits=4)
    assert r2.shape == (4,) and len(set(np.round(r2, 6))) == 4  # four different splits
    assert r2[0] == linear_probe(features, targets)  # the first is the single probe's split
