"""A deliberately plain SUM-GAN-sl with the reference's structure: the yardstick of the course's.

Written from the published description of SUM-GAN-sl's model and update order (Apostolidis et
al., AI4TV @ ACM MM 2019), independently of ``course_lib.models.sum_gan_sl``, and kept as plain
as possible: batch 1, sequence-first tensors [T, 1, H], a Python loop of ``nn.LSTMCell``s for the
decoder, three full forward passes per video (the third one's summarizer graph built and thrown
away), three Adam optimizers that all hold the compression layer, ``zero_grad`` only on the
optimizer about to step and gradient-norm clipping over *all* parameters after every backward.

Used twice, so that there is one copy: ``tests/test_sum_gan_sl.py`` checks that the course's
faithful trainer makes the same updates, and ``benchmarks/bench_sum_gan_sl.py`` times both.
The parameters are registered in the same order and with the same shapes as the course's model,
so ``copy_parameters`` can start both from the same weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PlainSumGanSl(nn.Module):
    # The modules each optimizer holds besides linear_compress: summarizer, decoder.
    summarizer_modules = ("s_lstm", "s_out", "e_lstm", "linear_mu", "linear_var")
    decoder_modules = ("d_cells", "d_out")

    def __init__(self, feature_dim: int = 1024, hidden: int = 500, layers: int = 2):
        super().__init__()
        self.linear_compress = nn.Linear(feature_dim, hidden)
        self.s_lstm = nn.LSTM(hidden, hidden, layers, bidirectional=True)
        self.s_out = nn.Linear(2 * hidden, 1)
        self.e_lstm = nn.LSTM(hidden, hidden, layers)
        self.linear_mu = nn.Linear(hidden, hidden)
        self.linear_var = nn.Linear(hidden, hidden)
        self.d_cells = nn.ModuleList([nn.LSTMCell(hidden, hidden) for _ in range(layers)])
        self.d_out = nn.Linear(hidden, hidden)
        self.c_lstm = nn.LSTM(hidden, hidden, layers)
        self.c_out = nn.Linear(hidden, 1)

    def select(self, x):
        """x [T, 1, H] -> scores [T, 1]."""
        out, _ = self.s_lstm(x)
        return torch.sigmoid(self.s_out(out.squeeze(1)))

    def summarize(self, x):
        """x [T, 1, H] -> scores [T, 1], mu, logvar [L, H], decoded [T, 1, H]."""
        scores = self.select(x)
        weighted = x * scores.unsqueeze(1)
        _, (h, c) = self.e_lstm(weighted)
        h, c = h.squeeze(1), c.squeeze(1)
        mu = self.linear_mu(h)
        logvar = torch.log(F.softplus(self.linear_var(h)))
        epsilon = torch.randn(mu.shape, dtype=mu.dtype)
        sampled = mu + epsilon * torch.exp(0.5 * logvar)
        states = [(sampled[i:i + 1], c[i:i + 1]) for i in range(len(self.d_cells))]
        step_input = torch.zeros(1, x.shape[2], dtype=x.dtype)
        emitted = []
        for _ in range(x.shape[0]):
            layer_input = step_input
            for i, cell in enumerate(self.d_cells):
                states[i] = cell(layer_input, states[i])
                layer_input = states[i][0]
            emitted.append(layer_input)
            step_input = self.d_out(layer_input)
        emitted.reverse()
        return scores, mu, logvar, torch.stack(emitted)

    def prior(self, mu, logvar):
        return 0.5 * torch.sum(-1 + logvar.exp() + mu.pow(2) - logvar)

    def discriminate(self, sequence):
        _, (h, _) = self.c_lstm(sequence)
        return h[-1], torch.sigmoid(self.c_out(h[-1]))


def plain_optimizers(model: PlainSumGanSl, lr: float = 1e-4, discriminator_lr: float = 1e-5):
    compress = list(model.linear_compress.parameters())
    summarizer = [p for name in model.summarizer_modules for p in getattr(model, name).parameters()]
    decoder = [p for name in model.decoder_modules for p in getattr(model, name).parameters()]
    discriminator = [*model.c_lstm.parameters(), *model.c_out.parameters()]
    return (torch.optim.Adam(summarizer + compress, lr=lr),
            torch.optim.Adam(decoder + compress, lr=lr),
            torch.optim.Adam(discriminator + compress, lr=discriminator_lr))


def plain_train_video(model: PlainSumGanSl, optimizers, features, sigma: float = 0.1,
                      clip: float = 5.0, clip_scope: str = "all") -> None:
    """One training video [T, D]: the three phases, in order, each with its own forward pass.

    ``clip_scope="stepped"`` clips only the parameters of the optimizer about to step (all
    gradients are still computed), the course's option of that name."""
    s_e_optimizer, d_optimizer, c_optimizer = optimizers

    def clip_grad_norm(optimizer):
        params = (model.parameters() if clip_scope == "all"
                  else optimizer.param_groups[0]["params"])
        nn.utils.clip_grad_norm_(params, clip)
    one = torch.ones(1, 1, dtype=features.dtype)
    zero = torch.zeros(1, 1, dtype=features.dtype)

    x = model.linear_compress(features).unsqueeze(1)
    scores, mu, logvar, decoded = model.summarize(x)
    h_origin, _ = model.discriminate(x)
    h_fake, _ = model.discriminate(decoded)
    loss = (torch.norm(h_origin - h_fake, p=2)
            + model.prior(mu, logvar)
            + (scores.mean() - sigma).abs())
    s_e_optimizer.zero_grad()
    loss.backward()
    clip_grad_norm(s_e_optimizer)
    s_e_optimizer.step()

    x = model.linear_compress(features).unsqueeze(1)
    scores, mu, logvar, decoded = model.summarize(x)
    h_origin, _ = model.discriminate(x)
    h_fake, p_fake = model.discriminate(decoded)
    loss = torch.norm(h_origin - h_fake, p=2) + F.mse_loss(p_fake, one)
    d_optimizer.zero_grad()
    loss.backward()
    clip_grad_norm(d_optimizer)
    d_optimizer.step()

    c_optimizer.zero_grad()
    x = model.linear_compress(features).unsqueeze(1)
    _, p_origin = model.discriminate(x)
    F.mse_loss(p_origin, one).backward()
    scores, mu, logvar, decoded = model.summarize(x)
    _, p_fake = model.discriminate(decoded.detach())
    F.mse_loss(p_fake, zero).backward()
    clip_grad_norm(c_optimizer)
    c_optimizer.step()


