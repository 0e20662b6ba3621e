"""SUM-GAN-sl: SUM-GAN made stepwise and label-based (Apostolidis et al., AI4TV @ ACM MM 2019).

Taught in notebook 04, built on notebook 03's SUM-GAN (:mod:`course_lib.models.sum_gan`), whose
selector, encoder, discriminator and losses it reuses where they are the same thing. What -sl
changes, and where this module therefore has its own code:

- **compression**: every LSTM reads ``Linear(1024 → 500)`` of the features (no activation);
- **the VAE**: one pair of μ / variance heads for both layers' final h, the variance through a
  softplus (log-variance = its log), and the decoder is a stack of ``LSTMCell``\\ s that starts
  from (sampled h, encoder's c) and input zeros, *emits its top layer's h* and *feeds back*
  ``out(top h)``: its input is not known in advance, so it cannot be one fused ``nn.LSTM`` call
  like notebook 03's (:class:`FeedbackDecoder`);
- **the losses**: reconstruction ‖φ(x) − φ(x̂)‖₂ *not squared*; the GAN terms are least squares on
  the discriminator's probabilities against labels 1 (original) and 0 (summary); no random-score
  negative;
- **the updates**: per video three phases, each recomputing the whole forward pass (fresh noise,
  the weights just updated), each with its own Adam (:func:`train_step`).

At the reference's sizes (hidden 500, two layers) the model has 23,305,502 parameters.

The faithful trainer reproduces the reference's update order, quirks included; each quirk is a
field of :class:`~course_lib.config.SumGanSlConfig` whose default is the reference's behaviour.
It makes the same updates with less work (``benchmarks/bench_sum_gan_sl.py`` measures how much):
the decoder's recurrence runs in one autograd node whose backward forms each weight gradient in
one matrix product (:class:`FeedbackDecoder`), its weights laid out once per pass for fast
batch-1 products, the discriminator reads the originals and the reconstructions as one batch,
and the third pass, whose graph the reference throws away, runs without building one. At
batch 1 every step reads all of a recurrence's weights from memory, so memory bandwidth, not
arithmetic, bounds what any batch-1 trainer can save.
``videos_per_update > 1`` is the *fast* trainer, a deliberate change: several videos per update,
padded, each video's steps handled exactly and none spent on padding (every recurrence steps
only the videos still running). It reads the weights once for several videos, so arithmetic
bounds it instead: about 0.4 GFLOP of matrix products per video step at the paper's size,
whatever the batch, which caps any float32 trainer of these updates at a few times the batch-1
baseline on a CPU (the benchmark prints the cap it measures). Where the CPU multiplies bfloat16
in hardware, ``matmul_dtype="bfloat16"`` (a faster variant, off by default) runs the fast
trainer's recurrences with bfloat16 products.

Improvements against the selector's collapse to near-constant scores (SUM-GAN-dpp's DPP loss,
a spread term, an encoder that reads only the selected steps) are options of the same trainer,
off by default (:data:`~course_lib.config.IMPROVEMENTS`); AAE and both trainers share them.

Reused from SUM-GAN as is: :func:`~course_lib.models.sum_gan.prior_loss` (the same KL sum; mean
over a batch) and the sampling :func:`~course_lib.models.sum_gan.reparameterize`. The
reconstruction and sparsity losses are this module's: -sl's norm is not squared, and the fast
trainer needs each video's mean score over its own steps.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from course_lib import evaluation as ev
from course_lib.errors import CourseError
from course_lib.models import sum_gan
from course_lib.models.decoder_loop import run_decoder_loop
from course_lib.models.lstm_autoencoder import FrameEncoder
from course_lib.models.sequence_lstm import longest_first
from course_lib.models.sequences import (
    cut_into_windows,
    length_mask,
    reverse_each,
    run_lstm_masked,
    running_mask,
)
from course_lib.models.sum_gan import (
    Discriminator,
    Selector,
    phase_rates,
    prior_loss,
    reparameterize,
)
from course_lib.models.summarizer_training import (  # noqa: F401 (part_sizes: notebook 04)
    SumGanRun,
    Trainer,
    evaluate_model,
    fit,
    part_sizes,
    seeded,
    shuffled_epochs,
)
from course_lib.training import GradientState, as_floats

CLIP_SCOPES = ("all", "stepped")
COMPRESS_OPTIMIZERS = ("per_phase", "shared")
DISCRIMINATOR_FAKES = ("fresh_pass", "phase2_pass")
TRAINING_ORDERS = ("split", "shuffled", "by_length")
ENCODER_INPUTS = ("weighted", "selected")
DISCRIMINATOR_POOLINGS = ("last", "mean")
# What the novelty option asks the scores to follow: how few of the video's shots look like
# the step's shot, or 1 / how many separate times the video shows what it shows (scenes
# counted as the synthetic annotators count a digit's scenes).
NOVELTY_FORMULAS = {"novelty": ev.shot_novelty, "recurrence": ev.shot_recurrence}
MIN_STEPS = 2


# ---------------------------------------------------------------- the decoder

class FeedbackDecoder(nn.Module):
    """dLSTM of SUM-GAN-sl: stacked ``LSTMCell``\\ s that feed back ``out(top h)``.

    It starts from a given (h, c) and input zeros (which works because its input and hidden
    widths are equal), emits the top layer's h at each step (values in (−1, 1)) and reads
    ``out(top h)`` at the next one. Notebook 03's decoder reads nothing and is one fused
    ``nn.LSTM`` call; this one's input depends on its previous output, so it is a loop:
    :meth:`forward` runs it as one autograd node
    (:class:`~course_lib.models.decoder_loop.DecoderLoop`), :meth:`loop` as plain Python.
    """

    def __init__(self, hidden_size: int, num_layers: int = 2):
        super().__init__()
        self.cells = nn.ModuleList([nn.LSTMCell(hidden_size, hidden_size)
                                    for _ in range(num_layers)])
        self.out = nn.Linear(hidden_size, hidden_size)

    def forward(self, state: tuple[torch.Tensor, torch.Tensor], steps: int,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Emitted top-layer h [B, steps, H] in the order emitted (the reverse of the video);
        with ``lengths``, each video's steps past its own length are zeros (not computed)."""
        h0, c0 = state
        order, running = longest_first(lengths, h0.shape[1], steps)
        emitted = run_decoder_loop(self.cells, self.out, h0[:, order].contiguous(),
                                   c0[:, order].contiguous(), running)
        return emitted[:, torch.argsort(order)].transpose(0, 1)

    def loop(self, state: tuple[torch.Tensor, torch.Tensor], steps: int,
             lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The same, as a plain Python loop of the cells (what :meth:`forward` must equal)."""
        h, c = state
        states = [(h[i], c[i]) for i in range(len(self.cells))]
        step_input = h.new_zeros(h.shape[1:])
        emitted = []
        for t in range(steps):
            layer_input = step_input
            for i, cell in enumerate(self.cells):
                states[i] = cell(layer_input, states[i])
                layer_input = states[i][0]
            emitted.append(layer_input * running_mask(lengths, t, layer_input))
            step_input = self.out(layer_input)
        return torch.stack(emitted, dim=1)


# ---------------------------------------------------------------- the model

@dataclass
class SummarizerOutput:
    scores: torch.Tensor  # [B, T]
    mu: torch.Tensor  # [layers, B, hidden]
    logvar: torch.Tensor  # [layers, B, hidden]
    decoded: torch.Tensor  # [B, T, hidden], in forward time order


class SumGanSl(nn.Module):
    """Compression, summarizer (sLSTM → eLSTM + μ/variance heads → dLSTM) and discriminator.

    All tensors are batch-first. The selector, the encoder and the discriminator are notebook
    03's modules (:class:`Selector`, :class:`FrameEncoder`, :class:`Discriminator`), which are
    the same thing here; a ``lengths`` tensor makes every part respect each video's own length.
    """

    title = "SUM-GAN-sl"

    def __init__(self, feature_dim: int = 1024, hidden_size: int = 500, num_layers: int = 2,
                 recurrence_input: bool = False):
        super().__init__()
        self.feature_dim, self.recurrence_input = feature_dim, recurrence_input
        self.compress = compression_layer(feature_dim, hidden_size, recurrence_input)
        self.selector = Selector(hidden_size, hidden_size, num_layers)
        self.encoder = FrameEncoder(hidden_size, hidden_size, num_layers)
        self.mu = nn.Linear(hidden_size, hidden_size)
        self.variance = nn.Linear(hidden_size, hidden_size)
        self.decoder = FeedbackDecoder(hidden_size, num_layers)
        self.discriminator = Discriminator(hidden_size, hidden_size, num_layers)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """What each phase's optimizer steps, without the compression layer (in all three)."""
        return {"summarizer": [*self.selector.parameters(), *self.encoder.parameters(),
                               *self.mu.parameters(), *self.variance.parameters()],
                "decoder": list(self.decoder.parameters()),
                "discriminator": list(self.discriminator.parameters())}

    def parts(self) -> dict[str, list[nn.Module]]:
        """The parts of the paper's table (23,305,502 parameters in all at its sizes)."""
        return {"linear_compress": [self.compress], "sLSTM": [self.selector],
                "eLSTM (+ mu, variance)": [self.encoder, self.mu, self.variance],
                "dLSTM": [self.decoder], "discriminator": [self.discriminator]}

    def latent_terms(self, out: SummarizerOutput) -> dict[str, torch.Tensor]:
        """Phase 1's loss terms on the latent code: the VAE's prior (SUM-GAN-AAE has none)."""
        return {"prior": prior_loss(out.mu, out.logvar)}

    def prepare(self, features: torch.Tensor) -> torch.Tensor:
        """Check the features of one video [T, D] (or a batch of equal-length videos
        [B, T, D]) and batch them; with ``recurrence_input`` (the count option) each step's
        recurrence count joins them (:func:`with_recurrence`)."""
        if features.dim() == 2:
            features = features.unsqueeze(0)
        if features.dim() != 3 or features.shape[-1] != self.feature_dim:
            raise CourseError(
                f"features of shape {tuple(features.shape)} do not fit this model, which reads "
                f"{self.feature_dim}-d features ([T, {self.feature_dim}] per video): build it "
                f"with feature_dim={features.shape[-1]} or pass the features it was built for.")
        if features.shape[1] < MIN_STEPS:
            raise CourseError(
                f"a video of {features.shape[1]} step(s) is too short for {self.title}: it needs "
                f"at least {MIN_STEPS} (a summary must select among steps); leave it out.")
        if not torch.isfinite(features).all():
            raise CourseError("the features contain NaN or infinite values: recompute or clean "
                              "them (e.g. drop the affected videos) before training.")
        device = next(self.parameters()).device
        features = features.to(device=device, dtype=self.compress.weight.dtype)
        return with_recurrence(features) if self.recurrence_input else features

    def score(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """sLSTM: compressed features [B, T, H] → scores [B, T] (what is evaluated)."""
        if lengths is None:
            return self.selector(x)
        outputs = run_lstm_masked(self.selector.lstm, x, lengths)[0]
        return torch.sigmoid(self.selector.score(outputs)).squeeze(-1)

    def summarize(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                  generator: torch.Generator | None = None,
                  select: float | None = None, scores: torch.Tensor | None = None
                  ) -> SummarizerOutput:
        """Scores, the latent's μ and log-variance, and the decoded sequence.

        One draw ε of shape [layers, B, hidden] (from ``generator``, else the global RNG, as the
        reference) samples h only; the encoder's c is passed through unchanged. The encoder
        reads the features times the scores, or with ``select`` only that share of the steps
        (:func:`encoder_input`). ``scores`` given: the selector's, computed elsewhere (on whole
        videos, when ``x`` is their windows: :func:`reconstruction_pass`).
        """
        scores = self.score(x, lengths) if scores is None else scores
        _, (h, c) = run_lstm_masked(self.encoder.lstm, encoder_input(x, scores, lengths, select),
                                    lengths)
        mu = self.mu(h)
        logvar = torch.log(nn.functional.softplus(self.variance(h)))
        noise = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        emitted = self.decoder((reparameterize(mu, logvar, noise), c), x.shape[1], lengths)
        return SummarizerOutput(scores, mu, logvar, reverse_each(emitted, lengths))

    def discriminate(self, sequence: torch.Tensor, lengths: torch.Tensor | None = None,
                     pooling: str = "last") -> tuple[torch.Tensor, torch.Tensor]:
        """φ [B, H] and P(original) [B]. φ is the top layer's last h (``pooling="last"``, the
        reference) or its mean over the video's steps (``"mean"``: the pooled option)."""
        if lengths is None and pooling == "last":
            phi, logit = self.discriminator(sequence)
            return phi, torch.sigmoid(logit)
        if lengths is None:
            phi = self.discriminator.lstm(sequence)[0].mean(dim=1)
        else:
            outputs = run_lstm_masked(self.discriminator.lstm.lstm, sequence, lengths)[0]
            if pooling == "last":  # the top layer's h at each video's end
                last = lengths.to(outputs.device) - 1
                phi = outputs[torch.arange(len(outputs), device=outputs.device), last]
            else:
                mask = length_mask(lengths, outputs.shape[1]).to(outputs.dtype).unsqueeze(-1)
                phi = (outputs * mask).sum(dim=1) / lengths.to(outputs).unsqueeze(1)
        return phi, torch.sigmoid(self.discriminator.classifier(phi).squeeze(-1))

    def discriminate_both(self, original: torch.Tensor, summary: torch.Tensor,
                          lengths: torch.Tensor | None = None, pooling: str = "last"):
        """:meth:`discriminate` of the originals and of the summaries' reconstructions, as one
        batch: the same results, with the LSTM's weights read once per step for both."""
        both = None if lengths is None else torch.cat([lengths, lengths])
        phi, p = self.discriminate(torch.cat([original, summary]), both, pooling)
        return phi.chunk(2), p.chunk(2)


def build_sum_gan_sl(config, seed: int | None = None) -> SumGanSl:
    """The model sized by a :class:`~course_lib.config.SumGanSlConfig`, initialised from ``seed``
    (without touching the global random state) when one is given."""
    return seeded(lambda: SumGanSl(config.feature_dim, config.hidden_size, config.num_layers,
                                   config.recurrence_input), seed)


def compression_layer(feature_dim: int, hidden_size: int, recurrence_input: bool) -> nn.Linear:
    """The compression layer [D → H]; with ``recurrence_input`` (the count option) it reads one
    more input, the count, whose weights start at 0. Its other weights are drawn as without the
    option, and so is every later part, so a count model starts as the unmodified model of the
    same seed, exactly: what it does differently after training, the count taught it."""
    layer = nn.Linear(feature_dim, hidden_size)
    if recurrence_input:
        with torch.no_grad():
            layer.weight = nn.Parameter(torch.cat([layer.weight, layer.weight.new_zeros(
                hidden_size, 1)], dim=1))
        layer.in_features += 1
    return layer


def with_recurrence(features: torch.Tensor) -> torch.Tensor:
    """Videos [B, T, D] → [B, T, D + 1]: each step's features and 1 / how many separate times
    its video shows what it shows (:func:`video_recurrence`), times the step's feature norm, so
    that a weight on the count moves the compressed features about as much as the same weight
    on all the features together (a lone input among a thousand would stay unheard)."""
    counts = torch.stack([torch.from_numpy(video_recurrence(video.detach().cpu().numpy()))
                          for video in features]).to(features)
    return torch.cat([features, (counts * features.norm(dim=-1)).unsqueeze(-1)], dim=-1)


_RECURRENCES: collections.OrderedDict[bytes, np.ndarray] = collections.OrderedDict()
RECURRENCES_KEPT = 512  # videos: more than any of the course's datasets has


def video_recurrence(video: np.ndarray) -> np.ndarray:
    """:func:`~course_lib.data.synthetic_videos.feature_recurrence` of one video [T, D], kept
    for the videos seen last: a fit prepares each training video at every update, and the
    segmentation and clustering took about 28 ms a video (laptop tier), a third of an epoch."""
    from course_lib.data.synthetic_videos import feature_recurrence

    key = hashlib.blake2b(video.tobytes(), digest_size=16,
                          person=str(video.shape).encode()[:16]).digest()
    if key not in _RECURRENCES:
        _RECURRENCES[key] = feature_recurrence(video)
        if len(_RECURRENCES) > RECURRENCES_KEPT:
            _RECURRENCES.popitem(last=False)
    _RECURRENCES.move_to_end(key)
    return _RECURRENCES[key]


# ---------------------------------------------------------------- the losses

def distance_loss(phi_original: torch.Tensor, phi_summary: torch.Tensor) -> torch.Tensor:
    """‖φ(x) − φ(x̂)‖₂ per video, *not squared* as in -sl (SUM-GAN's is squared); mean over
    the batch."""
    return (phi_original - phi_summary).norm(dim=-1).mean()


reconstruction_loss = distance_loss  # -sl's reconstruction loss, under the family's name


def video_means(scores: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Each video's mean score [B] over its own steps: a padded step's score is not zero (the
    selector's bias gives it about 0.47), so it must be masked out, not summed."""
    if lengths is None:
        return scores.mean(dim=1)
    return (scores * length_mask(lengths, scores.shape[1])).sum(dim=1) / lengths


def masked_sparsity_loss(scores: torch.Tensor, sigma: float,
                         lengths: torch.Tensor | None = None) -> torch.Tensor:
    """|mean of a video's scores − σ| over its own steps; mean over the batch."""
    return (video_means(scores, lengths) - sigma).abs().mean()


sparsity_loss = masked_sparsity_loss  # the name notebook 04 teaches


# ---------------------------------------------------------------- improvements (default off)
#
# The sparsity term |mean(s) − σ| is met by a constant score s = σ, and trained selectors end
# there: near-constant scores, among which the knapsack picks by shot length. Each option below
# adds what a constant cannot meet; all are off in the reference configuration.

DPP_JITTER = 1e-2  # added to the similarity kernel's diagonal: near-duplicate steps stay finite


def top_share_mask(scores: torch.Tensor, share: float,
                   lengths: torch.Tensor | None = None) -> torch.Tensor:
    """1 at the ⌈share · T⌉ highest-scoring steps of each video (at least one, within its own
    length; ties go to the earlier step), 0 elsewhere [B, T]: with ``share`` = σ, the selection
    whose mean score the sparsity term asks for."""
    batch, steps = scores.shape
    sizes = [steps] * batch if lengths is None else lengths.tolist()
    k = torch.tensor([max(1, math.ceil(share * n - 1e-9)) for n in sizes], device=scores.device)
    ranked = scores.detach()
    if lengths is not None:
        ranked = ranked.masked_fill(~length_mask(lengths.to(scores.device), steps), -math.inf)
    rank = ranked.argsort(dim=1, descending=True, stable=True).argsort(dim=1)
    return (rank < k.unsqueeze(1)).to(scores.dtype)


def encoder_input(x: torch.Tensor, scores: torch.Tensor, lengths: torch.Tensor | None = None,
                  select: float | None = None) -> torch.Tensor:
    """What the encoder reads: the features times the scores (``select=None``, the reference),
    or only the ``select`` share of the steps scored highest, whole, and zeros elsewhere.

    Why the second should help: x · σ keeps all of x, so a constant score loses nothing and the
    reconstruction can be matched without selecting anything. Reading only the selected steps,
    a summary that skips a scene cannot reconstruct it. The scores still receive the gradient
    of the weighted input (the straight-through estimator, Bengio, Léonard and Courville 2013),
    which says for every step whether reading more of it would lower the loss.
    """
    weights = scores
    if select is not None:
        weights = top_share_mask(scores, select, lengths) + scores - scores.detach()
    return x * weights.unsqueeze(-1)


def feature_similarity(features: torch.Tensor) -> torch.Tensor:
    """Cosine similarities [T, T] of one video's steps, its features centred on their mean (as
    :mod:`course_lib.diagnostics` measures diversity): what all steps share is not similarity."""
    centred = features - features.mean(dim=0)
    unit = centred / centred.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


def dpp_loss(scores: torch.Tensor, features: torch.Tensor, share: float,
             lengths: torch.Tensor | None = None) -> torch.Tensor:
    """The DPP diversity loss of SUM-GAN-dpp (Mahasseni, Lam and Todorovic, CVPR 2017), after
    the DPP-LSTM of Zhang, Chao, Sha and Grauman (ECCV 2016): −log P(y) / T per video, mean
    over the batch, with

        P(y) = det(L_y) / det(L + I),   L_ij = s_i · S_ij · s_j,

    the probability that a determinantal point process with kernel L (quality: the scores s;
    similarity S: :func:`feature_similarity` of the step features, plus ``DPP_JITTER`` · I)
    draws the subset y. y is the model's own selection, the ``share`` of the steps it scores
    highest (:func:`top_share_mask`). det(L_y) = Π s_i² · det(S_y) is large when the selected
    steps score high and differ from each other; det(L + I) sums that over every subset, so
    raising the scores of steps outside y, or of steps like many others, costs.

    Sources, and what is the course's reading: the likelihood det(L_y) / det(L + I) with
    L = diag(q) S diag(q) (q: per-step qualities, S: feature similarities) is the DPP-LSTM's
    (Zhang et al.; their released code uses it as −log P against the human
    summary y). SUM-GAN-dpp uses a DPP loss of this kind on the selector's scores as its
    diversity regularizer; without labels, y here is the model's own selection. Not confirmed
    against the SUM-GAN paper's own equation, and so the course's choices: the similarity
    (centred cosines of the features, scale-free), that y is the top σ share, the weight
    (``dpp_weight``), and that the term is added to the sparsity term rather than replacing it.
    The division by T keeps long and short videos alike, as the sparsity term's mean does.
    """
    terms = []
    for b in range(len(scores)):
        n = scores.shape[1] if lengths is None else int(lengths[b])
        s = scores[b, :n]
        eye = torch.eye(n, dtype=s.dtype, device=s.device)
        kernel = feature_similarity(features[b, :n].to(s.dtype)) + DPP_JITTER * eye
        chosen = top_share_mask(s.unsqueeze(0), share)[0].bool()
        log_p = (2 * s[chosen].clamp_min(torch.finfo(s.dtype).tiny).log().sum()
                 + torch.logdet(kernel[chosen][:, chosen])
                 - torch.logdet(eye + s.unsqueeze(1) * kernel * s.unsqueeze(0)))
        terms.append(-log_p / n)
    return torch.stack(terms).mean()


def spread_loss(scores: torch.Tensor, sigma: float,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
    """max(0, 1 − std(s) / √(σ(1 − σ))) per video, over its own steps; mean over the batch.

    √(σ(1 − σ)) is the standard deviation of a selection: a σ share of the steps at 1, the rest
    at 0. Why it should help: the sparsity term asks only for a mean of σ, which a constant
    meets, and gradient descent finds that constant; this term is 1 for any constant and 0 for
    a selection, so with the sparsity term both are met only by scores that select. It does not
    say which steps: it makes the ranking that the reconstruction and the discriminator favour
    count, where today's constant leaves the choice to shot lengths.
    """
    steps = scores.shape[1]
    deviations = scores - video_means(scores, lengths).unsqueeze(1)
    if lengths is not None:
        deviations = deviations * length_mask(lengths, steps)
    counts = steps if lengths is None else lengths
    std = ((deviations ** 2).sum(dim=1) / counts + 1e-12).sqrt()
    return torch.relu(1 - std / math.sqrt(sigma * (1 - sigma))).mean()


def novelty_loss(scores: torch.Tensor, novelty: torch.Tensor,
                 lengths: torch.Tensor | None = None) -> torch.Tensor:
    """−cov(s, z) per video, over its own steps; mean over the batch. z: the steps' novelty
    (:func:`course_lib.evaluation.shot_novelty`: how few of the video's shots look like the
    step's shot), standardised within the video.

    Why it should help: the reconstruction terms ask for a summary from which the video can be
    rebuilt, which is what *represents* it (the scenes that recur); what people pick is often
    what is *unlike* the rest. This term is lowest when the high scores sit on the novel shots.
    Its gradient on each score is −z / T whatever the scores are, so it pulls a collapsed,
    constant selector apart at once; with the sparsity term holding the mean at σ it asks for a
    ranking, not for scores near 0 or 1. The novelty is computed once per video before training
    from the features and the shots: label-free, a fixed formula that was not tuned on labels.
    """
    steps = scores.shape[1]
    mask = (torch.ones_like(scores) if lengths is None
            else length_mask(lengths, steps).to(scores.dtype))
    counts = mask.sum(dim=1)
    novelty = novelty.to(scores.dtype) * mask
    centred = (novelty - video_means(novelty, lengths).unsqueeze(1)) * mask
    z = centred / ((centred ** 2).sum(dim=1, keepdim=True) / counts.unsqueeze(1)).sqrt().clamp_min(
        1e-12)
    deviations = (scores - video_means(scores, lengths).unsqueeze(1)) * mask
    return -((deviations * z).sum(dim=1) / counts).mean()


def check_improvements(config) -> None:
    """A clear error for an improvement set to a value it cannot take."""
    factor = config.discriminator_rate_factor
    if not (isinstance(factor, int | float) and math.isfinite(factor) and factor > 0):
        raise CourseError(f"discriminator_rate_factor must be a finite number > 0 (1 is the "
                          f"reference), got {factor!r}.")
    for name in ("dpp_weight", "spread_weight", "novelty_weight"):
        weight = getattr(config, name)
        if not (isinstance(weight, int | float) and math.isfinite(weight) and weight >= 0):
            raise CourseError(f"{name} must be a finite number >= 0 (0 turns it off), got "
                              f"{weight!r}.")
    if config.encoder_input not in ENCODER_INPUTS:
        raise CourseError(f"encoder_input must be one of {ENCODER_INPUTS}, "
                          f"got {config.encoder_input!r}.")
    if config.novelty_formula not in NOVELTY_FORMULAS:
        raise CourseError(f"novelty_formula must be one of {tuple(NOVELTY_FORMULAS)}, "
                          f"got {config.novelty_formula!r}.")
    if config.discriminator_pooling not in DISCRIMINATOR_POOLINGS:
        raise CourseError(f"discriminator_pooling must be one of {DISCRIMINATOR_POOLINGS}, "
                          f"got {config.discriminator_pooling!r}.")
    if not isinstance(config.recurrence_input, bool):
        raise CourseError(f"recurrence_input must be True or False (the count option), got "
                          f"{config.recurrence_input!r}.")
    window = config.reconstruction_window
    if not (isinstance(window, int) and (window == 0 or window >= 2)):
        raise CourseError(f"reconstruction_window must be a whole number of steps >= 2 (0: the "
                          f"whole video, the reference), got {window!r}.")


def selected_share(config) -> float | None:
    """The share of steps the encoder reads (``encoder_input="selected"``: σ), else ``None``."""
    return config.sigma if config.encoder_input == "selected" else None


@dataclass
class ReconstructionPass:
    """What phase losses read from one summarizer pass: its output, the selector's scores [B, T]
    of the whole videos (what sparsity and the improvements judge), and the originals [N, T', H]
    and lengths that the output's reconstruction ``out.decoded`` is compared with."""

    out: object  # SummarizerOutput, or SUM-GAN-AAE's AaeOutput
    scores: torch.Tensor
    original: torch.Tensor
    lengths: torch.Tensor | None


def reconstruction_view(x: torch.Tensor, lengths: torch.Tensor | None, config, offset: int
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """What the encoder, decoder and discriminator see of the compressed videos ``x``: the whole
    videos (the reference), or with ``reconstruction_window`` (the windows option) each cut into
    windows of that many steps, the first window ``offset`` steps shorter."""
    if not config.reconstruction_window:
        return x, lengths
    return cut_into_windows(x, lengths, config.reconstruction_window, offset)


def reconstruction_pass(model, x: torch.Tensor, lengths: torch.Tensor | None,
                        generator: torch.Generator | None, config, offset: int = 0
                        ) -> ReconstructionPass:
    """The summarizer's pass on compressed videos ``x``, as the configuration's options make it.

    With ``reconstruction_window`` the selector scores each whole video, and the reconstruction
    runs on its windows. Why: the decoder starts from the encoder's last state and φ is the
    discriminator's last state, and an LSTM's last state remembers mostly its last steps, so
    on whole videos the reconstruction's gradient reaches the scores almost only at the video's
    end (:func:`course_lib.collapse.reach_table`); on windows it reaches every window's steps.
    """
    select = selected_share(config)
    if not config.reconstruction_window:
        out = model.summarize(x, lengths, generator, select)
        return ReconstructionPass(out, out.scores, x, lengths)
    scores = model.score(x, lengths)
    original, seen = reconstruction_view(x, lengths, config, offset)
    window_scores = reconstruction_view(scores.unsqueeze(-1), lengths, config, offset)[0]
    out = model.summarize(original, seen, generator, select, window_scores.squeeze(-1))
    return ReconstructionPass(out, scores, original, seen)


def window_offset(config, generator: torch.Generator | None) -> int:
    """How many steps shorter an update's first window is, drawn afresh for each update, so that
    no step sits at a window's end in every update (0 without the windows option, which then
    draws nothing)."""
    if not config.reconstruction_window:
        return 0
    return int(torch.randint(config.reconstruction_window, (1,), generator=generator))


def improvement_terms(scores: torch.Tensor, batch: VideoBatch, config
                      ) -> dict[str, torch.Tensor]:
    """Phase 1's added terms, weighted, for the improvements ``config`` turns on (none in the
    reference configuration, which so computes nothing more)."""
    features, lengths = batch.features, batch.lengths
    terms = {}
    if config.dpp_weight:
        terms["dpp"] = config.dpp_weight * dpp_loss(scores, features, config.sigma, lengths)
    if config.spread_weight:
        terms["spread"] = config.spread_weight * spread_loss(scores, config.sigma, lengths)
    if config.novelty_weight:
        if batch.novelty is None:
            raise CourseError("The novelty option needs each video's novelty (make_batch(model, "
                              "videos, novelty), from course_lib.evaluation.shot_novelty); this "
                              "batch has none.")
        terms["novelty"] = config.novelty_weight * novelty_loss(scores, batch.novelty, lengths)
    return terms


def least_squares(probability: torch.Tensor, label: float) -> torch.Tensor:
    """The label-based GAN term: (P − label)², mean over the batch (labels 1 original,
    0 summary); -sl uses this instead of SUM-GAN's log-loss."""
    return (probability - label).pow(2).mean()


# ---------------------------------------------------------------- the updates

def make_optimizers(model: SumGanSl, config) -> dict[str, torch.optim.Optimizer]:
    """One Adam per phase (the discriminator's at its lower rate).

    ``compress_optimizer="per_phase"`` (the reference): each Adam also holds the compression
    layer, which so has three Adam states and three updates per video. ``"shared"``: a fourth
    Adam holds it alone (one state), stepped after each phase at that phase's rate.
    """
    check_improvements(config)  # a rate factor is read here, before any update
    if config.compress_optimizer not in COMPRESS_OPTIMIZERS:
        raise CourseError(f"compress_optimizer must be one of {COMPRESS_OPTIMIZERS}, "
                          f"got {config.compress_optimizer!r}.")
    compress = list(model.compress.parameters())
    if config.compress_optimizer == "shared":
        return {**sum_gan.make_optimizers(model, config),
                "compress": torch.optim.Adam(compress, lr=config.learning_rate)}
    return sum_gan.make_optimizers(model, config, compress)


@dataclass
class VideoBatch:
    """Features [B, T, D] of one or more videos, zero-padded, their lengths (``None``: one
    video, or all of the same length) and, for the novelty option, their steps' novelty
    [B, T]."""

    features: torch.Tensor
    lengths: torch.Tensor | None = None
    novelty: torch.Tensor | None = None


def make_batch(model: SumGanSl, videos: Sequence[torch.Tensor],
               novelty: Sequence[torch.Tensor] | None = None) -> VideoBatch:
    """Check each video and pad them (and their steps' novelty, if given) into one batch."""
    videos = [model.prepare(v)[0] for v in videos]
    padded = nn.utils.rnn.pad_sequence(videos, batch_first=True)
    if novelty is not None:
        novelty = nn.utils.rnn.pad_sequence(list(novelty), batch_first=True).to(padded.device)
    if len(videos) == 1:
        return VideoBatch(padded, novelty=novelty)
    lengths = torch.tensor([len(v) for v in videos])
    same = bool((lengths == lengths[0]).all())
    return VideoBatch(padded, None if same else lengths.to(padded.device), novelty)


def video_novelty(config, dataset, keys: Sequence[str]) -> dict[str, torch.Tensor] | None:
    """Each training video's steps' novelty by the formula ``config.novelty_formula`` names,
    for the novelty option (``None`` without it)."""
    if not config.novelty_weight:
        return None
    formula = NOVELTY_FORMULAS[config.novelty_formula]
    return {k: torch.from_numpy(formula(dataset[k])) for k in keys}


class _Phase:
    """Zeroing, clipping and stepping of one phase, as the configuration says."""

    def __init__(self, model, optimizers, config, phase):
        self.model, self.optimizers, self.config, self.phase = model, optimizers, config, phase

    def zero_grad(self):
        self.optimizers[self.phase].zero_grad()
        if "compress" in self.optimizers:
            self.optimizers["compress"].zero_grad()

    def clip_and_step(self):
        if self.config.clip_scope not in CLIP_SCOPES:
            raise CourseError(f"clip_scope must be one of {CLIP_SCOPES}, "
                              f"got {self.config.clip_scope!r}.")
        if self.config.grad_clip:
            if self.config.clip_scope == "all":  # the reference: stale gradients in the norm
                params = list(self.model.parameters())
            else:
                params = [p for group in self.optimizers[self.phase].param_groups
                          for p in group["params"]]
                params += list(self.model.compress.parameters()) if (
                    "compress" in self.optimizers) else []
            nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        self.optimizers[self.phase].step()
        if "compress" in self.optimizers:
            compress = self.optimizers["compress"]
            compress.param_groups[0]["lr"] = phase_rates(self.config)[self.phase]
            compress.step()


def train_step(model: SumGanSl, optimizers: Mapping[str, torch.optim.Optimizer],
               batch: VideoBatch, config, generator: torch.Generator | None = None
               ) -> dict[str, float]:
    """One update of SUM-GAN-sl on one video (or, fast trainer, one padded batch of videos).

    The three phases in order, each recomputing the forward pass with the weights the previous
    phase left. Each phase zeroes only its own optimizer, backpropagates, clips the gradient
    norm (over *all* parameters with ``clip_scope="all"``, as the reference, so gradients left
    by earlier phases and videos count in the norm) and steps its optimizer. Phase 3 zeroes
    before its forward pass and draws its fake from a fresh summarizer pass
    (``discriminator_fakes="fresh_pass"``), of which it needs only the values: that pass runs
    without building a graph, with the same random draw as the reference's. The originals and
    the reconstructions go through the discriminator as one batch (the same results).
    """
    if config.discriminator_fakes not in DISCRIMINATOR_FAKES:
        raise CourseError(f"discriminator_fakes must be one of {DISCRIMINATOR_FAKES}, "
                          f"got {config.discriminator_fakes!r}.")
    check_improvements(config)
    features, lengths = batch.features, batch.lengths
    pool, offset = config.discriminator_pooling, window_offset(config, generator)
    logged = {}

    # Phase 1: sLSTM, eLSTM (+ heads) and the compression descend reconstruction + prior
    # + sparsity (+ the improvements' terms, when the configuration turns them on).
    phase = _Phase(model, optimizers, config, "summarizer")
    seen = reconstruction_pass(model, model.compress(features), lengths, generator, config,
                               offset)
    (phi_x, phi_hat), _ = model.discriminate_both(seen.original, seen.out.decoded, seen.lengths,
                                                  pool)
    terms = {"reconstruction": distance_loss(phi_x, phi_hat),
             **model.latent_terms(seen.out),
             "sparsity": masked_sparsity_loss(seen.scores, config.sigma, lengths),
             **improvement_terms(seen.scores, batch, config)}
    phase.zero_grad()
    sum(terms.values()).backward()
    phase.clip_and_step()
    logged.update(terms)
    logged["mean_score"] = video_means(seen.scores.detach(), lengths).mean()

    # Phase 2: dLSTM and the compression descend reconstruction + (P(summary) − 1)².
    phase = _Phase(model, optimizers, config, "decoder")
    seen = reconstruction_pass(model, model.compress(features), lengths, generator, config,
                               offset)
    (phi_x, phi_hat), (_, p_hat) = model.discriminate_both(seen.original, seen.out.decoded,
                                                           seen.lengths, pool)
    generator_gan = least_squares(p_hat, 1.0)
    phase.zero_grad()
    (distance_loss(phi_x, phi_hat) + generator_gan).backward()
    phase.clip_and_step()
    logged["gan_generator"] = generator_gan

    # Phase 3: the discriminator (and the compression, through the original only) descends
    # (P(original) − 1)² + (P(summary) − 0)². The reference backpropagates the first term
    # before the summarizer pass and the second after it; the gradients add up the same.
    phase = _Phase(model, optimizers, config, "discriminator")
    phase.zero_grad()
    x = model.compress(features)
    if config.discriminator_fakes == "fresh_pass":
        with torch.no_grad():
            fake = reconstruction_pass(model, x, lengths, generator, config, offset).out.decoded
    else:
        fake = seen.out.decoded.detach()
    original, shown = reconstruction_view(x, lengths, config, offset)
    _, (p_x, p_hat) = model.discriminate_both(original, fake, shown, pool)
    original_term, summary_term = least_squares(p_x, 1.0), least_squares(p_hat, 0.0)
    (original_term + summary_term).backward()
    phase.clip_and_step()
    logged.update({"discriminator": original_term.detach().double() + summary_term.double(),
                   "p_original": p_x.mean(), "p_summary": p_hat.mean()})
    return as_floats(logged)  # one transfer from the device per update


# ---------------------------------------------------------------- training

def update_batches(keys: Sequence[str], config, seed: int, start: int = 0,
                   lengths: Mapping[str, int] | None = None) -> Iterator[list[str]]:
    """The videos of each update from update ``start`` on, ``videos_per_update`` at a time.

    ``training_order``: ``"split"`` (the reference), every epoch in the split's order;
    ``"shuffled"``, a fresh seeded permutation each epoch; ``"by_length"`` (for the fast
    trainer: less padding), the videos sorted by their ``lengths`` and cut into batches, which
    each epoch visits in a fresh seeded order. The draws before ``start`` are repeated and
    skipped, so a resumed run sees what an uninterrupted one would.
    """
    if config.training_order not in TRAINING_ORDERS:
        raise CourseError(f"training_order must be one of {TRAINING_ORDERS}, "
                          f"got {config.training_order!r}.")
    if config.training_order == "by_length" and lengths is None:
        raise CourseError('training_order="by_length" needs the videos\' lengths.')
    size = config.videos_per_update

    def batches(order: Sequence[str]) -> list[list[str]]:
        return [list(order[i:i + size]) for i in range(0, len(order), size)]

    if config.training_order == "by_length":  # the batches, not the videos, are shuffled
        epochs = shuffled_epochs(batches(sorted(keys, key=lambda k: lengths[k])), seed)
    elif config.training_order == "split":
        epochs = itertools.repeat(batches(keys))
    else:
        epochs = map(batches, shuffled_epochs(keys, seed))
    return itertools.islice(itertools.chain.from_iterable(epochs), start, None)


def updates_per_epoch(n_videos: int, config) -> int:
    return math.ceil(n_videos / config.videos_per_update)


def fit_sum_gan_sl(model: SumGanSl, config, dataset, split, name: str = "04-sum-gan-sl", *,
                   seed: int = 0, checkpoint: bool | Path = True, live: bool | None = None,
                   on_evaluate: Callable | None = None) -> SumGanRun:
    """Train by SUM-GAN-sl's updates, evaluating the test split before training and after every
    epoch (the reference's "epoch −1" and epochs 0..99 are the course's epochs 0 and 1..100).

    A step of :func:`course_lib.training.train` is one update (one video, or with
    ``videos_per_update > 1`` one batch). ``seed`` drives ε (a generator kept in the checkpoint)
    and a shuffled order; build the model with ``build_sum_gan_sl(config, seed)``. The run
    checkpoints every epoch: a finished run is loaded, an interrupted one resumes exactly, and
    another configuration trains its own (the file name carries a hash of the configuration).
    ``checkpoint``: a folder puts the checkpoint there; ``on_evaluate`` is passed to
    :func:`~course_lib.models.summarizer_training.evaluate_model`.
    """
    return fit(model, config, dataset, split, name, trainer(), seed=seed, checkpoint=checkpoint,
               live=live, on_evaluate=on_evaluate)


def _panels(history, steps_per_epoch: int, config, model):
    """The live training panels; imported only when drawn, so that training on a machine
    without Jupyter's widget packages (a GPU server running the experiment runner) works."""
    from course_lib.summary_plots import SUM_GAN_SL_PANELS, sum_gan_panels

    return sum_gan_panels(history, steps_per_epoch, sigma=config.sigma, panels=SUM_GAN_SL_PANELS,
                          model=model.title)


def trainer() -> Trainer:
    """SUM-GAN-sl's (and -AAE's) training for :func:`~course_lib.models.summarizer_training.fit`:
    one update per batch of :func:`update_batches`; stale gradients enter the clipping, so the
    checkpoint keeps them (made at each call from this module's functions as they are then, so
    a test can replace one)."""
    return Trainer(make_optimizers=make_optimizers, train_step=train_step,
                   batches=update_batches,
                   make_batch=lambda model, videos, keys, novelty: make_batch(
                       model, [videos[k] for k in keys],
                       None if novelty is None else [novelty[k] for k in keys]),
                   video_targets=video_novelty,
                   updates_per_epoch=updates_per_epoch,
                   extra_state=lambda model: {"gradients": GradientState(model)},
                   panels=_panels, evaluate=evaluate_model,
                   loss_terms=("reconstruction", "prior", "sparsity", "dpp", "spread", "novelty"))
