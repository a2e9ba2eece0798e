"""Command line: train a blind denoiser on a folder of your noisy images and apply it.

Examples
--------
::

    python -m methods fit gan2gan noisy/ --out cells.g2g            # learns the noise from noisy/ alone
    python -m methods fit n2v noisy/ --out cells.n2v --profile smoke --seed 1
    python -m methods denoise cells.g2g noisy/ denoised/           # same names, formats and bit depths
    python -m methods denoise cells.g2g big.tif big_denoised.tif --device cuda
    python -m methods info cells.g2g                                # what, how and on what it was trained

(``gan2gan-denoise`` is the same command, installed as a console script.) ``fit`` takes the methods that
need nothing but noisy images (GAN2GAN, N2V, BM3D with an estimated sigma), PNG, TIFF, BMP or JPEG images
of 8 or 16 bits (color is converted to gray and an alpha channel dropped, each with a note; sizes may
differ), and keeps a checkpoint beside the model file so an interrupted fit resumes; a lock stops a
second fit into the same model. ``denoise`` never writes over one of its inputs, and replaces an
existing output only with ``--overwrite``. Bad input prints one line and exits with status 2; nothing
already written is removed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from methods.base import TrainingData
from methods.images import DataError, ImageFile, list_image_files, read_image_file, write_image_file
from methods.modelfile import ModelFileError, load_model_file, read_model_info, save_model_file
from methods.presets import PRESETS, UnknownPresetError, get_presets
from methods.provenance import describe_device, describe_git, describe_versions, now_utc
from methods.registry import METHODS, UnknownMethodError, find_method, make_method
from methods.training import resolve_device


class UsageError(ValueError):
    """A command-line value that cannot be used."""


USER_ERRORS = (UsageError, DataError, ModelFileError, UnknownMethodError, UnknownPresetError)
#: Seeds reach numpy and torch; both take 0 <= seed < 2**32 here.
MAX_SEED = 2**32 - 1


def list_blind_methods() -> list[str]:
    """Registry keys of the methods that learn from noisy images alone (what ``fit`` accepts)."""
    return [
        key
        for key, cls in METHODS.items()
        if not (cls.requires.clean or cls.requires.pairs or cls.requires.noise_model) and not cls.upstream
    ]


def fit_model(args: argparse.Namespace) -> int:
    """``fit``: train METHOD on the noisy images of a folder and write a model file."""
    key = find_method(args.method)
    if key not in list_blind_methods():
        needs = [k for k, on in asdict(METHODS[key].requires).items() if on and k != "noisy_images"]
        raise UsageError(
            f"{METHODS[key].name} needs {', '.join(needs) or 'other methods'}, not just noisy images; "
            f"fit takes: {', '.join(list_blind_methods())}"
        )
    if not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and {MAX_SEED}, got {args.seed}")
    presets = get_presets(args.profile)  # refuses an unknown profile before any work
    out: Path = args.out
    check_model_target(out)
    lock = FileLock(out.with_name(f".{out.name}.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UsageError(
            f"another fit is writing {out} (it holds {lock.lock_file}); wait for it or choose another --out"
        ) from None
    try:
        return _fit_locked(args, key=key, out=out, params=dict(presets.get(key, {})))
    finally:
        lock.release()


def _fit_locked(args: argparse.Namespace, *, key: str, out: Path, params: dict[str, Any]) -> int:
    """The part of ``fit`` that runs while it holds the lock of ``out``."""
    if out.exists():
        held = read_model_info(out)  # refuses a file that is not a model
        if held.method != key:
            held_name, name = METHODS[held.method].name, METHODS[key].name
            raise UsageError(f"{out} holds a {held_name} model; choose another --out for {name}")
        if not args.overwrite:
            raise UsageError(f"{out} exists; pass --overwrite to replace it")
    files = read_folder(args.noisy_dir)
    depths = Counter(f.bit_depth for f in files)
    if len(depths) > 1:
        kinds = ", ".join(
            f"{n} {d}, e.g. {next(f.path.name for f in files if f.bit_depth == d)}" for d, n in depths.items()
        )
        raise DataError(
            f"{args.noisy_dir} mixes bit depths ({kinds}); a model learns the noise of one kind of image: "
            "fit on one bit depth"
        )
    device = pick_device(args.device)
    method = make_method(key, params=params, device=device)
    min_size = method.min_image_size
    small = [f for f in files if min_size and min(f.image.shape) < min_size]
    if small:
        h, w = small[0].image.shape
        raise DataError(
            f"image {small[0].path} is {h}x{w}, smaller than {METHODS[key].name}'s patch size {min_size}"
        )
    checkpoint = out.with_name(f".{out.name}.checkpoint")
    resumed = any(checkpoint.parent.glob(f"{checkpoint.name}*"))
    say = _say(args.quiet)
    warn_smoke(args.profile, what=f"the model {out}")
    note_conversions(files, say=say)
    say(
        f"fitting {METHODS[key].name} (profile {args.profile}, seed {args.seed}, {device}) on {len(files)} "
        f"{next(iter(depths))} images of {args.noisy_dir}"
        + (" (resuming from its checkpoint)" if resumed else "")
    )
    if METHODS[key].trains_on_test_image:
        say(f"{METHODS[key].name} learns nothing from these: `denoise` trains it on each image it is given")
    started = now_utc()
    method.fit(
        TrainingData(noisy=tuple(f.image for f in files)),
        seed=args.seed,
        progress=not args.quiet,
        checkpoint=checkpoint,
    )
    record = {
        "trained_on": {
            "folder": str(args.noisy_dir.resolve()),
            "images": len(files),
            "bit_depth": next(iter(depths)),
            "sizes": sorted({f"{f.image.shape[0]}x{f.image.shape[1]}" for f in files}),
            "files": [f.path.name for f in files],
        },
        "profile": args.profile,
        "seed": args.seed,
        "report": dict(method.report),
        "provenance": {
            "versions": describe_versions(),
            "git": describe_git(),
            "device": describe_device(device),
            "started": started,
            "finished": now_utc(),
        },
    }
    save_model_file(out, method, key=key, params=params, record=record)
    for stale in checkpoint.parent.glob(f"{checkpoint.name}*"):
        stale.unlink()
    say(f"wrote {out}")
    return 0


def denoise_images(args: argparse.Namespace) -> int:
    """``denoise``: apply a model file to an image or a folder; outputs keep names, formats and depths."""
    source: Path = args.input
    inputs = list_image_files(source)
    targets = plan_targets(source, inputs, args.output, overwrite=args.overwrite)
    info = read_model_info(args.model)
    depth = info.record.get("trained_on", {}).get("bit_depth")
    checked = [read_image_file(path) for path in inputs]  # every input is readable before anything is written
    for image in checked:
        if depth and image.bit_depth != depth:
            raise DataError(
                f"image {image.path} is {image.bit_depth} but the model was trained on {depth} images; "
                "its noise is relative to that range: denoise images of the depth it was trained on"
            )
    say = _say(args.quiet)
    warn_smoke(info.record.get("profile"), what=f"the model {args.model}")
    note_conversions(checked, say=say)
    del checked
    method, _ = load_model_file(args.model, device=pick_device(args.device))
    stages = method.stages()
    if args.stage is not None and args.stage not in stages:
        raise UsageError(f"{args.model} has no stage {args.stage!r}; its stages: {', '.join(stages)}")
    stage = stages[args.stage] if args.stage else list(stages.values())[-1]
    for done, (path, target) in enumerate(zip(inputs, targets, strict=True)):
        image = read_image_file(path)
        try:
            denoised = stage.denoise(image.image)
        except ValueError as error:
            raise DataError(f"cannot denoise {path}: {error}") from None
        try:
            write_image_file(target, denoised, bit_depth=image.bit_depth)
        except OSError as error:
            raise UsageError(
                f"cannot write {target}: {error.strerror or error}; the {done} images before it were written"
            ) from None
        say(f"{path} -> {target}")
    return 0


def plan_targets(source: Path, inputs: list[Path], output: Path, *, overwrite: bool) -> list[Path]:
    """The file each input is denoised into, checked before any work: a target never is one of the inputs
    (same file, same folder, through a symlink or a hard link), an existing target needs ``overwrite``,
    and the output folder exists (a folder output is created) and is writable."""
    if source.is_dir():
        if output.exists() and not output.is_dir():
            raise UsageError(f"{output} is a file; denoising the folder {source} needs an output folder")
        if output.is_dir() and os.path.samefile(output, source):
            raise UsageError(
                f"{output} is the input folder; denoise never replaces the noisy originals: "
                "choose another output folder"
            )
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot create the output folder {output}: {error.strerror or error}") from None
        targets = [output / path.name for path in inputs]
        folder = output
    elif output.is_dir():
        targets, folder = [output / source.name], output
    else:
        if output.suffix.lower() != source.suffix.lower():
            raise UsageError(f"{output} must keep the input's format ({source.suffix})")
        targets, folder = [output], output.parent
        if not folder.is_dir():
            raise UsageError(f"cannot write {output}: folder {folder} does not exist")
    originals = {_identity(path) for path in inputs}
    for target in targets:
        if target.exists() and _identity(target) in originals:
            raise UsageError(
                f"{target} is one of the input images; denoise never replaces the noisy originals: "
                "choose another output"
            )
        if target.is_dir():
            raise UsageError(f"cannot write {target}: it is a folder")
    existing = [target for target in targets if target.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more outputs)" if len(existing) > 1 else ""
        raise UsageError(f"{existing[0]} exists{more}; pass --overwrite to replace earlier outputs")
    check_writable(folder)
    return targets


def check_model_target(out: Path) -> None:
    """Refuse, before any training, a model path that is a folder or whose folder is missing or read-only."""
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; --out names the model file to write, e.g. {out}/model")
    if not out.parent.is_dir():
        raise UsageError(f"cannot write --out {out}: folder {out.parent} does not exist")
    check_writable(out.parent)


def check_writable(folder: Path) -> None:
    """Refuse a folder where a file cannot be created (permissions, a read-only or full file system)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        raise UsageError(f"cannot write in {folder}: {error.strerror or error}") from None


