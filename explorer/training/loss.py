"""StyleGAN2 losses, written from the papers.

- Non-saturating logistic loss (Goodfellow et al. 2014):
  G minimises softplus(-D(G(z))); D minimises softplus(D(G(z))) + softplus(-D(x)).
- R1 regularisation (Mescheder et al. 2018) on reals: gamma/2 * ||grad_x D(x)||^2,
  applied lazily every ``d_reg_interval`` steps with its weight scaled by the interval
  (StyleGAN2 paper, section 3.1).
- Path-length regularisation (StyleGAN2, section 3.2): for y ~ N(0, I) / sqrt(H*W),
  a = E[(||J_w^T y||_2 - mean)^2], with ``pl_mean`` an exponential moving average
  (decay 0.01) of the lengths; also lazy, on a batch shrunk by ``pl_batch_shrink``.
- Style mixing regularisation (StyleGAN, section 3.1): with probability
  ``style_mixing_prob`` the ws from a random crossover index on come from a second z.

Each ``*_loss`` method returns the scalar to backpropagate and a dict of detached
statistics; the training loop owns ``backward()`` and the optimiser steps.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class StyleGAN2Loss:
    def __init__(self,
        G,                          # Generator being trained.
        D,                          # Discriminator being trained.
        augment_pipe=None,          # Callable img -> img applied before D (ADA), None = off.
        style_mixing_prob=0.9,      # Probability of mixing two latents per minibatch.
        r1_gamma=10.0,              # R1 weight gamma.
        pl_weight=2.0,              # Path-length regularisation weight, 0 = off.
        pl_batch_shrink=2,          # Path-length batch = batch // this.
        pl_decay=0.01,              # Decay of the path-length running mean.
        synthesis_kwargs=None,      # Extra keyword arguments for G.synthesis (e.g. fused_modconv).
    ):
        self.G = G
        self.D = D
        self.augment_pipe = augment_pipe
        self.style_mixing_prob = style_mixing_prob
        self.r1_gamma = r1_gamma
        self.pl_weight = pl_weight
        self.pl_batch_shrink = pl_batch_shrink
        self.pl_decay = pl_decay
        self.synthesis_kwargs = dict(synthesis_kwargs or {})
        self.pl_mean = torch.zeros([], device=next(G.parameters()).device)

    # ------------------------------------------------------------------ forward passes

    def run_G(self, z, c, update_emas=True):
        """z [N, z_dim], c [N, c_dim] -> img [N, C, R, R], ws [N, num_ws, w_dim]."""
        ws = self.G.mapping(z, c, update_emas=update_emas)
        if self.style_mixing_prob > 0:
            num_ws = ws.shape[1]
            cutoff = int(torch.randint(1, num_ws, [], device='cpu')) if num_ws > 1 else num_ws
            if float(torch.rand([], device='cpu')) >= self.style_mixing_prob:
                cutoff = num_ws
            if cutoff < num_ws:
                ws2 = self.G.mapping(torch.randn_like(z), c, update_emas=False)
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        img = self.G.synthesis(ws, noise_mode='random', **self.synthesis_kwargs)
        return img, ws

    def run_D(self, img, c):
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return self.D(img, c)

    # ------------------------------------------------------------------ losses

    def g_main_loss(self, z, c):
        """Non-saturating G loss on a fresh batch."""
        img, _ws = self.run_G(z, c)
        logits = self.run_D(img, c)
        loss = F.softplus(-logits).mean()
        return loss, {'loss_G': loss.detach(), 'scores_fake': logits.detach().mean()}

    def g_pl_loss(self, z, c, gain):
        """Path-length penalty (times ``gain`` = the lazy interval). z: the full-size batch."""
        n = max(z.shape[0] // self.pl_batch_shrink, 1)
        img, ws = self.run_G(z[:n], c[:n])
        h, w = img.shape[2], img.shape[3]
        pl_noise = torch.randn_like(img) / np.sqrt(h * w)
        (pl_grads,) = torch.autograd.grad(outputs=(img * pl_noise).sum(), inputs=ws, create_graph=True,
                                          only_inputs=True)
        pl_lengths = pl_grads.square().sum(dim=2).mean(dim=1).sqrt()  # [n]
        pl_mean = self.pl_mean.lerp(pl_lengths.mean().detach(), self.pl_decay)
        self.pl_mean.copy_(pl_mean.detach())
        pl_penalty = (pl_lengths - pl_mean).square()
        # img[:, 0, 0, 0] * 0 keeps the synthesis output in the graph (all params receive grads).
        loss = (img[:, 0, 0, 0] * 0 + pl_penalty * self.pl_weight).mean() * gain
        return loss, {'pl': pl_penalty.detach().mean(), 'pl_mean': pl_mean.detach()}

    def d_main_loss(self, real_img, real_c, z, c):
        """Logistic D loss: fakes pushed down, reals pushed up."""
        with torch.no_grad():
            fake_img, _ = self.run_G(z, c)
        fake_logits = self.run_D(fake_img, c)
        real_logits = self.run_D(real_img, real_c)
        loss_fake = F.softplus(fake_logits)
        loss_real = F.softplus(-real_logits)
        loss = (loss_fake + loss_real).mean()
        stats = {'loss_D': loss.detach(), 'scores_real': real_logits.detach().mean(),
                 'signs_real': real_logits.detach().sign().mean()}
        return loss, stats

    def d_r1_loss(self, real_img, real_c, gain):
        """R1 penalty on reals (times ``gain`` = the lazy interval)."""
        real = real_img.detach().requires_grad_(True)
        logits = self.run_D(real, real_c)
        (r1_grads,) = torch.autograd.grad(outputs=logits.sum(), inputs=real, create_graph=True, only_inputs=True)
        r1_penalty = r1_grads.square().sum(dim=[1, 2, 3])  # [N]
        loss = (logits[:, 0] * 0 + r1_penalty * (self.r1_gamma / 2)).mean() * gain
        return loss, {'r1': r1_penalty.detach().mean()}
