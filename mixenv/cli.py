"""The ``mixenv`` command line: build the default artefacts or a corpus, render stems under a preset.

Subcommands import their heavy dependencies lazily, so ``mixenv --help`` answers at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from mixenv import __version__
from mixenv.cliargs import HelpFormatter

STYLES = ("synthetic", "classics", "chorales", "folk")
"""The corpus styles (:data:`mixenv.data.corpus.STYLES`, which a test holds equal), named here so that ``mixenv
--help`` answers without importing the data layer."""

ENGINES = ("local", "ray")
"""Where work runs (:data:`mixenv.engines.ENGINES`, which a test holds equal)."""

log = logging.getLogger("mixenv")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mixenv`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:  # its options live with the exporter, which needs onnx: imported only when asked for
        from supervised.export import main as export_main

        return export_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="mixenv: %(message)s")
    from mixenv.data import AudioFileError, DatasetError, MissingDependencyError, MultitrackError, StemsError
    from mixenv.presets import PresetError

    errors = [AudioFileError, DatasetError, MissingDependencyError, MultitrackError, StemsError, PresetError]
    if args.command == "mix":
        from mixenv.mixing import MixError

        errors.append(MixError)
    if args.command == "stream":
        from mixenv.mixing import MixError
        from mixenv.stream import StreamError

        errors += [MixError, StreamError]
    if args.command == "listen":
        from mixenv.listen import ListenError

        errors.append(ListenError)
        if args.listen_command == "make":
            from mixenv.mixing import MixError

            errors.append(MixError)
    try:
        return args.run(args)
    except (*errors, FileExistsError, FileNotFoundError) as err:
        print(f"mixenv {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mixenv {args.command}: interrupted; nothing half-written was left behind", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mixenv",
        description="AI music mixing and mastering: a synthetic multitrack corpus, a channel-strip renderer, and "
        "(via Python) the MixEnv-v0 Gymnasium environment.",
        epilog="Run `mixenv COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"mixenv {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print informational messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prepare = commands.add_parser(
        "prepare",
        help="build the default corpus, classics training set and good-mix model (first use does it too)",
        description="Build what MixEnv-v0, the agents, the models and the benchmarks use by default, into the data "
        "cache ($MIXENV_DATA, default ~/.cache/mixenv): the synthetic corpus (about a minute on 2 CPU cores), the "
        "classics training set of real compositions (about 2 minutes) and the good-mix model of FAD statistics and "
        "anomaly detector fitted on both sets' references under the default backbone (about 80 s; the backbone "
        "itself ships with mixenv: `python -m mixenv.pretrain` pretrains it again). What is there already is kept. "
        "Deterministic: same versions, same bytes.",
        formatter_class=HelpFormatter,
    )
    prepare.add_argument(
        "--evaluation-sets",
        action="store_true",
        help="also build the out-of-domain evaluation sets the benchmarks report (chorales, folk; about 30 s)",
    )
    prepare.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")
    prepare.set_defaults(run=_run_prepare)

    corpus = commands.add_parser(
        "corpus",
        help="generate a synthetic multitrack corpus with ground-truth mix settings",
        description="Generate songs (procedural arrangement, General-MIDI soundfont, recording colouration), "
        "sample ground-truth mix settings from a good-mix prior and render each song's reference mix. Writes "
        "DIR/manifest.json and, per song, DIR/<song>/{vocals,drums,bass,other}.wav, reference.wav and "
        "settings.json. Same seed, same bytes.",
        formatter_class=HelpFormatter,
    )
    corpus.add_argument(
        "--style",
        choices=STYLES,
        default="synthetic",
        help="synthetic: the training corpus; classics: more training music, real compositions played and mixed as "
        "the corpus is (supervised.train --more-data); chorales, folk: out-of-domain evaluation sets, every song in "
        "the test split (other compositions, instruments, recording, mix prior; see mixenv.data.synth.styles)",
    )
    corpus.add_argument("--songs", type=int, help="number of songs (default: 240, or the evaluation set's 24)")
    corpus.add_argument("--seconds", type=float, help="length of each song (default: 10)")
    corpus.add_argument("--seed", type=int, help="master seed; song i uses (seed, i) (default: the style's own)")
    corpus.add_argument("--sample-rate", type=int, help="Hz (default: 22050; chorales 44100, folk 48000)")
    corpus.add_argument(
        "--workers", type=int, default=None, help="processes, or a local Ray's CPUs (default: one per core, at most 8)"
    )
    corpus.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: processes on this machine; ray: one Ray task per song (pip install -e '.[scale]'), on a "
        "local Ray or the cluster at --address. Same seed, same bytes, on either",
    )
    corpus.add_argument(
        "--address", default=None, help="Ray cluster to join: auto (ray start on this machine) or HOST:PORT"
    )
    corpus.add_argument(
        "--out", type=Path, default=None, help="output folder, must not exist (default: the data cache, $MIXENV_DATA)"
    )
    corpus.set_defaults(run=_run_corpus)

    render = commands.add_parser(
        "render",
        help="render a folder of stems under a preset",
        description="Mix a folder of stems with the channel strips and master bus under a preset JSON (as written "
        "by `mixenv corpus` or mixenv.presets.save_preset). Roles come from file names (vocals, drums, bass, "
        "other, or words like 'vox', 'kick', 'synth bass'); a file named reference/mixture/mix is ignored as a "
        "reference. Prints the loudness and peak of the result.",
        formatter_class=HelpFormatter,
    )
    render.add_argument("stems", type=Path, metavar="STEMS_DIR", help="folder with one audio file per stem")
    render.add_argument("--settings", type=Path, required=True, metavar="PRESET.json", help="preset to render with")
    render.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.wav", help="where to write the mix")
    render.add_argument(
        "--target-lufs", type=float, default=None, help="master to this loudness (overrides the preset's target)"
    )
    render.add_argument("--bit-depth", type=int, choices=(16, 24, 32), default=24, help="output WAV bit depth")
    _add_load_options(render)
    render.set_defaults(run=_run_render)

    mix = commands.add_parser(
        "mix",
        help="mix and master a folder of stems",
        description="Mix and master a folder of stems (WAV, FLAC, AIFF, MP3, Ogg; mono or stereo; any rate): "
        "roles from file names as `mixenv render` reads them (several files of one role are summed), the "
        "settings decided by --method, dialled back by --intensity, the whole song rendered by the channel "
        "strips and master bus and mastered to the target loudness. Writes the mix at the stems' sample rate and, "
        "with --preset-out, the settings as a preset that `mixenv render` reproduces the mix from.",
        epilog="methods: model: the default mixing model (or --model) predicts the settings from three 4 s excerpts, "
        "reading the reference if it is a mix of these stems (same length), else balancing the faders by the loudness "
        "convention on the stems as its strips play them; refine: the model's settings refined by "
        "a CMA-ES search on MixEnv's reward over those excerpts (mastered; toward a reference of these stems its "
        "spectral and loudness terms), --budget renders; cmaes: that search from the "
        "neutral mix; loudness: each stem to its role's loudness (vocals on top), mastered to --target-lufs; "
        "reference: the bus tone matched to the reference's long-term spectrum and mastered to its loudness (the "
        "reference may be another song); auto: refine with a reference of these stems, reference with another "
        "song's, model without one. A search without a reference first builds the reward's backbone and good-mix "
        "model if missing (about 5 minutes, once).",
        formatter_class=HelpFormatter,
    )
    mix.add_argument("stems", type=Path, metavar="STEMS_DIR", help="folder with one audio file per stem")
    mix.add_argument("-o", "--output", type=Path, required=True, metavar="MIX.wav", help="where to write the mix")
    mix.add_argument(
        "--reference",
        type=Path,
        metavar="REF.wav",
        help="a mix to mix toward, any length and rate (default: a reference/mix file in STEMS_DIR, if any)",
    )
    mix.add_argument(
        "--method",
        choices=("auto", "model", "refine", "cmaes", "reference", "loudness"),
        default="auto",
        help="how to decide the settings (see below)",
    )
    mix.add_argument(
        "--model",
        type=Path,
        metavar="PATH",
        help="a supervised model's run folder or model.pt (default: the shipped one)",
    )
    mix.add_argument(
        "--runtime",
        choices=("torch", "onnx"),
        default="torch",
        help="what runs the model: torch, or onnxruntime for a --model exported by `mixenv export`",
    )
    mix.add_argument("--budget", type=int, default=100, help="renders a refine or cmaes search may spend")
    mix.add_argument("--seed", type=int, default=0, help="seeds the search (same seed, same mix)")
    mix.add_argument(
        "--target-lufs", type=float, default=None, help="master loudness (default: the reference's, else -14)"
    )
    mix.add_argument(
        "--intensity",
        type=float,
        default=1.0,
        help="0: the neutral mix (plain sum, mastered; the method is not run); 1: the method's settings; between: "
        "that share of the way",
    )
    mix.add_argument("--preset-out", type=Path, metavar="PRESET.json", help="also write the settings rendered")
    mix.add_argument(
        "--report",
        type=Path,
        metavar="REPORT.png",
        help="also draw each stem's and the mix's spectrum and loudness over time, before and after, the reference "
        "beside them, and the settings as a table",
    )
    mix.add_argument("--bit-depth", type=int, choices=(16, 24, 32), default=24, help="output WAV bit depth (32: float)")
    mix.add_argument("--force", action="store_true", help="overwrite existing output files")
    _add_load_options(mix)
    mix.set_defaults(run=_run_mix)
    _add_stream(commands)
    commands.add_parser(
        "export",
        help="export a mixing model to ONNX (int8 and pruned too) for onnxruntime; `mixenv export --help`",
        add_help=False,
    )
    _add_listen(commands)
    return parser


def _add_stream(commands: argparse._SubParsersAction) -> None:
    """``mixenv stream``: the stems played through the streaming mixer, block by block, as a live mixer would."""
    stream = commands.add_parser(
        "stream",
        help="play a folder of stems through the real-time mixer and report whether it kept up",
        description="Play a folder of stems through the streaming mixer (the same channel strips and bus as `mixenv "
        "render`, block by block, state carried across blocks), as a live mixer would: the settings start from "
        "--settings (or neutral) and are re-estimated every --every seconds from the last 8 s heard, in a worker "
        "process, and ramped in over 50 ms (an estimate still running when the next is due is skipped, never "
        "waited for). Reports each block's processing time as a share of its duration (p50 / p99 / max) and any "
        "xruns (blocks that took longer than they last), and writes what a listener heard, aligned with the stems "
        "(the limiter's look-ahead removed). There is no loudness target: a stream has no whole song to measure.",
        formatter_class=HelpFormatter,
    )
    stream.add_argument("stems", type=Path, metavar="STEMS_DIR", help="folder with one audio file per stem")
    stream.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.wav", help="where to write the mix")
    stream.add_argument("--block-size", type=int, default=512, help="samples per block (16 to 8192)")
    stream.add_argument("--realtime", action="store_true", help="pace the blocks at the audio's own rate")
    stream.add_argument(
        "--estimate",
        choices=("loudness", "model", "none"),
        default="loudness",
        help="what re-estimates the settings: the loudness balance, the default model (or --model), or nothing",
    )
    stream.add_argument("--model", type=Path, metavar="PATH", help="a supervised model for --estimate model")
    stream.add_argument("--every", type=float, default=4.0, help="seconds of audio between estimates")
    stream.add_argument("--settings", type=Path, metavar="PRESET.json", help="the settings to start from")
    stream.add_argument(
        "--bit-depth", type=int, choices=(16, 24, 32), default=24, help="output WAV bit depth (32: float)"
    )
    stream.add_argument("--force", action="store_true", help="overwrite an existing output file")
    _add_load_options(stream)
    stream.set_defaults(run=_run_stream)


def _add_listen(commands: argparse._SubParsersAction) -> None:
    """``mixenv listen make|serve|analyze``: a MUSHRA listening test of the mixing methods (ITU-R BS.1534-3)."""
    listen = commands.add_parser(
        "listen",
        help="make, serve and analyse a MUSHRA listening test of the mixing methods",
        description="A MUSHRA listening test (ITU-R BS.1534-3) of mixenv's mixing methods, in three steps: `make` "
        "mixes songs with each method and writes a test folder; `serve` lets listeners take it in a browser; "
        "`analyze` screens the listeners and compares the methods. See docs/listening.md.",
        formatter_class=HelpFormatter,
    )
    steps = listen.add_subparsers(dest="listen_command", required=True, metavar="STEP")
    make = steps.add_parser(
        "make",
        help="mix songs with each method and write a test folder",
        description="For each song folder in --songs (stems and a reference mix; at most --pages, by name), mix it "
        "with each method and write one page: the reference, the reference hidden among the conditions, an anchor "
        "(the reference low-passed at 3.5 kHz) and one mix per method, all cut to the same excerpt and levelled to "
        "one loudness without clipping. Listeners see only neutral condition ids; which is which method is written "
        "to OUT/key.json, which `serve` never sends. Also writes the page (index.html, listen.js, style.css) and "
        "test.json. OUT appears whole or not at all.",
        formatter_class=HelpFormatter,
    )
    make.add_argument("--songs", type=Path, required=True, metavar="DIR", help="a folder of song folders")
    make.add_argument("--out", type=Path, required=True, metavar="DIR", help="the test folder to write")
    make.add_argument(
        "--methods",
        default="loudness,model,refine",
        help="comma-separated methods of `mixenv mix` (at most 8; model:PATH or refine:PATH for another model)",
    )
    make.add_argument("--pages", type=int, default=6, help="at most this many songs, one page each")
    make.add_argument("--seconds", type=float, default=10.0, help="excerpt length: the middle of each song")
    make.add_argument("--budget", type=int, default=30, help="renders a refine search may spend per song")
    make.add_argument("--target-lufs", type=float, default=-23.0, help="loudness of every stimulus")
    make.add_argument("--seed", type=int, default=0, help="seeds the searches and the condition ids")
    make.add_argument("--force", action="store_true", help="replace OUT if it is a test folder without ratings")
    make.set_defaults(run=_run_listen_make)
    serve = steps.add_parser(
        "serve",
        help="serve a test folder to listeners' browsers and collect their ratings",
        description="Serve the page and stimuli of a test folder (never key.json or ratings) and append each "
        "listener's complete, valid submission to DIR/ratings.jsonl. Ctrl-C stops it. To let others on your "
        "network take the test, pass --host 0.0.0.0 and give them the address printed.",
        formatter_class=HelpFormatter,
    )
    serve.add_argument("folder", type=Path, metavar="DIR", help="a folder written by `mixenv listen make`")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (0: any free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0: every network")
    serve.set_defaults(run=_run_listen_serve)
    analyze = steps.add_parser(
        "analyze",
        help="screen the listeners and compare the methods",
        description="Read DIR/ratings.jsonl and DIR/key.json; exclude listeners who rated the hidden reference "
        "below 90 on more than 15% of the pages (BS.1534-3's post-screening); print each method's mean rating with "
        "a 95% bootstrap confidence interval and Holm-corrected Wilcoxon signed-rank tests between the methods; "
        "write ratings.csv, summary.csv, pairs.csv and means.png.",
        formatter_class=HelpFormatter,
    )
    analyze.add_argument("folder", type=Path, metavar="DIR", help="a test folder with ratings.jsonl")
    analyze.add_argument("--out", type=Path, metavar="DIR", help="where to write the analysis (default: DIR/analysis)")
    analyze.add_argument("--seed", type=int, default=0, help="seeds the bootstrap")
    analyze.set_defaults(run=_run_listen_analyze)


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("loading stems")
    group.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="FILE=ROLE",
        help="assign a file to a role, 'reference' or 'ignore' (repeatable), e.g. --role 'Gtr 2.wav=other'",
    )
    group.add_argument("--resample", action="store_true", help="resample stems at another sample rate (else: error)")
    group.add_argument(
        "--on-length-mismatch", choices=("error", "pad", "trim"), default="error", help="stems of different lengths"
    )
    group.add_argument("--on-silent", choices=("error", "drop", "keep"), default="error", help="a silent stem")
    group.add_argument(
        "--on-truncated",
        choices=("error", "shorten"),
        default="error",
        help="a file whose data ends before its header says: refuse it, or use the part it holds",
    )
    group.add_argument("--downmix", action="store_true", help="fold files of more than 2 channels (5.1) to stereo")


def _role_overrides(args: argparse.Namespace) -> dict[str, str]:
    from mixenv.data import StemsError

    roles = {}
    for item in args.role:
        file_name, sep, role = item.rpartition("=")
        if not sep or not file_name:
            raise StemsError(f"--role expects FILE=ROLE, got {item!r}")
        roles[file_name] = role
    return roles


def _load_policy(args: argparse.Namespace):
    from mixenv.data import LoadPolicy

    return LoadPolicy(
        on_rate_mismatch="resample" if args.resample else "error",
        on_length_mismatch=args.on_length_mismatch,
        on_silent=args.on_silent,
        on_truncated=args.on_truncated,
        on_multichannel="downmix" if args.downmix else "error",
    )


def _load_song(args: argparse.Namespace):
    from mixenv.data import load_folder

    return load_folder(args.stems, roles=_role_overrides(args), policy=_load_policy(args))


def _run_prepare(args: argparse.Namespace) -> int:
    from mixenv.artifacts import prepare
    from mixenv.table import format_table

    rows = [
        [p.name, p.status, round(p.seconds, 1), str(p.path)]
        for p in prepare(evaluation_sets=args.evaluation_sets, progress=args.progress)
    ]
    print(format_table(["artefact", "status", "seconds", "path"], rows, digits=1))
    return 0


def _run_corpus(args: argparse.Namespace) -> int:
    from collections import Counter

    from mixenv.artifacts import DEFAULT_CORPUS, EVALUATION_SETS
    from mixenv.data.corpus import corpus_songs, default_corpus_path
    from mixenv.data.synth.corpus import build_corpus
    from mixenv.engines import Engine

    base = EVALUATION_SETS.get(args.style, DEFAULT_CORPUS)
    given = {"songs": args.songs, "seconds": args.seconds, "seed": args.seed, "sample_rate": args.sample_rate}
    config = replace(base, style=args.style, **{k: v for k, v in given.items() if v is not None})
    out = args.out or default_corpus_path(config)
    try:
        engine = Engine(args.engine, workers=args.workers, address=args.address)
    except ValueError as err:
        print(f"mixenv corpus: error: {err}", file=sys.stderr)
        return 2
    build_corpus(out, config, engine=engine)
    counts = Counter(s.split for s in corpus_songs(out))
    print(f"wrote {config.songs} songs to {out} ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})")
    return 0


def _run_render(args: argparse.Namespace) -> int:
    from mixenv.data import write_audio
    from mixenv.loudness import integrated_lufs, peak_dbfs
    from mixenv.params import ROLES, ParamSpace
    from mixenv.presets import load_preset
    from mixenv.render import Renderer

    preset = load_preset(args.settings, ParamSpace(ROLES))
    song = _load_song(args)
    target = args.target_lufs if args.target_lufs is not None else preset.target_lufs
    result = Renderer(song.sample_rate, ROLES, target_lufs=target).render(song.stems, preset.settings)
    write_audio(args.output, result.mix, song.sample_rate, bit_depth=args.bit_depth)
    print(
        f"wrote {args.output}: {song.duration_seconds:.1f} s at {song.sample_rate} Hz from {', '.join(song.roles)}; "
        f"{integrated_lufs(result.mix, song.sample_rate):.1f} LUFS, peak {peak_dbfs(result.mix):.1f} dBFS, "
        f"limiter {result.limiter_reduction_db:.1f} dB, {result.bus_overs} bus overs"
    )
    return 0


def _run_stream(args: argparse.Namespace) -> int:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np
    import torch

    from mixenv.data import open_folder
    from mixenv.data.audio import AudioWriter
    from mixenv.mixing import LiveEstimate
    from mixenv.params import ROLES, ParamSpace
    from mixenv.presets import load_preset
    from mixenv.stream import LiveEstimator, StreamingMixer, stream

    if args.output.exists() and not args.force:
        raise FileExistsError(f"{args.output} exists; pass --force to overwrite it, or choose another name")
    song = open_folder(args.stems, roles=_role_overrides(args), policy=_load_policy(args))
    settings = load_preset(args.settings, ParamSpace(ROLES)).settings if args.settings else None
    mixer = StreamingMixer(song.sample_rate, ROLES, args.block_size, settings=settings)
    size = args.block_size

    def blocks():
        for part in song.blocks(size * 256):  # read in larger parts, played block by block
            for start in range(0, part.num_samples, size):
                count = min(size, part.num_samples - start)
                yield {
                    role: np.pad(a[:, start : start + count], ((0, 0), (0, size - count)))
                    for role, a in part.stems.items()
                }

    worker = estimator = None
    if args.estimate != "none":
        context = multiprocessing.get_context("spawn")
        worker = ProcessPoolExecutor(1, mp_context=context, initializer=torch.set_num_threads, initargs=(1,))
        live = LiveEstimate(args.estimate, args.model)
        worker.submit(live.load).result()  # the worker starts (and loads the model) before the first block, not in it
        estimator = LiveEstimator(live, song.sample_rate, ROLES, every_seconds=args.every, executor=worker)
    skip, left = mixer.latency, song.num_samples  # the look-ahead's silence first; the flush's tail last
    try:
        with AudioWriter(args.output, song.sample_rate, 2, bit_depth=args.bit_depth) as out:

            def write(block: np.ndarray) -> None:
                nonlocal skip, left
                kept = block[:, min(skip, block.shape[1]) :][:, :left]
                skip, left = max(0, skip - block.shape[1]), left - kept.shape[1]
                if kept.shape[1]:
                    out.write(kept)

            stats = stream(blocks(), mixer, write, estimator=estimator, realtime=args.realtime)
    finally:
        if estimator is not None:
            estimator.close()
        if worker is not None:
            worker.shutdown(cancel_futures=True)
    estimates = f"; {stats.estimates_applied} estimates applied, {stats.estimates_skipped} skipped" if estimator else ""
    print(
        f"streamed {song.duration_seconds:.1f} s of {', '.join(song.roles)} at {song.sample_rate} Hz in blocks of "
        f"{size} ({1000 * stats.block_duration:.1f} ms), latency {mixer.latency} samples "
        f"({1000 * mixer.latency / song.sample_rate:.1f} ms): block time p50 {stats.percentile(50):.3f}, p99 "
        f"{stats.percentile(99):.3f}, max {stats.percentile(100):.3f} of a block; {stats.xruns} xruns{estimates}\n"
        f"wrote {args.output} ({args.bit_depth}-bit)"
    )
    return 0


def _run_mix(args: argparse.Namespace) -> int:
    from mixenv.data.folder import folder_roles
    from mixenv.mixing import mix
    from mixenv.presets import save_preset
    from mixenv.report import plot_report

    for path in (args.output, args.preset_out, args.report):
        if path is not None and path.exists() and not args.force:
            raise FileExistsError(f"{path} exists; pass --force to overwrite it, or choose another name")
    roles = _role_overrides(args)
    files = folder_roles(args.stems, roles)
    result = mix(
        args.stems,
        roles=roles,
        policy=_load_policy(args),
        output=args.output,
        bit_depth=args.bit_depth,
        runtime=args.runtime,
        reference=args.reference,
        method=args.method,
        target_lufs=args.target_lufs,
        intensity=args.intensity,
        model=args.model,
        budget=args.budget,
        seed=args.seed,
        progress=True,
        report=args.report is not None,
    )
    if args.preset_out is not None:
        save_preset(args.preset_out, result.settings, result.target_lufs)
    if args.report is not None:
        plot_report(result.report, args.report)
    print(_mix_summary(args, files, result))
    return 0


def _run_listen_make(args: argparse.Namespace) -> int:
    from mixenv.listen.make import make_test

    made = make_test(
        args.songs,
        args.out,
        methods=args.methods.split(","),
        pages=args.pages,
        seconds=args.seconds,
        seed=args.seed,
        budget=args.budget,
        target_lufs=args.target_lufs,
        force=args.force,
        progress=True,
    )
    pages = f"{len(made.songs)} page{'s' * (len(made.songs) != 1)} ({', '.join(made.songs)})"
    print(
        f"wrote a listening test of {pages}, {made.stimuli_per_page} stimuli each, to {made.folder}; next: mixenv "
        f"listen serve {made.folder}"
    )
    return 0


def _run_listen_serve(args: argparse.Namespace) -> int:
    from mixenv.listen import ListenError
    from mixenv.listen.server import ListenServer, lan_address

    logging.getLogger("mixenv.listen.server").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        server = ListenServer(args.folder, args.host, args.port)
    except OSError as err:
        raise ListenError(f"cannot listen on {args.host}:{args.port} ({err}); pass another --port") from err
    url, port = server.url, server.server_address[1]
    if args.host in ("0.0.0.0", ""):
        url = f"http://{lan_address()}:{port}/ (on this machine: http://127.0.0.1:{port}/)"
    print(f"serving {args.folder} at {url}; ratings go to {server.ratings}; Ctrl-C stops", flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print(f"stopped; the ratings received are in {server.ratings}")
    return 0


def _run_listen_analyze(args: argparse.Namespace) -> int:
    from mixenv.listen.analyze import analyze, format_analysis, write_analysis

    analysis = analyze(args.folder, seed=args.seed)
    print(format_analysis(analysis))
    written = write_analysis(analysis, args.out or args.folder / "analysis")
    print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0


def _mix_summary(args: argparse.Namespace, files: dict[str, list[Path]], result) -> str:
    """What was heard, what was done, what was written."""
    song, settings = result.song, result.settings
    heard = ", ".join(f"{role} ({' + '.join(f.name for f in files[role])})" for role in song.roles)
    reference = args.reference.name if args.reference else " + ".join(f.name for f in files.get("reference", []))
    if result.reference_lufs is not None:
        kind = "a mix of these stems" if result.reference_aligned else "another song: tone and loudness only"
        heard += f"; reference {reference} ({kind}) at {result.reference_lufs:.1f} LUFS"
    faders = ", ".join(f"{role} {settings[f'{role}.gain_db']:+.1f}" for role in song.roles)
    shelves = f"{settings['master_low_shelf_db']:+.1f} / {settings['master_high_shelf_db']:+.1f} dB"
    extra = "".join(f"; {kind} {path}" for kind, path in (("preset", args.preset_out), ("report", args.report)) if path)
    searched = f" ({result.renders} renders of excerpts)" if result.renders else ""
    return "\n".join(
        [
            f"heard: {heard}; {song.duration_seconds:.1f} s at {song.sample_rate} Hz",
            f"did: {result.method}{searched} at intensity {result.intensity:.2f}: faders {faders} dB; bus shelves "
            f"low / high {shelves}; mastered to {result.target_lufs:.1f} LUFS",
            f"wrote: {args.output} ({args.bit_depth}-bit): {result.loudness_lufs:.1f} LUFS, peak "
            f"{result.peak_dbfs:.1f} dBFS, limiter {result.limiter_db:.1f} dB, in {result.seconds:.1f} s{extra}",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
