"""The passages a document became, as the teacher's console shows them."""

from __future__ import annotations

from auth import Role
from tests.test_knowledge_api import (
    EN_DOC,
    Client,
    auth_header,
    ingested,
    kb_client,
    new_kb,
    teacher,
    upload,
)

__all__ = ["kb_client"]  # the fixture, used by name


async def test_a_documents_passages_in_order(kb_client: Client) -> None:
    kb_id = await new_kb(kb_client)
    resp = await upload(kb_client, kb_id, "plants.md", EN_DOC)
    doc_id = (await resp.json())["id"]
    (doc,) = await ingested(kb_client, kb_id)
    resp = await kb_client.get(
        f"/api/knowledge-bases/{kb_id}/documents/{doc_id}/passages", headers=teacher(kb_client)
    )
    assert resp.status == 200
    passages = await resp.json()
    assert len(passages) == doc["chunk_count"] >= 2
    assert [p["ordinal"] for p in passages] == sorted(p["ordinal"] for p in passages)
    assert "chloroplasts" in passages[0]["text"] and "magma" in passages[-1]["text"]

    path = f"/api/knowledge-bases/{kb_id}/documents/{doc_id + 1}/passages"
    assert (await kb_client.get(path, headers=teacher(kb_client))).status == 404
    student = auth_header(kb_client.app, Role.STUDENT)
    path = f"/api/knowledge-bases/{kb_id}/documents/{doc_id}/passages"
    assert (await kb_client.get(path, headers=student)).status == 403