def copy_parameters(source: nn.Module, target: nn.Module) -> None:
    """Copy weights between two models whose parameters match in order and shape."""
    pairs = list(zip(source.parameters(), target.parameters(), strict=True))
    with torch.no_grad():
        for a, b in pairs:
            if a.shape != b.shape:
                raise ValueError(f"parameter shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
            b.copy_(a)


# ---------------------------------------------------------------- SUM-GAN-AAE
# What SUM-GAN-AAE (Apostolidis et al., MMM 2020) changes, written from its published description
# independently of course_lib.models.sum_gan_aae: the VAE becomes an attention auto-encoder; the
# update order, optimizers and clipping above are used as they are.


class PlainAttentionDecoder(nn.Module):
    def __init__(self, hidden: int = 500, layers: int = 2):
        super().__init__()
        self.attn = nn.Linear(layers * hidden, hidden)
        self.cells = nn.ModuleList([nn.LSTMCell(2 * hidden, hidden)]
                                   + [nn.LSTMCell(hidden, hidden) for _ in range(layers - 1)])
        self.out = nn.Linear(hidden, hidden)

    def query(self, states):
        """The state before the step, layers 0, 1, ... side by side -> [1, H]."""
        return self.attn(torch.cat([h for h, _ in states], dim=1))

    def forward(self, enc_out, h, c):
        """enc_out [T, 1, H], final h, c [L, 1, H] -> emitted top h, reversed: [T, 1, H]."""
        memory = enc_out.squeeze(1)
        states = [(h[i], c[i]) for i in range(len(self.cells))]
        previous = torch.zeros(1, memory.shape[1], dtype=memory.dtype)
        emitted = []
        for _ in range(memory.shape[0]):
            energies = memory @ self.query(states).t()  # [T, 1]
            weights = torch.softmax(energies, dim=0)
            context = (weights * memory).sum(dim=0, keepdim=True)
            layer_input = torch.cat([previous, context], dim=1)
            for i, cell in enumerate(self.cells):
                states[i] = cell(layer_input, states[i])
                layer_input = states[i][0]
            emitted.append(layer_input)
            previous = self.out(layer_input)
        emitted.reverse()
        return torch.stack(emitted)


class PlainSumGanAae(PlainSumGanSl):
    """The plain -sl with the attention auto-encoder in place of the VAE (no mu / var heads)."""

    summarizer_modules = ("s_lstm", "s_out", "e_lstm")
    decoder_modules = ("decoder",)

    def __init__(self, feature_dim: int = 1024, hidden: int = 500, layers: int = 2):
        nn.Module.__init__(self)  # other modules than the plain -sl's, in the model's order
        self.linear_compress = nn.Linear(feature_dim, hidden)
        self.s_lstm = nn.LSTM(hidden, hidden, layers, bidirectional=True)
        self.s_out = nn.Linear(2 * hidden, 1)
        self.e_lstm = nn.LSTM(hidden, hidden, layers)
        self.decoder = PlainAttentionDecoder(hidden, layers)
        self.c_lstm = nn.LSTM(hidden, hidden, layers)
        self.c_out = nn.Linear(hidden, 1)

    def summarize(self, x):
        """x [T, 1, H] -> scores [T, 1], no mu, no logvar, decoded [T, 1, H]."""
        scores = self.select(x)
        enc_out, (h, c) = self.e_lstm(x * scores.unsqueeze(1))
        return scores, None, None, self.decoder(enc_out, h, c)

    def prior(self, mu, logvar):
        return 0
