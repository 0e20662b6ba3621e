import numpy as np
from sklearn.model_selection import train_test_split

from course_lib.probing import linear_probe


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
