import pytest
import torch

from darkroom.cli import main
from darkroom.data import degrade
from darkroom.data.base import to_tensor
from darkroom.data.photos import skimage_photo
from darkroom.io import read_image, read_provenance, write_image
from darkroom.metrics.image import psnr
from darkroom.ops.burst import align, fuse_burst, robust_mean


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
    fused, report = fuse_burst([*frames, other], warn=said.append)
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
