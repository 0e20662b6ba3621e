"""Linear probes: how much of a known quantity can a linear map read off a representation?

Taught in notebook 01 (what the LSTM autoencoder's representation captures). A probe that reads a
quantity much better from the trained representation than from an untrained network's says the
training put it there; a linear probe cannot compute it itself.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split


def linear_probe(features: np.ndarray, targets: np.ndarray, seed: int = 0) -> float:
    """Held-out R² of a ridge regression from ``features`` [N, F] to ``targets`` [N, K].

    A quarter of the rows is held out; the ridge penalty is chosen by cross-validation on the
    rest. 1 is a perfect read-out, 0 is no better than predicting the mean. The features are not
    standardised: a trained LSTM has saturated units, nearly constant on the training rows, and
    scaling them to unit variance turns their tiny held-out deviations into huge predictions.
    """
    if len(features) != len(targets):
        raise ValueError(f"{len(features)} feature rows but {len(targets)} target rows.")
    x_train, x_test, y_train, y_test = train_test_split(features, targets, test_size=0.25,
                                                        random_state=seed)
    probe = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(x_train, y_train)
    return float(r2_score(y_test, probe.predict(x_test)))


def probe_over_splits(features: np.ndarray, targets: np.ndarray, n_splits: int = 5
                      ) -> np.ndarray:
    """:func:`linear_probe`'s R² on ``n_splits`` random 75/25 splits of the rows (seeds 0, 1, ...).

    With a few hundred rows, which rows are held out moves R² by several hundredths (notebook
    01's velocity probe: 0.84 to 0.92 over five splits), so one split's three digits would claim
    a precision it does not have: report the mean and the range. Two representations probed with
    the same ``n_splits`` share their splits, so their difference can be taken split by split.
    """
    return np.array([linear_probe(features, targets, seed=seed) for seed in range(n_splits)])


def project_2d(features: np.ndarray) -> np.ndarray:
    """The first two principal components of ``features`` [N, F] (for a scatter plot)."""
    return PCA(n_components=2).fit_transform(features)


def motion_targets(positions: np.ndarray, velocities: np.ndarray, step: int
                   ) -> dict[str, np.ndarray]:
    """Position and velocity of each digit after frame ``step``, as probe targets.

    ``positions``/``velocities`` are [N, T, n_digits, 2] (Moving MNIST metadata). Digits are
    ordered by their row so that the targets do not depend on which digit was drawn first.
    """
    order = np.argsort(positions[:, step, :, 0], axis=1)[..., None]
    position = np.take_along_axis(positions[:, step], order, axis=1)
    velocity = np.take_along_axis(velocities[:, step], order, axis=1)
    return {"position": position.reshape(len(position), -1),
            "velocity": velocity.reshape(len(velocity), -1)}
