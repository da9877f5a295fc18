"""``textgan``: text-to-image GAN on ``scenes`` captions ("a small red star near the top left on a striped
blue background").

Text enters through a frozen pretrained sentence encoder (all-MiniLM-L6-v2, :mod:`darkroom.models.text`);
its 384-d embedding e is what the model knows of a prompt, so wording the caption generator never used
still lands near the captions it means. From the literature, measured in ``darkroom bench text``:
- conditioning augmentation (StackGAN, Zhang et al. 2017): c ~ N(mu(e), sigma(e)^2), with a KL term to
  N(0, I), so nearby prompts give nearby conditions and G sees a smooth condition space;
- G: the lean DCGAN layout (transposed convolutions; see ``models.gan``) on [z, c], every BatchNorm's scale
  and shift a linear map of c (affine text fusion at every scale, as in DF-GAN);
- D: spectral norm, hinge loss, a projection term <W e, features> (Miyato & Koyama) and matching-aware
  training (GAN-INT-CLS, Reed et al. 2016): a real image with another image's caption counts as fake, so
  D must check that image and text agree;
- optionally (``aux`` > 0) auxiliary classifiers (AC-GAN, Odena et al. 2017) that read the main object's
  shape, colour, size bin, position cell and the background's kind and colour; they learn from real
  renders, whose parameters the data gives, plus a "fake" shape class for G's samples, and G is trained
  so that its samples read as their caption's attributes. Off by default: measured on CPU budgets, with
  weight 1 it collapsed G within 3,500 steps (every prompt drew the same pink texture), see
  docs/text-to-image.md.
Attribute combinations in ``held_out`` ("red star; blue heart") are dropped from every batch, to measure
how prompts made only of unseen combinations fare.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.data.captions import ATTRIBUTES, attribute_indices
from darkroom.losses import generator_loss
from darkroom.models.gan import AUX_OPTIM, recompute_batchnorm
from darkroom.models.text import EMBED_DIM, TextEncoder
from darkroom.nn.gan import AttributeClassifier, Discriminator, Generator

ATTRIBUTE_SIZES = tuple(len(v) for v in ATTRIBUTES.values())


def parse_held_out(text: str) -> list[dict[str, int]]:
    """ "red star; large triangle bottom right" -> [{"color": i, "shape": j}, {"size": ..., "shape": ...,
    "position": ...}]: each item a set of attribute values that must not all hold at once."""
    combos = []
    for item in filter(None, (part.strip().lower() for part in text.split(";"))):
        words, combo = item.replace("-", " ").split(), {}
        position = [w for w in words if w in ("top", "middle", "bottom", "left", "centre", "right")]
        if position:
            if len(position) != 2:
                raise ValueError(f"held_out {item!r}: a position is a row and a column, e.g. 'bottom right'")
            combo["position"] = ATTRIBUTES["position"].index(tuple(position))
        for word in words:
            if word in position:
                continue
            for name in ("shape", "color", "size"):
                if word in ATTRIBUTES[name]:
                    combo[name] = ATTRIBUTES[name].index(word)
                    break
            else:
                raise ValueError(f"held_out {item!r}: unknown word {word!r} (shapes, colours, sizes, positions)")
        combos.append(combo)
    return combos


def held_out_mask(combos: list[dict[str, int]], targets: torch.Tensor) -> torch.Tensor:
    """Rows of (B, len(ATTRIBUTES)) attribute indices that show none of the held-out ``combos``."""
    keep = torch.ones(len(targets), dtype=torch.bool)
    names = list(ATTRIBUTES)
    for combo in combos:
        hit = torch.ones(len(targets), dtype=torch.bool)
        for name, value in combo.items():
            hit &= targets[:, names.index(name)] == value
        keep &= ~hit
    return keep


@dataclass(frozen=True)
class TextGANConfig:
    channels: int = 0
    image_size: int = 0
    latent_dim: int = 64
    cond_dim: int = 128  # conditioning augmentation's output
    width: int = 32
    d_width: int = 32
    aux: float = 0.0  # weight of the auxiliary attribute classifiers (0: none; 1 collapsed G, see the docstring)
    mismatch: float = 1.0  # weight of real-image / wrong-caption pairs among D's negatives (0: none)
    kl: float = 1.0  # conditioning augmentation's KL weight
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    held_out: str = ""  # "red star; blue heart; large triangle bottom right"

    def check(self):
        if self.image_size and (self.image_size < 8 or self.image_size & (self.image_size - 1)):
            raise ValueError(f"textgan needs a power-of-two image size >= 8, got {self.image_size}")
        for name in ("aux", "mismatch", "kl"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        parse_held_out(self.held_out)


class TextGAN(nn.Module):
    """Text-conditioned GAN; ``sample(n, prompt)`` draws ``n`` images of one prompt (or one per prompt)."""

    Config = TextGANConfig
    text_conditioned = True
    power_of_two_size = True
    train_defaults = {"beta1": 0.0, "beta2": 0.99, "ema": 0.999, "grad_clip": 0.0, "batch_size": 64}
    _pending = None

    def __init__(self, config: TextGANConfig):
        super().__init__()
        self.config = c = config
        self.augment_condition = nn.Linear(EMBED_DIM, 2 * c.cond_dim)
        self.G = Generator(
            c.latent_dim + c.cond_dim, c.channels, c.image_size, c.width, "transposed", lean=True, cond_dim=c.cond_dim
        )
        self.D = Discriminator(c.channels, c.image_size, c.d_width, True, lean=True, cond_dim=EMBED_DIM)
        if c.aux:  # shape on its own: beside the easy attributes in one net its head stayed at 22 % in 1,000 steps
            self.C = nn.ModuleList(
                [
                    AttributeClassifier(c.channels, c.image_size, (ATTRIBUTE_SIZES[0] + 1,)),
                    AttributeClassifier(c.channels, c.image_size, ATTRIBUTE_SIZES[1:]),
                ]
            )
        self.d_optim, self.g_optim = {"lr": c.d_lr}, {"lr": c.g_lr}
        self.held_out = parse_held_out(c.held_out)
        # Text embeddings of recent training batches, for calibrate(); a buffer, so the EMA copy has them.
        self.register_buffer("recent", torch.zeros(256, EMBED_DIM), persistent=False)

    # -- text -----------------------------------------------------------------------------------------
    @staticmethod
    def embed(texts: list[str]) -> torch.Tensor:
        return TextEncoder.shared()(list(texts))

    def prepare_data(self, dataset, print_fn=print) -> None:
        """Encode every caption of a scenes dataset once before training (the trainer calls this)."""
        if not hasattr(dataset, "caption_of"):
            raise ValueError("textgan trains on captioned data: use a scenes spec, e.g. scenes:size=64")
        TextEncoder.shared().warm([dataset.caption_of(i) for i in range(len(dataset))], print_fn)

    def condition(self, e: torch.Tensor, generator: torch.Generator | None = None):
        mu, logvar = self.augment_condition(e).chunk(2, dim=1)
        logvar = logvar.clamp(-10, 10)
        noise = torch.randn(mu.shape, generator=generator).to(mu.device)
        return mu + noise * (0.5 * logvar).exp(), mu, logvar

    # -- generation -----------------------------------------------------------------------------------
    def generate(self, z: torch.Tensor, e: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents (B, latent_dim) and text embeddings (B, 384) -> images (B, C, H, W) in [0, 1]."""
        c = self.condition(e, generator)[0]
        return (self.G(torch.cat([z, c], 1), c) + 1) / 2

    @torch.no_grad()
    def sample(self, n: int, prompts, truncation: float = 1.0, generator: torch.Generator | None = None):
        """``n`` images of one prompt, or one image per prompt of a list of ``n``."""
        if not 0 < truncation <= 1:
            raise ValueError(f"truncation must be in (0, 1], got {truncation}")
        prompts = [prompts] * n if isinstance(prompts, str) else list(prompts)
        if len(prompts) != n:
            raise ValueError(f"{len(prompts)} prompts for {n} images")
        device = next(self.parameters()).device
        e = self.embed(prompts).to(device)
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(device) * truncation
        return self.generate(z, e, generator)

    @torch.no_grad()
    def calibrate(self, batches: int = 16, batch_size: int = 64) -> None:
        """BatchNorm statistics for the EMA generator's own weights (see ``models.gan``), from the text
        embeddings of the last training batches."""
        if not self.recent.any():
            return
        device = next(self.parameters()).device
        g = torch.Generator().manual_seed(0)

        def forward():
            e = self.recent[torch.randint(0, len(self.recent), (batch_size,), generator=g).to(device)]
            c = self.condition(e, g)[0]
            self.G(torch.cat([torch.randn(batch_size, self.config.latent_dim, generator=g).to(device), c], 1), c)

        recompute_batchnorm(self.G, forward, batches)

    # -- training -------------------------------------------------------------------------------------
    def phases(self) -> dict:
        g_params = list(self.G.parameters()) + list(self.augment_condition.parameters())
        phases = {"d": (list(self.D.parameters()), self.d_optim), "g": (g_params, self.g_optim)}
        if self.config.aux:  # between: it reads the D phase's fakes, which G then uses
            phases = {"d": phases["d"], "c": (list(self.C.parameters()), AUX_OPTIM), "g": phases["g"]}
        return phases

    def _kept(self, targets: torch.Tensor) -> torch.Tensor:
        return held_out_mask(self.held_out, targets)

    def _read(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The auxiliary classifiers' logits, one tensor per attribute of ATTRIBUTES."""
        return tuple(part for net in self.C for part in net(images))

    def _aux_loss(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the attributes of the classifier's reading of ``images``."""
        parts = self._read(images)
        return sum(F.cross_entropy(p, targets[:, k]) for k, p in enumerate(parts)) / len(parts)

    def _batch(self, batch: dict, embed: bool = True):
        targets = torch.tensor([attribute_indices(p) for p in batch["params"]])
        keep = self._kept(targets)
        device = batch["image"].device
        real = batch["image"][keep.to(device)] * 2 - 1
        if not embed:
            return real, None, targets[keep].to(device)
        captions = [t for t, k in zip(batch["caption"], keep.tolist()) if k]
        e = self.embed(captions).to(device)
        if self.training:
            self.recent.copy_(self.recent.roll(len(e), 0))
            self.recent[: min(len(e), len(self.recent))] = e[: len(self.recent)].detach()
        return real, e, targets[keep].to(device)

    def loss(self, batch: dict, phase: str = "g") -> dict[str, torch.Tensor]:
        if phase == "c":  # the classifiers: attributes of real renders, and "fake" shape for this step's fakes
            pending = self._pending if self._pending is not None and self._pending[0] is batch else None
            real, _, targets = pending[1:4] if pending else self._batch(batch, embed=False)
            c_loss = self._aux_loss(real, targets)
            shape = (self.C[0](real)[0].argmax(1) == targets[:, 0]).float().mean()
            out = {"c_shape_accuracy": shape}
            if pending:
                fake_logits = self.C[0](pending[4].detach())[0]
                fake_class = torch.full((len(fake_logits),), ATTRIBUTE_SIZES[0], device=fake_logits.device)
                c_loss = c_loss + F.cross_entropy(fake_logits, fake_class)
                out["c_fake_caught"] = (fake_logits.argmax(1) == fake_class).float().mean()
            return {"loss": c_loss, "c_loss": c_loss.detach(), **out}
        pending, self._pending = self._pending, None
        if phase == "g" and pending is not None and pending[0] is batch:
            real, e, targets, fake, mu, logvar = pending[1:]
        else:
            real, e, targets = self._batch(batch)
            c, mu, logvar = self.condition(e)
            fake = self.G(torch.cat([torch.randn(len(e), self.config.latent_dim, device=e.device), c], 1), c)
        cfg = self.config
        if phase == "d":
            if torch.is_grad_enabled():
                self._pending = (batch, real, e, targets, fake, mu, logvar)
            real_logits = self.D(real, e)
            fake_logits = self.D(fake.detach(), e)
            negatives = F.relu(1 + fake_logits).mean()
            out = {"d_real": real_logits.mean().detach(), "d_fake": fake_logits.mean().detach()}
            if cfg.mismatch and len(e) > 1:  # GAN-INT-CLS: a real image with another's caption is a negative too
                wrong_logits = self.D(real, e.roll(1, 0))
                negatives = (negatives + cfg.mismatch * F.relu(1 + wrong_logits).mean()) / (1 + cfg.mismatch)
                out["d_wrong"] = wrong_logits.mean().detach()
            d_loss = F.relu(1 - real_logits).mean() + negatives
            return {"loss": d_loss, "d_loss": d_loss.detach(), **out}
        self.D.requires_grad_(False)
        fake_logits = self.D(fake, e)
        self.D.requires_grad_(True)
        g_loss = generator_loss("hinge", fake_logits)
        out = {"g_loss": g_loss.detach()}
        if cfg.aux:
            self.C.requires_grad_(False)
            g_aux = self._aux_loss(fake, targets)
            self.C.requires_grad_(True)
            g_loss = g_loss + cfg.aux * g_aux
            out["g_aux"] = g_aux.detach()
        if cfg.kl:
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
            g_loss = g_loss + cfg.kl * kl
            out["kl"] = kl.detach()
        return {"loss": g_loss, **out}

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        return self.sample(
            min(16, len(batch["caption"])), batch["caption"][:16], generator=torch.Generator().manual_seed(0)
        )
