"""The generative side of the ``darkroom`` command: ``sample``, ``edit`` and ``eval``."""
from __future__ import annotations

import json
import sys

from darkroom.cli_common import failure_json, report


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
        paths = sample_prompts(args.run, prompts, n, args.out, seed=args.seed, truncation=args.truncation,
                               device=args.device)
        print(f"wrote {args.out}" if len(paths) == 1 else f"wrote {len(paths)} images to {args.out}")
        return 0
    paths = sample_images(args.run, args.n or 64, args.out, seed=args.seed, label=args.label,
                          truncation=args.truncation, device=args.device)
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
            print(f"{args.metric} mean {result['mean']:.4f} over {result['pairs']} pair(s)"
                  + (f", {result['unmatched']} without a namesake" if result["unmatched"] else ""))
        return report(result["failures"])
    result = evaluate(args.metric, args.real, args.fake, n=args.n, extractor=args.extractor, seed=args.seed,
                      label=args.label)
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
    print(f"FID vs real renders (features-scenes) {result['fid']:.2f}; diversity within a prompt "
          f"{result['diversity_fake']:.3f} (real renders {result['diversity_real']:.3f})")
    return 0


def _cmd_edit(args) -> int:
    from darkroom.ops import edit

    if args.edit_command == "text":
        from darkroom.io import read_image, write_image
        from darkroom.ops.textedit import text_inpaint

        image = read_image(args.image)
        mask = read_image(args.mask, grayscale=True)
        edited, details = text_inpaint(args.run, image, (mask > 0.5).float(), args.prompt, args.candidates, args.seed,
                                       args.device)
        write_image(args.out, edited, provenance={"operation": "edit-text", "source": str(args.image),
                                                  "mask": str(args.mask), "run": args.run, **details})
        print(f"wrote {args.out} (prompt as drawn: {details['prompt_used']!r})")
        return 0
    if args.edit_command == "local":
        from darkroom.ops.localedit import local_edits

        written, failures = local_edits(args.inputs, args.out, edit=args.edit, donor=args.donor, jpeg=args.jpeg,
                                        resize=args.resize, seed=args.seed)
        print(f"wrote {len(written)} edited image(s) with masks to {args.out} (edits.jsonl lists what was done)")
        return report(failures)
    if args.edit_command == "interpolate":
        paths = edit.interpolate(args.run, args.out, steps=args.steps, seed=args.seed, label=args.label,
                                 gif=not args.no_gif)
    elif args.edit_command == "directions":
        paths = [edit.directions(args.run, args.out, count=args.count, strength=args.strength, seed=args.seed,
                                 label=args.label, method=args.method, target=args.target,
                                 keep=tuple(k for k in (args.keep or "").split(",") if k))]
    elif args.edit_command == "invert":
        from darkroom.ops.invert import invert_file

        path, found = invert_file(args.run, args.image, args.out, encoder=args.encoder, steps=args.steps,
                                  label=args.label, seed=args.seed)
        for warning in found.warnings:
            print(f"warning: {warning}")
        start = "encoder" if args.encoder else "best random latent"
        print(f"PSNR {found.psnr_start:.2f} dB from the start ({start}), {found.psnr:.2f} dB after "
              f"{args.steps} steps" + (f", label {found.label}" if found.label is not None else ""))
        paths = [path]
    else:
        paths = [edit.attribute(args.run, args.image, args.data, args.label, args.out)]
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def add_sample_parser(sub) -> None:
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


def add_edit_parser(sub) -> None:
    p = sub.add_parser("edit", help="latent interpolation, directions, attribute vectors; local edits of photos")
    edit_sub = p.add_subparsers(dest="edit_command", required=True, metavar="ACTION")
    q = edit_sub.add_parser("interpolate", help="strip PNG (+ GIF) between two latents")
    q.add_argument("run")
    q.add_argument("--out", required=True, help="strip .png (the GIF goes beside it)")
    q.add_argument("--steps", type=int, default=8)
    q.add_argument("--no-gif", action="store_true")
    q = edit_sub.add_parser("directions", help="latent directions (SeFa, GANSpace PCA, InterFaceGAN SVM), a row each")
    q.add_argument("--method", default="sefa", choices=["sefa", "pca", "svm"])
    q.add_argument("--target", help="svm: classifier:K (domain classifier says class K) or scene:size|x|y|rotation")
    q.add_argument("--keep", help="svm: targets to leave alone, comma-separated, e.g. scene:x,scene:y "
                   "(the direction is made orthogonal to theirs)")
    q.add_argument("run")
    q.add_argument("--out", required=True)
    q.add_argument("--count", type=int, default=5)
    q.add_argument("--strength", type=float, default=3.0)
    q = edit_sub.add_parser("attribute", help="VAE: encode IMAGE, add a class's attribute vector, decode")
    q.add_argument("run")
    q.add_argument("--image", required=True)
    q.add_argument("--data", required=True, help="labelled data defining the attribute")
    q.add_argument("--out", required=True)
    q = edit_sub.add_parser("invert", help="GAN: find the latent that draws IMAGE (strip: image, start, result)")
    q.add_argument("run")
    q.add_argument("--image", required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--encoder", help="latentenc run or shipped name for the start (default: best random latent)")
    q.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    for q in edit_sub.choices.values():
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--label", help="class index or name")
    q = edit_sub.add_parser("text", help="draw a prompt inside a mask (textgan); pixels outside it unchanged")
    q.add_argument("image")
    q.add_argument("--mask", required=True, help="same size as IMAGE; white = draw here")
    q.add_argument("--prompt", required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--run", required=True, help="a textgan run folder (or shipped name)")
    q.add_argument("--candidates", type=int, default=32, help="samples to choose from (default 32)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--device", default="auto")
    q = edit_sub.add_parser("local", help="tamper with photos (splice, copy-move, removal, ...), masks beside")
    q.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    q.add_argument("--out", required=True, help="folder: <stem>.png, <stem>.mask.png, edits.jsonl")
    q.add_argument("--edit", default="random", help="splice, copymove, removal, recolor, blur, sharpen, noise "
                   "or random (default)")
    q.add_argument("--donor", help="splice: the photo the region comes from (default: the next input)")
    q.add_argument("--jpeg", type=int, help="recompress the result at this JPEG quality")
    q.add_argument("--resize", type=float, help="resize the result by this factor")
    q.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_edit)


def add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="fid, kid, pr, coverage of a generator; psnr, ssim of image pairs; prompt agreement")
    p.add_argument("metric", choices=["fid", "kid", "pr", "coverage", "psnr", "ssim", "prompt"])
    p.add_argument("--real", help="dataset spec (fid/kid/pr/coverage) or folder of references (psnr/ssim)")
    p.add_argument("--fake", required=True, help="run folder, shipped generator, or folder of images")
    p.add_argument("--border", type=int, default=0, help="psnr/ssim: pixels cropped at each border")
    p.add_argument("--y", action="store_true", help="psnr/ssim: on the luma channel only")
    p.add_argument("-n", type=int, default=1000, help="images per side (default 1000)")
    p.add_argument("--extractor", "--features", dest="extractor",
                   help="feature extractor: shipped name or classifier run (default: one trained on the same data; "
                   "for other data a classifier trained on its train split once, and cached)")
    p.add_argument("--label", help="only this class (conditional generators)")
    p.add_argument("--prompts", help="prompt: the prompts file the images were made from (PROMPT[<TAB>MEANING])")
    p.add_argument("--per-prompt", type=int, help="prompt: images per prompt (a folder: inferred; a run: 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_eval)
