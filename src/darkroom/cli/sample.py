"""``darkroom sample`` and ``darkroom eval``: images from a generator, and how good they are."""

from __future__ import annotations

import json
import sys

from darkroom.cli.common import failure_json, report


def _cmd_sample(args) -> int:
    from darkroom.ops.generate import sample_images

    if args.prompt is not None or args.prompts:
        from darkroom.ops.textgen import read_prompts, sample_prompts

        if args.prompt is not None and args.prompts:
            raise ValueError("give --prompt or --prompts, not both")
        if args.label is not None:
            raise ValueError("--label is for class-conditional models; a text-conditioned one takes --prompt only")
        prompts, skipped = ([args.prompt], 0) if args.prompt is not None else read_prompts(args.prompts)
        if skipped:
            print(f"skipped {skipped} blank line(s) in {args.prompts}")
        n = args.n or (8 if args.prompt is not None else 1)
        paths = sample_prompts(
            args.run, prompts, n, args.out, seed=args.seed, truncation=args.truncation, device=args.device
        )
        print(f"wrote {args.out}" if len(paths) == 1 else f"wrote {len(paths)} images to {args.out}")
        return 0
    paths = sample_images(
        args.run,
        args.n or 64,
        args.out,
        seed=args.seed,
        label=args.label,
        truncation=args.truncation,
        device=args.device,
    )
    print(f"wrote {args.out}" if len(paths) == 1 else f"wrote {len(paths)} images to {args.out}")
    return 0


def _cmd_eval(args) -> int:
    from darkroom.ops.evaluate import PAIRED, evaluate, evaluate_pairs

    if args.metric == "prompt":
        return _eval_prompt(args)
    if not args.real:
        raise ValueError(f"eval {args.metric} needs --real")
    if args.metric in PAIRED:
        result = evaluate_pairs(args.metric, args.real, args.fake, args.border, args.y)
        if args.json:
            print(json.dumps({**result, "failures": [failure_json(f) for f in result["failures"]]}, indent=1))
        else:
            print(
                f"{args.metric} mean {result['mean']:.4f} over {result['pairs']} pair(s)"
                + (f", {result['unmatched']} without a namesake" if result["unmatched"] else "")
            )
        return report(result["failures"])
    result = evaluate(
        args.metric, args.real, args.fake, n=args.n, extractor=args.extractor, seed=args.seed, label=args.label
    )
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    if "warning" in result:
        print(f"warning: {result['warning']}", file=sys.stderr)
    skip = {"metric", "note", "per_label", "histogram_fake", "histogram_real", "warning"}
    for key, value in result.items():
        if key not in skip:
            print(f"{key:18s} {value:.4f}" if isinstance(value, float) else f"{key:18s} {value}")
    for key in ("per_label", "histogram_fake"):
        if key in result:
            print(f"{key:18s} " + ", ".join(f"{k}: {v:.2f}" for k, v in result[key].items()))
    print(result["note"])
    return 0


def _eval_prompt(args) -> int:
    from darkroom.ops.promptjudge import FIELDS, evaluate_prompts

    if not args.prompts:
        raise ValueError("eval prompt needs --prompts FILE (one prompt per line, as the images were made)")
    result = evaluate_prompts(args.fake, args.prompts, args.per_prompt, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{result['count']} images of {result['prompts']} prompts ({result['per_prompt']} each), read by sceneparams")
    print(f"{'attribute':12s} {'generated':>10s} {'real renders':>13s}")
    for key in (*FIELDS, "all"):
        fake, real = result["fake"][key], result["real"][key]
        if fake is not None:
            print(f"{key:12s} {fake:10.1%} {real:13.1%}")
    print(
        f"FID vs real renders (features-scenes) {result['fid']:.2f}; diversity within a prompt "
        f"{result['diversity_fake']:.3f} (real renders {result['diversity_real']:.3f})"
    )
    return 0


def register(sub) -> None:
    _add_sample(sub)
    _add_eval(sub)


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="images from a trained generator")
    p.add_argument("run", help="run folder or shipped name of a vae, cvae, dcgan, gan, cgan or textgan")
    p.add_argument("-n", type=int, help="images (default 64; with --prompt 8; with --prompts 1 per prompt)")
    p.add_argument("--out", required=True, help="a .png grid, or a folder of single PNGs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", help="class index or name (conditional models); all: -n of every class, a row each")
    p.add_argument("--prompt", help="text (text-conditioned models)")
    p.add_argument("--prompts", help="a text file, one prompt per line (text-conditioned models)")
    p.add_argument("--truncation", type=float, default=1.0, help="latent scale in (0, 1]")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_sample)


def _add_eval(sub) -> None:
    p = sub.add_parser(
        "eval", help="fid, kid, pr, coverage of a generator; psnr, ssim of image pairs; prompt agreement"
    )
    p.add_argument("metric", choices=["fid", "kid", "pr", "coverage", "psnr", "ssim", "prompt"])
    p.add_argument("--real", help="dataset spec (fid/kid/pr/coverage) or folder of references (psnr/ssim)")
    p.add_argument("--fake", required=True, help="run folder, shipped generator, or folder of images")
    p.add_argument("--border", type=int, default=0, help="psnr/ssim: pixels cropped at each border")
    p.add_argument("--y", action="store_true", help="psnr/ssim: on the luma channel only")
    p.add_argument("-n", type=int, default=1000, help="images per side (default 1000)")
    p.add_argument(
        "--extractor",
        "--features",
        dest="extractor",
        help="feature extractor: shipped name, classifier or simclr run (default: one trained on the same "
        "data; for other data one trained on its train split once, and cached: a classifier, or a SimCLR "
        "encoder where the data have no labels)",
    )
    p.add_argument("--label", help="only this class (conditional generators)")
    p.add_argument("--prompts", help="prompt: the prompts file the images were made from (PROMPT[<TAB>MEANING])")
    p.add_argument("--per-prompt", type=int, help="prompt: images per prompt (a folder: inferred; a run: 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_eval)
