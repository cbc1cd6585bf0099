"""Managing accounts: admins manage everyone, a teacher their own students.

A teacher's students are the students the teacher created and the members of the teacher's
classes. Handlers validate the fields; this class decides who may do what to whom.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from auth import Forbidden, Principal, Role, hash_password, one_time_password, password_problem
from signaling.access import check_manages, live_user, managed_class, students_of
from signaling.errors import Refused
from storage import ClassMember, Database, KnowledgeBase, SchoolClass, SessionRecord, Tutor, User


def user_json(u: User) -> dict[str, Any]:
    created = u.created_at if u.created_at.tzinfo else u.created_at.replace(tzinfo=UTC)
    return {
        "id": u.id,
        "email": u.email,
        "display_name": u.display_name,
        "role": u.role,
        "disabled": u.disabled,
        "created_by": u.created_by,
        "created_at": created.isoformat(),
    }


class UserService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self, who: Principal) -> list[dict[str, Any]]:
        who.require(Role.TEACHER, Role.ADMIN)
        query = select(User).where(User.deleted_at.is_(None)).order_by(User.id)
        if who.role is Role.TEACHER:
            query = query.where(students_of(who.user_id))
        async with self._db.session() as s:
            return [user_json(u) for u in await s.scalars(query)]

    async def create(
        self,
        who: Principal,
        accounts: list[tuple[str, str]],
        *,
        role: Role,
        password: str | None = None,
        class_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Create `accounts` (email, display name), and put them in the class `class_id`, in
        one transaction: all or none. Each comes back with `one_time_password` when its
        password was generated."""
        who.require(Role.TEACHER, Role.ADMIN)
        if who.role is Role.TEACHER and role is not Role.STUDENT:
            raise Forbidden("a teacher can create student accounts only")
        if class_id is not None:
            async with self._db.session() as s:
                await managed_class(s, who, class_id)
        if password is not None and (problem := password_problem(password, email=accounts[0][0])):
            raise Refused(problem, code="weak_password")
        taken = await self.taken([email for email, _ in accounts])
        if taken:
            raise Refused(f"an account with the email {taken[0]} exists", status=409, code="exists")
        passwords = [password or one_time_password() for _ in accounts]
        # argon2 is slow on purpose: every hash of the batch off the event loop, in one go.
        hashes = await asyncio.to_thread(lambda: [hash_password(p) for p in passwords])
        users = [
            User(
                email=email,
                display_name=name,
                role=role.value,
                password_hash=h,
                created_by=who.user_id,
            )
            for (email, name), h in zip(accounts, hashes, strict=True)
        ]
        try:
            async with self._db.session() as s, s.begin():
                s.add_all(users)
                await s.flush()
                if class_id is not None:
                    s.add_all(ClassMember(class_id=class_id, user_id=u.id) for u in users)
        except IntegrityError:
            # Another request took one of the emails (or deleted the class) in the meantime;
            # nothing was created.
            raise Refused("one of these emails was just taken", status=409, code="exists") from None
        out = []
        for user, pw in zip(users, passwords, strict=True):
            out.append({**user_json(user), **({} if password else {"one_time_password": pw})})
        return out

    async def taken(self, emails: list[str]) -> list[str]:
        """Those of `emails` that an account has already (case does not matter)."""
        lowered = [e.lower() for e in emails]
        async with self._db.session() as s:
            found = await s.scalars(select(User.email).where(func.lower(User.email).in_(lowered)))
            return sorted(found)

    async def update(self, who: Principal, user_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        if "role" in fields and who.role is not Role.ADMIN:
            raise Forbidden("only an admin can change a role")
        if user_id == who.user_id and ("role" in fields or fields.get("disabled")):
            raise Refused("you cannot disable your own account or change its role", status=409)
        async with self._db.session() as s, s.begin():
            user = await live_user(s, user_id)
            await check_manages(s, who, user)
            if fields.get("disabled") and not user.disabled:
                # Its tokens end for good: enabling the account again does not revive them.
                user.token_version += 1
            for name, value in fields.items():
                setattr(user, name, value.value if isinstance(value, Role) else value)
        return user_json(user)

    async def delete(self, who: Principal, user_id: int, *, keep_sessions: bool) -> None:
        """Delete the account. With its sessions kept, the row stays for them, wiped of the
        email, name and password; otherwise the sessions go with it."""
        who.require(Role.ADMIN)
        if user_id == who.user_id:
            raise Refused("you cannot delete your own account", status=409)
        async with self._db.session() as s, s.begin():
            user = await live_user(s, user_id)
            for model in (Tutor, KnowledgeBase):
                await s.execute(
                    update(model).where(model.owner_id == user_id).values(owner_id=None)
                )
            await s.execute(
                update(SchoolClass).where(SchoolClass.teacher_id == user_id).values(teacher_id=None)
            )
            await s.execute(update(User).where(User.created_by == user_id).values(created_by=None))
            await s.execute(delete(ClassMember).where(ClassMember.user_id == user_id))
            if not keep_sessions:
                await s.execute(delete(SessionRecord).where(SessionRecord.student_id == user_id))
                await s.delete(user)
                return
            user.email = f"deleted-{user.id}@deleted.invalid"
            user.display_name = "deleted account"
            user.password_hash = "!"  # no argon2 hash: no password matches it
            user.disabled = True
            user.token_version += 1
            user.deleted_at = datetime.now(UTC)

    async def reset_password(self, who: Principal, user_id: int) -> dict[str, Any]:
        """A new one-time password for the account; its older tokens stop working."""
        if user_id == who.user_id:
            raise Refused("change your own password with POST /api/auth/password", status=409)
        password = one_time_password()
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self._db.session() as s, s.begin():
            user = await live_user(s, user_id)
            await check_manages(s, who, user)
            user.password_hash = password_hash
            user.token_version += 1
        return {"id": user_id, "one_time_password": password}
