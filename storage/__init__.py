"""Storage: SQLAlchemy models, the database handle and migrations."""

from storage.database import Database, to_async_url
from storage.models import Base, KnowledgeBase, SessionRecord, Turn, Tutor, User

__all__ = [
    "Base",
    "Database",
    "KnowledgeBase",
    "SessionRecord",
    "Turn",
    "Tutor",
    "User",
    "to_async_url",
]
