"""GANs: the textbook DCGAN, darkroom's stable GAN, and the class-conditional GAN.

Each trains in two phases per step (discriminator, then generator, on the same fakes) through the
trainer's ``phases()`` hook. Images are [0, 1] outside and [-1, 1] inside. ``sample(n)`` generates;
``truncation`` in (0, 1] scales the latent (values below 1 trade variety for typicality).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.data.base import readable_images
from darkroom.losses import (
    GAN_LOSSES,
    batch_diversity,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
)
from darkroom.nn.diffaug import diff_augment, parse_policy
from darkroom.nn.gan import (
    G_NORMS,
    UPSAMPLERS,
    AttributeClassifier,
    DCGANDiscriminator,
    DCGANGenerator,
    Discriminator,
    Generator,
)

AUX_OPTIM = {"lr": 2e-3, "beta1": 0.9}  # the auxiliary classifier is an ordinary classifier (features-scenes' lr)


CLUSTER_SIZE = 16  # self-conditioning clusters images downsampled to at most this many pixels a side
CLUSTER_IMAGES = 4000  # ... and (up to) this many of the training images


def cluster_features(images: torch.Tensor) -> torch.Tensor:
    """Images (B, C, S, S) in [0, 1] -> the flat vectors self-conditioning's k-means clusters."""
    if images.shape[-1] > CLUSTER_SIZE:
        images = F.adaptive_avg_pool2d(images, CLUSTER_SIZE)
    return images.flatten(1)


def _check_size(image_size: int) -> None:
    if image_size and (image_size < 8 or image_size & (image_size - 1)):
        raise ValueError(f"GANs need a power-of-two image size >= 8, got {image_size} (add size=32 to the spec)")


