"""Per-step progress of a long operation (provision, deploy, sync, generate) from ``core.events``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from rich.markup import escape
from textual.widgets import Static

from core import events as ev
from core.units import progress_text


@dataclass
class _Step:
    title: str
    state: str = "running"  # running | done | failed
    detail: str = ""
    link: Optional[str] = None
    progress: str = ""


class StepList(Static):
    """Renders each step once, updated in place: ``… running``, ``✓ done (detail)``, ``✗ failed: fix``."""

    DEFAULT_CSS = """
    StepList { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: Optional[str] = None, empty: str = "") -> None:
        super().__init__("", id=id)
        self.steps: dict[str, _Step] = {}
        self.notes: list[str] = []
        self.empty = empty

    def reset(self) -> None:
        self.steps.clear()
        self.notes.clear()
        self._render_steps()

    def on_mount(self) -> None:
        self._render_steps()

    def note(self, text: str, level: str = "info") -> None:
        mark = "[yellow]![/]" if level == "warning" else "[dim]i[/]"
        self.notes = (self.notes + [f"{mark} {escape(text)}"])[-6:]
        self._render_steps()

    def handle(self, event: object) -> None:
        if isinstance(event, ev.StepStarted):
            self.steps[event.step] = _Step(event.title, link=event.link)
        elif isinstance(event, ev.StepFinished):
            step = self.steps.setdefault(event.step, _Step(event.title))
            step.title, step.state, step.detail, step.progress = event.title, "done", event.detail, ""
            step.link = event.link or step.link
        elif isinstance(event, ev.StepFailed):
            step = self.steps.setdefault(event.step, _Step(event.title))
            step.title, step.state, step.detail, step.progress = event.title, "failed", event.error, ""
            step.link = event.link or step.link
        elif isinstance(event, ev.Progress):
            step = self.steps.setdefault(event.step, _Step(event.step))
            step.progress = progress_text(event.done, event.total, event.unit)
        elif isinstance(event, ev.Info):
            self.note(event.text, event.level)
            return
        else:
            return
        self._render_steps()

    @property
    def failed(self) -> list[str]:
        return [s.title for s in self.steps.values() if s.state == "failed"]

    def _render_steps(self) -> None:
        lines = []
        for step in self.steps.values():
            title = escape(step.title)
            if step.state == "done":
                detail = f" [dim]({escape(step.detail)})[/dim]" if step.detail else ""
                lines.append(f"[green]✓[/] {title}{detail}")
            elif step.state == "failed":
                lines.append(f"[red]✗[/] {title}: [red]{escape(step.detail)}[/]")
            else:
                progress = f" [dim]{escape(step.progress)}[/dim]" if step.progress else ""
                lines.append(f"[yellow]…[/] {title}{progress}")
            if step.link and step.state == "failed":
                lines.append(f"    [dim]{escape(step.link)}[/dim]")
        lines.extend(self.notes)
        self.update("\n".join(lines) if lines else (f"[dim]{self.empty}[/dim]" if self.empty else ""))
