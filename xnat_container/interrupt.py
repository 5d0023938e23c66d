"""Stopping a job cleanly on SIGTERM (``docker stop``, the Container Service stopping a job)
or SIGINT (Ctrl-C).

``handling()`` installs the handlers for the duration of a job. The first signal only sets a
flag: no new request and no new unit of work starts (``check()`` raises ``Interrupted``),
retry pauses end at once, and uploads or downloads already streaming may go on for
``GRACE`` seconds before they are abandoned (``check_overdue()``). The job then writes its
report with status ``interrupted`` and the CLI exits with 128 + the signal number (130 for
SIGINT, 143 for SIGTERM). The journal needs nothing special: uploads started and not yet
verified stay recorded as in flight, exactly as after a kill, so a re-run replaces what a cut
upload left behind. A second signal ends the process at once (as a kill would).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator

from .xnat.errors import XnatError

log = logging.getLogger("xnat_container")
GRACE = 5.0          # seconds a transfer in flight may go on after the signal
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_stop = threading.Event()
_state: dict = {"signum": None, "at": 0.0}


class Interrupted(XnatError):
    """The run was asked to stop (SIGTERM/SIGINT); nothing new is started."""


def requested() -> bool:
    return _stop.is_set()


def signal_name() -> str:
    signum = _state["signum"]
    return signal.Signals(signum).name if signum else "a stop request"


def exit_code() -> int:
    """128 + the signal number, as a shell reports a process ended by that signal."""
    return 128 + (_state["signum"] or signal.SIGTERM)


def reason() -> str:
    return (f"interrupted by {signal_name()}: the run stopped before its end; run the same "
            "command again to continue")


def check() -> None:
    """Raise ``Interrupted`` once a stop was requested: call before starting any work."""
    if _stop.is_set():
        raise Interrupted(reason())


def check_overdue() -> None:
    """Raise ``Interrupted`` once a transfer in flight has had its ``GRACE`` seconds."""
    if _stop.is_set() and time.monotonic() - _state["at"] > GRACE:
        raise Interrupted(reason() + f" (a transfer in flight was abandoned after {GRACE:g} s)")


def sleep(seconds: float) -> None:
    """``time.sleep`` that ends early on a stop request (then raises ``Interrupted``)."""
    if _stop.wait(seconds):
        check()


def request_stop(signum: int = signal.SIGTERM) -> None:
    """What the handler does; also for tests and embedding code."""
    if not _stop.is_set():
        _state["signum"], _state["at"] = signum, time.monotonic()
        _stop.set()


def reset() -> None:
    _stop.clear()
    _state.update(signum=None, at=0.0)


def _handler(signum: int, frame) -> None:
    if _stop.is_set():
        # A second signal: stop now. The journal (SQLite, one transaction per change) stays
        # consistent; there is no report, as after a kill.
        sys.stderr.write(f"xnat-container: {signal.Signals(signum).name} again: stopping now\n")
        sys.stderr.flush()
        os._exit(128 + signum)
    request_stop(signum)
    log.warning("received %s: stopping; nothing new is started, transfers in flight get "
                "%g s, then the report is written", signal.Signals(signum).name, GRACE)


@contextmanager
def pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A ``ThreadPoolExecutor`` whose exit, after a stop request, cancels the units not
    started and waits for those in flight at most until their grace period is over (plus
    a second): a request stuck waiting for an answer is abandoned, not waited for."""
    executor = ThreadPoolExecutor(workers)
    try:
        yield executor
    finally:
        if not _stop.is_set():
            executor.shutdown(wait=True)
        else:
            executor.shutdown(wait=False, cancel_futures=True)
            deadline = _state["at"] + GRACE + 1.0
            for thread in list(getattr(executor, "_threads", ())):
                thread.join(max(0.0, deadline - time.monotonic()))


def abandoned() -> bool:
    """True when worker threads are still running after a stop: the process must then end
    with ``os._exit`` (a normal exit would wait for them)."""
    return _stop.is_set() and any(t.is_alive() and not t.daemon
                                  for t in threading.enumerate()
                                  if t is not threading.main_thread())


@contextmanager
def handling() -> Iterator[None]:
    """SIGINT/SIGTERM set the stop flag while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reset()
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def handled(command: Callable) -> Callable:
    """Decorator of a CLI command: SIGINT/SIGTERM handled while it runs."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with handling():
            return command(*args, **kwargs)
    return wrapper


def exit_interrupted() -> None:
    """End the process after an interrupted job wrote its report: 128 + the signal number."""
    code = exit_code()
    sys.stderr.write(f"xnat-container: stopped by {signal_name()} (exit code {code}); run the "
                     "same command again to continue\n")
    if abandoned():
        # A request in flight was abandoned after its grace period: do not wait for it.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
