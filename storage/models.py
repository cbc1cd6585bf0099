"""The tables. Times are stored as timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, false, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """A disabled account cannot log in, and its tokens are refused from the next request."""
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Carried by access tokens; raised when the password changes, which ends older tokens."""
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    """The teacher (or admin) who made the account: a teacher's students are theirs."""
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """Set on an account deleted with its sessions kept: the row stays for them, but its
    email, name and password are wiped and it is listed nowhere."""


class KnowledgeBase(Base):
    __tablename__ = "knowledge_bases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    """The teacher who manages it; None: managed by admins only."""


class Tutor(Base):
    __tablename__ = "tutors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    subject: Mapped[str] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(16), default="en")
    persona_prompt: Mapped[str] = mapped_column(Text, default="")
    voice: Mapped[str] = mapped_column(String(64), default="af_heart")
    kb_id: Mapped[int | None] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="SET NULL"), nullable=True
    )
    answer_policy: Mapped[str] = mapped_column(
        String(16), default="course_first", server_default="course_first"
    )
    """course_first: the material, else the subject and general school knowledge, said so;
    course_only: the material alone (see ANSWER_POLICIES)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    """The teacher who made it and may change it; None: changed by admins only."""
    everyone: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    """Every student sees it; otherwise only the students of its classes (TutorClass)."""


ANSWER_POLICIES = ("course_first", "course_only")


class SessionRecord(Base):
    """One tutoring session: a student talking to a tutor through one engine."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tutor_id: Mapped[int | None] = mapped_column(
        ForeignKey("tutors.id", ondelete="SET NULL"), nullable=True
    )
    engine: Mapped[str] = mapped_column(String(255), default="local")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)

    turns: Mapped[list[Turn]] = relationship(
        back_populates="session", order_by="Turn.id", cascade="all, delete-orphan"
    )


class Turn(Base):
    """One utterance of the student or the tutor, stored as it happens."""

    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    turn_id: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="typed")
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    session: Mapped[SessionRecord] = relationship(back_populates="turns")


class SchoolClass(Base):
    """A teacher's class: the students in it see the tutors assigned to it."""

    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    teacher_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClassMember(Base):
    __tablename__ = "class_members"

    class_id: Mapped[int] = mapped_column(
        ForeignKey("classes.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TutorClass(Base):
    """A tutor assigned to a class."""

    __tablename__ = "tutor_classes"

    tutor_id: Mapped[int] = mapped_column(
        ForeignKey("tutors.id", ondelete="CASCADE"), primary_key=True
    )
    class_id: Mapped[int] = mapped_column(
        ForeignKey("classes.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class EngineRecord(Base):
    """One engine of a pool, as it last reported itself (storage.engines)."""

    __tablename__ = "engines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(255), unique=True)
    """Where the signaling tier and clients reach it (its PUBLIC_URL)."""
    capacity: Mapped[int] = mapped_column(Integer)
    in_use: Mapped[int] = mapped_column(Integer, default=0)
    """Its slots in use at its last heartbeat, plus those placed on it since."""
    languages: Mapped[str] = mapped_column(String(64), default="en,zh")
    """The tutor languages it serves, comma-separated."""
    models: Mapped[str] = mapped_column(String(255), default="")
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
