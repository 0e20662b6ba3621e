"""The synthetic dataset's calibration: each random split's baselines beside untrained SUM-GANs.

``python -m course_lib.calibration`` prints the table the annotator model of
:mod:`course_lib.data.synthetic_videos` was tuned on (notebook 02). It lives outside ``data/``
because it builds a model, and the data layer knows none.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from course_lib import evaluation as ev
from course_lib.config import SummarizationDataConfig, sum_gan_config, summarization_data_config
from course_lib.data.summarization import make_splits
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.models.sum_gan import build_sum_gan, score_videos


def calibrate(config: SummarizationDataConfig, n_splits: int = 5,
              untrained_seeds: tuple[int, ...] = (0, 1, 2)) -> list[dict]:
    """The baseline table (:func:`course_lib.evaluation.baseline_table`) of each random split,
    with untrained SUM-GANs (laptop sizes) beside the baselines: the numbers the annotator
    model was tuned on."""
    data = make_synthetic_dataset(config)
    models = [build_sum_gan(sum_gan_config("laptop", verbose=False), s) for s in untrained_seeds]
    tables = []
    for split in make_splits(data.keys(), rng=np.random.default_rng(config.seed))[:n_splits]:
        untrained = [score_videos(m, data, split.test_keys) for m in models]
        tables.append(ev.baseline_table(data, split, n_random_trials=config.n_random_trials,
                                        seed=config.seed, extra={"untrained SUM-GAN": untrained}))
    return tables


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="laptop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", type=int, default=5)
    args = parser.parse_args()
    config = replace(summarization_data_config(args.tier, verbose=False), seed=args.seed)
    tables = calibrate(config, args.splits)
    print(f"synthetic, {args.tier} tier, seed {args.seed}: F (%, max over users), Kendall τ, "
          f"Spearman ρ on each split's test videos")
    for name in tables[0]:
        f = [t[name].f_score for t in tables]
        print(f"{name:24s} F " + " ".join(f"{v:5.1f}" for v in f) + f"  mean {np.mean(f):5.1f}"
              f"  τ {np.mean([t[name].kendall_tau for t in tables]):+.3f}"
              f"  ρ {np.mean([t[name].spearman_rho for t in tables]):+.3f}")


if __name__ == "__main__":
    _main()
