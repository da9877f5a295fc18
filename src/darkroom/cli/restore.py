"""``darkroom restore``: denoise, super-resolve, inpaint or colorize image files."""

from __future__ import annotations

from darkroom.cli.common import add_parallel_options, number, report, warn_beside_progress


def _cmd_restore(args) -> int:
    from darkroom.ops.restore import restore_files

    if args.task == "burst":
        from darkroom.ops.burst import burst_file

        path, done = burst_file(args.inputs, args.out, args.scale or 1, warn=warn_beside_progress)
        print(
            f"wrote {path}: {done['fused']} of {done['frames']} frame(s) fused"
            + (f", x{done['scale']}" if done["scale"] > 1 else "")
        )
        return 0

    sigma = args.sigma if args.sigma in (None, "auto") else number(args.sigma, "--sigma")
    written, failures = restore_files(
        args.task,
        args.inputs,
        args.out,
        model=args.model,
        sigma=sigma,
        scale=args.scale,
        device=args.device,
        tile=args.tile,
        mask=args.mask,
        half=args.half,
        ensemble=args.ensemble,
        warn=warn_beside_progress,
        reference=args.reference,
        workers=args.workers,
        ray_address=args.ray,
    )
    print(f"wrote {len(written)} image(s) to {args.out}")
    return report(failures)


def register(sub) -> None:
    p = sub.add_parser(
        "restore", help="denoise, super-resolve, inpaint or colorize image files; fuse a burst of frames"
    )
    p.add_argument("task", choices=["denoise", "sr", "inpaint", "colorize", "burst"])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    p.add_argument("--out", required=True, help="output folder (files keep their stem); burst: the output image file")
    p.add_argument("--model", help="shipped weights name or run folder (default: the shipped model)")
    p.add_argument("--sigma", help="noise level on the 0-255 scale, or auto (default) to estimate it")
    p.add_argument(
        "--scale",
        type=int,
        help="super-resolution factor, 2 (default) or 4; sr-x2-large and sr-x4-large (--model) are slower and sharper; burst: 1 (default) or 2",
    )
    p.add_argument(
        "--mask",
        help="inpaint: mask image (white = fill), a folder of masks named like the inputs, "
        "or auto (default: fill pure-white scribbles) / auto-black",
    )
    p.add_argument(
        "--reference",
        help="colorize: a colour photo of a similar scene whose colours are taken (exemplar-guided; no network)",
    )
    p.add_argument("--tile", type=int, default=256, help="tile size in pixels (memory bound)")
    p.add_argument("--half", action="store_true", help="float16 on a CUDA GPU (CPU runs float32)")
    p.add_argument(
        "--ensemble",
        action="store_true",
        help="average the 8 flips/transposes: 8x slower, a little better (see darkroom bench restore)",
    )
    p.add_argument("--device", default="auto")
    add_parallel_options(p)
    p.set_defaults(func=_cmd_restore)
