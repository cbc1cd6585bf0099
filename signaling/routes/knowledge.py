"""Knowledge bases: teachers and admins create them, upload course documents, attach them to
tutors and watch ingestion; a teacher manages their own, an admin every one (those without an
owner too). Register with `app.add_routes(routes)` after `knowledge_ctx`."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from auth import Forbidden, Principal, Role
from core.http import http_error, is_db_id, json_body, path_id, require_str
from knowledge.catalog import Catalog, document_json
from knowledge.errors import UploadRejected
from signaling.keys import DB, KNOWLEDGE, principal

routes = web.RouteTableDef()

READ_CHUNK = 64 * 1024
MAX_TUTOR_IDS = 1000


def _staff(request: web.Request) -> tuple[Principal, Catalog]:
    who = principal(request)
    who.require(Role.TEACHER, Role.ADMIN)
    return who, Catalog(request.app[DB])


def _id(request: web.Request, name: str) -> int:
    return path_id(request, name, what="knowledge base" if name == "kb_id" else "document")


def _check_owner(who: Principal, owner_id: int | None, what: str) -> None:
    if who.role is not Role.ADMIN and owner_id != who.user_id:
        raise Forbidden(f"a teacher manages only their own {what}")


async def _kb(request: web.Request) -> tuple[Catalog, dict[str, Any]]:
    """The path's knowledge base, if the caller may manage it (404 / 403 otherwise)."""
    who, catalog = _staff(request)
    kb = await catalog.get(_id(request, "kb_id"))
    if kb is None:
        raise http_error(404, "no such knowledge base")
    _check_owner(who, kb["owner_id"], "knowledge bases")
    return catalog, kb


@routes.post("/api/knowledge-bases")
async def create_kb(request: web.Request) -> web.Response:
    who, catalog = _staff(request)
    body = await json_body(request, max_bytes=16_384)
    name = require_str(body, "name", max_len=200)
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 4000:
        raise http_error(422, "'description' must be a string of at most 4000 characters")
    created = await catalog.create(name, description.strip(), owner_id=who.user_id)
    return web.json_response(created, status=201)


@routes.get("/api/knowledge-bases")
async def list_kbs(request: web.Request) -> web.Response:
    who, catalog = _staff(request)
    mine = None if who.role is Role.ADMIN else who.user_id
    return web.json_response(await catalog.all(owner_id=mine))


@routes.get("/api/knowledge-bases/{kb_id}")
async def get_kb(request: web.Request) -> web.Response:
    return web.json_response((await _kb(request))[1])


@routes.delete("/api/knowledge-bases/{kb_id}")
async def delete_kb(request: web.Request) -> web.Response:
    catalog, kb = await _kb(request)
    if not await catalog.delete(kb["id"]):
        raise http_error(404, "no such knowledge base")
    request.app[KNOWLEDGE].retriever.forget(kb["id"])
    return web.Response(status=204)


@routes.patch("/api/knowledge-bases/{kb_id}/tutors")
async def set_tutors(request: web.Request) -> web.Response:
    """Make exactly `tutor_ids` answer from this base (an empty list detaches all)."""
    catalog, kb = await _kb(request)
    body = await json_body(request, max_bytes=16_384)
    ids = body.get("tutor_ids")
    if not isinstance(ids, list) or len(ids) > MAX_TUTOR_IDS or not all(map(is_db_id, ids)):
        raise http_error(422, f"'tutor_ids' must be a list of at most {MAX_TUTOR_IDS} integer ids")
    who = principal(request)
    owners = await catalog.tutor_owners(ids)
    for tutor_id in ids:
        if tutor_id in owners:
            _check_owner(who, owners[tutor_id], "tutors")
    attached = await catalog.set_tutors(kb["id"], ids)
    if attached is None:
        raise http_error(422, "some tutor_ids do not exist")
    return web.json_response({"kb_id": kb["id"], "tutor_ids": attached})


@routes.post("/api/knowledge-bases/{kb_id}/documents")
async def upload(request: web.Request) -> web.Response:
    """multipart/form-data with one `file` part: .txt, .md or .pdf, within the size limit."""
    _, kb = await _kb(request)
    runtime = request.app[KNOWLEDGE]
    limit = runtime.settings.max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise http_error(413, f"files are limited to {limit // 1_000_000} MB", code="too_large")
    filename, content = await _read_file(request, limit)
    try:
        doc = await runtime.ingestor.add(kb["id"], filename, content)
    except UploadRejected as exc:
        raise http_error(exc.status, str(exc), code=exc.code) from None
    return web.json_response(document_json(doc), status=202)


async def _read_file(request: web.Request, limit: int) -> tuple[str, bytes]:
    if not request.content_type.startswith("multipart/"):
        raise http_error(415, "upload the file as multipart/form-data", code="unsupported_type")
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name != "file":
            continue
        if not part.filename:
            raise http_error(422, "the 'file' part needs a file name", code="bad_filename")
        data = bytearray()
        while chunk := await part.read_chunk(READ_CHUNK):
            data.extend(chunk)
            if len(data) > limit:
                raise http_error(
                    413, f"files are limited to {limit // 1_000_000} MB", code="too_large"
                )
        # Some clients percent-encode non-ASCII names (RFC 5987); decode before any check.
        return unquote(part.filename), bytes(data)
    raise http_error(422, "no 'file' part in the upload", code="invalid_document")


@routes.get("/api/knowledge-bases/{kb_id}/documents")
async def list_documents(request: web.Request) -> web.Response:
    catalog, kb = await _kb(request)
    return web.json_response(await catalog.documents(kb["id"]))


@routes.get("/api/knowledge-bases/{kb_id}/documents/{doc_id}")
async def get_document(request: web.Request) -> web.Response:
    catalog, kb = await _kb(request)
    doc = await catalog.document(kb["id"], _id(request, "doc_id"))
    if doc is None:
        raise http_error(404, "no such document")
    return web.json_response(doc)


@routes.get("/api/knowledge-bases/{kb_id}/documents/{doc_id}/passages")
async def document_passages(request: web.Request) -> web.Response:
    """The passages the document became: `[{id, ordinal, location, text}]`."""
    catalog, kb = await _kb(request)
    found = await catalog.passages(kb["id"], _id(request, "doc_id"))
    if found is None:
        raise http_error(404, "no such document")
    return web.json_response(found)


@routes.delete("/api/knowledge-bases/{kb_id}/documents/{doc_id}")
async def delete_document(request: web.Request) -> web.Response:
    catalog, kb = await _kb(request)
    if not await catalog.delete_document(kb["id"], _id(request, "doc_id")):
        raise http_error(404, "no such document")
    request.app[KNOWLEDGE].retriever.forget(kb["id"])
    return web.Response(status=204)


@routes.post("/api/knowledge-bases/{kb_id}/search")
async def search(request: web.Request) -> web.Response:
    """Try the retrieval a tutor would do: `{query, k?}` → ranked passages with scores."""
    _, kb = await _kb(request)
    body = await json_body(request, max_bytes=16_384)
    query = require_str(body, "query", max_len=2000)
    k = body.get("k", 3)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 20:
        raise http_error(422, "'k' must be an integer from 1 to 20")
    found = await request.app[KNOWLEDGE].retriever.search(kb["id"], query, k=k)
    relevant = {p.chunk_id for p in found.relevant}
    return web.json_response(
        {
            "elapsed_ms": found.elapsed_ms,
            "items": [
                {
                    **p.item(),
                    "text": p.text,
                    "score": p.score,
                    "relevance": p.relevance,
                    "relevant": p.chunk_id in relevant,
                }
                for p in found.candidates
            ],
        }
    )
