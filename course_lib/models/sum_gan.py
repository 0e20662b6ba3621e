"""SUM-GAN: unsupervised video summarization with adversarial LSTM networks.

Mahasseni, Lam and Todorovic, CVPR 2017; taught in notebook 03 (SUM-GAN-sl and SUM-GAN-AAE,
notebooks 04-05, reuse these parts). Where the paper is silent the course follows the public code:
J. Min's PyTorch port (github.com/j-min/Adversarial_Video_Summary) and Apostolidis et al.'s
SUM-GAN-sl (github.com/e-apostolidis/SUM-GAN-sl).

The summarizer scores each step of a video; a summary is good if the video can be reconstructed
from it well enough to fool a discriminator:

- **selector** sLSTM (bidirectional) → scores s_t ∈ (0, 1), one per step;
- **VAE**: the encoder eLSTM reads the weighted features s_t·x_t; its final state gives a mean
  and a log-variance, a latent is sampled (reparameterisation) and the decoder dLSTM reconstructs
  the sequence *in reverse order*. eLSTM and dLSTM are notebook 01's :class:`FrameEncoder` and
  (unconditioned) :class:`FrameDecoder`: the autoencoder of notebook 01 made variational;
- **discriminator** cLSTM (again a :class:`FrameEncoder`) whose top layer's final hidden state is
  the feature space φ of the reconstruction loss, and a classifier c(·) = P(original).

**The latent and the decoder's state** (the paper does not say; the course follows SUM-GAN-sl):
per layer, the encoder's final hidden state h gives μ = W_μ h + b_μ and log σ² = W_v h + b_v
(linear heads shared by the layers); the decoder starts from h_dec = μ + ε·exp(½ log σ²) with
ε ~ N(0, I), and from the encoder's final *cell* state c unchanged. (SUM-GAN-sl obtains the
variance through a softplus; the course predicts the log-variance directly, the usual VAE form.)

**The decoder reads nothing** (a named difference from the public code): the course's dLSTM is
notebook 01's unconditioned decoder, whose input is a constant zero at every step and whose
output is a linear readout of its top hidden state. The common port and SUM-GAN-sl instead emit
the top hidden state itself and feed ``out(top h)``, a linear map of it, back as the next step's
input (zeros only at the first step). The paper does not say which.

**Losses** (:func:`reconstruction_loss`, :func:`prior_loss`, :func:`sparsity_loss`,
:func:`gan_objective`). With logits z of the classifier, log c = log σ(z), log(1 − c) = log σ(−z):

- L_reconst = ‖φ(x) − φ(x̂)‖² (squared norm over φ's units, mean over the batch);
- L_prior = KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ (σ² + μ² − 1 − log σ²), summed over layers and units;
- L_sparsity = |mean_t s_t − σ_target|;
- L_GAN = log c(x) + log(1 − c(x̂)) + log(1 − c(x̂_p)) ≤ 0, where x̂_p is reconstructed from
  uniformly random scores (Algorithm 1; ``negative="unweighted"`` uses all-ones scores instead,
  the common port's shortcut).

**Algorithm 1, one iteration per video** (:func:`train_step`). One forward pass, then three
updates, each with the gradient of its own objective with respect to its own parameters only,
each zeroing, clipping and stepping only its own optimizer (unit tests check which parameters
each loss reaches):

1. {sLSTM, eLSTM (+ μ/log-variance heads)} descend L_reconst + L_prior + L_sparsity;
2. dLSTM descends L_reconst + L_GAN's fake terms (``generator_loss="minimax"``:
   log(1 − c(x̂)) + log(1 − c(x̂_p)); log c(x) does not depend on dLSTM; or the non-saturating
   −log c(x̂) − log c(x̂_p));
3. cLSTM *ascends* L_GAN, i.e. descends the discriminator loss −L_GAN (binary cross-entropy with
   label 1 for x and 0 for x̂ and x̂_p; x̂ and x̂_p detached) ≥ 0.

The optional input compression ``Linear(1024 → hidden)`` is shared and, as in SUM-GAN-sl and the
common port, belongs to all three optimizers. At test time the scores are the selector's outputs
alone, one per step (:func:`score_videos`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.errors import CourseError
from course_lib.models.lstm_autoencoder import (
    FrameDecoder,
    FrameEncoder,
    State,
    reversed_targets,
    run_lstm,
    squared_error_per_frame,
)

# The SUM-GAN family's shared training, scoring and model selection (score_videos and
# part_sizes are re-exported: notebook 03 calls sg.score_videos and sg.part_sizes).
from course_lib.models.summarizer_training import (  # noqa: F401
    SumGanRun,
    Trainer,
    evaluate_model,
    fit,
    part_sizes,
    score_videos,
    seeded,
    shuffled_epochs,
)
from course_lib.training import CHECKPOINT_SECONDS, GeneratorState, as_floats, train

PHASES = ("summarizer", "decoder", "discriminator")
NEGATIVES = ("random", "unweighted")
GENERATOR_LOSSES = ("minimax", "non_saturating")

# ---------------------------------------------------------------- the losses

def mean_sparsity_loss(scores: torch.Tensor, sigma: float) -> torch.Tensor:
    """|mean of the scores − σ|: keeps the summarizer from selecting everything (or nothing).
    One mean over everything given (SUM-GAN trains on one video); -sl's masks each video."""
    return (scores.mean() - sigma).abs()


