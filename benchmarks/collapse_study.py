"""Why do SUM-GAN-sl and -AAE collapse to near-constant scores? The measurements, as tables.

Trains each model (synthetic data of the tier, one split, the seeds given, nothing saved) with
each trainer at each learning-rate setting, and prints four tables:

1. each loss term's gradient on the selector (size; cosine of its descent, and of an Adam-like
   sign step, with the gradient of the scores' spread) at several epochs: which term narrows them;
2. the discriminator's outputs on originals and reconstructions per epoch, and how often it rates
   the original above the reconstruction (0.5: chance);
3. the trained model's reconstruction loss and P(summary) with its own scores against constant,
   shuffled and random scores of the same mean: does selecting matter to the loss at all;
4. the test videos' score spread per epoch for each trainer and rate: does the fast trainer or
   its higher rates cause the collapse, or only speed it up.

Run:  OMP_NUM_THREADS=1 python benchmarks/collapse_study.py                 (laptop, ~15 min)
      OMP_NUM_THREADS=1 python benchmarks/collapse_study.py --epochs 20     (both trainers 20
      epochs, as docs/collapse-study.md measured: 23 min on a shared 2-core CPU)
      python benchmarks/collapse_study.py --tier smoke --seeds 0             (seconds)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from course_lib import collapse, config
from course_lib.models import sum_gan_aae, sum_gan_sl

MODELS = {"sl": (config.sum_gan_sl_config, sum_gan_sl.build_sum_gan_sl,
                 sum_gan_sl.fit_sum_gan_sl),
          "aae": (config.sum_gan_aae_config, sum_gan_aae.build_sum_gan_aae,
                  sum_gan_aae.fit_sum_gan_aae)}
RATES = {"reference": (config.SumGanSlConfig.learning_rate,
                       config.SumGanSlConfig.discriminator_learning_rate),
         "laptop-fast": (config.LAPTOP_FAST_RATES["learning_rate"],
                         config.LAPTOP_FAST_RATES["discriminator_learning_rate"])}
# (trainer, rates) of each run; the probe (tables 1-3) runs on the first two.
CONDITIONS = (("faithful", "reference"), ("fast", "laptop-fast"), ("fast", "reference"),
              ("faithful", "laptop-fast"))
PROBED = CONDITIONS[:2]
KEY = ("model", "trainer", "rates", "seed", "tier", "split", "epochs")  # what makes a run
TERMS = ("reconstruction", "prior", "sparsity", "phase 1 (sum)", "adversarial")


def run_one(model: str, trainer: str, rates: str, seed: int, tier: str, split: int | None,
            probe_videos: int, epochs: int | None) -> dict:
    make_config, build, fit = MODELS[model]
    cfg = make_config(tier, verbose=False, trainer=trainer)
    lr, dlr = RATES[rates] if tier != "smoke" else (cfg.learning_rate,
                                                    cfg.discriminator_learning_rate)
    cfg = dataclasses.replace(cfg, learning_rate=lr, discriminator_learning_rate=dlr,
                              epochs=epochs or cfg.epochs)
    data, the_split = collapse.synthetic_split(tier, split)
    net = build(cfg, seed)
    probe = None
    if (trainer, rates) in PROBED:
        marks = sorted({0, 1, 2, 5, 10, cfg.epochs} & set(range(cfg.epochs + 1)))
        probe = collapse.CollapseProbe(net, data, list(the_split.train_keys)[:probe_videos],
                                       cfg, epochs=marks, seed=seed)
    started = time.perf_counter()
    run = fit(net, cfg, data, the_split, seed=seed, checkpoint=False, live=False,
              on_evaluate=probe)
    result = {"model": model, "trainer": trainer, "rates": rates, "seed": seed, "tier": tier,
              "split": split, "epochs": epochs,
              "seconds": time.perf_counter() - started,
              "curves": {k: v.tolist() for k, v in collapse.epoch_curves(run).items()},
              "f_score": list(run.history.evals["f_score"])}
    if probe is not None:
        result["gradients"] = {str(e): {t: dataclasses.asdict(g) for t, g in table.items()}
                               for e, table in probe.gradients.items()}
        result["views"] = {str(e): dataclasses.asdict(v) for e, v in probe.views.items()}
        result["conditions"] = {
            c: dataclasses.asdict(r) for c, r in collapse.reconstruction_without_selection(
                net, data, list(the_split.test_keys), cfg.sigma, seed=seed).items()}
    return result


def _mean(values) -> np.ndarray:
    return np.mean(np.asarray(values, dtype=float), axis=0)


def print_tables(results: list[dict]) -> None:
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["model"], r["trainer"], r["rates"]), []).append(r)
    seeds = sorted({r["seed"] for r in results})
    print(f"\nMeans over seeds {seeds}.")

    print("\n1. Loss terms' gradients on the selector's parameters: norm | cosine of descent "
          "with d(spread) | of a sign (Adam-like) step")
    for (model, trainer, rates), runs in groups.items():
        if "gradients" not in runs[0]:
            continue
        print(f"\n  {model}, {trainer} trainer, {rates} rates")
        epochs = list(runs[0]["gradients"])
        print(f"  {'term':>16s} " + " ".join(f"{'epoch ' + str(e):>24s}" for e in epochs))
        for term in TERMS:
            if term not in runs[0]["gradients"][epochs[0]]:
                continue
            cells = []
            for e in epochs:
                g = {k: float(_mean([r["gradients"][e][term][k] for r in runs]))
                     for k in ("norm", "widens", "sign_widens")}
                cells.append(f"{g['norm']:8.1e} {g['widens']:+6.2f} {g['sign_widens']:+6.2f}")
            print(f"  {term:>16s} " + " ".join(f"{c:>24s}" for c in cells))

    print("\n2. The discriminator: training updates' mean P(original) / P(summary) per epoch; "
          "probe's separation (share of videos with P(original) > P(summary))")
    for (model, trainer, rates), runs in groups.items():
        po = _mean([r["curves"]["train p original"] for r in runs])
        ps = _mean([r["curves"]["train p summary"] for r in runs])
        print(f"\n  {model}, {trainer} trainer, {rates} rates")
        print(f"  {'epoch':>12s} " + " ".join(f"{e:5d}" for e in range(1, len(po) + 1)))
        print(f"  {'P(original)':>12s} " + " ".join(f"{v:5.3f}" for v in po))
        print(f"  {'P(summary)':>12s} " + " ".join(f"{v:5.3f}" for v in ps))
        print(f"  {'difference':>12s} " + " ".join(f"{v:+5.3f}"[:6].rjust(5)
                                                  for v in po - ps))
        if "views" in runs[0]:
            sep = {e: float(_mean([r["views"][e]["separation"] for r in runs]))
                   for e in runs[0]["views"]}
            print("  separation at epochs " + ", ".join(f"{e}: {v:.2f}" for e, v in sep.items()))

    print("\n3. Trained model, test videos: reconstruction ‖φ(x) − φ(x̂)‖ and P(summary) when "
          "fed each kind of scores")
    for (model, trainer, rates), runs in groups.items():
        if "conditions" not in runs[0]:
            continue
        print(f"\n  {model}, {trainer} trainer, {rates} rates")
        for condition in collapse.SCORE_CONDITIONS:
            rec = float(_mean([r["conditions"][condition]["reconstruction"] for r in runs]))
            p = float(_mean([r["conditions"][condition]["p_summary"] for r in runs]))
            print(f"  {condition:>18s}  reconstruction {rec:.4f}  P(summary) {p:.4f}")

    print("\n4. Test videos' score spread (10-90 % range) per epoch, and the final F")
    for (model, trainer, rates), runs in groups.items():
        for r in runs:
            spread = r["curves"]["test spread"]
            shown = " ".join(f"{v:5.3f}" for v in spread)
            print(f"  {model:>3s} {trainer:>8s} {rates:>11s} seed {r['seed']}: {shown} | "
                  f"mean score {r['curves']['test mean score'][-1]:.3f} | "
                  f"F {r['f_score'][-1]:.1f} | {r['seconds']:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="laptop", choices=config.TIERS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--split", type=int, help="default: the configuration's")
    parser.add_argument("--epochs", type=int, help="instead of the configuration's")
    parser.add_argument("--conditions", type=int, default=len(CONDITIONS),
                        help=f"how many of {CONDITIONS} to run (the first N)")
    parser.add_argument("--probe-videos", type=int, default=5,
                        help="training videos the gradient and discriminator probe reads")
    parser.add_argument("--json", type=Path, help="also write every number here; runs already "
                        "in it (same model, trainer, rates and seed) are read, not trained again")
    args = parser.parse_args(argv)
    done = json.loads(args.json.read_text()) if args.json and args.json.exists() else []
    results = []
    for trainer, rates in CONDITIONS[:args.conditions]:  # the probed conditions first
        for model in args.models:
            for seed in args.seeds:
                key = (model, trainer, rates, seed, args.tier, args.split, args.epochs)
                found = [r for r in done if tuple(r[k] for k in KEY) == key]
                results.append(found[0] if found else run_one(
                    model, trainer, rates, seed, args.tier, args.split, args.probe_videos,
                    args.epochs))
                print(f"done: {model} {trainer} {rates} seed {seed} "
                      f"({results[-1]['seconds']:.0f} s)", flush=True)
                if args.json:  # after every run: an interrupted study resumes from here
                    tmp = args.json.with_suffix(".tmp")
                    tmp.write_text(json.dumps(results + [r for r in done if r not in results],
                                              indent=1))
                    tmp.replace(args.json)
    print_tables(results)


if __name__ == "__main__":
    main()
