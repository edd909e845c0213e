"""The ``edge-screen`` command.

Built-in sub-commands: ``screen``, ``info`` and ``calibrate`` (:mod:`edge_screen.calibrate`). Other layers add theirs (train, export, app, ...)
through the entry-point group ``edge_screen.commands``: each entry point is
``register(subparsers) -> None`` and sets ``func=callable(args) -> int``. A plug-in whose extra is
not installed is skipped (logged at debug), so ``edge-screen --help`` always works and stays
torch-free.

Exit codes: 0 ok, 2 usage or configuration error, 3 some inputs failed (the rest were processed).
User errors print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import json
import logging
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

from edge_screen import NOTICE_LOGGER, __version__
from edge_screen.errors import EdgeScreenError, UsageError

log = logging.getLogger(__name__)

EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 2, 3
ENTRY_POINT_GROUP = "edge_screen.commands"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".dcm", ".dicom"}


def _int_at_least(minimum: int, what: str):  # noqa: ANN202 - argparse type factory
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    parse.__doc__ = f"argparse type: {what} (shared by every edge-screen sub-command)."
    return parse


positive_int = _int_at_least(1, "a positive integer")
non_negative_int = _int_at_least(0, "an integer >= 0")


def _one_line(msg: object) -> str:
    return " ".join(str(msg).split())


# -------------------------------------------------------------------------------------- screen
def iter_image_paths(paths: Sequence[str]) -> Iterator[Path]:
    """Files as given; directories recurse (sorted) and keep image suffixes only."""
    for p in map(Path, paths):
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames.sort()
                for name in sorted(filenames):
                    if Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith("."):
                        yield Path(dirpath) / name
        else:
            yield p  # a missing file becomes a one-line failure downstream


#: counting stops here: past a few hundred photos, start-up no longer decides which model is fastest
COUNT_CAP = 500


def _count_images(paths: Sequence[str]) -> int | None:
    """How many photos ``paths`` name (at most :data:`COUNT_CAP`); None when none."""
    n = 0
    for n, _ in enumerate(iter_image_paths(paths), 1):
        if n >= COUNT_CAP:
            break
    return n or None


def _heatmap_name(src: str | None, used: set[str]) -> str:
    stem = Path(src).stem if src else "image"
    name, i = f"{stem}_heatmap.png", 1
    while name in used:
        name, i = f"{stem}_heatmap-{i}.png", i + 1
    used.add(name)
    return name


def _overlay_source(item, full_size: bool):  # noqa: ANN001, ANN202 - (ScreenResult, bool) -> (rgb, heatmap, fov)
    """The image, heatmap and field of view an overlay is drawn with: the decoded image, or
    (``--full-size``) the file decoded again at its stored resolution with the map made for that size
    (the only full-size pass). The Screener's FOV is reused (scaled), never detected again."""
    if not full_size or item.source is None or tuple(item.original_size or ()) == item.image.shape[1::-1]:
        return item.image, item.image_heatmap, item.fov
    from edge_screen.imageio import load_image

    rgb = load_image(item.source).rgb
    h, w = item.image.shape[:2]
    fov = None if item.fov is None else item.fov.scaled(rgb.shape[1] / w, rgb.shape[0] / h)
    return rgb, item.heatmap_for(rgb.shape[1::-1]), fov


