"""The API's typed dependencies: settings, read and write sessions, the window cache, the window and the
line filter a request asks for.

Routes import them from here, and ``app.py`` imports the routes: one direction, no import cycle. The
settings and sessions are the ones the console uses too (:mod:`attribution.appstate`).

The window and the line filter are query-parameter models (:mod:`attribution.api.filters`), resolved in
the route (``asked.resolve(settings)``, ``filters.resolve(session, settings, principal)``) rather than by
a dependency of their own: FastAPI runs dependencies before it checks the route's own path parameters,
headers and body, so a resolving dependency (a 422 window, a 404 tenant) would answer a request with two
faults with another error than it always had, and list validation errors in another order.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from attribution.api.answers import AnswerCache
from attribution.api.cache import LineCache
from attribution.api.filters import LineFilterParams, WindowParams
from attribution.api.warm import WarmAnswers
from attribution.appstate import SessionDep, SettingsDep, WriteSessionDep

__all__ = [
    "AnswersDep",
    "LineQuery",
    "LinesDep",
    "SessionDep",
    "SettingsDep",
    "WarmDep",
    "WindowQuery",
    "WriteSessionDep",
]


async def get_answers(request: Request) -> AnswerCache:
    answers = request.app.state.answers
    assert isinstance(answers, AnswerCache)
    return answers


AnswersDep = Annotated[AnswerCache, Depends(get_answers)]


async def get_lines(request: Request) -> LineCache:
    lines = request.app.state.lines
    assert isinstance(lines, LineCache)
    return lines


LinesDep = Annotated[LineCache, Depends(get_lines)]


async def get_warm(request: Request) -> WarmAnswers:
    warm = request.app.state.warm
    assert isinstance(warm, WarmAnswers)
    return warm


WarmDep = Annotated[WarmAnswers, Depends(get_warm)]
#: ``period``, or ``start`` and ``end``: the window a report covers.
WindowQuery = Annotated[WindowParams, Query()]
#: ``tenant``, ``pool`` and ``tier``: which line items a report keeps.
LineQuery = Annotated[LineFilterParams, Query()]
