"""A small TCP proxy between the application and a database server, to simulate outages.

The application's database URL names the proxy's loopback port; the proxy relays bytes to
the real server. ``outage()`` behaves like a server restart seen from the application: every
open connection is closed and new connections are refused (nothing listens on the port) until
``restore()`` listens on the same port again. ``hang()`` is a wedged server: connections are
accepted but never answered. ``drop_connections()`` alone is a blip: the
pooled connections die but new ones are accepted at once (as after ``pg_terminate_backend``
or MariaDB's ``KILL``).

Threads only, standard library only. Use it as a context manager or call ``close()``.
"""

import select
import socket
import threading

BUFFER = 65536


class TCPProxy:
    def __init__(self, target_host, target_port, listen_host="127.0.0.1", listen_port=0):
        self.target = (target_host, target_port)
        self.host = listen_host
        self.port = listen_port
        self._lock = threading.Lock()
        self._pairs = set()  # (client socket, upstream socket)
        self._listener = None
        self._accepting = None  # threading.Event of the current accept loop
        self._threads = []
        #: Connections accepted so far (each one is a database connection the app opened).
        self.accepted = 0
        #: While true, accepted connections are held open in silence (see ``hang``).
        self.silent = False
        self._silenced = []
        self._listen()

    # -- public ---------------------------------------------------------------------------

    @property
    def listening(self):
        return self._listener is not None

    def drop_connections(self):
        """Close every relayed connection, both ways (the app sees the server go away), and
        every connection held in silence."""
        with self._lock:
            pairs, self._pairs = self._pairs, set()
            silenced, self._silenced = self._silenced, []
        for pair in pairs:
            for sock in pair:
                _close(sock)
        for sock in silenced:
            _close(sock)
        return len(pairs)

    def outage(self):
        """Stop listening (new connections are refused) and drop every open connection."""
        self._stop_listening()
        return self.drop_connections()

    def restore(self):
        """Listen again on the same port, and relay again."""
        self.silent = False
        if self._listener is None:
            self._listen()

    def hang(self):
        """Drop every open connection; keep accepting new ones but never answer on them (a
        server that is wedged, or a host whose packets vanish). ``restore()`` ends it."""
        self.silent = True
        return self.drop_connections()

    def close(self):
        self._stop_listening()
        self.drop_connections()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals ------------------------------------------------------------------------

    def _listen(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        running = threading.Event()
        running.set()
        self._listener, self._accepting = listener, running
        self._start(self._accept_loop, listener, running)

    def _stop_listening(self):
        listener, running = self._listener, self._accepting
        self._listener = self._accepting = None
        if running is not None:
            running.clear()
        if listener is not None:
            _close(listener)

    def _start(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _accept_loop(self, listener, running):
        while running.is_set():
            try:
                ready, _, _ = select.select([listener], [], [], 0.1)
                if not ready or not running.is_set():
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):  # the listener was closed under us
                return
            if self.silent:
                with self._lock:
                    self._silenced.append(client)
                    self.accepted += 1
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if not running.is_set():
                    _close(client)
                    _close(upstream)
                    return
                self._pairs.add((client, upstream))
                self.accepted += 1
            self._start(self._pump, client, upstream)
            self._start(self._pump, upstream, client)

    def _pump(self, source, destination):
        try:
            while True:
                data = source.recv(BUFFER)
                if not data:
                    break
                destination.sendall(data)
        except OSError:
            pass
        # One side is gone: the whole connection is gone (as when a server process dies).
        with self._lock:
            self._pairs.discard((source, destination))
            self._pairs.discard((destination, source))
        _close(source)
        _close(destination)


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
