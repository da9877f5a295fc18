"""``darkroom edit``: latent interpolation, directions, attribute vectors, inversion, text and local edits."""

from __future__ import annotations

from darkroom.cli.common import report


def _cmd_edit(args) -> int:
    from darkroom.ops import edit

    if args.edit_command == "text":
        from darkroom.io import read_image, write_image
        from darkroom.ops.textedit import text_inpaint

        image = read_image(args.image)
        mask = read_image(args.mask, grayscale=True)
        edited, details = text_inpaint(
            args.run, image, (mask > 0.5).float(), args.prompt, args.candidates, args.seed, args.device
        )
        write_image(
            args.out,
            edited,
            provenance={
                "operation": "edit-text",
                "source": str(args.image),
                "mask": str(args.mask),
                "run": args.run,
                **details,
            },
        )
        print(f"wrote {args.out} (prompt as drawn: {details['prompt_used']!r})")
        return 0
    if args.edit_command == "local":
        from darkroom.ops.localedit import local_edits

        written, failures = local_edits(
            args.inputs, args.out, edit=args.edit, donor=args.donor, jpeg=args.jpeg, resize=args.resize, seed=args.seed
        )
        print(f"wrote {len(written)} edited image(s) with masks to {args.out} (edits.jsonl lists what was done)")
        return report(failures)
    if args.edit_command == "interpolate":
        paths = edit.interpolate(
            args.run, args.out, steps=args.steps, seed=args.seed, label=args.label, gif=not args.no_gif
        )
    elif args.edit_command == "directions":
        paths = [
            edit.directions(
                args.run,
                args.out,
                count=args.count,
                strength=args.strength,
                seed=args.seed,
                label=args.label,
                method=args.method,
                target=args.target,
                keep=tuple(k for k in (args.keep or "").split(",") if k),
            )
        ]
    elif args.edit_command == "invert":
        from darkroom.ops.invert import invert_file

        path, found = invert_file(
            args.run, args.image, args.out, encoder=args.encoder, steps=args.steps, label=args.label, seed=args.seed
        )
        for warning in found.warnings:
            print(f"warning: {warning}")
        start = "encoder" if args.encoder else "best random latent"
        print(
            f"PSNR {found.psnr_start:.2f} dB from the start ({start}), {found.psnr:.2f} dB after "
            f"{args.steps} steps" + (f", label {found.label}" if found.label is not None else "")
        )
        paths = [path]
    else:
        paths = [edit.attribute(args.run, args.image, args.data, args.label, args.out)]
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def register(sub) -> None:
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
    q.add_argument(
        "--keep",
        help="svm: targets to leave alone, comma-separated, e.g. scene:x,scene:y "
        "(the direction is made orthogonal to theirs)",
    )
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
    q.add_argument(
        "--edit", default="random", help="splice, copymove, removal, recolor, blur, sharpen, noise or random (default)"
    )
    q.add_argument("--donor", help="splice: the photo the region comes from (default: the next input)")
    q.add_argument("--jpeg", type=int, help="recompress the result at this JPEG quality")
    q.add_argument("--resize", type=float, help="resize the result by this factor")
    q.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_edit)
