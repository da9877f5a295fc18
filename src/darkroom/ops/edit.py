"""``darkroom edit``: move through a generator's latent space.

- ``interpolate``: between two latents (lerp for a VAE, slerp for a GAN), as a strip PNG and a GIF.
- ``directions``: one row per direction, from -strength to +strength. ``sefa`` (closed form, Shen & Zhou
  2021): eigenvectors of W^T W for the first layer W that reads the latent. ``pca`` (GANSpace, Harkonen et
  al. 2020): principal components of the first layer's activations over sampled latents, carried back to
  the latent by least squares. ``svm`` (InterFaceGAN, Shen et al. 2020): the normal of a linear SVM that
  separates sampled latents by a label read from their images: ``classifier:K`` (the domain classifier
  says class K) or ``scene:FIELD`` (``sceneparams`` reads the main object's size, x, y or rotation above
  its median). ``keep`` (InterFaceGAN's conditional manipulation): other targets whose SVM normals the
  direction is made orthogonal to, so that moving along it leaves them as they are, to first order.
- ``attribute``: VAE encode -> add an attribute vector -> decode, for a real image. The vector is the
  mean latent of the class minus the mean latent of the other images.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from darkroom.data import load_dataset
from darkroom.data.base import fit_image
from darkroom.io import grid, read_image, to_pil, write_image
from darkroom.models import load_run
from darkroom.ops.generate import resolve_label


def _generator(run):
    model, info = load_run(run)
    if not hasattr(model, "sample"):
        raise ValueError(f"{run}: a {info['model']} is not a generator (edit vae, cvae, dcgan, gan or cgan runs)")
    return model, info


def _decode(model, z: torch.Tensor, label) -> torch.Tensor:
    """Latents (N, D) -> images; ``label`` is None, one class for all, or a tensor (N,) of classes."""
    labels = label if torch.is_tensor(label) or label is None else torch.full((len(z),), label)
    return model.decode(z, labels) if hasattr(model, "decode") else model.generate(z, labels)


def latents(model, n: int, seed: int, label=None) -> tuple[torch.Tensor, torch.Tensor | int | None]:
    """``n`` latents and their labels: ``label`` for all, or random classes for a conditional model."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, model.config.latent_dim, generator=g)
    if label is None and getattr(model, "conditional", False):
        label = torch.randint(0, model.config.num_classes, (n,), generator=g)
    return z, label


def _label(model, info, label):
    index = resolve_label(label, info)
    if getattr(model, "conditional", False) and index is None:
        raise ValueError("this class-conditional model needs --label")
    return index


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents a, b (D,) at fractions t (T,) -> (T, D)."""
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1, 1)
    omega = torch.acos(cos)
    if omega.abs() < 1e-4:
        return torch.lerp(a[None], b[None], t[:, None])
    return (torch.sin((1 - t) * omega)[:, None] * a + torch.sin(t * omega)[:, None] * b) / torch.sin(omega)


@torch.no_grad()
def interpolate(run, out, steps: int = 8, seed: int = 0, label=None, gif: bool = True) -> list[Path]:
    if steps < 2:
        raise ValueError(f"--steps must be >= 2, got {steps}")
    model, info = _generator(run)
    index = _label(model, info, label)
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, model.config.latent_dim, generator=g)
    t = torch.linspace(0, 1, steps)
    is_vae = info["model"] in ("vae", "cvae")
    z = torch.lerp(a[None], b[None], t[:, None]) if is_vae else slerp(a, b, t)
    frames = _decode(model, z, index).cpu()
    provenance = {
        "operation": "edit-interpolate",
        "model": info["model"],
        "run": str(run),
        "seed": seed,
        "steps": steps,
        "label": index,
        "method": "lerp" if is_vae else "slerp",
    }
    out = Path(out)
    written = [write_image(out, grid(frames, ncol=steps), provenance=provenance)]
    if gif:
        pictures = [to_pil(f).resize((f.shape[-1] * 4, f.shape[-2] * 4), Image.NEAREST) for f in frames]
        pictures += pictures[-2:0:-1]  # there and back
        path = out.with_suffix(".gif")
        pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=120, loop=0)
        written.append(path)
    return written


def first_layer_weight(model) -> torch.Tensor:
    """The matrix (out, latent_dim) of the first layer that reads the latent."""
    latent = model.config.latent_dim
    if hasattr(model, "G") and hasattr(model.G, "embed"):
        return model.G.embed.weight[:, :latent]  # a cgan with label_input reads the one-hot label after z
    if hasattr(model, "G"):  # DCGAN: ConvTranspose2d weight (latent, C, 4, 4)
        return model.G[1].weight.flatten(1).T
    return model.decoder.expand.weight[:, :latent]


@torch.no_grad()
def sefa_directions(model, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top ``count`` eigenvectors (count, latent_dim) of W^T W and their eigenvalues."""
    weight = first_layer_weight(model).float()
    weight = weight / weight.norm(dim=0, keepdim=True).clamp_min(1e-8)
    values, vectors = torch.linalg.eigh(weight.T @ weight)
    order = values.argsort(descending=True)[:count]
    return vectors[:, order].T, values[order]