def _cmd_screen(args: argparse.Namespace) -> int:
    import time

    from edge_screen.screener import ScreenFailure, Screener

    # how many photos: for one or a few, the automatic choice counts each model's start-up
    screener = Screener(args.bundle, backend=args.backend, precision=args.precision, threads=args.threads,
                        device=args.device, recheck=args.recheck, images=_count_images(args.paths))  # fmt: skip
    heat_dir = Path(args.heatmap_dir) if args.heatmap_dir else None
    if heat_dir is not None:
        from edge_screen.heatmap import save_overlay

        _writable_dir(heat_dir, "--heatmap-dir")
    used: set[str] = set()
    n_ok = n_failed = 0
    seen_any = False
    stream = screener.screen_many(iter_image_paths(args.paths), batch_size=args.batch_size,
                                  heatmap=heat_dir is not None, workers=args.workers)
    for item in stream:
        seen_any = True
        if isinstance(item, ScreenFailure):
            n_failed += 1
            print(f"edge-screen: {item.source}: {_one_line(item.error)}", file=sys.stderr)
            continue
        heat_path = None
        overlay_ms = None
        if heat_dir is not None and item.cam is not None:
            t = time.perf_counter()
            try:
                image, heatmap, fov = _overlay_source(item, args.full_size)
                # drawn as in the app and the PDF: faded by the evidence, masked to the retina, with a legend
                heat_path = str(save_overlay(heat_dir / _heatmap_name(item.source, used), image, heatmap,
                                             probability=item.probability, threshold=item.threshold, fov=fov,
                                             legend=True))
            except EdgeScreenError as exc:
                n_failed += 1
                print(f"edge-screen: {item.source}: {_one_line(exc)}", file=sys.stderr)
            except OSError as exc:  # the disk filled up, the folder went away: this overlay is lost, not the run
                n_failed += 1
                heat_path = None
                print(f"edge-screen: {item.source}: cannot write its heatmap to {heat_dir}: "
                      f"{exc.strerror or exc}; free space or choose another --heatmap-dir", file=sys.stderr)
            overlay_ms = (time.perf_counter() - t) * 1000.0
        n_ok += 1
        if args.json:
            d = item.to_dict()
            d["heatmap"] = heat_path
            if screener.selection is not None:  # which model and why (self-check, measured choice)
                d["selection"] = screener.selection.brief()
            if overlay_ms is not None:  # this image's heatmap mapping + overlay + PNG writing
                d["timings_ms"]["overlay"] = round(overlay_ms, 3)
            print(json.dumps(d), flush=True)
        else:
            if item.verdict == "ungradable":
                detail = "; ".join(item.quality.messages) or ", ".join(item.quality.reasons)
                line = f"{item.source}: ungradable ({detail})"
            else:
                line = f"{item.source}: {item.verdict} p={item.probability:.3f} threshold={item.threshold:.3f}"
            if heat_path:
                line += f" heatmap={heat_path}"
            print(line, flush=True)
    if not seen_any:
        raise UsageError(f"no images found in {' '.join(args.paths)} (suffixes: {', '.join(sorted(IMAGE_SUFFIXES))})")
    log.info("%d screened, %d failed (%s/%s)", n_ok, n_failed, screener.backend, screener.precision)
    return EXIT_FAILED if n_failed else EXIT_OK


def _add_screen(sub: argparse._SubParsersAction) -> None:
    from edge_screen.backends import backends, precision_names

    p = sub.add_parser("screen", help="screen fundus photos (files or folders)", description="Screen fundus photos.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (folders recurse)")
    p.add_argument("--bundle", help="model bundle folder or .zip (default: the bundle shipped with the package)")
    table = backends()
    precisions = precision_names()
    p.add_argument("--backend", choices=list(table), help="inference backend (default: best installed)")
    p.add_argument("--precision", choices=precisions,
                   help=f"model precision (default: {' > '.join(precisions)}, the fastest faithful one)")
    p.add_argument("--threads", type=positive_int, help="CPU threads for inference (default: library default)")
    p.add_argument("--device", help="backend device: " + ", ".join(f"{n} {b.devices}" for n, b in table.items() if b.devices))
    p.add_argument("--batch-size", type=positive_int, default=8, help="images per inference batch (default 8)")
    p.add_argument("--no-recheck", dest="recheck", action="store_false",
                   help="do not re-check borderline INT8/FP16 results in FP32 (the raw reduced-precision verdicts)")
    p.add_argument("--json", action="store_true", help="one JSON object per image per line")
    p.add_argument("--heatmap-dir", metavar="DIR", help="write a heatmap overlay PNG per image here (at the decoded resolution)")
    p.add_argument("--full-size", action="store_true",
                   help="draw the --heatmap-dir overlays at the photo's stored resolution (decodes each photo again; slower)")
    p.add_argument("--workers", type=non_negative_int, default=None,
                   help="threads that decode and prepare the next images while the model runs (default: one per core, 1..4; 0 = none)")
    p.set_defaults(func=_cmd_screen)


# ---------------------------------------------------------------------------------------- info
def _versions() -> dict[str, str | None]:
    from importlib import metadata

    from edge_screen.backends import backends

    out: dict[str, str | None] = {"edge-screen": __version__, "python": platform.python_version()}
    table = backends()
    shown = set(table)  # every backend is listed, installed or not; other libraries only when installed
    for dist in ("numpy", "opencv-python-headless", *(d for b in table.values() for d in b.distributions or (b.name,)),
                 "pydicom"):  # fmt: skip
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return {k: v for k, v in out.items() if v is not None or k in shown}


