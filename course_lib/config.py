"""Configuration tiers: one flag picks the sizes of every notebook.

- ``smoke``: CI and the test suite; seconds per notebook, nothing needs to learn.
- ``laptop``: a CPU in a few minutes, small enough to run, big enough to visibly learn.
- ``paper``: a GPU, the sizes of the paper the notebook reproduces.

The flag is the notebook's ``TIER`` parameter (a cell tagged ``parameters``) or, when that is
``None``, the environment variable ``COURSE_TIER``; unset, it is ``paper`` on a CUDA GPU and
``laptop`` elsewhere. Each lecture's sizes live in one dataclass below, so the three tiers of a
notebook can be read side by side.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from course_lib.errors import CourseError

TIERS = ("smoke", "laptop", "paper")
TIER_ENV_VAR = "COURSE_TIER"


def resolve_tier(tier: str | None = None, verbose: bool = True) -> str:
    """The tier asked for by the notebook, else by ``$COURSE_TIER``, else by the hardware."""
    source = "notebook parameter"
    if tier is None:
        tier, source = os.environ.get(TIER_ENV_VAR) or None, f"${TIER_ENV_VAR}"
    if tier is None:
        tier = "paper" if torch.cuda.is_available() else "laptop"
        source = "default for this machine (CUDA found)" if tier == "paper" else (
            "default for this machine (no CUDA GPU)")
    if not isinstance(tier, str):
        raise CourseError(
            f"The configuration tier must be a name, one of {', '.join(TIERS)}, not "
            f"{type(tier).__name__} {tier!r} (from the {source}): write TIER = \"laptop\" "
            f"(with quotes) in the notebook's parameters cell, or TIER = None to use "
            f"${TIER_ENV_VAR}."
        )
    tier = tier.strip().lower()
    if tier not in TIERS:
        raise CourseError(
            f"Unknown configuration tier {tier!r} (from the {source}). "
            f"Use one of {', '.join(TIERS)}: set TIER in the notebook's parameters cell "
            f"or export {TIER_ENV_VAR}=laptop before starting Jupyter."
        )
    if verbose:
        print(f"Configuration tier: {tier} ({source})")
    return tier


@dataclass(frozen=True)
class AutoencoderConfig:
    """Sizes for notebook 01 (Srivastava et al., ICML 2015, on Moving MNIST).

    The paper tier uses the official configuration's sizes: two digits on 64x64 frames (4096-d),
    two LSTM layers of 2048 units, 10 input frames, 10 reconstructed and 10 predicted. The laptop
    tier shrinks the task to one digit on a 40x40 canvas (1600-d frames) with 512 units: with two
    digits on 64x64 and 256 units, a CPU's few minutes of training leave grey blobs. Its 6,000
    steps are the fewest after which the digits read as digits (at 2,000 and 4,000 most were
    still blobs); notebook 01 trains its two models once (on a 2-core AMD EPYC with AVX2, 17 and
    21 minutes at once, one per core) and then loads them from their checkpoints.

    The course trains with Adam (faster to a given loss than SGD); ``optimizer="sgd"`` is SGD with
    the official code's momentum and weight decay at ``learning_rate`` (its rate was 1e-4, see
    ``make_optimizer`` in ``course_lib.models.lstm_autoencoder``).

    ``cpu_threads``: a fit's intra-op threads on a CPU (part of a CPU run's checkpoint key). Two
    at the paper tier (:data:`PAPER_CPU_THREADS`); one at the laptop tier, where notebook 01
    trains its two models at once, one per core: on a 2-core AMD EPYC with AVX2, 1.6-1.7× sooner
    than one after the other on two threads (the README's table of notebook times).

    ``matmul_dtype``: the precision of a CPU fit's matrix products. ``"bfloat16"`` multiplies in
    bfloat16 (``torch.autocast``) and keeps the rest in float32 (the LSTM's state, the losses,
    the weights Adam updates); it is part of the checkpoint's key. The laptop tier uses it where
    the CPU multiplies bfloat16 in hardware (:func:`cpu_matmul_dtype`): on a 2-core AMD EPYC with
    AVX512-BF16, 1.5× the training steps per second, held-out losses within 2 nats/frame of
    float32's (the README's notebook times).
    """

    tier: str
    canvas: int = 64
    n_digits: int = 2
    n_input: int = 10
    n_future: int = 10
    hidden_size: int = 2048
    num_layers: int = 2
    batch_size: int = 80
    steps: int = 20_000
    eval_every: int = 500
    n_test_sequences: int = 1000
    optimizer: str = "adam"
    learning_rate: float = 3e-4
    grad_clip: float = 25.0
    cpu_threads: int = 1
    matmul_dtype: str = "float32"

    @property
    def frame_size(self) -> int:
        return self.canvas * self.canvas


def cpu_matmul_dtype(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """``"bfloat16"`` where this CPU multiplies bfloat16 matrices in hardware (AVX512-BF16 or
    AMX-BF16, read from Linux's ``cpuinfo``), else ``"float32"``: elsewhere bfloat16 products
    are emulated and slower than float32 ones."""
    try:
        flags = cpuinfo.read_text().split()
    except OSError:
        return "float32"
    return "bfloat16" if {"avx512_bf16", "amx_bf16"} & set(flags) else "float32"


def autoencoder_config(tier: str | None = None) -> AutoencoderConfig:
    tier = resolve_tier(tier)
    if tier == "smoke":
        return AutoencoderConfig(tier, hidden_size=32, num_layers=1, batch_size=8, steps=6,
                                 eval_every=3, n_test_sequences=16, learning_rate=1e-3)
    if tier == "laptop":
        return AutoencoderConfig(tier, canvas=40, n_digits=1, hidden_size=512, num_layers=1,
                                 batch_size=16, steps=6000, eval_every=500, n_test_sequences=256,
                                 learning_rate=2e-3, matmul_dtype=cpu_matmul_dtype())
    return AutoencoderConfig(tier, cpu_threads=PAPER_CPU_THREADS)


@dataclass(frozen=True)
class SummarizationDataConfig:
    """Sizes of the embedded synthetic summarization dataset (notebook 02 and the SUM-GAN ones).

    The paper tier matches TVSum's shape (50 videos, 20 annotators, minutes-long videos at
    every 15th frame); laptop matches SumMe's video count; smoke is a handful of short videos.
    ``n_random_trials`` is how many draws of random scores the baselines average over.
    ``rarity_weight`` is how much of what the annotators like is visible without labels (the
    rarity of a scene's digit in its video; the rest is a taste for digits that only labels
    reveal): 0.3 everywhere unless a study sweeps it. ``recognizer_weight`` > 0 adds a digit
    recognizer's output to the features (``extract_features``): 0, the course's features;
    3 in the runner's ``synthetic-digits`` (:data:`SYNTHETIC_DATASETS`), which asks what
    features that show the digit change.
    """

    tier: str
    n_videos: int = 50
    scenes_per_video: tuple[int, int] = (5, 12)
    scene_frames: tuple[int, int] = (90, 600)
    n_annotators: int = 20
    feature_dim: int = 1024
    canvas: int = 64
    subsample: int = 15
    n_random_trials: int = 100
    seed: int = 0
    rarity_weight: float = 0.3
    recognizer_weight: float = 0.0


# The synthetic datasets by name, each with how strongly its features show each frame's digit
# (SummarizationDataConfig.recognizer_weight): the course's, and synthetic-digits, the same
# videos, annotators and splits with features that show it. 3 was chosen among 1, 2, 3 and 5 on
# development draws of the laptop data (seeds 1 and 2, not the course's 0) as the weight at
# which a scene's nearest other scene shares its digit most often without the heuristics' F
# moving by more than the splits do.
SYNTHETIC_DATASETS = {"synthetic": 0.0, "synthetic-digits": 3.0}


def synthetic_draw(name: str) -> tuple[str, int | None] | None:
    """A synthetic dataset's name as (dataset, draw): ``"synthetic"`` → ``("synthetic", None)``,
    the course's draw; ``"synthetic@3"`` → ``("synthetic", 3)``, the same kind of data with its
    videos, annotators and splits drawn from seed 3, so that a result can be checked on other
    draws (one draw of 25 videos has luck in it); ``None`` for any other name."""
    base, separator, draw = name.partition("@")
    if base not in SYNTHETIC_DATASETS or (separator and not draw.isdigit()):
        return None
    return base, int(draw) if separator else None


def summarization_data_config(tier: str | None = None,
                              verbose: bool = True) -> SummarizationDataConfig:
    tier = resolve_tier(tier, verbose)
    if tier == "smoke":
        return SummarizationDataConfig(tier, n_videos=5, scenes_per_video=(3, 5),
                                       scene_frames=(90, 240), n_annotators=5, n_random_trials=2)
    if tier == "laptop":
        return SummarizationDataConfig(tier, n_videos=25, scenes_per_video=(4, 9),
                                       scene_frames=(90, 450), n_annotators=15,
                                       n_random_trials=10)
    return SummarizationDataConfig(tier)


# Split 2: typical for the trivial baselines, not the one most favourable to them. Measured on
# the synthetic laptop tier, seed 0 (`python -m course_lib.calibration`),
# F on splits 0-4: random 44.4 39.5 39.7 30.8 33.3, uniform 41.3 40.8 30.9 22.3 27.7, motion
# 44.9 35.6 38.9 39.0 35.4, ramp down from start 40.0 43.7 31.0 23.5 38.0, ramp up to end 45.1
# 39.6 45.0 41.8 33.0, bump at middle 47.2 36.0 42.4 40.1 28.0, human 56.6 55.8 58.4 55.3 53.0.
# Split 0 gives random, motion and the middle bump their highest F and humans their smallest
# lead (9.4, the middle bump); on split 2 random and motion are within 2.2 points of their
# 5-split means and humans lead every trivial baseline by 13.4.
DEFAULT_SPLIT = 2

# A fit's intra-op threads on a CPU at the paper tier (``cpu_threads``; a GPU ignores it; the
# smoke and laptop tiers keep 1). Paper-size products gain from a second core: on the 2-core CPU,
# nothing else running, one epoch on 8 training videos of split 0 (synthetic paper data, 1,482
# steps; two runs each, alternating) took on two threads against one: faithful -sl 13.9-17.4 s
# against 27.2-30.4 s, fast -sl 9.0-10.6 against 14.6-16.7 s, SUM-GAN 84.6-94.0 against
# 154.3-173.9 s. The laptop tier's small products do not gain enough to share a core (an epoch
# of fast -sl 2.18 s against 2.47-2.52 s, of faithful -sl 4.14-4.56 against 3.86-3.99 s; the
# later two of three runs each), and two fits or jobs at a time use both cores there. The count
# fixes a run's numbers (a whole update's bits differ between counts), so it is a setting of
# the configuration, not of the machine; a fit uses at most the cores it may run on, and the
# runner's --jobs counts a job's threads.
PAPER_CPU_THREADS = 2
# What a configuration field added later meant before it existed, where its default now says
# otherwise: a results folder written before is judged by it (the runner never resumes a run
# on other settings). Runs trained before ``cpu_threads`` existed trained on one thread.
EARLIER_VALUES = {"cpu_threads": 1}
# Fields added after checkpoints had been saved, at the value that keeps what the course did
# before them: a checkpoint's key leaves them out at that value
# (models.summarizer_training.run_settings), so adding one does not make every saved model, in
# the notebooks' folder or an unfinished job, train again from the start.
NEUTRAL_LATER_FIELDS = {"recurrence_input": False, "discriminator_rate_factor": 1.0,
                        "matmul_dtype": "float32"}


@dataclass(frozen=True)
class SumGanConfig:
    """Sizes and training settings for notebook 03 (SUM-GAN; Mahasseni, Lam, Todorovic, CVPR 2017).

    The paper tier uses the sizes reported for the paper's model (Mahasseni et al. 2017): 1024-d
    GoogLeNet pool5 inputs read directly, selector sLSTM 2 layers of 1024 units, bidirectional;
    encoder eLSTM and decoder dLSTM 2 layers of 2048 units; discriminator cLSTM 2 layers of 1024
    units; sparsity target σ = 0.3. Learning rates, clipping
    and the epoch count follow the common PyTorch port (j-min/Adversarial_Video_Summary: Adam
    1e-4, discriminator 1e-5, gradient norm clipped at 5, 50 epochs); the number of VAE
    pre-training epochs is the course's choice (the paper recommends pre-training but gives none).

    ``compress_to``: optional input compression, a ``Linear(feature_dim → compress_to)`` before
    every LSTM, as in the common port and SUM-GAN-sl (``Linear(1024, 500)``, no activation). Like
    there, the layer is shared and belongs to all three optimizers (three Adam states).
    ``negative``: what the "uniform" negative of the GAN loss is made from: ``"random"``, scores
    drawn from U(0, 1) (the paper's Algorithm 1), or ``"unweighted"``, the features with every
    score 1 (the common port's shortcut). ``generator_loss``: ``"minimax"``, the decoder descends
    log(1 − c(x̂)) + log(1 − c(x̂_p)) as written in the paper, or ``"non_saturating"``, it descends
    −log c(x̂) − log c(x̂_p) (Goodfellow et al.'s practical variant).

    ``split``: which of the 5 random splits the notebooks train and test on; see
    :data:`DEFAULT_SPLIT`. ``cpu_threads``: see :data:`PAPER_CPU_THREADS`.
    """

    tier: str
    feature_dim: int = 1024
    compress_to: int | None = None
    selector_hidden: int = 1024
    selector_layers: int = 2
    vae_hidden: int = 2048
    vae_layers: int = 2
    discriminator_hidden: int = 1024
    discriminator_layers: int = 2
    sigma: float = 0.3
    epochs: int = 50
    pretrain_epochs: int = 10
    learning_rate: float = 1e-4
    discriminator_learning_rate: float = 1e-5
    grad_clip: float = 5.0
    negative: str = "random"
    generator_loss: str = "minimax"
    cpu_threads: int = 1
    seeds: tuple[int, ...] = (0, 1, 2)
    split: int = DEFAULT_SPLIT

    @property
    def input_size(self) -> int:
        """Width of what the LSTMs read: the compressed features, or the features themselves."""
        return self.compress_to or self.feature_dim


def sum_gan_config(tier: str | None = None, verbose: bool = True) -> SumGanConfig:
    tier = resolve_tier(tier, verbose)
    if tier == "smoke":
        return SumGanConfig(tier, selector_hidden=8, selector_layers=1, vae_hidden=16,
                            vae_layers=1, discriminator_hidden=8, discriminator_layers=1,
                            epochs=2, pretrain_epochs=1, learning_rate=1e-3,
                            discriminator_learning_rate=1e-4, seeds=(0, 1))
    if tier == "laptop":
        return SumGanConfig(tier, selector_hidden=64, selector_layers=1, vae_hidden=128,
                            vae_layers=1, discriminator_hidden=64, discriminator_layers=1,
                            epochs=15, pretrain_epochs=3, learning_rate=1e-3,
                            discriminator_learning_rate=1e-4, seeds=(0, 1, 2))
    return SumGanConfig(tier, cpu_threads=PAPER_CPU_THREADS)


@dataclass(frozen=True)
class SumGanSlConfig:
    """Sizes and training settings for notebook 04 (SUM-GAN-sl; Apostolidis et al., AI4TV @ ACM
    MM 2019), the reference implementation's defaults in the paper tier.

    Sizes: 1024-d features compressed by ``Linear(1024 → hidden_size)``; every LSTM has
    ``num_layers`` layers of ``hidden_size`` units (500 and 2: 23,305,502 parameters). Training:
    σ = 0.1, Adam at 1e-4 (discriminator 1e-5), gradient norm clipped at 5, 100 epochs, batch 1.

    Quirks of the reference, each a named option whose default reproduces it:

    - ``clip_scope``: ``"all"`` clips the norm of *every* parameter's gradient after each
      backward, including gradients left by earlier phases and videos that this phase will not
      step (they change only the clip scale); ``"stepped"`` clips only what is stepped.
    - ``compress_optimizer``: ``"per_phase"``, the compression layer belongs to all three Adam
      optimizers (three moment estimates for one layer, three updates per video); ``"shared"``,
      one Adam of its own, stepped after each phase at that phase's rate.
    - ``discriminator_fakes``: ``"fresh_pass"``, the discriminator's update runs a third full
      summarizer pass (fresh noise, the decoder just updated) and uses only its output;
      ``"phase2_pass"`` reuses the decoder phase's output instead (one pass fewer).
    - ``training_order``: ``"split"``, every epoch in the split's ``train_keys`` order
      (lexicographic, no shuffling); ``"shuffled"``, a fresh seeded permutation each epoch;
      ``"by_length"`` (fast trainer), batches of videos of similar length, in a fresh seeded
      order each epoch.

    ``videos_per_update``: 1 is the reference (the faithful trainer); more is the course's fast
    trainer, a deliberate change: that many videos per update, padded, each handled within its
    own length, the losses averaged over the videos (with ``training_order="by_length"`` the
    padding is small).

    Improvements against the selector's collapse to near-constant scores, each off by default
    (the reference) and named in :data:`IMPROVEMENTS` for the runner's ``--option``; the losses
    are in :mod:`course_lib.models.sum_gan_sl` and join phase 1 (the selector's update):

    - ``dpp_weight``: Mahasseni et al.'s DPP diversity loss (their SUM-GAN-dpp), times this
      weight (:func:`~course_lib.models.sum_gan_sl.dpp_loss`);
    - ``spread_weight``: a term that constant scores cannot satisfy, the shortfall of the
      scores' spread from that of a selection of a σ share of the steps
      (:func:`~course_lib.models.sum_gan_sl.spread_loss`);
    - ``encoder_input``: ``"weighted"``, the encoder reads the features times the scores (the
      reference); ``"selected"``, it reads only the σ share of the steps scored highest, so a
      summary that skips content loses it (:func:`~course_lib.models.sum_gan_sl.encoder_input`);
    - ``novelty_weight``: a term that asks the scores to rise with each shot's novelty, how few
      of the video's shots look like it (:func:`~course_lib.models.sum_gan_sl.novelty_loss`):
      reconstruction values what represents the video, and this values what is unlike it;
      ``novelty_formula``: ``"novelty"`` (:func:`~course_lib.evaluation.shot_novelty`) or
      ``"recurrence"`` (:func:`~course_lib.evaluation.shot_recurrence`, which counts scenes);
    - ``discriminator_pooling``: ``"last"``, φ (the space of the reconstruction loss, and what
      the discriminator classifies) is the cLSTM's last state (the reference), which the
      video's last steps dominate; ``"mean"``, its mean over every step, so the end of the
      video counts no more than the rest;
    - ``reconstruction_window``: 0, the encoder, decoder and discriminator read each whole video
      (the reference), so the reconstruction's gradient reaches the scores almost only at its
      end (an LSTM's last state remembers mostly its last steps); more, they read the video cut
      into windows of that many steps, the selector still scoring the whole video
      (:func:`~course_lib.models.sum_gan_sl.reconstruction_pass`);
    - ``recurrence_input``: ``False``, the model reads each step's features (the reference);
      ``True``, it also reads 1 / how many separate times its video shows what the step shows,
      times the step's feature norm (:func:`~course_lib.data.synthetic_videos.
      feature_recurrence`, computed from the
      video's features alone, on the segments KTS cuts in them with the synthetic data's
      penalty: on other features they need not be the dataset's shots), so the selector need
      not learn to compare a scene with the rest of its video to see it
      (:meth:`~course_lib.models.sum_gan_sl.SumGanSl.prepare`);
    - ``discriminator_rate_factor``: the discriminator's learning rate times this. 1 is the
      reference, whose discriminator learns at a tenth of the summarizer's rate and, at the
      laptop tier, stays near chance; 10 trains it at the summarizer's own rate, so that the
      selector faces a discriminator that tells originals from summaries.

    ``cpu_threads``: a fit's intra-op threads on a CPU; see :data:`PAPER_CPU_THREADS`.
    ``matmul_dtype``: the precision of a CPU fit's recurrences' matrix products, ``"float32"``
    (every tier) or ``"bfloat16"``, a faster variant of the fast trainer where the CPU
    multiplies bfloat16 in hardware (:func:`cpu_matmul_dtype`): the LSTMs run on the course's
    own kernel (oneDNN's gains nothing from bfloat16) and the decoder's loop multiplies in
    bfloat16, everything else (the cells' state, every layer outside the recurrences, the
    losses, the weights) stays float32. Not for the faithful trainer: at batch 1 a bfloat16
    product is no faster, and the course's LSTM is slower than oneDNN's.
    """

    tier: str
    feature_dim: int = 1024
    hidden_size: int = 500
    num_layers: int = 2
    sigma: float = 0.1
    epochs: int = 100
    learning_rate: float = 1e-4
    discriminator_learning_rate: float = 1e-5
    grad_clip: float = 5.0
    clip_scope: str = "all"
    compress_optimizer: str = "per_phase"
    discriminator_fakes: str = "fresh_pass"
    training_order: str = "split"
    videos_per_update: int = 1
    dpp_weight: float = 0.0
    spread_weight: float = 0.0
    encoder_input: str = "weighted"
    novelty_weight: float = 0.0
    novelty_formula: str = "novelty"
    discriminator_pooling: str = "last"
    reconstruction_window: int = 0
    recurrence_input: bool = False
    discriminator_rate_factor: float = 1.0
    cpu_threads: int = 1
    matmul_dtype: str = "float32"
    seeds: tuple[int, ...] = (0, 1, 2)
    split: int = DEFAULT_SPLIT


# The improvements by name (the runner's --option): the configuration fields each sets. The
# weights are not tuned (no choice here looked at any labels): 1 puts each term at the size of
# the other phase-1 terms at the start of training (reconstruction, sparsity: a few tenths).
IMPROVEMENTS = {"dpp": {"dpp_weight": 1.0},
                "spread": {"spread_weight": 1.0},
                "select": {"encoder_input": "selected"},
                "novelty": {"novelty_weight": 1.0},
                "pooled": {"discriminator_pooling": "mean"},
                # 16 steps: about the stretch the reconstruction reaches at a whole video's end
                # (the last tenth or two of the laptop tier's 52-194-step videos, median 112:
                # collapse.reach_table)
                "windows": {"reconstruction_window": 16},
                # the novelty term with shot_recurrence, which counts scenes as the synthetic
                # annotators count a digit's: on features that show the digit (the runner's
                # synthetic-digits) it scores their rarity
                "recurrence": {"novelty_weight": 1.0, "novelty_formula": "recurrence"},
                # the model reads that count beside the features: the selector, which did not
                # learn to count scenes even when told the count (experiments.capacity), is
                # given it
                "count": {"recurrence_input": True},
                # the discriminator at the summarizer's own rate (the reference's is a tenth)
                "strong-discriminator": {"discriminator_rate_factor": 10.0}}


def improvement(names: str) -> dict:
    """The configuration fields of one improvement (``"dpp"``) or several (``"dpp,spread"``)."""
    fields = {}
    for name in names.split(","):
        if name.strip() not in IMPROVEMENTS:
            raise CourseError(f"Unknown improvement {name.strip()!r}: use one of "
                              f"{', '.join(IMPROVEMENTS)}, or several joined by commas "
                              "(e.g. dpp,spread).")
        fields.update(IMPROVEMENTS[name.strip()])
    return fields


# Each trainer's learning rates at the laptop tier (summarizer and decoder / discriminator),
# measured on the synthetic laptop data, split 2, seed 0, 20 epochs, with
# `python benchmarks/laptop_rates.py --model {sl,aae} --trainer {faithful,fast} --rates LR DLR`
# (epoch means; a 2-core machine shared with other jobs, which changes the times, not the
# numbers). Faithful trainer (20 updates per epoch) at 10x the reference's rates, 1e-3 / 1e-4:
# both models diverge, -sl's reconstruction 0.53 -> 9.78 and AAE's 0.41 -> 9.73 by epoch 20,
# the discriminator winning outright (P(original) 0.96 / 0.97, P(summary) 0.04 / 0.05). At the
# reference's rates, 1e-4 / 1e-5, both stay put: reconstruction 0.30 -> 0.17 (-sl) and
# 0.27 -> 0.13 (AAE), P(original) and P(summary) within 0.50-0.54, mean score at σ from epoch 5
# (-sl) and 3 (AAE). So the faithful trainer keeps the reference's rates.
LAPTOP_FAITHFUL_RATES = {"learning_rate": SumGanSlConfig.learning_rate,
                         "discriminator_learning_rate": SumGanSlConfig.discriminator_learning_rate}
# Fast trainer (5 videos per update: 4 updates per epoch, a fifth of the faithful's). At the
# reference's rates the mean score took 9 (AAE) and 18 (-sl) epochs to come down to σ.
# At 10x them the same divergence begins by epoch 20 (reconstruction -sl 0.48 at epoch 8 ->
# 1.29, AAE 0.28 -> 0.70; P(summary) -sl 0.51 -> 0.39). At 5x (the same rate x updates per epoch
# as the faithful trainer at the reference's rates) the reconstruction stays within 0.37-0.52
# (-sl) and 0.31-0.45 (AAE), P(original) and P(summary) within 0.45-0.53, and the mean score
# reaches σ by epoch 6 (-sl) and 3 (AAE).
LAPTOP_FAST_RATES = {"learning_rate": 5e-4, "discriminator_learning_rate": 5e-5}
# The faithful trainer makes 5 times the fast one's updates per epoch (each on one video), at a
# fifth of its rate: the two have made the same rate x updates at the end of every epoch. At the
# laptop tier it trains the first quarter of the fast trainer's epochs (as notebook 04 compares
# them) and is compared with the fast trainer at its last epoch: its 20 epochs made it the
# longest of notebook 06's jobs (78 s for -sl, 106 s for AAE on the 2-core CPU).
LAPTOP_FAITHFUL_EPOCH_SHARE = 4


TRAINERS = ("faithful", "fast")
# The fast trainer's videos per update where a tier's own trainer is the faithful one (paper).
FAST_VIDEOS_PER_UPDATE = 5


def sum_gan_sl_config(tier: str | None = None, verbose: bool = True,
                      trainer: str | None = None) -> SumGanSlConfig:
    """The tier's configuration for a trainer: ``None``, the tier's own (fast at smoke and
    laptop, faithful at paper); ``"faithful"``, one video per update in the split's order, as
    the reference; ``"fast"``, several videos of similar length per update. Each trainer has its
    own learning rates at the laptop tier (measured above)."""
    tier = resolve_tier(tier, verbose)
    if trainer is not None and trainer not in TRAINERS:
        raise CourseError(f"Unknown trainer {trainer!r}: use one of {', '.join(TRAINERS)}, or "
                          "None for the tier's own.")
    if tier == "smoke":
        config = SumGanSlConfig(tier, hidden_size=8, epochs=2, learning_rate=1e-3,
                                discriminator_learning_rate=1e-4, videos_per_update=2,
                                training_order="by_length", seeds=(0, 1))
    elif tier == "laptop":
        config = SumGanSlConfig(tier, hidden_size=128, epochs=20, **LAPTOP_FAST_RATES,
                                videos_per_update=5, training_order="by_length")
    else:
        config = SumGanSlConfig(tier, cpu_threads=PAPER_CPU_THREADS)
    if trainer == "faithful" and config.videos_per_update > 1:
        config = replace(config, videos_per_update=1, training_order="split")
        if tier == "laptop":
            config = replace(config, **LAPTOP_FAITHFUL_RATES,
                             epochs=max(1, config.epochs // LAPTOP_FAITHFUL_EPOCH_SHARE))
    elif trainer == "fast" and config.videos_per_update == 1:
        config = replace(config, videos_per_update=FAST_VIDEOS_PER_UPDATE,
                         training_order="by_length")
    return config


@dataclass(frozen=True)
class SumGanAaeConfig(SumGanSlConfig):
    """Sizes and training settings for notebook 05 (SUM-GAN-AAE; Apostolidis et al., MMM 2020):
    -sl's configuration, options and tiers (AAE trains by -sl's updates), with AAE's default
    σ = 0.15. At the paper's sizes the model has 24,305,002 parameters."""

    sigma: float = 0.15


def sum_gan_aae_config(tier: str | None = None, verbose: bool = True,
                       trainer: str | None = None) -> SumGanAaeConfig:
    """-sl's tier and trainer with AAE's σ."""
    sl = sum_gan_sl_config(tier, verbose, trainer)
    return SumGanAaeConfig(**{**asdict(sl), "sigma": SumGanAaeConfig.sigma})
