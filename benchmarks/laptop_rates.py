"""Is a trainer's laptop configuration stable? One run's training curves, epoch by epoch.

Trains SUM-GAN-sl or -AAE with the faithful or the fast trainer at the laptop tier (synthetic
data, the default split, one seed, nothing saved) at the configuration's learning rates times
``--scale``, and prints per epoch the reconstruction loss, the discriminator's outputs on
originals and summaries, the mean score and the test F-score. A stable run keeps the
reconstruction near its first epochs' level and both outputs near 0.5; a diverging one has the
reconstruction growing and P(original) → 1, P(summary) → 0 (the discriminator wins outright).

Run:  python benchmarks/laptop_rates.py --model sl --trainer faithful            (its rates)
      python benchmarks/laptop_rates.py --model sl --trainer faithful --rates 1e-3 1e-4
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from course_lib import config
from course_lib.data import summarization as sm
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.models import sum_gan_aae as aae
from course_lib.models import sum_gan_sl as sl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("sl", "aae"), default="sl")
    parser.add_argument("--trainer", choices=config.TRAINERS, default="faithful")
    parser.add_argument("--rates", type=float, nargs=2, metavar=("LR", "DISCRIMINATOR_LR"),
                        help="learning rates instead of the configuration's")
    parser.add_argument("--epochs", type=int, help="instead of the configuration's")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    make_config, build, fit = {
        "sl": (config.sum_gan_sl_config, sl.build_sum_gan_sl, sl.fit_sum_gan_sl),
        "aae": (config.sum_gan_aae_config, aae.build_sum_gan_aae, aae.fit_sum_gan_aae)}[args.model]
    cfg = make_config("laptop", verbose=False, trainer=args.trainer)
    if args.rates:
        cfg = dataclasses.replace(cfg, learning_rate=args.rates[0],
                                  discriminator_learning_rate=args.rates[1])
    if args.epochs:
        cfg = dataclasses.replace(cfg, epochs=args.epochs)
    data_cfg = config.summarization_data_config("laptop", verbose=False)
    data = make_synthetic_dataset(data_cfg)
    split = sm.make_splits(data.keys(), rng=np.random.default_rng(data_cfg.seed))[cfg.split]
    print(f"SUM-GAN-{args.model}, {args.trainer} trainer ({cfg.videos_per_update} videos per "
          f"update), rates {cfg.learning_rate:g} / {cfg.discriminator_learning_rate:g}, "
          f"{cfg.epochs} epochs, split {cfg.split}, seed {args.seed}, {data.name}")
    started = time.perf_counter()
    run = fit(build(cfg, args.seed), cfg, data, split, seed=args.seed, checkpoint=False,
              live=False)
    rows = {"reconstruction": run.epoch_means("reconstruction"),
            "P(original)": run.epoch_means("p_original"),
            "P(summary)": run.epoch_means("p_summary"),
            "mean score": run.epoch_means("mean_score"),
            "test F (%)": np.asarray(run.history.evals["f_score"][1:])}
    print(f"{'epoch':>15s} " + " ".join(f"{e:5d}" for e in range(1, cfg.epochs + 1)))
    for name, values in rows.items():
        print(f"{name:>15s} " + " ".join(f"{v:5.2f}" if v < 10 else f"{v:5.1f}" for v in values))
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