def _cmd_info(args: argparse.Namespace) -> int:
    from edge_screen.bundle import default_bundle_path, load_bundle
    from edge_screen.runtime import available_backends, runtime_names

    info: dict = {"versions": _versions(), "platform": platform.platform()}
    installed = set(available_backends())
    info["backends"] = {n: n in installed for n in runtime_names()}
    path = args.bundle or default_bundle_path()
    if path is None:
        info["bundle"] = None
    else:
        b = load_bundle(path)
        info["bundle"] = {
            "id": b.id,
            "path": str(b.source or b.root),
            "labels": list(b.labels),
            "threshold": b.threshold,
            "threshold_method": b.threshold_method,
            "preprocessing": b.preprocessing.to_dict(),
            "models": [f"{m.backend}/{m.precision}" for m in b.models],
            "provenance": b.manifest.get("provenance", {}),
            "golden_images": len((b.manifest.get("golden") or {}).get("images", [])),
        }
        info["selection"] = _selection_info(b, args)
    info["commands"] = sorted(getattr(args, "_commands", []))
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return EXIT_OK
    print(f"edge-screen {__version__} (python {info['versions']['python']}, {info['platform']})")
    bi = info["bundle"]
    if bi is None:
        print("bundle: none (no default model installed; pass --bundle PATH)")
    else:
        print(f"bundle: {bi['id']} at {bi['path']}")
        print(f"  models: {', '.join(bi['models'])}; threshold {bi['threshold']:.4g} ({bi['threshold_method']})")
        _print_selection(info["selection"])
    print("backends: " + ", ".join(f"{n} ({'available' if ok else 'not installed'})" for n, ok in info["backends"].items()))
    print("libraries: " + ", ".join(f"{k} {v or '-'}" for k, v in info["versions"].items()))
    print("commands: " + ", ".join(info["commands"]))
    return EXIT_OK


def _selection_info(bundle, args: argparse.Namespace) -> dict:  # noqa: ANN001 - Bundle
    """The self-check of this machine and the model it chooses (runs the check on first use)."""
    from edge_screen.cpuinfo import isa_record
    from edge_screen.runtime import create_runtime

    try:
        sel = create_runtime(bundle, threads=args.threads).selection
    except EdgeScreenError as exc:
        return {"error": _one_line(exc), "machine": isa_record()}
    return sel.to_dict() if sel is not None else {}


