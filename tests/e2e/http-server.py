#!/usr/bin/env python3
"""The e2e tests' HTTP server on 127.0.0.1: what the guests reach as http://10.0.2.100/
and http://10.0.2.20/ through QEMU's guestfwd. GET serves files from --dir (the HAOS
image, hello.txt), as `python3 -m http.server` does, and plays an HTTP proxy for GETs of
absolute URLs (http://HOST/PATH from HOST/PATH of --dir: Proxmox's appliance index). POST
plays a webhook (an ntfy server, say): it answers 200 and appends the request, one JSON
object per line, to --record (outside the served directory), so a test can count and read
the notifications the agent sends.

With --rate BYTES, each GET's body is sent at that many bytes per second (a slow
mirror, for tests/bench-downloads), and --log FILE gets one line per GET when it ends:
its path, start and end (Unix seconds), so the time spent downloading is measured where
the bytes leave.

Usage: http-server.py --dir DIR --port PORT --record FILE [--rate BYTES] [--log FILE]
"""
import argparse
import functools
import http.server
import json
import time


class Handler(http.server.SimpleHTTPRequestHandler):
    record = None
    rate = 0
    log = None

    def copyfile(self, source, outputfile):
        start = time.time()
        if not self.rate:
            super().copyfile(source, outputfile)
        else:
            # Pieces of a tenth of a second's worth, each on its own schedule.
            piece = max(1, self.rate // 10)
            sent = 0
            while True:
                data = source.read(piece)
                if not data:
                    break
                outputfile.write(data)
                sent += len(data)
                ahead = start + sent / self.rate - time.time()
                if ahead > 0:
                    time.sleep(ahead)
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"{self.path} {start:.3f} {time.time():.3f}\n")

    def do_GET(self):
        self.proxied()
        super().do_GET()

    def do_HEAD(self):
        self.proxied()
        super().do_HEAD()

    def proxied(self):
        """A request through the proxy (the guest's datacenter.cfg http_proxy) names an absolute
        URL: http://HOST/PATH is served from HOST/PATH of the directory, for the hosts it has a
        directory of (download.proxmox.com, for pveam), and anything else finds nothing. A
        CONNECT (https through the proxy) gets http.server's 501."""
        if not self.path.startswith("http://"):
            return
        host, _, rest = self.path[len("http://"):].partition("/")
        host = host.split(":")[0]
        if host in ("", ".", "..") or "/" in host:
            host = "_"
        self.path = f"/{host}/{rest}"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        entry = {
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items() if k.lower() in ("title", "priority", "tags", "content-type")},
            "body": body,
        }
        with open(self.record, "a") as f:
            f.write(json.dumps(entry) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--rate", type=int, default=0)
    p.add_argument("--log")
    a = p.parse_args()
    Handler.record = a.record
    Handler.rate = a.rate
    Handler.log = a.log
    open(a.record, "a").close()
    handler = functools.partial(Handler, directory=a.dir)
    http.server.ThreadingHTTPServer(("127.0.0.1", a.port), handler).serve_forever()


if __name__ == "__main__":
    main()
