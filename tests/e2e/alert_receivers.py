"""Local HTTP receivers for the alert e2e tests: record every POST (path, JSON body, time) and
answer according to a behaviour: "ok", "fail_first:N" (503 N times, then 200), or "hang"
(never answer within the sender's timeout). `refuse_until` (a time.time() value) answers 503
until then; `port` binds a given port (e.g. one that refused connections before)."""
import http.server
import json
import threading
import time


class Recorder:
    def __init__(self, behaviour="ok", port=0, refuse_until=0.0):
        self.behaviour = behaviour
        self.refuse_until = refuse_until
        self.requests = []  # (path, body dict or None, time, status answered)
        self.lock = threading.Lock()
        self.failures_left = int(behaviour.split(":")[1]) if behaviour.startswith("fail_first:") else 0
        self.stop_event = threading.Event()
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                if recorder.behaviour == "hang":
                    with recorder.lock:
                        recorder.requests.append((self.path, body, time.time(), None))
                    recorder.stop_event.wait(30)
                    return
                with recorder.lock:
                    status = 200
                    if recorder.failures_left > 0:
                        recorder.failures_left -= 1
                        status = 503
                    elif time.time() < recorder.refuse_until:
                        status = 503
                    recorder.requests.append((self.path, body, time.time(), status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, answered=None):
        with self.lock:
            return [b for (_, b, _, s) in self.requests if answered is None or s == answered]

    def answered(self):
        """(body, time, status) of every request."""
        with self.lock:
            return [(b, t, s) for (_, b, t, s) in self.requests]

    def stop(self):
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate, timeout, what, details=lambda: ""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s\n%s" % (what, details()))
