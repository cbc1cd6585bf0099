"""What teachers and admins read about their tutors: the questions students asked, grouped by
topic (`?format=csv` for a spreadsheet), and the students' sessions, read-only."""

from __future__ import annotations

from aiohttp import web

from auth import Principal, Role
from core.http import http_error, path_id
from signaling.insights import Insights, topics_csv, topics_json
from signaling.keys import INSIGHTS, principal
from signaling.sessions import SessionNotFound

routes = web.RouteTableDef()

MAX_DAYS = 365


def _staff(request: web.Request) -> tuple[Insights, Principal]:
    who = principal(request)
    who.require(Role.TEACHER, Role.ADMIN)
    return request.app[INSIGHTS], who


def _days(request: web.Request) -> int:
    raw = request.query.get("days", "30")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise http_error(422, f"'days' must be a whole number from 1 to {MAX_DAYS}")
    return int(raw)


@routes.get("/api/tutors/{tutor_id}/questions")
async def questions(request: web.Request) -> web.StreamResponse:
    """`{days, topics: [{topic, covered, count, uncovered, questions: [{text, asked_at,
    session_id, covered}]}]}`, topics the material did not cover first."""
    insights, who = _staff(request)
    tutor_id = path_id(request, "tutor_id", what="tutor")
    days = _days(request)
    kind = request.query.get("format", "json")
    if kind not in {"json", "csv"}:
        raise http_error(422, "'format' must be json or csv")
    await insights.check_tutor(who, tutor_id)
    topics = await insights.topics(tutor_id, days=days)
    if kind == "csv":
        name = f"questions-tutor-{tutor_id}-{days}d.csv"
        return web.Response(
            text=topics_csv(topics),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return web.json_response({"tutor_id": tutor_id, "days": days, "topics": topics_json(topics)})


@routes.get("/api/sessions")
async def sessions(request: web.Request) -> web.Response:
    """Students' sessions, newest first (`?tutor_id=` for one tutor's)."""
    insights, who = _staff(request)
    raw = request.query.get("tutor_id")
    if raw is not None and not (raw.isdigit() and 1 <= int(raw) <= 2**31 - 1):
        raise http_error(422, "'tutor_id' must be an integer id")
    return web.json_response(await insights.sessions(who, int(raw) if raw else None))


@routes.get("/api/sessions/{session_id}")
async def session(request: web.Request) -> web.Response:
    """One session's transcript, each reply with the course passages it was given."""
    insights, who = _staff(request)
    try:
        return web.json_response(await insights.session(who, request.match_info["session_id"]))
    except SessionNotFound:
        raise http_error(404, "no such session") from None
