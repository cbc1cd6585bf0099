"""Storage: SQLAlchemy models, the database handle and migrations."""

from storage.database import Database, to_async_url
from storage.knowledge_tables import KBChunk, KBDocument, KBTurnSource
from storage.models import (
    ANSWER_POLICIES,
    Base,
    ClassMember,
    EngineRecord,
    KnowledgeBase,
    SchoolClass,
    SessionRecord,
    Turn,
    Tutor,
    TutorClass,
    User,
)
from storage.sessions import mark_session_ended

__all__ = [
    "ANSWER_POLICIES",
    "Base",
    "ClassMember",
    "Database",
    "EngineRecord",
    "KBChunk",
    "KBDocument",
    "KBTurnSource",
    "KnowledgeBase",
    "SchoolClass",
    "SessionRecord",
    "Turn",
    "Tutor",
    "TutorClass",
    "User",
    "mark_session_ended",
    "to_async_url",
]