@torch.no_grad()
def recompute_batchnorm(net: nn.Module, forward, batches: int = 16) -> None:
    """Reset ``net``'s BatchNorm running statistics and recompute them as a plain average over ``batches``
    calls of ``forward()`` (which runs ``net`` on one batch) in training mode."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the batches below
    was_training = net.training
    net.train()
    for _ in range(batches):
        forward()
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    net.train(was_training)


class _GANBase(nn.Module):
    """Shared by every GAN here: subclasses build ``self.G`` and ``self.D`` and set the loss kind."""

    conditional = False
    aux_weight = 0.0  # weight of the auxiliary classifier's loss (cgan's ``aux``)
    power_of_two_size = True  # `darkroom train` resizes other square data (MNIST's 28 px) to the next power of two
    augment: tuple[str, ...] = ()  # DiffAugment policy applied before D (the stable GAN's ``augment``)
    _pending = None  # (batch, fakes, labels) of this step's D phase, for its G phase

    def _labels(self, labels, n: int, device) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if labels is None:
            raise ValueError("this class-conditional model needs --label")
        labels = torch.as_tensor(labels, device=device).long().reshape(-1)
        labels = labels.expand(n) if labels.numel() == 1 else labels
        if labels.min() < 0 or labels.max() >= self.config.num_classes:
            raise ValueError(f"label out of range: this model knows labels 0..{self.config.num_classes - 1}")
        return labels

    def _d(self, images: torch.Tensor, labels) -> torch.Tensor:
        return self.D(images) if labels is None else self.D(images, labels)

    def _g(self, z: torch.Tensor, labels) -> torch.Tensor:
        return self.G(z) if labels is None else self.G(z, labels)  # the textbook DCGAN's G is a Sequential

    def _clusters(self) -> int:
        """Self-conditioning's number of clusters (0: off; the class-conditional models use real labels)."""
        return 0 if self.conditional else getattr(self.config, "clusters", 0)

    def _latent_clusters(self, z: torch.Tensor) -> torch.Tensor:
        """Self-conditioning: the cluster a latent draws from, read from the angle of its first two
        coordinates (uniform for a Gaussian z, and kept by truncation's scaling) through the clusters'
        cumulative shares of the data, so clusters are drawn as often as the data has them and z alone
        determines the image."""
        u = (torch.atan2(z[:, 0], z[:, 1]) / math.pi + 1) / 2
        return torch.searchsorted(self.cluster_cdf, u.contiguous()).clamp_max(self._clusters() - 1)

    @torch.no_grad()
    def _image_clusters(self, images: torch.Tensor) -> torch.Tensor:
        """Self-conditioning: the nearest k-means centroid of each image in [0, 1]."""
        return torch.cdist(cluster_features(images), self.centroids).argmin(1)

    def _fake_labels(self, z: torch.Tensor, labels=None) -> torch.Tensor | None:
        if self._clusters():
            return self._latent_clusters(z)
        return self._labels(labels, z.shape[0], z.device)

    def generate(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """Latents (B, latent_dim) -> images (B, C, H, W) in [0, 1]."""
        return (self._g(z, self._fake_labels(z, labels)) + 1) / 2

    @torch.no_grad()
    def sample(self, n: int, labels=None, truncation: float = 1.0, generator: torch.Generator | None = None):
        if not 0 < truncation <= 1:
            raise ValueError(f"truncation must be in (0, 1], got {truncation}")
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(device) * truncation
        return self.generate(z, labels)

    @torch.no_grad()
    def calibrate(self, batches: int = 16, batch_size: int = 64) -> None:
        """Recompute the generator's BatchNorm running statistics for its current weights. An EMA
        generator needs this: its averaged weights never produced the live model's statistics, and
        sampling in eval mode with those gives washed-out images."""
        device = next(self.parameters()).device
        g = torch.Generator().manual_seed(0)

        def forward():
            z = torch.randn(batch_size, self.config.latent_dim, generator=g).to(device)
            if self.conditional:
                self.G(z, torch.randint(0, self.config.num_classes, (batch_size,), generator=g).to(device))
            else:
                self._g(z, self._fake_labels(z))

        recompute_batchnorm(self.G, forward, batches)

    def phases(self) -> dict:
        phases = {"d": (list(self.D.parameters()), self.d_optim), "g": (list(self.G.parameters()), self.g_optim)}
        if self.aux_weight and not self.config.aux_from:  # between: it reads the D phase's fakes, which G then uses
            phases = {"d": phases["d"], "c": (list(self.C.parameters()), AUX_OPTIM), "g": phases["g"]}
        return phases

    def loss(self, batch: dict, phase: str = "g") -> dict[str, torch.Tensor]:
        real = batch["image"] * 2 - 1
        if phase == "c":  # the classifier: the labels of real images, and "fake" (class K) for this step's fakes
            logits = self.C(real)[0]
            fakes = self._pending[1].detach() if self._pending is not None and self._pending[0] is batch else None
            fakes = fakes if self.config.aux_fakes else None
            c_loss = F.cross_entropy(logits, batch["label"])
            out = {"c_accuracy": (logits.argmax(1) == batch["label"]).float().mean()}
            if fakes is not None:
                fake_logits = self.C(fakes)[0]
                fake_class = torch.full((len(fakes),), self.config.num_classes, device=fakes.device)
                c_loss = c_loss + F.cross_entropy(fake_logits, fake_class)
                out["c_fake_caught"] = (fake_logits.argmax(1) == fake_class).float().mean()
            return {"loss": c_loss, "c_loss": c_loss.detach(), **out}
        pending, self._pending = self._pending, None
        if phase == "g" and pending is not None and pending[0] is batch:
            fake, labels = pending[1:]  # the D phase's fakes, as in the textbook loop: one G forward a step
        else:
            z = torch.randn(real.shape[0], self.config.latent_dim, device=real.device)
            labels = self._fake_labels(z, batch.get("label"))
            fake = self._g(z, labels)
        kind = self.config.loss
        if phase == "d":
            if torch.is_grad_enabled():  # kept, with its graph, for the G phase of this step
                self._pending = (batch, fake, labels)
            penalty_r1 = getattr(self.config, "r1", 0.0)
            real_in = real.requires_grad_(True) if penalty_r1 else real
            # self-conditioned: a real image is shown with its own cluster, a fake with the one it was drawn from
            real_labels = self._image_clusters(batch["image"]) if self._clusters() else labels
            real_logits = self._d(diff_augment(real_in, self.augment), real_labels)
            fake_logits = self._d(diff_augment(fake.detach(), self.augment), labels)
            d_loss = discriminator_loss(kind, real_logits, fake_logits)
            out = {
                "d_loss": d_loss.detach(),
                "d_real": real_logits.mean().detach(),
                "d_fake": fake_logits.mean().detach(),
            }
            if penalty_r1:
                r1 = r1_penalty(real_logits, real_in)
                d_loss = d_loss + 0.5 * penalty_r1 * r1
                out["r1"] = r1.detach()
            gp_weight = getattr(self.config, "gp", 0.0)
            if gp_weight:
                kwargs = {"labels": labels} if labels is not None else {}
                gp = gradient_penalty(self.D, real.detach(), fake.detach(), **kwargs)
                d_loss = d_loss + gp_weight * gp
                out["gp"] = gp.detach()
            return {"loss": d_loss, **out}
        self.D.requires_grad_(False)  # the G phase needs no gradients for D's weights
        fake_logits = self._d(diff_augment(fake, self.augment), labels)
        self.D.requires_grad_(True)
        g_loss = generator_loss(kind, fake_logits)
        out = {"g_loss": g_loss.detach(), "diversity": batch_diversity(fake, real)}
        if self.aux_weight:  # G is asked to draw what the classifier reads as the requested label
            g_aux = F.cross_entropy(self._aux_logits(fake)[:, : self.config.num_classes], labels)
            g_loss = g_loss + self.aux_weight * g_aux
            out["g_aux"] = g_aux.detach()
        return {"loss": g_loss, **out}

    def _aux_logits(self, fake: torch.Tensor) -> torch.Tensor:
        """The auxiliary classifier's class logits for fakes in [-1, 1], without training it."""
        if not self.config.aux_from:
            self.C.requires_grad_(False)
            logits = self.C(fake)[0]
            self.C.requires_grad_(True)
            return logits
        if not self._reader:
            from darkroom.models import load_run  # the registry imports this module

            reader, info = load_run(self.config.aux_from, fake.device)
            if getattr(reader.config, "num_classes", None) != self.config.num_classes:
                raise ValueError(
                    f"aux_from: {self.config.aux_from} knows {getattr(reader.config, 'num_classes', 0)} "
                    f"classes, the data {self.config.num_classes}"
                )
            self._reader = (reader.eval().requires_grad_(False),)
        return self._reader[0]((fake + 1) / 2)

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        gen = torch.Generator().manual_seed(0)
        labels = (torch.arange(16) % self.config.num_classes) if self.conditional else None
        return self.sample(16, labels, generator=gen)


@dataclass(frozen=True)
class DCGANConfig:
    channels: int = 0
    image_size: int = 0
    latent_dim: int = 100
    width: int = 64  # 32 px: G 256 -> 128 -> 64 -> C, D 64 -> 128 -> 256
    loss: str = "bce"

    def check(self):
        _check_size(self.image_size)
        if self.loss != "bce":
            raise ValueError("the textbook DCGAN uses the bce loss; use the `gan` model for other losses")


class DCGAN(_GANBase):
    """The textbook DCGAN (Radford et al. 2016): transposed convs, BatchNorm, BCE, Adam 2e-4, beta1 0.5."""

    Config = DCGANConfig
    train_defaults = {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "grad_clip": 0.0, "batch_size": 64}
    d_optim: dict = {}
    g_optim: dict = {}

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = c = config
        self.G = DCGANGenerator(c.latent_dim, c.channels, c.image_size, c.width)
        self.D = DCGANDiscriminator(c.channels, c.image_size, c.width)


@dataclass(frozen=True)
class GANConfig:
    channels: int = 0
    image_size: int = 0
    num_classes: int = 0  # cgan only; 0: from the data
    latent_dim: int = 64
    width: int = 32
    d_width: int = 32
    loss: str = "hinge"  # bce (non-saturating), hinge, wgan, lsgan
    spectral_norm: bool = True
    r1: float = 0.0  # R1 penalty weight (gamma)
    gp: float = 0.0  # WGAN-GP weight (10 with loss = wgan)
    upsample: str = "nearest"  # transposed, nearest, bilinear, pixelshuffle
    norm: str = "batch"  # generator normalisation: batch, instance, none
    activation: str = "relu"  # relu, lrelu, silu, gelu
    g_convs: int = 1  # convolutions per generator stage (the first one upsamples)
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    augment: str = ""  # differentiable augmentation before D (DiffAugment): e.g. "translation,cutout"
    lean: bool = False  # the DCGAN layout: no layer at full resolution with `width` channels in G or D
    label_input: bool = False  # cgan only: the label also enters G beside z and D as one-hot image planes
    aux: float = 0.0  # cgan only: weight of an auxiliary classifier (AC-GAN) whose reading G must satisfy
    aux_fakes: bool = True  # with aux: the classifier also learns to call this step's fakes "fake" (class K)
    aux_from: str = (
        ""  # with aux: a trained classifier run or shipped name to read labels (frozen), not one trained here
    )
    clusters: int = 0  # gan only: self-conditioning on this many k-means clusters of the training images

    def check(self):
        _check_size(self.image_size)
        for name, value, allowed in (
            ("loss", self.loss, GAN_LOSSES),
            ("upsample", self.upsample, UPSAMPLERS),
            ("norm", self.norm, G_NORMS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.r1 < 0 or self.gp < 0:
            raise ValueError("r1 and gp must be >= 0")
        if self.aux < 0:
            raise ValueError(f"aux must be >= 0, got {self.aux}")
        if self.g_convs < 1:
            raise ValueError(f"g_convs must be >= 1, got {self.g_convs}")
        if self.clusters < 0 or self.clusters == 1 or (self.clusters and self.latent_dim < 2):
            raise ValueError(f"clusters must be 0 (off) or >= 2 (with latent_dim >= 2), got {self.clusters}")
        parse_policy(self.augment)


SMALL_IMAGE_DEFAULTS = {"lean": True, "upsample": "transposed", "width": 32, "d_width": 32}
SELF_CONDITIONING = {"clusters": 30, "label_input": True, "augment": "translation"}  # gan, gray images <= 32 px


class GAN(_GANBase):
    """darkroom's stable GAN: hinge loss, spectral norm, EMA generator; every switch configurable.

    Defaults by data shape (``data_defaults``; any key a user sets wins). On gray images up to 32 px the layout
    is DCGAN's (``lean``: transposed convolutions, no layer at full resolution with many channels) with
    width 32 in G and D. Why, measured on real 28 px glyphs (notMNIST, 8,000 to train, FID against the
    other 2,000 in a classifier's features; 5 CPU-minutes, one thread each):
    - profiled at batch 64, the former layout (nearest upsampling with a 3x3 conv at every size, a 3x3 stem
      at full resolution in D, width 32) took 715 ms a step where the textbook DCGAN took 318: in a fixed
      budget it made 414 steps to DCGAN's 875, and scored FID 39.1 to DCGAN's 43.6;
    - the lean layout at width 64 (DCGAN's capacity) ran 898 steps: FID 27.8; at width 32, 2,608 steps:
      FID 20.9, under half of DCGAN's. In a budget of minutes more steps beat more channels here;
    - learning rates 4e-4 for both made no difference (21.1), TTUR (G 1e-4, D 4e-4) was worse (32.9).
    Hinge loss, spectral norm, Adam (0, 0.99) and the EMA generator (half-life at most 5 % of the steps
    so far) are kept: spectral norm and hinge let D be as fast as G without collapse, and the EMA's
    samples are sharper than the live generator's. At 20 minutes (one run) the lean layout alone lost: FID
    22.3 (11,873 steps) against the textbook DCGAN's 16.2 (3,857), worse than its own 19.8 at 5 minutes.
    What fixed it is self-conditioning (``clusters``, Liu et al. 2020, "Diverse Image Generation via
    Self-Conditioned GANs"): k-means on the training images (downsampled to 16 px) gives each one a cluster,
    G and D are class-conditional on it (label also at both inputs, as in ``cgan``), and a sample's cluster
    is read from the angle of its latent's first two coordinates, drawn as often as the data has it. The
    class-conditional ``cgan`` scored FID 1.9 at 20 minutes with real labels: a GAN that knows which kind of
    glyph it draws does not blend kinds. Measured with a scratch script on the same data and budget (one
    thread, one run each, 2,000 samples in one classifier's features; textbook DCGAN 41.7 at 5 minutes):
    cosine learning-rate decay 21.2 at 20 minutes (no help), translation DiffAugment 15.2 (D overfits 8,000
    glyphs over 90 epochs), 10 clusters 11.2, 10 clusters and translation 10.6 (5 minutes: 17.4), 30 clusters
    and translation **4.2** (8,623 steps; 5 minutes: **6.3**). Those are the defaults on gray images up to
    32 px (``SELF_CONDITIONING``); k-means on 4,000 glyphs takes 0.4 s, before the clock starts.
    Colour and larger images keep the former layout, without clusters (30 clusters scored worse on scenes, FID
    358 to 202 in 5 minutes: docs/generation.md). The layout: in 5 minutes on 32 px
    scenes it scored FID 202 where the lean one scored 319 (and the textbook DCGAN 550), and on 32 px
    photo crops it scored 0.28x the textbook DCGAN's FID (docs/generation.md); the zoo pins it for every
    member (``ops.zoo.ZOO_PINNED``).
    """

    Config = GANConfig
    train_defaults = {"beta1": 0.0, "beta2": 0.99, "ema": 0.999, "grad_clip": 0.0, "batch_size": 64}

    @classmethod
    def data_defaults(cls, data_info: dict) -> dict:
        """Settings chosen by the data's shape, for the keys a user does not set (see the class docstring)."""
        size = (data_info.get("image_size") or [0])[0]
        if not size or size > 32 or data_info.get("channels") != 1:
            return {}
        if cls.conditional:
            return {**SMALL_IMAGE_DEFAULTS, "label_input": True}
        return {**SMALL_IMAGE_DEFAULTS, **SELF_CONDITIONING}

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = c = config
        classes = c.num_classes if self.conditional else c.clusters
        if self.conditional and classes < 2:
            raise ValueError("a class-conditional GAN needs labelled data with at least 2 classes")
        if self.conditional and c.clusters:
            raise ValueError("clusters is the unconditional gan's: a class-conditional model has its labels")
        if c.clusters:  # self-conditioning: k-means centroids and the clusters' cumulative shares of the data
            size = min(c.image_size, CLUSTER_SIZE)
            self.register_buffer("centroids", torch.zeros(c.clusters, c.channels * size * size))
            self.register_buffer("cluster_cdf", torch.linspace(1 / c.clusters, 1, c.clusters))
        self.G = Generator(
            c.latent_dim,
            c.channels,
            c.image_size,
            c.width,
            c.upsample,
            c.norm,
            c.activation,
            classes,
            c.g_convs,
            c.lean,
            label_input=c.label_input,
        )
        self.aux_weight = c.aux if self.conditional else 0.0
        self.D = Discriminator(
            c.channels, c.image_size, c.d_width, c.spectral_norm, classes, c.lean, label_input=c.label_input
        )
        if self.aux_weight and not c.aux_from:
            self.C = AttributeClassifier(c.channels, c.image_size, (classes + 1,))  # + "fake"
        self._reader = ()  # (frozen classifier,) of aux_from, loaded on first use, not part of the weights
        self.d_optim, self.g_optim = {"lr": c.d_lr}, {"lr": c.g_lr}
        self.augment = parse_policy(c.augment)

    def prepare_data(self, dataset, print_fn=print) -> None:
        """Self-conditioning (``clusters``): k-means (scikit-learn) on up to ``CLUSTER_IMAGES`` training
        images, downsampled; the trainer calls this with the train split first, later calls keep them."""
        if not self._clusters() or getattr(self, "_prepared", False):
            return
        from sklearn.cluster import KMeans

        self._prepared = True
        images = readable_images(dataset, CLUSTER_IMAGES)
        k = self.config.clusters
        if len(images) < k:
            raise ValueError(f"clusters={k} needs at least {k} training images, the data have {len(images)}")
        features = cluster_features(torch.stack(images)).double().numpy()
        kmeans = KMeans(k, n_init=3, random_state=0).fit(features)
        self.centroids.copy_(torch.from_numpy(kmeans.cluster_centers_))
        shares = torch.bincount(torch.from_numpy(kmeans.labels_).long(), minlength=k).double() / len(images)
        self.cluster_cdf.copy_(shares.cumsum(0))
        print_fn(
            f"gan: self-conditioned on {k} k-means clusters of {len(images)} training images (shares "
            f"{float(shares.min()):.1%}-{float(shares.max()):.1%})"
        )


class ConditionalGAN(GAN):
    """Class-conditional GAN: conditional BatchNorm in G, projection discriminator; with ``aux`` an auxiliary
    classifier (AC-GAN) trained on real images in the run, whose reading of each sample G must satisfy.

    Why ``aux``, measured on scenes (8 shapes, 32 px; ``darkroom bench shapes``): the shipped ``cgan-scenes``
    draws the requested shape in 18.6 % of 800 samples (chance 12.5 %); after 15 minutes of the same
    recipe in the lean layout, D's class projection picked the right shape of a real test render 22.7 % of
    the time: D itself hardly knows the shapes, so its gradient cannot teach G to draw them. A shape
    classifier kept apart from D (``nn.gan.AttributeClassifier``) reads real renders at 92 % within 900
    steps and gives G that signal directly.

    Why ``label_input`` (the default on gray images up to 32 px, with the lean layout), measured on notMNIST
    (8,000 glyphs to train, 5 CPU-minutes on one thread, 2,000 samples read by a classifier trained on the
    8,000, which reads the 2,000 held-out real glyphs at 94.3 %): with the label only in G's conditional
    BatchNorm and D's projection, 49.9 % of samples were the letter asked for; with the label also one-hot
    beside z and as image planes beside D's input (the textbook cDCGAN's early fusion), 93.4 % and FID 2.18
    (2,890 steps): D sees the label from its first layer, not only through a projection of its last
    features. ``aux`` with the in-run classifier: 14.7 % when it also learns a "fake" class (it becomes a
    second discriminator without spectral norm, and wins), 47.8 % without it (G draws textures the
    classifier reads as letters); on top of ``label_input`` 97.3 %, but FID 4.87 at half the steps."""

    conditional = True
