"""First-start content: an admin, a demo student and two demo tutors (English and Chinese)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from auth import Role, hash_password
from core.settings import Settings
from knowledge.seed import seed_demo_knowledge
from storage import Database, Tutor, User

DEMO_TUTORS = [
    {
        "name": "Ada",
        "subject": "Science",
        "language": "en",
        "voice": "piper:joe",
        "persona_prompt": (
            "You are Ada, a patient and encouraging science tutor for school students. "
            "You explain ideas simply, with everyday examples."
        ),
    },
    {
        "name": "李老师",
        "subject": "科学 Science",
        "language": "zh",
        "voice": "zf_xiaobei",
        "persona_prompt": (
            "你是李老师，一位耐心、友好的科学老师。你用简单的语言和生活中的例子讲解知识。"
        ),
    },
    {
        "name": "Max",
        "subject": "Maths",
        "language": "en",
        "voice": "piper:joe",
        "persona_prompt": (
            "You are Max, a patient and encouraging maths tutor for school students. "
            "You explain methods step by step with small examples. When a student is working "
            "on an exercise, you give a hint or the next step and check that they understand, "
            "rather than giving the whole solution."
        ),
    },
    {
        "name": "王老师",
        "subject": "数学 Maths",
        "language": "zh",
        "voice": "zm_yunxi",
        "persona_prompt": (
            "你是王老师，一位耐心、亲切的数学老师。你用简单的例子一步一步讲解方法。"
            "学生做练习题时，你给出提示或下一步，并确认学生听懂了，而不是直接给出完整的解答。"
        ),
    },
]


@dataclass(frozen=True)
class SeededAccount:
    email: str
    role: str
    password: str | None
    """Set only when the password was generated now: it is shown once and never stored."""


async def seed(db: Database, settings: Settings) -> list[SeededAccount]:
    """Create what is missing; return every demo account (with a password if just made)."""
    accounts = [
        (settings.admin_email, Role.ADMIN, settings.admin_password, "Administrator"),
        (settings.demo_student_email, Role.STUDENT, settings.demo_student_password, "Demo Student"),
    ]
    seeded: list[SeededAccount] = []
    async with db.session() as s, s.begin():
        for email, role, password, name in accounts:
            existing = await s.scalar(select(User).where(User.email == email))
            if existing is not None:
                seeded.append(SeededAccount(email, role.value, None))
                continue
            generated = password is None
            password = password or secrets.token_urlsafe(12)
            s.add(
                User(
                    email=email,
                    password_hash=await asyncio.to_thread(hash_password, password),
                    role=role.value,
                    display_name=name,
                )
            )
            seeded.append(SeededAccount(email, role.value, password if generated else None))
        seed_tutors = await s.scalar(select(Tutor.id).limit(1)) is None
        if seed_tutors:
            s.add_all(Tutor(**t) for t in DEMO_TUTORS)
    if seed_tutors:
        async with db.session() as s:
            tutors = await s.scalars(select(Tutor))
            await seed_demo_knowledge(db, {t.name: t.id for t in tutors})
    return seeded
