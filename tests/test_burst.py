import pytest
import torch

from darkroom.cli import main
from darkroom.data import degrade
from darkroom.data.base import to_tensor
from darkroom.data.photos import skimage_photo
from darkroom.io import read_image, read_provenance, write_image
from darkroom.metrics.image import psnr
from darkroom.models import load_run
from darkroom.models.burst import fuse, inverse_motion, robust_mean
from darkroom.models.restore import DenoiseConfig, Denoiser
from darkroom.ops.burst import align, fuse_burst, restore_burst
from darkroom.ops.training import run_training


@pytest.fixture(scope="module")
def scene():
    return to_tensor(skimage_photo("astronaut")[80:240, 120:280])  # 160 px


def test_burst_frames_move_as_said_and_align_finds_the_motion(scene):
    frames, truth, info = degrade.burst(scene, 4, 5, generator=0)
    assert len(frames) == 4 and frames[0].shape == truth.shape == (3, 128, 128)
    assert info["motion"][0] == {"rotation_deg": 0.0, "shift_px": [0.0, 0.0]}
    for k in (1, 2, 3):
        angle, shift, correlation = align(frames[0], frames[k])
        moved = info["motion"][k]
        assert abs(angle + moved["rotation_deg"]) < 0.15  # undone: the opposite rotation
        assert correlation > 0.9


def test_fusing_a_noisy_burst_beats_its_first_frame_and_leaves_out_another_scene(scene):
    frames, truth, _ = degrade.burst(scene, 6, 30, generator=1)
    other = to_tensor(skimage_photo("chelsea")[:128, :128])
    said = []
    fused, _, report = fuse_burst([*frames, other], warn=said.append)
    assert report["fused"] == 6 and report["left_out"] == [6]
    assert said == [said[0]] and said[0].startswith("alignment failed for frame 6")
    assert psnr(fused.clamp(0, 1), truth) > psnr(frames[0], truth) + 5  # ~sqrt(6) less noise


def test_robust_mean_ignores_an_outlier_and_missing_samples():
    frames = torch.full((5, 1, 2, 2), 0.5)
    frames[0, 0, 0, 0] = 1.0  # one frame disagrees
    frames[1, 0, 1, 1] = float("nan")  # one frame does not see this pixel
    fused = robust_mean(frames + torch.randn(5, 1, 2, 2) * 1e-3)
    assert torch.allclose(fused, torch.full((1, 2, 2), 0.5), atol=0.01)


def test_restore_burst_cli(tmp_path, scene, capsys):
    frames, truth, _ = degrade.burst(scene, 4, 25, generator=2)
    for k, frame in enumerate(frames):
        write_image(tmp_path / f"f{k}.png", frame)
    out = tmp_path / "out.png"
    assert main(["restore", "burst", str(tmp_path), "--out", str(out)]) == 0
    assert psnr(read_image(out), truth) > psnr(read_image(tmp_path / "f0.png"), truth) + 8
    assert read_provenance(out)["fused"] == 4
    assert main(["restore", "burst", str(tmp_path / "f0.png"), "--out", str(tmp_path / "one.png")]) == 0
    assert "one frame: single-frame restoration" in capsys.readouterr().err
    write_image(tmp_path / "odd" / "x.png", frames[0][:, :64, :64])
    assert main(["restore", "burst", str(tmp_path / "f0.png"), str(tmp_path / "odd"), "--out", str(out)]) == 2
    assert "x.png (64x64)" in capsys.readouterr().err
    assert main(["restore", "burst", str(tmp_path / "f0.png"), "--out", str(tmp_path)]) == 2


def test_inverse_motion_matches_what_alignment_finds(scene):
    frames, _, info = degrade.burst(scene, 3, 5, generator=3)
    for k in (1, 2):
        angle, shift, _ = align(frames[0], frames[k])
        known_angle, known_shift = inverse_motion(info["motion"][k]["rotation_deg"], info["motion"][k]["shift_px"])
        assert abs(angle - known_angle) < 0.1
        assert max(abs(a - b) for a, b in zip(shift, known_shift)) < 0.15


def test_fuse_reports_how_far_the_noise_fell():
    frames = torch.rand(4, 3, 8, 8)
    frames[1:, :, :, :2] = float("nan")  # the left columns seen by the first frame only
    _, factor = fuse(frames)
    assert factor.shape == (1, 8, 8)
    assert torch.allclose(factor[:, :, :2], torch.ones(1, 8, 2))
    assert float(factor[:, :, 2:].max()) < 1 and float(factor[:, :, 2:].min()) >= 0.5 - 1e-6  # 1/sqrt(4) at best


def test_denoiser_reads_a_noise_map_as_it_reads_one_sigma():
    net = Denoiser(DenoiseConfig(channels=3, width=8, depth=4))
    torch.nn.init.normal_(net.body[-1].weight, std=0.1)
    noisy = torch.rand(2, 3, 15, 17)
    with torch.no_grad():
        assert torch.allclose(net(noisy, 20.0), net(noisy, torch.full((2, 1, 15, 17), 20.0)), atol=1e-6)
        assert not torch.allclose(net(noisy, 20.0), net(noisy, torch.full((2, 1, 15, 17), 5.0)))


def test_burst_restorer_starts_from_a_denoise_run_and_restores_a_burst(tmp_path, scene):
    quiet = {"progress": False, "print_fn": lambda *a: None}
    small = {"width": "8", "depth": "4", "batch_size": "2", "checkpoint_every": "1000", "sample_every": "1000"}
    run_training("denoise", "photos:,patch=64", tmp_path / "dn", small, None, flags={"steps": 1, "seed": 0}, **quiet)
    info = run_training(
        "burst",
        "photos:,patch=64",
        tmp_path / "burst",
        {**small, "max_frames": "3", "init": str(tmp_path / "dn")},
        None,
        flags={"steps": 2, "seed": 0},
        **quiet,
    )
    assert info["step"] == 2
    net, _ = load_run(tmp_path / "burst")
    out = net.loss({"image": scene[None, :, :64, :64].repeat(2, 1, 1, 1)})
    assert out["loss"].requires_grad and float(out["psnr_fused"]) > 10
    frames, truth, _ = degrade.burst(scene, 4, 25, generator=4)
    clean, report = restore_burst(frames, restorer=net)
    assert clean.shape == truth.shape and report["restorer"] == "burst" and report["noise_sigma_per_frame"] > 15
    _, report = restore_burst(frames, restorer=None)
    assert report["restorer"] == "denoise" and "noise_sigma_after_fusion" in report
