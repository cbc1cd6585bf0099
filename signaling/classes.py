"""Classes: a teacher's students, grouped; the tutors assigned to a class are seen by its
students. Admins manage every class, a teacher their own; students none."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth import Principal, Role
from signaling.access import check_owns, live_user, managed_class
from signaling.errors import Refused, not_found
from storage import ClassMember, Database, SchoolClass, TutorClass, User


async def class_json(s: AsyncSession, c: SchoolClass) -> dict[str, Any]:
    members = await s.scalars(
        select(User)
        .join(ClassMember, ClassMember.user_id == User.id)
        .where(ClassMember.class_id == c.id)
        .order_by(User.id)
    )
    tutors = await s.scalars(
        select(TutorClass.tutor_id).where(TutorClass.class_id == c.id).order_by(TutorClass.tutor_id)
    )
    created = c.created_at if c.created_at.tzinfo else c.created_at.replace(tzinfo=UTC)
    return {
        "id": c.id,
        "name": c.name,
        "teacher_id": c.teacher_id,
        "created_at": created.isoformat(),
        "members": [
            {"id": u.id, "email": u.email, "display_name": u.display_name} for u in members
        ],
        "tutor_ids": list(tutors),
    }


class ClassService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _teacher(self, s: AsyncSession, who: Principal, teacher_id: int | None) -> int | None:
        """The class's teacher: the caller when a teacher; whom an admin names (a teacher)."""
        if who.role is not Role.ADMIN:
            if teacher_id not in (None, who.user_id):
                raise Refused(
                    "a teacher's classes are their own: leave out 'teacher_id'", status=403
                )
            return who.user_id
        if teacher_id is not None:
            teacher = await live_user(s, teacher_id)
            if teacher.role != Role.TEACHER.value:
                raise Refused(f"user {teacher_id} is not a teacher")
        return teacher_id

    async def create(self, who: Principal, name: str, teacher_id: int | None) -> dict[str, Any]:
        who.require(Role.TEACHER, Role.ADMIN)
        async with self._db.session() as s, s.begin():
            made = SchoolClass(name=name, teacher_id=await self._teacher(s, who, teacher_id))
            s.add(made)
            await s.flush()
            return await class_json(s, made)

    async def all(self, who: Principal) -> list[dict[str, Any]]:
        who.require(Role.TEACHER, Role.ADMIN)
        query = select(SchoolClass).order_by(SchoolClass.id)
        if who.role is Role.TEACHER:
            query = query.where(SchoolClass.teacher_id == who.user_id)
        async with self._db.session() as s:
            return [await class_json(s, c) for c in list(await s.scalars(query))]

    async def get(self, who: Principal, class_id: int) -> dict[str, Any]:
        async with self._db.session() as s:
            return await class_json(s, await managed_class(s, who, class_id))

    async def update(self, who: Principal, class_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        async with self._db.session() as s, s.begin():
            found = await managed_class(s, who, class_id)
            if "name" in fields:
                found.name = fields["name"]
            if "teacher_id" in fields:
                found.teacher_id = await self._teacher(s, who, fields["teacher_id"])
            return await class_json(s, found)

    async def delete(self, who: Principal, class_id: int) -> None:
        async with self._db.session() as s, s.begin():
            found = await managed_class(s, who, class_id)
            # Explicit as well as the foreign keys' cascade, for a database that does not
            # enforce them.
            await s.execute(delete(ClassMember).where(ClassMember.class_id == class_id))
            await s.execute(delete(TutorClass).where(TutorClass.class_id == class_id))
            await s.delete(found)

    async def add_member(
        self, who: Principal, class_id: int, *, user_id: int | None, email: str | None
    ) -> dict[str, Any]:
        """Put a student, named by id or email, in the class; a member already is kept."""
        async with self._db.session() as s, s.begin():
            found = await managed_class(s, who, class_id)
            if user_id is not None:
                student = await live_user(s, user_id)
            else:
                assert email is not None
                student_or_none = await s.scalar(
                    select(User).where(
                        func.lower(User.email) == email.lower(), User.deleted_at.is_(None)
                    )
                )
                if student_or_none is None:
                    raise not_found("user")
                student = student_or_none
            if student.role != Role.STUDENT.value:
                raise Refused(f"user {student.id} is not a student; classes hold students")
            if await s.get(ClassMember, (class_id, student.id)) is None:
                s.add(ClassMember(class_id=class_id, user_id=student.id))
                await s.flush()
            return await class_json(s, found)

    async def remove_member(self, who: Principal, class_id: int, user_id: int) -> None:
        async with self._db.session() as s, s.begin():
            await managed_class(s, who, class_id)
            member = await s.get(ClassMember, (class_id, user_id))
            if member is None:
                raise not_found("member of this class")
            await s.delete(member)


def check_class_ids(who: Principal, owners: dict[int, int | None], wanted: list[int]) -> None:
    """`wanted` class ids exist (in `owners`, id -> teacher) and `who` may assign tutors to them."""
    missing = sorted(set(wanted) - set(owners))
    if missing:
        raise Refused(f"no class with id {missing[0]}")
    for class_id in wanted:
        check_owns(who, owners[class_id], "classes")
