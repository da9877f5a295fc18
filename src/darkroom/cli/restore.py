"""``darkroom restore``: denoise, super-resolve, inpaint or colorize image files."""

from __future__ import annotations

from darkroom.cli.common import number, report, warn_beside_progress


def _cmd_restore(args) -> int:
    from darkroom.ops.restore import restore_files

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
    )
    print(f"wrote {len(written)} image(s) to {args.out}")
    return report(failures)


def register(sub) -> None:
    p = sub.add_parser("restore", help="denoise, super-resolve, inpaint or colorize image files")
    p.add_argument("task", choices=["denoise", "sr", "inpaint", "colorize"])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    p.add_argument("--out", required=True, help="output folder (files keep their stem)")
    p.add_argument("--model", help="shipped weights name or run folder (default: the shipped model)")
    p.add_argument("--sigma", help="noise level on the 0-255 scale, or auto (default) to estimate it")
    p.add_argument(
        "--scale",
        type=int,
        help="super-resolution factor, 2 (default) or 4; sr-x2-large and sr-x4-large (--model) are slower and sharper",
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
    p.set_defaults(func=_cmd_restore)
