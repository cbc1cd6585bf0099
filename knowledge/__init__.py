"""Knowledge bases: each tutor answers from its own course material and names its sources.

Documents are uploaded (text, Markdown, PDF), stored in the database, and ingested in the
background: parsed, cut into passages, indexed for BM25 and embedded
with multilingual-e5-small (or all-MiniLM-L6-v2, `KB_EMBEDDER=minilm`).
A `Retriever` finds the passages for a question within one knowledge base; the conversation
fences them as data in the prompt and tells the student where the answer came from.
"""
