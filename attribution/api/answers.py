"""Answers computed once per attribution run, kept as serialized bytes under a strong ETag: the usage
series, statements and tier costs (the chargeback and line items are kept with their window's lines,
:mod:`attribution.api.cache`).

An answer is a pure function of the stored results as of one attribution run (and, for a period, of the
period's state: open, or closed with its content hash), of the request's identity (route, normalised
query, what the caller may see) and of the settings. Its tag hashes exactly those (:func:`answer_etag`),
so the run's version and the period's state, read in one statement (:func:`results_state`), are all a
warm request reads: ``If-None-Match`` with the tag is a 304, any other request with a kept tag gets the
kept bytes. A computed answer is kept only if the state is unchanged after it was computed (a sequence
lock, as for windows): an attribution run committing meanwhile leaves the answer served once, untagged,
never kept under the older run's tag.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from fastapi import Response
from sqlalchemy.orm import Session

from attribution.api.etag import CACHE_CONTROL, JSON, answer_etag, matches, not_modified, tagged
from attribution.config import Settings
from attribution.store.lines import results_state

#: Answers kept at most (each a few kB to a few hundred kB), least recently used first out.
MAX_ANSWERS = 512


def settings_digest(settings: Settings) -> str:
    """A name of every setting: answers of a server with other settings (after a restart, or another
    replica) get other tags, so no tag ever names bytes shaped by other prices, tiers or currencies."""
    return hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:16]


class AnswerCache:
    def __init__(self, settings: Settings, max_answers: int = MAX_ANSWERS) -> None:
        self._settings = settings_digest(settings)
        self._max = max_answers
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0
        """Answers computed (misses): for tests and the benchmark."""

    def respond(
        self,
        session: Session,
        period: str | None,
        identity: tuple[Hashable, ...],
        if_none_match: str | None,
        compute: Callable[[], bytes],
    ) -> Response:
        """200 with the kept or computed bytes of ``identity`` (route first) as of the current run and
        ``period``'s state, 304 if ``If-None-Match`` names their tag."""
        state = results_state(session, period)
        etag = answer_etag(repr(state), str(identity[0]), self._settings, *identity[1:])
        if matches(if_none_match, etag):
            return not_modified(etag)
        with self._lock:
            body = self._entries.get(etag)
            if body is not None:
                self._entries.move_to_end(etag)
        if body is not None:
            return tagged(body, etag)
        body = compute()
        self.computed += 1
        if results_state(session, period) != state:  # a run or a close committed meanwhile
            return Response(body, media_type=JSON, headers={"Cache-Control": CACHE_CONTROL})
        with self._lock:
            self._entries[etag] = body
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return tagged(body, etag)