def warn_smoke(profile: str | None, *, what: str) -> None:
    """One warning line when a model comes from the smoke profile, which only checks the pipeline."""
    if profile == "smoke":
        print(
            f"warning: {what} is fitted at profile smoke, a pipeline check of seconds that barely denoises; "
            "fit with --profile cpu (or paper, on a GPU) for a useful model",
            file=sys.stderr,
        )


def note_conversions(files: list[ImageFile], *, say) -> None:
    """One note line per kind of conversion reading did (color to gray, alpha dropped), naming files."""
    kinds: dict[str, list[str]] = {}
    for file in files:
        for conversion in filter(None, file.conversion.split(", ")):
            kinds.setdefault(conversion, []).append(file.path.name)
    for conversion, names in kinds.items():
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        say(f"note: {conversion} in {len(names)} of {len(files)} images: {', '.join(names[:3])}{more}")


def _identity(path: Path) -> tuple[int, int]:
    """The file ``path`` names, symlinks followed: (device, inode), the same for every hard link."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino


def show_info(args: argparse.Namespace) -> int:
    """``info``: what the model is, how and on what it was trained (its weights are loaded to check)."""
    method, info = load_model_file(args.model, device="cpu")
    record = info.record
    warn_smoke(record.get("profile"), what=f"the model {args.model}")
    trained = record.get("trained_on", {})
    provenance = record.get("provenance", {})
    git = provenance.get("git", {})
    params = ", ".join(f"{k}={v}" for k, v in sorted(info.params.items())) or "defaults"
    lines = [
        f"{args.model}: {METHODS[info.method].name} (method {info.method}, model-file format "
        f"{record['format_version']})",
        f"parameters: {params}",
        f"profile: {record.get('profile')}, seed {record.get('seed')}",
        f"trained on: {trained.get('images')} {trained.get('bit_depth')} images of {trained.get('folder')} "
        f"(sizes {', '.join(trained.get('sizes', []))})",
        f"trained {provenance.get('started')} to {provenance.get('finished')} on "
        f"{provenance.get('device', {}).get('name')} ({provenance.get('device', {}).get('host')})",
        f"git revision: {git.get('revision')}{' (with uncommitted changes)' if git.get('dirty') else ''}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in provenance.get("versions", {}).items()),
        f"stages (denoise --stage; the last is the default): {', '.join(method.stages())}",
    ]
    print("\n".join(lines))
    return 0


def read_folder(folder: Path) -> list[ImageFile]:
    """Every image of a training folder, read and checked (the first unreadable one is named)."""
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder of noisy images")
    return [read_image_file(path) for path in list_image_files(folder)]


def pick_device(name: str) -> str:
    """The torch device ``name`` ('auto', 'cpu', 'cuda') resolves to here."""
    try:
        return str(resolve_device(name))
    except ValueError as error:
        raise UsageError(str(error)) from None


def _say(quiet: bool):
    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    return say


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m methods`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m methods",
        description=__doc__.split("\n")[0],
        epilog="examples:\n" + __doc__.partition("::\n")[2].split("\n\n(")[0].rstrip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="train a method on a folder of noisy images")
    fit.add_argument("method", help=f"one of {', '.join(list_blind_methods())}")
    fit.add_argument("noisy_dir", type=Path, help="folder of noisy PNG, TIFF, BMP or JPEG images (8/16-bit)")
    fit.add_argument("--out", type=Path, required=True, help="model file to write")
    fit.add_argument("--profile", default="cpu", help=f"{', '.join(PRESETS)}: the budget (default: cpu)")
    fit.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    fit.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    fit.add_argument("--overwrite", action="store_true", help="replace an existing model of the same method")
    fit.add_argument("--quiet", action="store_true", help="no progress or status lines")
    denoise = sub.add_parser("denoise", help="denoise an image or a folder with a model file")
    denoise.add_argument("model", type=Path, help="model file written by fit")
    denoise.add_argument("input", type=Path, help="an image, or a folder of images")
    denoise.add_argument("output", type=Path, help="output image, or folder (created if needed)")
    denoise.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    denoise.add_argument("--stage", help="stage to apply (GAN2GAN: g_theta2, G2G_1, ...; default: the last)")
    denoise.add_argument("--overwrite", action="store_true", help="replace existing outputs (never inputs)")
    denoise.add_argument("--quiet", action="store_true", help="no status lines")
    info = sub.add_parser("info", help="what a model file holds")
    info.add_argument("model", type=Path, help="model file written by fit")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; bad input prints one line and returns 2."""
    args = build_parser().parse_args(argv)
    command = {"fit": fit_model, "denoise": denoise_images, "info": show_info}[args.command]
    try:
        return command(args)
    except USER_ERRORS as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except OSError as error:  # a file system problem no check could foresee (a disk filling up mid-run)
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume from the checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
