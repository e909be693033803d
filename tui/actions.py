"""The terminal UI's side of the command registry (``usecases.registry``): the key bindings, the
command palette and the help screen are all generated from it.

Each command names an ``App.action_<id>`` method; its ``when`` (``usecases.contexts``) says in which
context it is offered (Posting-style context-aware palette). The palette provider and
``App.check_action`` both ask ``available()``, so a command the palette hides is also a key that does nothing.
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Iterable

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from usecases import registry
from usecases.registry import Command

if TYPE_CHECKING:  # pragma: no cover
    from tui.app import FtStudioApp



def commands() -> tuple[Command, ...]:
    """The registry's commands the terminal UI offers, read when asked (so an added entry shows)."""
    return tuple(c for c in registry.COMMANDS if c.tui)


def by_id(action_id: str) -> Command | None:
    return next((c for c in commands() if c.id == action_id), None)


ACTIONS: tuple[Command, ...] = commands()
BY_ID = {a.id: a for a in ACTIONS}


def offered(action: Command, app: "FtStudioApp") -> bool:
    return action.valid(app.project)


def bindings() -> list[Binding]:
    return [
        Binding(a.key, a.id, a.title.split(": ", 1)[1], show=a.show, priority=a.key.startswith("ctrl"))
        for a in commands()
        if a.key
    ]


def available(app: "FtStudioApp") -> list[Command]:
    return [a for a in commands() if offered(a, app)]


class ActionsProvider(Provider):
    """The command palette's provider over the registry, filtered by the app's context."""

    def _actions(self) -> Iterable[Command]:
        return available(self.app)  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        for action in self._actions():
            yield DiscoveryHit(action.title, partial(self.app.run_action, action.id), help=action.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in self._actions():
            score = matcher.match(action.title)
            if score > 0:
                yield Hit(score, matcher.highlight(action.title), partial(self.app.run_action, action.id),
                          help=action.help)
