"""The tail planner: what a log follower does next, decided without I/O.

Following a log is a sequence of connections to the log-stream host, each asking for the last
``tailLines`` lines again. The follower (follow.py) does the HTTP, the dedupe and the pacing; after
each thing that happens (the run was checked, a replica was found or not, a connection opened,
failed or ended...) it tells the planner, which answers with a :class:`Step`: states to say, how
long to wait, then one action. The planner keeps the counters (connections, failures in a row,
stalls), chooses the tail each connection asks for, and decides when to stop.

Tails: the first connection, a snapshot, and the first one to another replica's log ask for all
``MAX_TAIL`` lines; a reconnect after new lines asks for what was probably written meanwhile
(:class:`Paced`); a short replay that did not reach the last shown line is asked again, wider; after
a quiet connection 5 lines of overlap do. A connection that keeps dropping before it gets past
known lines asks for fewer, then catches up from Log Analytics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from core.events import StreamState
from infra.logstream import MAX_TAIL, Backoff

MAX_FAILURES = 20  # failed connects in a row before giving up
SNAPSHOT_RETRIES = 3  # a snapshot (no follow) cut short is read again this often
IDLE_OVERLAP = 5  # lines a reconnect after a quiet connection asks for: nothing was missed
STALLS_BEFORE_CATCH_UP = 3


# -- actions: what the follower does next -------------------------------------------------------------
@dataclass(frozen=True)
class Paced:
    """As many lines as the source probably wrote in ``away_s`` seconds (None: since its last line
    arrived), plus ``base``; the follower sizes it with ``infra.logstream.Pace``."""

    away_s: Optional[float] = None
    base: int = 0


@dataclass(frozen=True)
class CheckRun:
    """Read whether the execution ended; answer RunChecked."""


@dataclass(frozen=True)
class FindSource:
    """Find the stream of the running replica; answer SourceFound, NoSource or SourceRefused."""


@dataclass(frozen=True)
class Backfill:
    """Show what the run printed before we connected (Log Analytics); answer BackfillDone."""


@dataclass(frozen=True)
class Connect:
    """Open the stream asking for ``tail`` lines; answer Connected or ConnectFailed."""

    tail: Union[int, Paced]


@dataclass(frozen=True)
class Read:
    """Read the open connection, calling ``line_shown()`` for each line shown; answer ConnectionEnded.
    ``replay``: it starts with lines already shown (the dedupe drops them); ``strict``: its short
    tail must reach back to the last shown line, or it is asked again wider."""

    replay: bool
    strict: bool


@dataclass(frozen=True)
class CatchUp:
    """Show what Log Analytics has after the last shown line; answer CaughtUp."""


@dataclass(frozen=True)
class End:
    """The run ended: stop. ``complete``: the last connection ended cleanly (nothing is missing)."""

    complete: bool


@dataclass(frozen=True)
class Stop:
    """Stop following; the run goes on."""

    reason: str


@dataclass(frozen=True)
class Fail:
    """Give up: the log stream stays unavailable."""

    message: str


# -- observations: what happened -------------------------------------------------------------------------
@dataclass(frozen=True)
class RunChecked:
    ended: bool


@dataclass(frozen=True)
class SourceFound:
    identity: str  # another identity is another log (another replica)
    label: str


@dataclass(frozen=True)
class NoSource:
    """No replica is running yet (queued, image pull) or any more."""


@dataclass(frozen=True)
class SourceRefused:
    """Looking for the stream failed (no token, no endpoint yet)."""


@dataclass(frozen=True)
class BackfillDone:
    lines: int


@dataclass(frozen=True)
class Connected:
    tail: int  # the lines asked for


@dataclass(frozen=True)
class ConnectFailed:
    why: str  # "HTTP 404", "ConnectionError"


CLEAN, IDLE, DROPPED, SHORT, RUN_ENDED = "clean", "idle", "dropped", "short", "run-ended"


@dataclass(frozen=True)
class ConnectionEnded:
    """``how``: CLEAN (the stream ended), IDLE (no line for the read timeout), DROPPED (an error),
    SHORT (the strict replay did not reach the last shown line), RUN_ENDED (seen while reading)."""

    how: str
    replayed: int = 0  # lines of the replay the dedupe dropped
    elapsed_s: float = 0.0  # how long the connection lasted


@dataclass(frozen=True)
class CaughtUp:
    lines: int


@dataclass(frozen=True)
class Step:
    """Say ``say``, wait ``wait_s``, then do ``then``. ``new_log``: forget what was shown first
    (another replica: its log is not the one the dedupe remembers)."""

    then: object
    say: tuple = ()
    wait_s: float = 0.0
    new_log: bool = False


# -- the planner ---------------------------------------------------------------------------------------
class TailPlanner:
    """See the module docstring. ``lines_shown``: lines the caller showed before following (history)."""

    def __init__(self, *, follow: bool, target_label: str, waiting_detail: str, lines_shown: int = 0,
                 first_wait_s: float = 0.5, max_wait_s: float = 10.0, jitter: float = 0.2):
        self.follow = follow
        self.target_label = target_label  # "job ft-job", for messages
        self.waiting_detail = waiting_detail
        self.backoff = Backoff(first=first_wait_s, cap=max_wait_s, jitter=jitter)
        self.shown = lines_shown
        self.connects = self.failures = self.stalls = 0
        self.queued_said = False
        self.running_said: Optional[str] = None  # the source last announced as running
        self.identity: Optional[str] = None
        self.label = ""
        self.full_tail = True  # the next connection asks for every line the host keeps
        self.widen = False
        self.shrink: Union[int, Paced, None] = None
        self.tail = MAX_TAIL  # what the last connection asked for
        self.progressed = False  # the last connection brought at least one new line
        self.complete = False
        self.run_ended = False
        self.snapshot_taken = False
        self._handlers = {
            RunChecked: self._run_checked, SourceFound: self._source_found, NoSource: self._no_source,
            SourceRefused: self._source_refused, BackfillDone: self._backfill_done, Connected: self._connected,
            ConnectFailed: self._connect_failed, ConnectionEnded: self._connection_ended, CaughtUp: self._caught_up,
        }

    def start(self) -> Step:
        return Step(CheckRun())

    def observe(self, observation) -> Step:
        return self._handlers[type(observation)](observation)

    def line_shown(self) -> None:
        """A new line came through (called per line: the hot path has no Step)."""
        self.shown += 1
        self.failures = self.stalls = 0
        self.progressed = True
        self.backoff.reset()

    # -- finding the stream --------------------------------------------------------------------------------
    def _run_checked(self, obs: RunChecked) -> Step:
        if self.snapshot_taken:
            return Step(End(self.complete)) if obs.ended else Step(Stop("snapshot taken"))
        self.run_ended = obs.ended
        # a finished run: stop once the stream is complete or stops bringing lines
        if obs.ended and (self.connects == 0 or self.complete or not self.progressed):
            return Step(End(self.complete))
        return Step(FindSource())

    def _source_refused(self, obs: SourceRefused) -> Step:
        self.failures += 1
        if self.failures > MAX_FAILURES:
            return Step(Fail(f"The log stream of the {self.target_label} is unavailable."))
        return self._no_source(NoSource())

    def _no_source(self, obs: NoSource) -> Step:
        if self.run_ended:
            return Step(End(self.complete))
        say: tuple = ()
        if not self.queued_said and self.connects == 0:
            self.queued_said = True
            say = (StreamState("queued", detail=self.waiting_detail),)
        if not self.follow:
            return Step(Stop("no replica is running"), say=say)
        return Step(CheckRun(), say=say, wait_s=self.backoff.next_delay())

    def _source_found(self, obs: SourceFound) -> Step:
        new_log = self.identity is not None and obs.identity != self.identity
        if new_log:
            self.shown, self.full_tail = 0, True
        self.identity, self.label = obs.identity, obs.label
        if self.connects == 0 and self.follow:
            self.running_said = obs.label
            return Step(Backfill(), say=(StreamState("running", detail=obs.label),), new_log=new_log)
        return Step(self._connect(), new_log=new_log)

    def _backfill_done(self, obs: BackfillDone) -> Step:
        self.shown += obs.lines
        return Step(self._connect())

    # -- connections -------------------------------------------------------------------------------------
    def _connect(self) -> Connect:
        if self.full_tail or not self.follow or not self.shown:
            tail: Union[int, Paced] = MAX_TAIL
        elif self.widen:
            tail = min(MAX_TAIL, 2 * self.tail + 10)
        elif self.shrink is not None:
            tail = self.shrink
        else:
            tail = Paced()
        self.widen, self.shrink = False, None
        return Connect(tail)

    def _connected(self, obs: Connected) -> Step:
        replay = bool(self.connects or self.shown)
        self.tail = obs.tail
        self.connects += 1
        self.full_tail = self.progressed = False
        say: tuple = ()
        if self.running_said != self.label:
            self.running_said = self.label
            say = (StreamState("running", detail=self.label),)
        return Step(Read(replay=replay, strict=obs.tail < MAX_TAIL), say=say)

    def _connect_failed(self, obs: ConnectFailed) -> Step:
        self.failures += 1
        self.progressed = False
        if not self.follow and self.failures > SNAPSHOT_RETRIES:
            return Step(Stop("the log stream is unavailable"),
                        say=(StreamState("unavailable", detail=f"the log stream answered {obs.why}; try again shortly"),))
        if self.failures > MAX_FAILURES:
            return Step(Fail(f"The log stream of the {self.target_label} is unavailable ({obs.why})."))
        return Step(CheckRun(), wait_s=self.backoff.next_delay())

    def _connection_ended(self, obs: ConnectionEnded) -> Step:
        if obs.how == RUN_ENDED:  # an event stream outlives its execution: it ended with it
            self.complete = True
            return Step(End(True))
        if obs.how == SHORT:
            self.widen = True  # ask again at once, for more
            return Step(self._connect())
        self.complete = obs.how == CLEAN
        if not self.follow:
            if self.complete or self.failures >= SNAPSHOT_RETRIES:
                self.snapshot_taken = True
                return Step(CheckRun())
            self.failures += 1  # a snapshot cut short: read it again, the dedupe drops the overlap
            return Step(self._connect())
        if obs.how == CLEAN:  # the container exited (or the service closed): re-check the run
            return Step(CheckRun(), wait_s=self.backoff.next_delay())
        if obs.how == IDLE:
            if self.shown:
                self.shrink = IDLE_OVERLAP  # connected all along: nothing was missed
            return Step(CheckRun())
        return self._dropped(obs)

    def _dropped(self, obs: ConnectionEnded) -> Step:
        say = (StreamState("reconnecting", detail="the log stream dropped; reconnecting"),)
        if self.progressed:
            return Step(self._connect(), say=say)
        self.stalls += 1
        if obs.replayed and self.tail < MAX_TAIL and self.shown and self.stalls <= STALLS_BEFORE_CATCH_UP:
            # only known lines came before the drop: at most tail - replayed were new then;
            # ask for that plus what was written since, so the replay gets past them
            self.shrink = Paced(away_s=obs.elapsed_s, base=max(0, self.tail - obs.replayed))
            return Step(self._connect(), say=say)
        if self.shown:
            return Step(CatchUp(), say=say)  # stalled: take what Log Analytics has, then a short tail
        return self._retry_later(say)

    def _caught_up(self, obs: CaughtUp) -> Step:
        if obs.lines:
            self.shown += obs.lines
            self.stalls = 0
            return Step(self._connect())
        return self._retry_later()

    def _retry_later(self, say: tuple = ()) -> Step:
        """Nothing came through: re-check the run and its replica after a back-off."""
        self.failures += 1
        return Step(CheckRun(), say=say, wait_s=self.backoff.next_delay())