def _print_selection(sel: dict) -> None:
    if "error" in sel:
        print(f"  model on this machine: none ({sel['error']})")
        return
    isa = sel["machine"]["isa"]
    print(f"  cpu: {sel['machine']['cpu']} (INT8: {sel['machine']['int8_dot_product']}; "
          + ", ".join(f for f in ("avx2", "avx512_vnni", "avx_vnni", "amx_int8") if isa.get(f)) + ")")
    print(f"  using {sel['backend']}/{sel['precision']}: {sel['reason']}")
    rc = sel.get("recheck")
    if rc:
        share = f"; {100 * rc['fraction']:.0f}% of the exporter's photos were that close" if rc.get("fraction") is not None else ""
        print(f"  borderline re-check: photos within {rc['margin']:.3f} of the threshold are decided by {rc['with']}"
              f" ({rc['basis']}{share})")
    for c in sel["checks"]:
        lat = f", {c['latency_ms']:.1f} ms" if c.get("latency_ms") else ""
        if c.get("load_ms") is not None:  # what a fresh process pays first (ModelCheck.startup_ms)
            lat += f"; start-up {(c.get('import_ms') or 0) + c['load_ms']:.0f} ms (import + load)"
        print(f"    self-check {c['backend']}/{c['precision']}: {c['status']} ({c['reason']}{lat})")
    print(f"  (checked {sel['created']}{', cached' if sel['cached'] else ''})")


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show the bundle, the model chosen on this machine (self-check), backends, versions")
    p.add_argument("--bundle", help="model bundle folder or .zip")
    p.add_argument("--threads", type=positive_int, help="CPU threads the choice is measured with (as for screen)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)


# -------------------------------------------------------------------------------------- parser
def _load_plugins(sub: argparse._SubParsersAction) -> list[str]:
    """Register sub-commands from the ``edge_screen.commands`` entry points; skip broken ones."""
    from importlib import metadata

    loaded = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            register = ep.load()
            register(sub)
        except ImportError as exc:
            log.debug("plug-in command %r unavailable (%s); install its extra", ep.name, exc)
            continue
        except Exception as exc:  # a broken plug-in must not take the whole CLI down
            log.warning("plug-in command %r failed to register: %s", ep.name, _one_line(exc))
            continue
        loaded.append(ep.name)
    return loaded


#: Built-in commands that run without the plug-ins (their discovery and imports cost start-up time).
_NO_PLUGINS_NEEDED = ("screen",)


def build_parser(*, plugins: bool = True) -> argparse.ArgumentParser:
    """The full parser: built-in commands plus (``plugins``) every installed plug-in."""
    parser = argparse.ArgumentParser(
        prog="edge-screen",
        description="Offline fundus photo screening (abnormal / normal / ungradable) with heatmaps.",
    )
    parser.add_argument("--version", action="version", version=f"edge-screen {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_screen(sub)
    _add_info(sub)
    from edge_screen.calibrate import add_calibrate_command  # per-clinic threshold (torch-free)

    add_calibrate_command(sub)
    commands = ["screen", "info", "calibrate", *(_load_plugins(sub) if plugins else [])]
    parser.set_defaults(_commands=commands)
    return parser


def _writable_dir(path: Path, option: str) -> None:
    """Create ``path`` (a folder the command writes into) or raise a one-line :class:`UsageError`."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder; give a folder (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".edge-screen-write-test-"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {path} cannot be written ({exc.strerror or exc}); give a folder you can write to") from exc


def _stdout_failed(exc: OSError) -> int:
    """The output stream broke (a full disk, a closed pipe): one line, and no second error at exit."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout at exit
    except (OSError, ValueError):
        pass
    if isinstance(exc, BrokenPipeError):  # `edge-screen screen ... | head`: the reader left, not an error
        return EXIT_OK
    print(f"edge-screen: error: cannot write the output ({exc.strerror or exc}); free space on the disk the "
          "output goes to, or write it elsewhere", file=sys.stderr)
    return EXIT_FAILED


def _command(argv: Sequence[str]) -> str | None:
    """The command: the first word that is not an option (the top-level options take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (not the stream of the first call)."""

    @property
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001 - StreamHandler.__init__ assigns it
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edge-screen`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # -v / -vv / --verbose count wherever they are ("edge-screen screen photo.jpg -v" too), up to "--"
    cut = argv.index("--") if "--" in argv else len(argv)
    flags = [i for i, a in enumerate(argv[:cut]) if a == "--verbose" or (a.startswith("-") and set(a[1:]) == {"v"})]
    verbosity = sum(argv[i].count("v") if argv[i] != "--verbose" else 1 for i in flags)
    argv = [a for i, a in enumerate(argv) if i not in frozenset(flags)] if flags else argv
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="edge-screen: %(levelname)s: %(message)s")
    notice = logging.getLogger(NOTICE_LOGGER)
    if not notice.handlers:
        shown = _StderrHandler()
        shown.setFormatter(logging.Formatter("edge-screen: %(message)s"))
        notice.addHandler(shown)
        notice.setLevel(logging.INFO)
        notice.propagate = False
    command = _command(argv)
    parser = build_parser(plugins=command not in _NO_PLUGINS_NEEDED)
    args = parser.parse_args(argv)  # usage errors exit 2 here
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"edge-screen: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except EdgeScreenError as exc:  # bundle / backend problems: configuration errors
        print(f"edge-screen: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("edge-screen: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EPIPE, errno.EIO) or isinstance(exc, BrokenPipeError):
            return _stdout_failed(exc)
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"edge-screen: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


def run() -> None:
    """The ``edge-screen`` console script: :func:`main`, and a quick exit after ``screen``.

    Python's own teardown after a ``screen`` run (freeing the inference session, unloading
    ONNX Runtime / OpenVINO) costs 60-100 ms on 2 cores, a sixth of a one-photo run. After
    ``screen`` everything it wrote is flushed and the ``atexit`` handlers (logging, temporary
    folders) run; only that teardown is skipped. Other commands (the app saves its settings
    when Qt tears down) exit normally.
    """
    argv = sys.argv[1:]
    rc = main(argv)
    if _command(argv) == "screen":
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe: main already reported it
                pass
        atexit._run_exitfuncs()  # noqa: SLF001 - the documented handlers, without the teardown
        os._exit(rc)
    sys.exit(rc)


if __name__ == "__main__":  # pragma: no cover
    run()
