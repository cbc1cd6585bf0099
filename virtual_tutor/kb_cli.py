"""`virtual-tutor kb ...`: knowledge bases from the command line, with a progress bar."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.settings import KnowledgeSettings, Settings
from knowledge.catalog import Catalog
from knowledge.errors import UploadRejected
from knowledge.parsing import EXTENSIONS
from knowledge.runtime import KnowledgeRuntime
from storage import Database


def add_kb_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `kb` command group to the CLI's subparsers; it dispatches through `func`."""
    kb: argparse.ArgumentParser = subparsers.add_parser(
        "kb", help="knowledge bases: create, add documents, search"
    )
    kb.set_defaults(func=cmd_kb)
    sub = kb.add_subparsers(dest="kb_command", required=True)
    sub.add_parser("list", help="list knowledge bases")
    create = sub.add_parser("create", help="create a knowledge base")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.add_argument("--tutor", type=int, action="append", default=[], help="attach a tutor")
    add = sub.add_parser("add", help="add .txt/.md/.pdf files or folders and ingest them now")
    add.add_argument("kb_id", type=int)
    add.add_argument("paths", nargs="+", type=Path)
    docs = sub.add_parser("docs", help="list a knowledge base's documents and their status")
    docs.add_argument("kb_id", type=int)
    search = sub.add_parser("search", help="show what a tutor would retrieve for a question")
    search.add_argument("kb_id", type=int)
    search.add_argument("query")
    search.add_argument("-k", type=int, default=3)
    attach = sub.add_parser("attach", help="make exactly these tutors use the knowledge base")
    attach.add_argument("kb_id", type=int)
    attach.add_argument("tutor_ids", type=int, nargs="*")
    delete = sub.add_parser("delete", help="delete a knowledge base and its documents")
    delete.add_argument("kb_id", type=int)
    return kb


def cmd_kb(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_run(settings, args))


def files_under(paths: list[Path]) -> list[Path]:
    """The supported files among `paths`, folders searched recursively, in a stable order."""
    found: list[Path] = []
    for path in paths:
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        found.extend(p for p in candidates if p.is_file() and p.suffix.lower() in EXTENSIONS)
    return found


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings.database_url)
    try:
        await db.migrate()
        catalog = Catalog(db)
        command = args.kb_command
        if command == "add":
            return await _add(db, catalog, settings.knowledge, args.kb_id, args.paths)
        if command == "search":
            return await _search(db, catalog, settings.knowledge, args.kb_id, args.query, args.k)
        return await _simple(catalog, args)
    finally:
        await db.close()


async def _simple(catalog: Catalog, args: argparse.Namespace) -> int:
    command = args.kb_command
    result: Any
    if command == "list":
        result = await catalog.all()
    elif command == "create":
        result = await catalog.create(args.name, args.description)
        if args.tutor and await catalog.set_tutors(result["id"], args.tutor) is None:
            print("some tutors do not exist; the knowledge base was created unattached")
            return 1
    elif command == "docs":
        result = await catalog.documents(args.kb_id)
    elif command == "attach":
        result = await catalog.set_tutors(args.kb_id, args.tutor_ids)
        if result is None:
            print("some tutors do not exist")
            return 1
    elif command == "delete":
        if not await catalog.delete(args.kb_id):
            print(f"no knowledge base {args.kb_id}")
            return 1
        result = {"deleted": args.kb_id}
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


async def _add(
    db: Database, catalog: Catalog, knowledge: KnowledgeSettings, kb_id: int, paths: list[Path]
) -> int:
    if await catalog.get(kb_id) is None:
        print(f"no knowledge base {kb_id}")
        return 1
    files = await asyncio.to_thread(files_under, paths)
    if not files:
        print("no .txt, .md or .pdf files found")
        return 1
    runtime = await KnowledgeRuntime.start(db, knowledge, ingest=False)
    failed = 0
    try:
        with tqdm(total=len(files), unit="file", desc="ingesting") as bar:
            for path in files:
                bar.set_postfix_str(path.name[-40:])
                failed += not await _add_one(runtime, kb_id, path)
                bar.update(1)
    finally:
        await runtime.aclose()
    print(f"{len(files) - failed} added, {failed} failed")
    return 1 if failed else 0


async def _add_one(runtime: KnowledgeRuntime, kb_id: int, path: Path) -> bool:
    content = await asyncio.to_thread(path.read_bytes)
    try:
        doc = await runtime.ingestor.add(kb_id, path.name, content, enqueue=False)
    except UploadRejected as exc:
        tqdm.write(f"{path}: {exc}")
        return False
    status = await runtime.ingestor.ingest(doc.id)
    if status != "ready":
        tqdm.write(f"{path}: {status}")
    return status == "ready"


async def _search(
    db: Database, catalog: Catalog, knowledge: KnowledgeSettings, kb_id: int, query: str, k: int
) -> int:
    if await catalog.get(kb_id) is None:
        print(f"no knowledge base {kb_id}")
        return 1
    runtime = await KnowledgeRuntime.start(db, knowledge, ingest=False)
    try:
        found = await runtime.retriever.search(kb_id, query, k=k)
    finally:
        await runtime.aclose()
    relevant = {p.chunk_id for p in found.relevant}
    for p in found.candidates:
        mark = "*" if p.chunk_id in relevant else " "
        print(f"{mark} {p.relevance:.2f}  {p.source}: {p.text[:100]}")
    print(f"({found.elapsed_ms} ms; * = relevant enough to answer from)")
    return 0