def _first_activations(model, z: torch.Tensor, label) -> torch.Tensor:
    """The output of the first layer that reads the latent, flattened (N, features)."""
    captured = []
    layer = (
        model.G.embed
        if hasattr(model, "G") and hasattr(model.G, "embed")
        else (model.G[1] if hasattr(model, "G") else model.decoder.expand)
    )
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output.flatten(1)))
    try:
        _decode(model, z, label)
    finally:
        handle.remove()
    return captured[0].float()


@torch.no_grad()
def pca_directions(model, count: int, label=None, n: int = 2000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """GANSpace: top ``count`` principal directions (count, latent_dim) and their explained variances."""
    z, label = latents(model, n, seed, label)
    h = _first_activations(model, z, label)
    h = h - h.mean(0)
    _, singular, basis = torch.linalg.svd(h, full_matrices=False)
    coords = h @ basis[:count].T  # (n, count) principal coordinates
    carried = torch.linalg.lstsq(coords, z).solution  # z ~ coords @ carried: (count, latent_dim)
    vectors = carried / carried.norm(dim=1, keepdim=True).clamp_min(1e-8)
    return vectors, singular[:count] ** 2 / (n - 1)


def image_labeller(target: str):
    """images (N, C, H, W) -> boolean (N,) for ``classifier:K`` or ``scene:FIELD`` (above the median)."""
    kind, _, value = target.partition(":")
    if kind == "classifier" and value.isdigit():
        return lambda images, run: _classify(images, run) == int(value)
    if kind == "scene" and value in ("size", "x", "y", "rotation"):
        scenes = load_run("sceneparams")[0]

        def above_median(images, run):
            read = torch.tensor([p["objects"][0][value] for p in scenes.predict(images)])
            return read > read.median()

        return above_median
    raise ValueError(f"--target must be classifier:K or scene:size|x|y|rotation, got {target!r}")


def _classify(images: torch.Tensor, run) -> torch.Tensor:
    from darkroom.ops.evaluate import default_extractor

    info = load_run(run)[1]
    classifier = load_run(default_extractor(info["data"]))[0]
    return classifier(images).argmax(1)


@torch.no_grad()
def svm_direction(model, run, target: str, label=None, n: int = 2000, seed: int = 0) -> tuple[torch.Tensor, float]:
    """InterFaceGAN: the unit normal (latent_dim,) of a linear SVM separating latents by ``target``, and the
    SVM's accuracy on held-out latents."""
    from sklearn.svm import LinearSVC

    labeller = image_labeller(target)
    z, label = latents(model, n, seed, label)
    chunks = [(z[i : i + 500], label[i : i + 500] if torch.is_tensor(label) else label) for i in range(0, n, 500)]
    labels = torch.cat([labeller(_decode(model, zs, ls), run) for zs, ls in chunks]).numpy()
    if labels.all() or not labels.any():
        raise ValueError(f"--target {target}: every sampled image got the same label; nothing to separate")
    cut = int(n * 0.8)
    svm = LinearSVC(C=0.1).fit(z[:cut].numpy(), labels[:cut])
    accuracy = float((svm.predict(z[cut:].numpy()) == labels[cut:]).mean())
    normal = torch.tensor(svm.coef_[0], dtype=torch.float32)
    return normal / normal.norm(), accuracy


def conditioned(normal: torch.Tensor, others: list[torch.Tensor]) -> torch.Tensor:
    """``normal`` (D,) minus its projection on the span of ``others``, renormalised (Shen et al. 2020)."""
    if not others:
        return normal
    basis, _ = torch.linalg.qr(torch.stack(others, 1))
    rest = normal - basis @ (basis.T @ normal)
    if rest.norm() < 1e-6:
        raise ValueError("the direction lies in the span of the kept ones: nothing is left to move along")
    return rest / rest.norm()


@torch.no_grad()
def directions(
    run,
    out,
    count: int = 5,
    strength: float = 3.0,
    columns: int = 7,
    seed: int = 0,
    label=None,
    method: str = "sefa",
    target: str | None = None,
    keep: tuple[str, ...] = (),
) -> Path:
    if keep and method != "svm":
        raise ValueError("--keep goes with --method svm")
    model, info = _generator(run)
    index = _label(model, info, label)
    count = min(count, model.config.latent_dim)
    extra = {}
    if method == "sefa":
        vectors, values = sefa_directions(model, count)
        extra["eigenvalues"] = [round(float(v), 4) for v in values]
    elif method == "pca":
        vectors, values = pca_directions(model, count, index, seed=seed)
        extra["variances"] = [round(float(v), 4) for v in values]
    elif method == "svm":
        if not target:
            raise ValueError("--method svm needs --target classifier:K or scene:FIELD")
        vector, accuracy = svm_direction(model, run, target, index, seed=seed)
        kept = [svm_direction(model, run, k, index, seed=seed)[0] for k in keep]
        vectors, extra = conditioned(vector, kept)[None], {"target": target, "svm_accuracy": round(accuracy, 4)}
        if keep:
            extra["keep"] = list(keep)
    else:
        raise ValueError(f"--method must be sefa, pca or svm, got {method!r}")
    z = torch.randn(1, model.config.latent_dim, generator=torch.Generator().manual_seed(seed))
    alphas = torch.linspace(-strength, strength, columns)
    rows = [_decode(model, z + alphas[:, None] * v[None], index) for v in vectors]
    provenance = {
        "operation": "edit-directions",
        "method": method,
        "model": info["model"],
        "run": str(run),
        "seed": seed,
        "strength": strength,
        **extra,
    }
    return write_image(out, grid(torch.cat(rows).cpu(), ncol=columns), provenance=provenance)


@torch.no_grad()
def attribute(run, image_path, data: str, label, out, strengths=(0.0, 0.5, 1.0, 1.5, 2.0), limit: int = 500) -> Path:
    """Encode a real image, add ``strength`` x (mean latent of ``label`` - mean latent of the rest), decode."""
    model, info = _generator(run)
    if not hasattr(model, "encode") or getattr(model, "conditional", False):
        raise ValueError(f"{run}: attribute vectors need an unconditional vae")
    index = resolve_label(label, info)
    if index is None:
        raise ValueError("--label names the attribute (a class of the data)")
    size, channels = model.config.image_size, model.config.channels
    dataset = load_dataset(data, size=size, grayscale=channels == 1, limit=limit)
    batch = [dataset[i] for i in range(len(dataset))]
    images = torch.stack([s["image"] for s in batch])
    labels = torch.tensor([s["label"] for s in batch])
    if not (labels == index).any() or (labels == index).all():
        raise ValueError(f"{data}: needs images with and without label {label}")
    means = model.encode(images)[0]
    vector = means[labels == index].mean(0) - means[labels != index].mean(0)
    source = fit_image(read_image(image_path), size, channels == 1)
    z = model.encode(source[None])[0]
    edited = model.decode(z + torch.tensor(strengths)[:, None] * vector[None])
    provenance = {
        "operation": "edit-attribute",
        "model": info["model"],
        "run": str(run),
        "source": str(image_path),
        "label": index,
        "strengths": list(strengths),
        "data": data,
    }
    return write_image(out, grid(torch.cat([source[None], edited]), ncol=len(strengths) + 1), provenance=provenance)
