"""Who may manage what: an admin everything; a teacher their own students, classes, tutors and
knowledge bases; a student none of it. Shared by the account, class and tutor services."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth import Forbidden, Principal, Role
from signaling.errors import not_found
from storage import ClassMember, SchoolClass, Tutor, TutorClass, User


def students_of(teacher_id: int) -> Any:
    """The condition on User that holds for the teacher's students: those the teacher created
    and the members of the teacher's classes."""
    in_classes = (
        select(ClassMember.user_id)
        .join(SchoolClass, SchoolClass.id == ClassMember.class_id)
        .where(SchoolClass.teacher_id == teacher_id)
    )
    return (User.role == Role.STUDENT.value) & or_(
        User.created_by == teacher_id, User.id.in_(in_classes)
    )


def tutor_visible_to(student_id: int) -> Any:
    """The condition on Tutor that holds for the tutors a student sees: those for everyone and
    those of the student's classes."""
    of_classes = (
        select(TutorClass.tutor_id)
        .join(ClassMember, ClassMember.class_id == TutorClass.class_id)
        .where(ClassMember.user_id == student_id)
    )
    return or_(Tutor.everyone.is_(True), Tutor.id.in_(of_classes))


async def live_user(s: AsyncSession, user_id: int) -> User:
    user = await s.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise not_found("user")
    return user


async def check_manages(s: AsyncSession, who: Principal, user: User) -> None:
    """Forbidden unless `who` is an admin or `user` is one of `who`'s students."""
    who.require(Role.TEACHER, Role.ADMIN)
    if who.role is Role.ADMIN:
        return
    mine = await s.scalar(select(User.id).where(User.id == user.id, students_of(who.user_id)))
    if mine is None:
        raise Forbidden("a teacher manages only their own students")


def check_owns(who: Principal, owner_id: int | None, what: str) -> None:
    """Forbidden unless `who` is an admin or a teacher who owns the thing."""
    who.require(Role.TEACHER, Role.ADMIN)
    if who.role is not Role.ADMIN and owner_id != who.user_id:
        raise Forbidden(f"a teacher manages only their own {what}")


async def managed_class(s: AsyncSession, who: Principal, class_id: int) -> SchoolClass:
    """The class, if `who` may manage it: 404 when there is none, 403 when it is not theirs."""
    who.require(Role.TEACHER, Role.ADMIN)
    found = await s.get(SchoolClass, class_id)
    if found is None:
        raise not_found("class")
    check_owns(who, found.teacher_id, "classes")
    return found
