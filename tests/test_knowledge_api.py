"""Shared pieces of the knowledge tests: the embedding model loaded once, and a small app."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from alembic import command
from alembic.config import Config

import storage
from auth import Principal, Role, TokenIssuer
from core.http import error_middleware
from core.settings import WEIGHTS, KnowledgeSettings, Weights, read_group
from knowledge.embeddings import E5Embedder, Embedder, make_embedder
from knowledge.ingest import make_document
from signaling.app import knowledge_ctx
from signaling.keys import DB, EMBEDDER, ISSUER, KNOWLEDGE_SETTINGS
from signaling.routes import knowledge as knowledge_routes
from storage import Database, KBChunk, KnowledgeBase, User

SECRET = "knowledge-test-secret-" + "k" * 40

_EMBEDDER: list[Embedder] = []


def shared_embedder() -> Embedder:
    """The embedding model KB_EMBEDDER names (e5 unless the environment says otherwise),
    loaded on first use and kept for the whole run."""
    if not _EMBEDDER:
        _EMBEDDER.append(make_embedder(read_group(KnowledgeSettings, os.environ)))
    return _EMBEDDER[0]


def knowledge_app(
    tmp_path: Path, embedder: Embedder, *, database_url: str | None = None, **settings: Any
) -> web.Application:
    """The knowledge routes on a real database (SQLite in `tmp_path` unless `database_url`)
    and token issuer, as create_app wires them."""
    url = database_url or f"sqlite:///{tmp_path}/kb.db"
    app = web.Application(middlewares=[error_middleware])
    app[ISSUER] = TokenIssuer(secret_key=SECRET)
    app[EMBEDDER] = embedder
    app[KNOWLEDGE_SETTINGS] = KnowledgeSettings(**settings)

    async def database_ctx(app: web.Application) -> AsyncIterator[None]:
        db = Database(url)
        await db.migrate()
        async with db.session() as s, s.begin():
            # The account auth_header's tokens name: it owns the knowledge bases they create.
            s.add(User(id=1, email="teacher@example.com", password_hash="!", role="teacher"))
        app[DB] = db
        yield
        await db.close()

    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(knowledge_ctx)
    app.add_routes(knowledge_routes.routes)
    return app


def auth_header(app: web.Application, role: Role = Role.TEACHER) -> dict[str, str]:
    token = app[ISSUER].access_token(Principal(1, f"{role.value}@example.com", role), ttl_s=600)
    return {"Authorization": f"Bearer {token}"}


# --- the API ------------------------------------------------------------------------------------

import asyncio  # noqa: E402
import io  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from aiohttp import FormData  # noqa: E402
from aiohttp.test_utils import TestClient  # noqa: E402
from sqlalchemy import text as sql  # noqa: E402

from signaling.keys import KNOWLEDGE  # noqa: E402

Client = TestClient[Any, Any]

EN_DOC = b"""# Plants
Photosynthesis happens in the chloroplasts. Plants use sunlight, water and carbon dioxide
to make glucose and release oxygen.

