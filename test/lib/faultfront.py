#!/usr/bin/env python3
"""Fault-injecting TCP front for the test responder.

Usage: faultfront.py LISTEN_PORT UPSTREAM_PORT MODE_FILE
Each connection reads MODE_FILE: pass, delay:SECONDS, http500, garbage,
close, wrongtype, rst (reset the connection without answering),
file:PATH (answer with the bytes of PATH as an OCSP response: a crafted or
replayed response), upstream:PORT (forward to another responder),
redirect:URL (302 to URL). Logs one "request MODE TIME direct|proxied" line
per request on stdout. It also serves as an HTTP proxy: absolute-form request
lines are forwarded in origin form to the same upstream.
"""
import socket
import struct
import sys
import threading
import time

listen_port, upstream_port, mode_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def mode():
    try:
        with open(mode_file) as f:
            return f.read().strip() or "pass"
    except OSError:
        return "pass"


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def origin_form(request):
    """A proxy receives absolute-form request lines (GET http://host/path);
    the responder behind us wants origin-form (GET /path)."""
    line, sep, rest = request.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) == 3 and parts[1].lower().startswith(b"http://"):
        path = parts[1][7:]
        slash = path.find(b"/")
        parts[1] = path[slash:] if slash >= 0 else b"/"
        return b" ".join(parts) + sep + rest, True
    return request, False


def forward(request, port=None):
    up = socket.create_connection(("127.0.0.1", port or upstream_port), timeout=30)
    up.sendall(request)
    reply = b""
    while True:
        chunk = up.recv(65536)
        if not chunk:
            break
        reply += chunk
    up.close()
    return reply


def handle(conn):
    m = mode()
    try:
        request = read_request(conn)
        if not request:
            return  # a port probe, not a request
        request, proxied = origin_form(request)
        print("request", m, int(time.time()), "proxied" if proxied else "direct", flush=True)
        if m == "close":
            return
        if m == "rst":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if m.startswith("delay:"):
            time.sleep(float(m.split(":", 1)[1]))
            m = "pass"
        if m == "http500":
            conn.sendall(b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
        elif m == "garbage":
            body = b"\x30\x82\x01\x00 this is not an OCSP response"
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
        elif m.startswith("file:"):
            with open(m.split(":", 1)[1], "rb") as f:
                body = f.read()
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
        elif m.startswith("upstream:"):
            conn.sendall(forward(request, int(m.split(":", 1)[1])))
        elif m.startswith("redirect:"):
            conn.sendall(b"HTTP/1.0 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                         % m.split(":", 1)[1].encode())
        elif m == "wrongtype":
            reply = forward(request).replace(b"application/ocsp-response", b"text/html")
            conn.sendall(reply)
        else:
            conn.sendall(forward(request))
    except OSError:
        pass
    finally:
        conn.close()


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port))
srv.listen(64)
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
