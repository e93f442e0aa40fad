"""A test that hangs fails, says where, and cannot hold up the run.

pytest-timeout (``timeout`` in pyproject.toml) fails a test that runs too
long, with the stack of every thread. Most of our tests are asyncio, where a
hang is a task waiting on something that never comes, and the threads'
stacks show only the idle event loop: this handler prints every task's
stack as well. If the test's clean-up hangs too (a cancelled task that never
finishes), the process exits a minute later rather than eat CI's time.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import threading

import pytest
import pytest_timeout

GRACE_AFTER_TIMEOUT = 60


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _dump_tasks(write, loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        out = io.StringIO()
        task.print_stack(file=out)
        write(f"--- {task!r}\n{out.getvalue()}")


_last_resort: threading.Timer | None = None


def _stop_the_run(item, loop: asyncio.AbstractEventLoop | None) -> None:
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:  # or what follows would go to pytest's capture
        capture.suspend_global_capture(in_=True)
    out = sys.__stderr__
    out.write(
        f"\n{item.nodeid}: still stuck {GRACE_AFTER_TIMEOUT} s after its "
        "timeout, in clean-up: stopping the run.\n"
    )
    if loop is not None:
        _dump_tasks(out.write, loop)
    out.flush()
    os._exit(1)


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item, settings):
    if settings.method != "signal":
        return None  # pytest-timeout's own thread method

    def on_timeout(signum, frame):
        global _last_resort
        __tracebackhide__ = True
        loop = _running_loop()
        # pytest-timeout disarms its timer when the failure is reported; the
        # clean-up after it can hang as well.
        _last_resort = threading.Timer(GRACE_AFTER_TIMEOUT, _stop_the_run, (item, loop))
        _last_resort.daemon = True
        _last_resort.start()
        terminal = item.config.get_terminal_writer()
        terminal.sep("+", title="Timeout: asyncio tasks")
        if loop is not None:
            _dump_tasks(terminal.write, loop)
        pytest_timeout.timeout_sigalrm(item, settings)

    def cancel():
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel
    signal.signal(signal.SIGALRM, on_timeout)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True


def pytest_runtest_logfinish(nodeid, location):
    """The test and its clean-up are over."""
    global _last_resort
    if _last_resort is not None:
        _last_resort.cancel()
        _last_resort = None