# Volcanoes
A volcano erupts when molten rock called magma rises through the crust and escapes as lava.
"""
ZH_DOC = (
    "光合作用在叶绿体中进行，植物利用光能把二氧化碳和水变成有机物，并释放氧气。\n\n"
    "火山喷发是因为地下的岩浆沿着地壳的裂缝上升，喷出地表形成熔岩。".encode()
)


@pytest.fixture
async def kb_client(aiohttp_client: Any, tmp_path: Path) -> Client:
    app = knowledge_app(tmp_path, shared_embedder())
    client: Client = await aiohttp_client(app)
    return client


def teacher(client: Client) -> dict[str, str]:
    return auth_header(client.app, Role.TEACHER)


async def error_of(resp: Any) -> dict[str, Any]:
    body = await resp.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return dict(body["error"])


async def new_kb(client: Client, name: str = "Science") -> int:
    resp = await client.post(
        "/api/knowledge-bases", json={"name": name, "description": "d"}, headers=teacher(client)
    )
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


def upload_form(name: str, content: bytes, field: str = "file") -> FormData:
    form = FormData()
    form.add_field(
        field, io.BytesIO(content), filename=name, content_type="application/octet-stream"
    )
    return form


async def upload(client: Client, kb_id: int, name: str, content: bytes) -> Any:
    return await client.post(
        f"/api/knowledge-bases/{kb_id}/documents",
        data=upload_form(name, content),
        headers=teacher(client),
    )


async def ingested(client: Client, kb_id: int) -> list[dict[str, Any]]:
    await client.app[KNOWLEDGE].ingestor.idle()
    resp = await client.get(f"/api/knowledge-bases/{kb_id}/documents", headers=teacher(client))
    docs: list[dict[str, Any]] = await resp.json()
    return docs


async def search(client: Client, kb_id: int, query: str) -> dict[str, Any]:
    resp = await client.post(
        f"/api/knowledge-bases/{kb_id}/search", json={"query": query}, headers=teacher(client)
    )
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_upload_ingest_retrieve_english_and_chinese(
    kb_client: Client, loop_guard: list[float]
) -> None:
    kb_id = await new_kb(kb_client)
    en = await upload(kb_client, kb_id, "plants.md", EN_DOC)
    zh = await upload(kb_client, kb_id, "科学.txt", ZH_DOC)
    assert en.status == zh.status == 202
    assert (await en.json())["status"] == "pending"
    docs = await ingested(kb_client, kb_id)
    assert [(d["title"], d["status"], d["progress"]) for d in docs] == [
        ("plants.md", "ready", 1.0),
        ("科学.txt", "ready", 1.0),
    ]
    assert all(d["chunk_count"] >= 1 for d in docs)
    found = await search(kb_client, kb_id, "Why does a volcano erupt?")
    best = found["items"][0]
    assert best["location"] == "Volcanoes" and best["relevant"] and "magma" in best["text"]
    found = await search(kb_client, kb_id, "火山为什么会喷发？")
    assert "岩浆" in found["items"][0]["text"] and found["items"][0]["relevant"]
    found = await search(kb_client, kb_id, "Who painted the Mona Lisa?")
    assert not any(item["relevant"] for item in found["items"])


ZH_TOPICS = """# 光合作用
植物的叶子里有叶绿素，能吸收阳光，把二氧化碳和水变成葡萄糖，同时放出氧气。
# 火山
地下深处的岩浆温度很高，当压力足够大时，岩浆沿着地壳的裂缝冲出地面，形成火山喷发。
# 声音
声音是由物体振动产生的，需要空气、水或固体等介质才能传播，在真空中无法传播。
# 水循环
太阳照射使海洋里的水蒸发成水蒸气，水蒸气上升遇冷凝结成云，最后以雨或雪的形式降落。
""".encode()


async def test_e5_finds_chinese_passages_by_meaning_alone(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """Dense side only (BM25 weighs nothing): questions worded unlike their passage."""
    e5 = shared_embedder() if isinstance(shared_embedder(), E5Embedder) else E5Embedder()
    dense_only = Weights(dense_en=1.0, dense_zh=1.0, floor=WEIGHTS["e5"].floor)
    client: Client = await aiohttp_client(knowledge_app(tmp_path, e5, weights=dense_only))
    kb_id = await new_kb(client)
    await upload(client, kb_id, "科学.md", ZH_TOPICS)
    assert (await ingested(client, kb_id))[0]["chunk_count"] == 4
    for question, topic in [
        ("树叶怎样制造养分？", "光合作用"),
        ("山里为什么会冒出滚烫的熔岩？", "火山"),
        ("为什么太空里听不到响动？", "声音"),
        ("天上的雨是从哪里来的？", "水循环"),
    ]:
        best = (await search(client, kb_id, question))["items"][0]
        assert best["location"] == topic and best["relevant"], (question, best)


async def test_pdf_upload_is_parsed_by_page(kb_client: Client) -> None:
    kb_id = await new_kb(kb_client)
    resp = await upload(kb_client, kb_id, "notes.pdf", _pdf("Mitochondria release energy."))
    assert resp.status == 202, await resp.text()
    docs = await ingested(kb_client, kb_id)
    assert docs[0]["status"] == "ready", docs
    found = await search(kb_client, kb_id, "What do mitochondria do?")
    assert found["items"][0]["location"] == "page 1"


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("empty.txt", b"   \n", 422, "empty_document"),
        ("big.txt", b"a" * 2_000_001, 413, "too_large"),
        ("program.exe", b"MZ\x90\x00", 415, "unsupported_type"),
        ("notes.docx", b"PK\x03\x04", 415, "unsupported_type"),
        ("fake.pdf", b"just text", 415, "unsupported_type"),
        ("binary.txt", b"\x00\x01\x02text", 415, "unsupported_type"),
        ("../../etc/passwd", b"root:x:0:0", 422, "bad_filename"),
        ("..\\..\\secret.txt", b"secret", 422, "bad_filename"),
        (".bashrc.txt", b"export X=1", 422, "bad_filename"),
    ],
)
async def test_bad_uploads_are_refused_and_nothing_is_stored(
    aiohttp_client: Any, tmp_path: Path, name: str, content: bytes, status: int, code: str
) -> None:
    client: Client = await aiohttp_client(
        knowledge_app(tmp_path, shared_embedder(), max_upload_bytes=2_000_000)
    )
    kb_id = await new_kb(client)
    resp = await upload(client, kb_id, name, content)
    assert resp.status == status, await resp.text()
    assert (await error_of(resp))["code"] == code
    assert await ingested(client, kb_id) == []
    written = await asyncio.to_thread(lambda: [p.name for p in tmp_path.rglob("*")])
    assert not {"passwd", "secret.txt"} & set(written)


async def test_upload_needs_a_file_part_and_multipart(kb_client: Client) -> None:
    kb_id = await new_kb(kb_client)
    url = f"/api/knowledge-bases/{kb_id}/documents"
    resp = await kb_client.post(
        url, data=upload_form("a.txt", b"x", field="other"), headers=teacher(kb_client)
    )
    assert resp.status == 422
    resp = await kb_client.post(url, json={"file": "x"}, headers=teacher(kb_client))
    assert resp.status == 415
    resp = await upload(kb_client, 999, "a.txt", b"text")
    assert resp.status == 404


async def test_title_is_sanitised(kb_client: Client) -> None:
    kb_id = await new_kb(kb_client)
    resp = await upload(kb_client, kb_id, '<img src=x onerror="a()">notes.md', b"# A\nhi")
    assert resp.status == 202
    title = (await resp.json())["title"]
    assert title.endswith("notes.md") and not set(title) & set('<>"')


async def test_knowledge_bases_do_not_share_passages(kb_client: Client) -> None:
    a, b = await new_kb(kb_client, "A"), await new_kb(kb_client, "B")
    await upload(kb_client, a, "volcano.txt", b"A volcano erupts when magma rises to the surface.")
    await upload(kb_client, b, "bees.txt", b"Bees make honey from the nectar of flowers.")
    await ingested(kb_client, a)
    found = await search(kb_client, b, "Why does a volcano erupt? magma")
    assert all("magma" not in item["text"] for item in found["items"])
    assert not any(item["relevant"] for item in found["items"])
    found = await search(kb_client, a, "How do bees make honey?")
    assert all("honey" not in item["text"] for item in found["items"])


async def test_crud_roles_and_errors(kb_client: Client) -> None:
    student = auth_header(kb_client.app, Role.STUDENT)
    assert (await kb_client.get("/api/knowledge-bases")).status == 401
    resp = await kb_client.get("/api/knowledge-bases", headers=student)
    assert resp.status == 403 and (await error_of(resp))["code"]
    resp = await kb_client.post(
        "/api/knowledge-bases", json={"name": ""}, headers=teacher(kb_client)
    )
    assert resp.status == 422
    kb_id = await new_kb(kb_client)
    admin = auth_header(kb_client.app, Role.ADMIN)
    listed = await (await kb_client.get("/api/knowledge-bases", headers=admin)).json()
    assert [k["id"] for k in listed] == [kb_id]
    got = await kb_client.get(f"/api/knowledge-bases/{kb_id}", headers=admin)
    assert (await got.json())["documents"] == 0
    doc = await (await upload(kb_client, kb_id, "a.txt", b"Some text about atoms.")).json()
    await ingested(kb_client, kb_id)
    one = await kb_client.get(f"/api/knowledge-bases/{kb_id}/documents/{doc['id']}", headers=admin)
    assert (await one.json())["status"] == "ready"
    wrong_kb = await kb_client.get(
        f"/api/knowledge-bases/{kb_id + 1}/documents/{doc['id']}", headers=admin
    )
    assert wrong_kb.status == 404
    gone = await kb_client.delete(
        f"/api/knowledge-bases/{kb_id}/documents/{doc['id']}", headers=admin
    )
    assert gone.status == 204
    assert await ingested(kb_client, kb_id) == []
    assert (await kb_client.delete(f"/api/knowledge-bases/{kb_id}", headers=admin)).status == 204
    missing = await kb_client.get(f"/api/knowledge-bases/{kb_id}", headers=admin)
    assert missing.status == 404 and (await error_of(missing))["code"] == "not_found"
    assert (await kb_client.get("/api/knowledge-bases/abc", headers=admin)).status == 404


async def test_attach_to_tutors(kb_client: Client) -> None:
    from storage import Tutor

    db = kb_client.app[DB]
    async with db.session() as s, s.begin():
        s.add_all(
            [
                Tutor(name="Ada", subject="Science", owner_id=1),
                Tutor(name="Bo", subject="Maths", owner_id=1),
            ]
        )
    kb_id = await new_kb(kb_client)
    url = f"/api/knowledge-bases/{kb_id}/tutors"
    resp = await kb_client.patch(url, json={"tutor_ids": [1, 2]}, headers=teacher(kb_client))
    assert (await resp.json())["tutor_ids"] == [1, 2]
    resp = await kb_client.patch(url, json={"tutor_ids": [2]}, headers=teacher(kb_client))
    assert (await resp.json())["tutor_ids"] == [2]
    got = await (
        await kb_client.get(f"/api/knowledge-bases/{kb_id}", headers=teacher(kb_client))
    ).json()
    assert got["tutor_ids"] == [2]
    for bad in ({"tutor_ids": [99]}, {"tutor_ids": "1"}, {"tutor_ids": [True]}):
        resp = await kb_client.patch(url, json=bad, headers=teacher(kb_client))
        assert resp.status == 422


async def test_ingestion_survives_a_restart(aiohttp_client: Any, tmp_path: Path) -> None:
    """A document stored but not ingested (the server stopped) is ingested at the next start."""
    from knowledge.ingest import Ingestor

    client: Client = await aiohttp_client(knowledge_app(tmp_path, shared_embedder()))
    kb_id = await new_kb(client)
    runtime = client.app[KNOWLEDGE]
    ingestor = Ingestor(client.app[DB], None, settings=runtime.settings)
    doc = await ingestor.add(kb_id, "late.txt", b"Saturn has rings of ice.", enqueue=False)
    await runtime.ingestor.aclose()
    await runtime.ingestor.start()
    docs = await ingested(client, kb_id)
    assert [(d["id"], d["status"]) for d in docs] == [(doc.id, "ready")]
    await asyncio.sleep(0)


def _migrate(connection: Any, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(storage.__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    (command.upgrade if revision == "head" else command.downgrade)(config, revision)


async def test_migration_0005_names_the_model_of_each_embedding(tmp_path: Path) -> None:
    """Embeddings from before 0005 are MiniLM's; going back forgets the others' vectors."""
    db = Database(f"sqlite:///{tmp_path}/v.db")
    await db.migrate()
    v, minilm = np.full(384, 384**-0.5, dtype=np.float32), "all-MiniLM-L6-v2"
    async with db.session() as s, s.begin():
        s.add(KnowledgeBase(name="kb"))
        await s.flush()
        s.add(make_document(1, "a.txt", b"text", max_bytes=100))
        await s.flush()
        for i, name in enumerate((minilm, "multilingual-e5-small-q4")):
            s.add(KBChunk(kb_id=1, document_id=1, ordinal=i, text="", embedding=v, embedder=name))
    for revision, column, name in [("0004", "NULL", None), ("head", "embedder", minilm)]:
        async with db.engine.begin() as conn:
            await conn.run_sync(_migrate, revision)
            rows = await conn.execute(sql(f"SELECT embedding IS NOT NULL, {column} FROM kb_chunks"))
            assert [tuple(r) for r in rows] == [(1, name), (0, None)]
    await db.close()


def _pdf(text: str) -> bytes:
    """A one-page PDF with `text` on it, built by hand (no PDF writer needed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
