"""What the history shows: the session list with each session's first question, each reply's
course material by its document's title and section; and how a document gets its title."""

from __future__ import annotations

from knowledge.ingest import make_document
from knowledge.parsing import markdown_title
from knowledge.seed import demo_text
from signaling.sessions import PREVIEW_CHARS, preview
from tests.conftest import MakeClient, login
from tests.test_knowledge_call import ask

QUESTION = "What do plants need for photosynthesis?"


def test_a_markdown_document_is_titled_by_its_own_heading() -> None:
    # The demo notes open with a title heading: sources show it, not "science_en.md".
    assert markdown_title(demo_text("science_en.md")) == "Science notes for Ada"
    assert markdown_title(demo_text("science_zh.md")) == "李老师的科学笔记"
    assert markdown_title(b"# Cells <b>\n\n## Membrane\nIt controls what goes in.") == "Cells b"
    # A first heading with text under it names the first section, not the document.
    assert markdown_title(b"# Plants\nPhotosynthesis happens in the leaves.") is None
    assert markdown_title(b"Plain text.\n# Later") is None
    doc = make_document(1, "science_en.md", demo_text("science_en.md"), max_bytes=100_000)
    assert doc.title == "Science notes for Ada"
    assert make_document(1, "notes.txt", b"# Title\n## x\ny", max_bytes=100).title == "notes.txt"


def test_a_preview_is_cut_at_a_word() -> None:
    assert preview(None) is None and preview("  ") is None
    assert preview("What is\n a cell?") == "What is a cell?"
    long = "word " * 60
    cut = preview(long)
    assert cut is not None and cut.endswith("word…") and len(cut) <= PREVIEW_CHARS + 1


async def test_sessions_show_the_first_question_and_each_replys_sources(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    sources, (reply, detail) = await ask(client, 1, QUESTION)
    top = sources["items"][0]
    assert top["title"] == "Science notes for Ada" and top["location"] == "Photosynthesis", top
    user, assistant = detail["turns"]
    assert "sources" not in user
    assert assistant["turn_id"] == reply["turn_id"]
    assert assistant["sources"][0] == {
        "title": "Science notes for Ada",
        "location": "Photosynthesis",
    }
    assert [s["title"] for s in assistant["sources"]] == [i["title"] for i in sources["items"]]
    listed = await (await client.get("/api/student/sessions", headers=await login(client))).json()
    (session,) = [s for s in listed if s["session_id"] == detail["session_id"]]
    assert session["first_question"] == QUESTION
