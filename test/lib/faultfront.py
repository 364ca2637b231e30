#!/usr/bin/env python3
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
"""Fault-injecting TCP front for the test responder.

Usage: faultfront.py LISTEN_PORT UPSTREAM_PORT MODE_FILE [LISTEN_HOST]
Each request reads MODE_FILE: pass, delay:SECONDS, http500, garbage,
close, wrongtype, rst (reset the connection without answering),
file:PATH (answer with the bytes of PATH as an OCSP response: a crafted or
replayed response), upstream:PORT (forward to another responder),
redirect:URL (302 to URL), noka (pass, but never keep the connection).
Logs one "request MODE TIME direct|proxied conn=ID peer=ADDR" line per
request on stdout (ID numbers the client connections, so connections and
requests can be counted apart). It also serves as an HTTP proxy:
absolute-form request lines are forwarded in origin form to the same
upstream.

Keep-alive: `openssl ocsp` answers one request per connection, so the
front keeps the client's connection itself when the client asks for it
(HTTP/1.0 Connection: keep-alive, or HTTP/1.1 without Connection: close)
and the answer has a Content-Length: it answers with Connection:
keep-alive and reads the next request, forwarding each request to the
upstream on a connection of its own. A kept connection idle for
KEEP_IDLE seconds is closed. LISTEN_HOST (default 127.0.0.1) may be "::"
for both families.
"""
import itertools
import socket
import struct
import sys
import threading
import time

listen_port, upstream_port, mode_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
listen_host = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
KEEP_IDLE = 30
KEEPABLE = ("pass", "delay:", "file:", "upstream:", "garbage")
conn_ids = itertools.count(1)


log_lock = threading.Lock()


def log(line):
    """One whole line per write: lines of concurrent requests never mix."""
    with log_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


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


def headers(message):
    head = message.partition(b"\r\n\r\n")[0].split(b"\r\n")
    out = {}
    for line in head[1:]:
        name, _, value = line.partition(b":")
        out[name.strip().lower()] = value.strip().lower()
    return head[0], out


def wants_keep_alive(request):
    line, h = headers(request)
    connection = h.get(b"connection", b"")
    if line.endswith(b"HTTP/1.1"):
        return connection != b"close"
    return connection == b"keep-alive"


def kept(reply):
    """The reply with Connection: keep-alive, or None when its length is not
    known from its head (then only closing ends it)."""
    head, sep, body = reply.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not sep or not any(l.lower().startswith(b"content-length:") for l in lines[1:]):
        return None
    lines = [lines[0], b"Connection: keep-alive"] + \
        [l for l in lines[1:] if not l.lower().startswith(b"connection:")]
    return b"\r\n".join(lines) + sep + body


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


def upstream_request(request):
    """Each forwarded request on its own upstream connection, which the
    upstream closes after answering."""
    line, sep, rest = request.partition(b"\r\n")
    head, hsep, body = rest.partition(b"\r\n\r\n")
    lines = [l for l in head.split(b"\r\n") if l and not l.lower().startswith(b"connection:")]
    return line + sep + b"\r\n".join(lines + [b"Connection: close"]) + b"\r\n\r\n" + body


def forward(request, port=None):
    up = socket.create_connection(("127.0.0.1", port or upstream_port), timeout=30)
    up.sendall(upstream_request(request))
    reply = b""
    while True:
        chunk = up.recv(65536)
        if not chunk:
            break
        reply += chunk
    up.close()
    return reply


def answer(m, request):
    """The reply for one request in mode m; None: close without one."""
    if m == "close":
        return None
    if m == "rst":
        raise ConnectionResetError
    if m.startswith("delay:"):
        time.sleep(float(m.split(":", 1)[1]))
        m = "pass"
    if m == "http500":
        return b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
    if m == "garbage":
        body = b"\x30\x82\x01\x00 this is not an OCSP response"
        return (b"HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body)
    if m.startswith("file:"):
        with open(m.split(":", 1)[1], "rb") as f:
            body = f.read()
        return (b"HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body)
    if m.startswith("upstream:"):
        return forward(request, int(m.split(":", 1)[1]))
    if m.startswith("redirect:"):
        return (b"HTTP/1.0 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                % m.split(":", 1)[1].encode())
    if m == "wrongtype":
        return forward(request).replace(b"application/ocsp-response", b"text/html")
    return forward(request)


def handle(conn, peer):
    cid = next(conn_ids)
    try:
        while True:
            try:
                request = read_request(conn)
            except socket.timeout:
                return  # idle kept connection
            if not request:
                return  # a port probe, or the client closed a kept connection
            m = mode()
            request, proxied = origin_form(request)
            log("request %s %d %s conn=%d peer=%s" % (m, int(time.time()),
                "proxied" if proxied else "direct", cid, peer))
            try:
                reply = answer(m, request)
            except ConnectionResetError:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if reply is None:
                return
            keep = None
            if m.startswith(KEEPABLE) and wants_keep_alive(request):
                keep = kept(reply)
            conn.sendall(keep or reply)
            if keep is None:
                return
            conn.settimeout(KEEP_IDLE)
    except OSError:
        pass
    finally:
        conn.close()


family = socket.AF_INET6 if ":" in listen_host else socket.AF_INET
srv = socket.socket(family)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if family == socket.AF_INET6:
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
srv.bind((listen_host, listen_port))
srv.listen(64)
while True:
    c, addr = srv.accept()
    threading.Thread(target=handle, args=(c, addr[0]), daemon=True).start()
