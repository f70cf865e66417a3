"""Close pynetdicom's race between its reactor and send_*(); imported for
its effect by every peer script that uses pynetdicom.

pynetdicom (3.0.x) runs a reactor thread per association that takes any
incoming message it finds. A send_*() pauses it first: it clears
`_reactor_checkpoint`, then waits for `_is_paused`. But the reactor sets
`_is_paused = False` only after `_reactor_checkpoint.wait()` has returned:
when send_*() clears the checkpoint in between, it still reads True, sends
its request, and the reactor then takes the response ("Received unexpected
N-DELETE service message"). send_*() waits out its DIMSE timeout and aborts
the association. On a loaded machine this happened once in a few runs of
tests/print.rs, in CI as well (pydicom/pynetdicom#875 reports it for
C-FIND).

Here the checkpoint is cleared and checked under one lock, and `_is_paused`
is true only while the reactor is really waiting (or the association is
being killed, the reactor is gone, or the reactor's own thread asks).
"""

import threading

from pynetdicom.association import Association


class _Checkpoint(threading.Event):
    """The reactor's pause switch: cleared, and checked by the reactor on
    waking, under one lock; `blocked` while the reactor waits on it."""

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self.blocked = False

    def clear(self):
        with self._lock:
            super().clear()

    def wait(self, timeout=None):
        while True:
            with self._lock:
                if self.is_set():
                    self.blocked = False
                    return True
                self.blocked = True
            # Woken by set(); cleared again before this thread ran, it
            # stays paused: the loop checks under the lock.
            if not super().wait(timeout):
                with self._lock:
                    self.blocked = False
                return False


_init = Association.__init__


def _patched_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    checkpoint = _Checkpoint()
    checkpoint.set()
    self._reactor_checkpoint = checkpoint


def _is_paused_get(self):
    checkpoint = self.__dict__.get("_reactor_checkpoint")
    if isinstance(checkpoint, _Checkpoint):
        # The reactor's own thread (an SCP handler sending, a release on
        # the network timeout) needs no pause; nor does a reactor gone.
        return (
            checkpoint.blocked
            or self.__dict__.get("_kill", False)
            or threading.current_thread() is self
            or not self.is_alive()
        )
    return self.__dict__.get("_is_paused_flag", False)


def _is_paused_set(self, value):
    # The reactor's own writes; kept for an association made before the
    # patch (none in these scripts).
    self.__dict__["_is_paused_flag"] = value


Association.__init__ = _patched_init
Association._is_paused = property(_is_paused_get, _is_paused_set)
