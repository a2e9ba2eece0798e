"""Command line: explain a cached result (``python -m bench.cache show KEY``) or list the cache.

Examples
--------
::

    python -m bench.cache list                       # every cached fit, evaluation and computation
    python -m bench.cache show 3f2a9c                # spec, numbers and provenance of one cell
    python -m bench.cache show 3f2a9c --cache DIR    # another cache folder (default: reports/.cache)
    python -m bench.cache verify                     # check every record and model file; 1 if any is damaged

A KEY is the hash a report's ``manifest.json`` lists for each cell (``key`` and ``fit``); any unique
prefix of it will do. A damaged record (cut short, edited, or a model file that does not match its fit) is
listed as damaged and left where it is: the next run that needs it moves it to ``damaged/`` and recomputes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.cells.store import (
    DamagedRecordError,
    find_record_paths,
    hash_file,
    model_path,
    parse_record_path,
    read_record,
)


class CacheLookupError(LookupError):
    """No cached cell, or several, match a key."""


def find_record(cache_dir: Path, key: str) -> Path:
    """The record (``fit.json``, ``evals/<key>.json`` or ``computed/<key>.json``) whose key starts with
    ``key``."""
    if not key or not all(c in "0123456789abcdef" for c in key):
        raise CacheLookupError(f"{key!r} is not a cell key (hexadecimal, from a report's manifest.json)")
    candidates = [p for p in find_record_paths(cache_dir) if parse_record_path(p)[1].startswith(key)]
    if not candidates:
        raise CacheLookupError(f"no finished cell with key {key!r} in {cache_dir}")
    if len(candidates) > 1:
        raise CacheLookupError(
            f"key {key!r} is ambiguous in {cache_dir}: "
            + ", ".join(parse_record_path(p)[1] for p in candidates)
        )
    return candidates[0]


def format_record(path: Path) -> str:
    """A fit's or an evaluation's record as readable text: what, its numbers, and where it came from."""
    record = read_record(path)
    spec = record["spec"]
    kind = {"fit": "fit", "eval": "evaluation", "compute": "computation"}[parse_record_path(path)[0]]
    lines = [f"{kind} {parse_record_path(path)[1]}  ({path})", ""]
    if kind == "computation":
        lines += [
            f"function: {spec['function']}, seed {spec['seed']}",
            *(f"  {name} = {value}" for name, value in spec["params"]),
            "",
            "result:",
            *(f"  {name}: {_summarise_value(value)}" for name, value in record["result"].items()),
        ]
    elif kind == "fit":
        lines += _format_fit_spec(spec)
        lines += ["", f"fit time: {record['seconds']:.1f} s"]
    else:
        lines += [
            f"test set: {spec['test_data']} (limit {spec['test_limit']}, crop {spec['test_crop']})",
            f"noise: {spec['noise']}, seed {spec['seed']}",
            f"fit: {record.get('fit_key', '?')}",
            *(f"  {line}" for line in _format_fit_spec(spec["fit"])),
            "",
            "results (mean over images):",
            *(
                f"  {s['stage']}: PSNR {s['psnr']:.3f} dB, SSIM {s['ssim']:.4f} "
                f"({s['n_images']} images, {s['denoise_seconds']:.3g} s per image)"
                for s in record["stages"]
            ),
        ]
    provenance = record.get("provenance")
    if provenance is None:
        lines += ["", "provenance: not recorded (cached by an older version of the suite)"]
    else:
        lines += ["", "provenance:", *_format_provenance(provenance)]
    return "\n".join(lines)


def list_records(cache_dir: Path) -> list[str]:
    """One line per finished cell of the cache, oldest first (a damaged one says so)."""
    lines = []
    for path in sorted(find_record_paths(cache_dir), key=lambda p: p.stat().st_mtime):
        try:
            spec = read_record(path)["spec"]
        except DamagedRecordError as damage:
            lines.append(f"{parse_record_path(path)[1]}  DAMAGED: {damage.why}")
            continue
        kind = parse_record_path(path)[0]
        if kind == "compute":
            lines.append(f"{parse_record_path(path)[1]}  comp  {spec['label']}  seed {spec['seed']}")
            continue
        fit = spec if kind == "fit" else spec["fit"]
        noise = spec["noise"] or "noise-independent"
        lines.append(
            f"{parse_record_path(path)[1]}  {kind:<4}  {fit['method']:<12} {noise}  seed {spec['seed']}"
        )
    return lines


def verify_cache(cache_dir: Path) -> tuple[int, list[DamagedRecordError]]:
    """Check every record against its checksum and every model file against its fit: (records, damage)."""
    paths = find_record_paths(cache_dir)
    damaged = []
    for path in paths:
        try:
            record = read_record(path)
            kind, key = parse_record_path(path)
            model = model_path(cache_dir, key)
            if kind == "fit" and record.get("model_sha256") != hash_file(model):
                raise DamagedRecordError(model, "it does not match fit.json's model_sha256")
        except DamagedRecordError as damage:
            damaged.append(damage)
    return len(paths), damaged


def _summarise_value(value: Any) -> str:
    if isinstance(value, list):
        return f"{len(value)} items"
    if isinstance(value, dict):
        return f"{len(value)} entries ({', '.join(list(value)[:4])}{', ...' if len(value) > 4 else ''})"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _format_fit_spec(spec: dict[str, Any]) -> list[str]:
    params = ", ".join(f"{k}={v}" for k, v in spec["params"]) or "defaults"
    lines = [
        f"method: {spec['method']} ({params})",
        f"training data: {spec['train_data']} (limit {spec['train_limit']}), noise {spec['noise']}",
        f"seed: {spec['seed']}",
    ]
    for role, upstream in spec.get("upstream", []):
        lines.append(f"builds on ({role}): {upstream['method']}, seed {upstream['seed']}")
    return lines


def _format_provenance(provenance: dict[str, Any]) -> list[str]:
    git = provenance.get("git", {})
    device = provenance.get("device", {})
    dirty = " (with uncommitted changes)" if git.get("dirty") else ""
    versions = ", ".join(f"{k} {v}" for k, v in provenance.get("versions", {}).items())
    return [
        f"  computed {provenance.get('started')} to {provenance.get('finished')} on {device.get('host')}",
        f"  device: {device.get('name')} ({device.get('gpu') or device.get('cpu')}), "
        f"{device.get('torch_threads')} torch threads, {device.get('cpu_count')} CPUs",
        f"  git revision: {git.get('revision')}{dirty}",
        f"  code digest: {provenance.get('code_digest')}",
        f"  versions: {versions}",
    ]


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m bench.cache``; an unknown key prints one line and returns 2."""
    parser = argparse.ArgumentParser(prog="python -m bench.cache", description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("reports/.cache"), help="cache folder")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="spec, numbers and provenance of one cached cell")
    show.add_argument("key", help="a cell key from a manifest.json (a unique prefix will do)")
    sub.add_parser("list", help="every finished cell in the cache")
    sub.add_parser("verify", help="check every record and model file; exit 1 if any is damaged")
    args = parser.parse_args(argv)
    if not args.cache.is_dir():
        print(f"error: cache folder {args.cache} does not exist (pass --cache DIR)", file=sys.stderr)
        return 2
    if args.command == "list":
        print("\n".join(list_records(args.cache)) or f"{args.cache}: no finished cells")
        return 0
    if args.command == "verify":
        count, damaged = verify_cache(args.cache)
        for damage in damaged:
            print(f"damaged: {damage.path}: {damage.why}")
        print(f"{args.cache}: {count} records checked, {len(damaged)} damaged", file=sys.stderr)
        return 1 if damaged else 0
    try:
        print(format_record(find_record(args.cache, args.key)))
    except (CacheLookupError, DamagedRecordError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
