"""`python -m support.origin_server PORTFILE`: what sits behind the broker clients in the real-broker tests (the SCM).

A process of its own, so that the test process's probe threads never slow the relays they measure: answers every GET
with 200 and `origin-ok <path>`, except GET /_count (the number of other requests served so far). Listens on a free
127.0.0.1 port, which it writes to PORTFILE once it is listening; stops on SIGTERM.
"""

from __future__ import annotations

import http.server
import itertools
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

COUNT = itertools.count()
SERVED = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/_count":
            body = str(SERVED[0]).encode()
        else:
            SERVED[0] = next(COUNT) + 1
            body = f"origin-ok {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def main(port_file: Path) -> int:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True

    def stop(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