sparsity_loss = mean_sparsity_loss  # the name notebook 03 teaches


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """A sample of N(μ, σ²) written as μ + ε·σ, σ = exp(½ log σ²): differentiable in μ and σ."""
    return mu + noise * torch.exp(0.5 * logvar)


def prior_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ (σ² + μ² − 1 − log σ²), summed over all but the batch axis.

    ``mu`` and ``logvar`` are [layers, B, hidden] (the LSTM state layout): the sum runs over
    layers and units, the mean over the batch.
    """
    kl = 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar)
    return kl.sum(dim=(0, 2)).mean()


def squared_distance_loss(phi_original: torch.Tensor, phi_reconstructed: torch.Tensor
                          ) -> torch.Tensor:
    """‖φ(x) − φ(x̂)‖²: squared distance in the discriminator's feature space, mean over batch
    (SUM-GAN's reconstruction loss; -sl's is the distance, not squared)."""
    return (phi_original - phi_reconstructed).pow(2).sum(dim=-1).mean()


reconstruction_loss = squared_distance_loss  # the name notebook 03 teaches


def gan_objective(logit_original: torch.Tensor, logit_summary: torch.Tensor,
                  logit_random: torch.Tensor) -> torch.Tensor:
    """The paper's L_GAN = log c(x) + log(1 − c(x̂)) + log(1 − c(x̂_p)) ≤ 0, from logits.

    The discriminator *maximises* it (it descends ``-gan_objective``, see
    :func:`discriminator_loss`); the generator side wants it small.
    """
    return (F.logsigmoid(logit_original) + F.logsigmoid(-logit_summary)
            + F.logsigmoid(-logit_random)).mean()


def discriminator_loss(logit_original: torch.Tensor, logit_summary: torch.Tensor,
                       logit_random: torch.Tensor) -> torch.Tensor:
    """−L_GAN ≥ 0: binary cross-entropy with label 1 for the original, 0 for both fakes."""
    return -gan_objective(logit_original, logit_summary, logit_random)


def generator_gan_loss(logit_summary: torch.Tensor, logit_random: torch.Tensor,
                       kind: str = "minimax") -> torch.Tensor:
    """The decoder's GAN term.

    ``"minimax"`` (the paper): log(1 − c(x̂)) + log(1 − c(x̂_p)) ≤ 0, L_GAN without log c(x),
    which does not depend on the decoder. ``"non_saturating"``: −log c(x̂) − log c(x̂_p) ≥ 0,
    whose gradient does not vanish while the discriminator wins.
    """
    if kind == "minimax":
        return (F.logsigmoid(-logit_summary) + F.logsigmoid(-logit_random)).mean()
    if kind == "non_saturating":
        return -(F.logsigmoid(logit_summary) + F.logsigmoid(logit_random)).mean()
    raise ValueError(f"generator_loss must be one of {GENERATOR_LOSSES}, got {kind!r}.")


# ---------------------------------------------------------------- the modules

class Selector(nn.Module):
    """sLSTM: a bidirectional LSTM over the features [B, T, D] → scores [B, T] in (0, 1)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 2):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True,
                            bidirectional=True)
        self.score = nn.Linear(2 * hidden_size, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        outputs, _ = run_lstm(self.lstm, features)
        return torch.sigmoid(self.score(outputs)).squeeze(-1)


@dataclass
class VAEOutput:
    reconstruction: torch.Tensor  # [B, T, D], put back in forward time order
    mu: torch.Tensor  # [layers, B, hidden]
    logvar: torch.Tensor  # [layers, B, hidden]


class SequenceVAE(nn.Module):
    """eLSTM + μ/log-variance heads + dLSTM: notebook 01's autoencoder, made variational.

    The encoder is a :class:`FrameEncoder`; the decoder an unconditioned :class:`FrameDecoder`
    that starts from (sampled h, encoder's c), reads zeros (it does not feed back its output, as
    the public code does; see the module docstring) and emits the sequence in reverse order,
    which :meth:`decode` puts back in forward order.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 2):
        super().__init__()
        self.encoder = FrameEncoder(input_size, hidden_size, num_layers)
        self.mu = nn.Linear(hidden_size, hidden_size)
        self.logvar = nn.Linear(hidden_size, hidden_size)
        self.decoder = FrameDecoder(input_size, hidden_size, num_layers, conditional=False)

    def encode(self, weighted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """μ, log σ² (from each layer's final h) and the final cell state c, each [L, B, H]."""
        _, (h, c) = self.encoder(weighted)
        return self.mu(h), self.logvar(h), c

    def decode(self, state: State, steps: int) -> torch.Tensor:
        """Decode ``steps`` vectors (emitted last-first) and return them in forward order."""
        return reversed_targets(self.decoder(state, steps))

    def forward(self, weighted: torch.Tensor, noise: torch.Tensor | None = None) -> VAEOutput:
        """``noise`` ε [L, B, H]; ``None`` uses the mean (no sampling, as at evaluation)."""
        mu, logvar, c = self.encode(weighted)
        h = mu if noise is None else reparameterize(mu, logvar, noise)
        return VAEOutput(self.decode((h, c), weighted.shape[1]), mu, logvar)


class Discriminator(nn.Module):
    """cLSTM (a :class:`FrameEncoder`) + classifier: φ = top layer's final h, and c's logit."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 2):
        super().__init__()
        self.lstm = FrameEncoder(input_size, hidden_size, num_layers)
        self.classifier = nn.Linear(hidden_size, 1)

    def forward(self, sequence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """φ [B, H] and the logit of P(original) [B]; c = sigmoid(logit)."""
        _, (h, _) = self.lstm(sequence)
        phi = h[-1]
        return phi, self.classifier(phi).squeeze(-1)


@dataclass
class SumGanOutput:
    scores: torch.Tensor  # [B, T]
    inputs: torch.Tensor  # x: the (compressed) features the LSTMs read, [B, T, D']
    summary: VAEOutput  # x̂ from s·x
    negative: VAEOutput | None  # x̂_p from random (or all-ones) scores


class SumGan(nn.Module):
    """Summarizer (compress → sLSTM → eLSTM/dLSTM VAE) and discriminator (cLSTM)."""

    def __init__(self, feature_dim: int = 1024, *, compress_to: int | None = None,
                 selector_hidden: int = 1024, selector_layers: int = 2, vae_hidden: int = 2048,
                 vae_layers: int = 2, discriminator_hidden: int = 1024,
                 discriminator_layers: int = 2):
        super().__init__()
        self.feature_dim = feature_dim
        input_size = compress_to or feature_dim
        self.compress = (nn.Linear(feature_dim, compress_to) if compress_to else nn.Identity())
        self.selector = Selector(input_size, selector_hidden, selector_layers)
        self.vae = SequenceVAE(input_size, vae_hidden, vae_layers)
        self.discriminator = Discriminator(input_size, discriminator_hidden,
                                           discriminator_layers)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The parameters each update of Algorithm 1 trains (the compression is in all three)."""
        shared = list(self.compress.parameters())
        return {
            "summarizer": shared + list(itertools.chain(
                self.selector.parameters(), self.vae.encoder.parameters(),
                self.vae.mu.parameters(), self.vae.logvar.parameters())),
            "decoder": shared + list(self.vae.decoder.parameters()),
            "discriminator": shared + list(self.discriminator.parameters()),
        }

    def parts(self) -> dict[str, list[nn.Module]]:
        """The parts of the paper's table (:func:`part_sizes` counts their parameters)."""
        return {"compress": [self.compress], "sLSTM": [self.selector],
                "eLSTM (+ mu, logvar)": [self.vae.encoder, self.vae.mu, self.vae.logvar],
                "dLSTM": [self.vae.decoder], "cLSTM": [self.discriminator]}

    def prepare(self, features: torch.Tensor) -> torch.Tensor:
        """Check and batch the features: [T, D] or [B, T, D] → [B, T, D] on the model's device."""
        if features.dim() == 2:
            features = features.unsqueeze(0)
        if features.dim() != 3:
            raise CourseError(f"features must be [T, {self.feature_dim}] or "
                             f"[B, T, {self.feature_dim}], got shape {tuple(features.shape)}.")
        if features.shape[-1] != self.feature_dim:
            raise CourseError(f"features have width {features.shape[-1]} but this model reads "
                             f"{self.feature_dim}-d features (feature_dim); build it with "
                             f"feature_dim={features.shape[-1]} or use matching features.")
        if features.shape[1] == 0:
            raise CourseError("an empty video (0 steps) cannot be summarized: every video needs "
                             "at least one feature vector.")
        device = next(self.parameters()).device
        return features.to(device=device, dtype=torch.float32)

    def latent_noise(self, inputs: torch.Tensor, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
        lstm = self.vae.encoder.lstm
        shape = (lstm.num_layers, inputs.shape[0], lstm.hidden_size)
        return torch.randn(shape, generator=generator, device=inputs.device)

    def negative_scores(self, inputs: torch.Tensor, negative: str = "random",
                        generator: torch.Generator | None = None) -> torch.Tensor:
        """Scores of the uniform negative: U(0, 1) draws (paper) or all ones (common port)."""
        if negative == "random":
            return torch.rand(inputs.shape[:2], generator=generator, device=inputs.device)
        if negative == "unweighted":
            return inputs.new_ones(inputs.shape[:2])
        raise ValueError(f"negative must be one of {NEGATIVES}, got {negative!r}.")

    def forward(self, features: torch.Tensor, *, negative: str | None = "random",
                generator: torch.Generator | None = None, sample: bool = True) -> SumGanOutput:
        """Scores, x̂ from the scored features and (unless ``negative=None``) x̂_p.

        ``sample=False`` decodes from the mean (no noise). ``generator`` drives every random draw
        (ε and the random scores), which makes a run reproducible on its own.
        """
        x = self.compress(self.prepare(features))
        scores = self.selector(x)
        noise = self.latent_noise(x, generator) if sample else None
        summary = self.vae(x * scores.unsqueeze(-1), noise)
        fake = None
        if negative is not None:
            random_scores = self.negative_scores(x, negative, generator)
            noise = self.latent_noise(x, generator) if sample else None
            fake = self.vae(x * random_scores.unsqueeze(-1), noise)
        return SumGanOutput(scores, x, summary, fake)


def build_sum_gan(config, seed: int | None = None) -> SumGan:
    """The model sized by a :class:`~course_lib.config.SumGanConfig`, initialised from ``seed``
    (without touching the global random state) when one is given."""
    kwargs = dict(compress_to=config.compress_to, selector_hidden=config.selector_hidden,
                  selector_layers=config.selector_layers, vae_hidden=config.vae_hidden,
                  vae_layers=config.vae_layers, discriminator_hidden=config.discriminator_hidden,
                  discriminator_layers=config.discriminator_layers)
    return seeded(lambda: SumGan(config.feature_dim, **kwargs), seed)


# ---------------------------------------------------------------- Algorithm 1

def forward_losses(model: SumGan, features: torch.Tensor, config,
                   generator: torch.Generator | None = None
                   ) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """One forward pass of Algorithm 1 on one video: every loss, and what to log.

    Returns ``reconstruction``, ``prior``, ``sparsity``, ``gan_generator`` (the decoder's GAN
    term, see :func:`generator_gan_loss`) and ``discriminator`` (−L_GAN on *detached* x̂ and x̂_p,
    so it reaches only the discriminator and the input compression), and logged floats: those
    losses, the classifier's mean outputs c(x), c(x̂), c(x̂_p) and the mean score.
    """
    out = model(features, negative=config.negative, generator=generator)
    phi_x, logit_x = model.discriminator(out.inputs)
    phi_hat, logit_hat = model.discriminator(out.summary.reconstruction)
    _, logit_p = model.discriminator(out.negative.reconstruction)
    _, logit_hat_detached = model.discriminator(out.summary.reconstruction.detach())
    _, logit_p_detached = model.discriminator(out.negative.reconstruction.detach())
    losses = {"reconstruction": squared_distance_loss(phi_x, phi_hat),
              "prior": prior_loss(out.summary.mu, out.summary.logvar),
              "sparsity": mean_sparsity_loss(out.scores, config.sigma),
              "gan_generator": generator_gan_loss(logit_hat, logit_p, config.generator_loss),
              "discriminator": discriminator_loss(logit_x, logit_hat_detached,
                                                  logit_p_detached)}
    logged = as_floats({**losses, "c_original": torch.sigmoid(logit_x).mean(),
                        "c_summary": torch.sigmoid(logit_hat).mean(),
                        "c_random": torch.sigmoid(logit_p).mean(),
                        "mean_score": out.scores.mean()})
    return losses, logged


def phase_objectives(losses: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What each update of Algorithm 1 *descends*.

    {sLSTM, eLSTM}: L_reconst + L_prior + L_sparsity; dLSTM: L_reconst + GAN term;
    cLSTM: −L_GAN (descending it is ascending L_GAN, the paper's "+∇").
    """
    return {"summarizer": losses["reconstruction"] + losses["prior"] + losses["sparsity"],
            "decoder": losses["reconstruction"] + losses["gan_generator"],
            "discriminator": losses["discriminator"]}


def named_parts(model: SumGan) -> dict[str, nn.Module]:
    """The model's parts by the names the notebook uses."""
    parts = {"compress": model.compress, "sLSTM": model.selector, "eLSTM": model.vae.encoder,
             "mu/logvar heads": nn.ModuleList([model.vae.mu, model.vae.logvar]),
             "dLSTM": model.vae.decoder, "cLSTM": model.discriminator.lstm,
             "classifier": model.discriminator.classifier}
    return {name: part for name, part in parts.items() if any(True for _ in part.parameters())}


def loss_reach(model: SumGan, loss: torch.Tensor) -> list[str]:
    """The parts whose parameters receive a non-zero gradient from ``loss`` (graph kept)."""
    reached = []
    for name, part in named_parts(model).items():
        grads = torch.autograd.grad(loss, list(part.parameters()), retain_graph=True,
                                    allow_unused=True)
        if any(g is not None and bool(g.abs().sum() > 0) for g in grads):
            reached.append(name)
    return reached


def phase_rates(config) -> dict[str, float]:
    """Each update's learning rate: the discriminator has its own, lower one (times the
    ``discriminator_rate_factor`` of SUM-GAN-sl's configuration, an improvement option)."""
    factor = getattr(config, "discriminator_rate_factor", 1.0)
    return {"summarizer": config.learning_rate, "decoder": config.learning_rate,
            "discriminator": config.discriminator_learning_rate * factor}


def make_optimizers(model: nn.Module, config, shared: Sequence[nn.Parameter] = ()
                    ) -> dict[str, torch.optim.Optimizer]:
    """One Adam per update of Algorithm 1 over the model's ``parameter_groups()`` (the
    discriminator at its own, lower learning rate), each also holding ``shared``."""
    groups = model.parameter_groups()
    rates = phase_rates(config)
    return {phase: torch.optim.Adam(groups[phase] + list(shared), lr=rates[phase])
            for phase in PHASES}


def train_step(model: SumGan, optimizers: Mapping[str, torch.optim.Optimizer],
               features: torch.Tensor, config, generator: torch.Generator | None = None
               ) -> dict[str, float]:
    """One iteration of Algorithm 1 on one video.

    As in the paper's pseudo-code, the three updates use the same forward pass: each update's
    gradient is taken with respect to its own parameters only (``torch.autograd.grad``), all
    three before any parameter changes; then each update zeroes its optimizer, receives its
    gradient, clips it (norm ``config.grad_clip``) and steps *its own* optimizer. (SUM-GAN-sl
    instead recomputes the forward pass before each update, about twice the cost.)
    """
    losses, logged = forward_losses(model, features, config, generator)
    objectives = phase_objectives(losses)
    groups = model.parameter_groups()
    grads = {phase: torch.autograd.grad(objectives[phase], groups[phase], retain_graph=True,
                                        allow_unused=True) for phase in PHASES}
    for phase in PHASES:
        optimizer = optimizers[phase]
        optimizer.zero_grad(set_to_none=True)
        for param, grad in zip(groups[phase], grads[phase], strict=True):
            param.grad = grad
        if config.grad_clip:
            nn.utils.clip_grad_norm_(groups[phase], config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return logged


def pretrain_step(model: SumGan, optimizer: torch.optim.Optimizer, features: torch.Tensor,
                  config, generator: torch.Generator | None = None) -> dict[str, float]:
    """VAE pre-training on one video (the paper recommends it): every score 1, the features
    reconstructed directly (squared error per step, notebook 01's unit) plus the prior."""
    x = model.compress(model.prepare(features))
    out = model.vae(x, model.latent_noise(x, generator))
    reconstruction = squared_error_per_frame(out.reconstruction, x.detach())
    prior = prior_loss(out.mu, out.logvar)
    optimizer.zero_grad(set_to_none=True)
    (reconstruction + prior).backward()
    if config.grad_clip:
        nn.utils.clip_grad_norm_(model.vae.parameters(), config.grad_clip)
    optimizer.step()
    return as_floats({"vae_reconstruction": reconstruction, "vae_prior": prior})


# ---------------------------------------------------------------- training

def _video_order(keys: Sequence[str], seed: int, start: int = 0) -> Iterator[str]:
    """Training order from step ``start`` on: one video per step, every epoch a fresh seeded
    permutation (:func:`shuffled_epochs`), so a resumed run sees what an uninterrupted one would."""
    return itertools.islice(itertools.chain.from_iterable(shuffled_epochs(keys, seed)), start,
                            None)


def fit_sum_gan(model: SumGan, config, dataset, split, name: str = "03-sum-gan", *,
                seed: int = 0, checkpoint: bool | Path = True, live: bool | None = None,
                evaluate_before: bool = True, on_evaluate: Callable | None = None) -> SumGanRun:
    """Pre-train the VAE (``config.pretrain_epochs``), then train by Algorithm 1.

    A step of :func:`course_lib.training.train` is one training video (one iteration of
    Algorithm 1), so the live curves show the adversarial game video by video; the test split's
    F-score is computed after every epoch (and, with ``evaluate_before``, of the untrained
    selector, "epoch 0"). ``seed`` fixes the video order and every random draw (ε, random
    scores); build the model with ``build_sum_gan(config, seed)`` to fix its initialisation too.

    Both phases checkpoint every epoch: the finished run is loaded when present, and a run
    stopped by Ctrl-C (in pre-training or training) resumes from its last completed video with
    the same final weights and history as an uninterrupted run; nothing is marked finished
    before every step of its phase ran. ``checkpoint``: a folder puts the checkpoints there;
    ``on_evaluate`` is passed to :func:`~course_lib.models.summarizer_training.evaluate_model`.
    """
    return fit(model, config, dataset, split, name, trainer(), seed=seed, checkpoint=checkpoint,
               live=live, evaluate_before=evaluate_before, on_evaluate=on_evaluate)


def _pretrain(model, config, videos, train_keys, seed, generator, path, name):
    """The VAE's pre-training (``config.pretrain_epochs`` epochs; none when 0), checkpointed
    every epoch beside the run's own checkpoint."""
    if not config.pretrain_epochs:
        return None
    n = len(train_keys)
    optimizer = torch.optim.Adam(model.vae.parameters(), lr=config.learning_rate)
    return train(lambda key: pretrain_step(model, optimizer, videos[key], config, generator),
                 lambda start: _video_order(train_keys, seed + 10_000, start),
                 config.pretrain_epochs * n,
                 state={"model": model, "optimizer": optimizer,
                        "generator": GeneratorState(generator)},
                 checkpoint=path, checkpoint_every=n, checkpoint_seconds=CHECKPOINT_SECONDS,
                 title=f"{name}: VAE pre-training (seed {seed})", live=False)


def _panels(history, steps_per_epoch: int, config, model):
    """The live training panels; imported only when drawn, so that training on a machine
    without Jupyter's widget packages (a GPU server running the experiment runner) works."""
    from course_lib.summary_plots import sum_gan_panels

    return sum_gan_panels(history, steps_per_epoch, sigma=config.sigma)


def trainer() -> Trainer:
    """SUM-GAN's training for :func:`~course_lib.models.summarizer_training.fit`: one video per
    update, in a fresh seeded permutation each epoch, after the VAE's pre-training (made at each
    call from this module's functions as they are then, so a test can replace one)."""
    return Trainer(make_optimizers=make_optimizers, train_step=train_step,
                   batches=lambda keys, config, seed, start, lengths: _video_order(keys, seed,
                                                                                   start),
                   make_batch=lambda model, videos, key, targets: videos[key],
                   pretrain=_pretrain, panels=_panels, evaluate=evaluate_model)
