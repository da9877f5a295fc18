"""Self-conditioning (the unconditional gan's ``clusters``): k-means pseudo-labels stand in for classes."""

import pytest
import torch

from darkroom.models import build_model, load_run, resolve_config
from darkroom.ops.training import run_training

TINY = {"width": "4", "d_width": "4", "latent_dim": "8", "batch_size": "8", "clusters": "3"}


def quiet(*args):
    pass


def test_a_self_conditioned_gan_clusters_its_data_and_its_latents_pick_the_cluster(tmp_path):
    said = []
    info = run_training(
        "gan", "digits:size=16", tmp_path / "run", TINY, flags={"steps": 3}, progress=False, print_fn=said.append
    )
    assert info["model_config"]["clusters"] == 3
    assert any("self-conditioned on 3 k-means clusters" in line for line in said)
    gan, _ = load_run(tmp_path / "run")
    cdf = gan.cluster_cdf
    assert torch.all(cdf[1:] >= cdf[:-1]) and cdf[-1] == pytest.approx(1.0, abs=1e-6) and cdf[0] > 0
    # every training image belongs to its nearest centroid, and the centroids are distinct images
    assert torch.cdist(gan.centroids, gan.centroids).triu(1)[0, 1:].min() > 0
    from darkroom.data import load_dataset

    data = load_dataset("digits:size=16")
    images = torch.stack([data[i]["image"] for i in range(64)])
    clusters = gan._image_clusters(images)
    features = images.flatten(1)
    nearest = torch.cdist(features, gan.centroids).argmin(1)
    assert torch.equal(clusters, nearest) and clusters.unique().numel() > 1
    # a latent's cluster is read from its direction: truncation keeps it; the shares follow the data's
    z = torch.randn(20_000, 8, generator=torch.Generator().manual_seed(0))
    picked = gan._latent_clusters(z)
    assert torch.equal(picked, gan._latent_clusters(z * 0.3))
    shares = torch.bincount(picked, minlength=3).float() / len(z)
    wanted = torch.diff(torch.cat([torch.zeros(1), cdf.float()]))
    assert torch.allclose(shares, wanted, atol=0.02)
    # z fully determines the image: the same latents give the same samples, no label asked for
    a = gan.sample(4, generator=torch.Generator().manual_seed(1))
    b = gan.sample(4, generator=torch.Generator().manual_seed(1))
    assert a.shape == (4, 1, 16, 16) and torch.equal(a, b)


def test_self_conditioned_resume_is_exact(tmp_path):
    common = {**TINY, "log_every": "1", "checkpoint_every": "2"}
    run_training("gan", "digits:size=16", tmp_path / "a", common, flags={"steps": 4}, progress=False, print_fn=quiet)
    run_training("gan", "digits:size=16", tmp_path / "b", common, flags={"steps": 2}, progress=False, print_fn=quiet)
    run_training("gan", None, tmp_path / "b", {}, flags={"steps": 4}, resume=True, progress=False, print_fn=quiet)
    a, b = load_run(tmp_path / "a")[0].state_dict(), load_run(tmp_path / "b")[0].state_dict()
    assert "centroids" in a and all(torch.equal(a[k], b[k]) for k in a)


def test_clusters_are_checked():
    info = {"channels": 1, "image_size": [16, 16], "num_classes": 10}
    with pytest.raises(ValueError, match="clusters must be 0"):
        build_model("gan", resolve_config("gan", {"clusters": "1"}, info))
    with pytest.raises(ValueError, match="class-conditional model has its labels"):
        build_model("cgan", resolve_config("cgan", {"clusters": "4"}, info))


def test_self_conditioning_is_the_default_on_small_gray_data_only():
    from darkroom.models.gan import GAN, ConditionalGAN

    gray = {"channels": 1, "image_size": [32, 32]}
    assert GAN.data_defaults(gray)["clusters"] >= 2 and GAN.data_defaults(gray)["label_input"]
    assert "clusters" not in ConditionalGAN.data_defaults(gray)  # it has real labels
    assert "clusters" not in GAN.data_defaults({"channels": 3, "image_size": [32, 32]})
    assert "clusters" not in GAN.data_defaults({"channels": 1, "image_size": [64, 64]})
