#!/usr/bin/env python3
"""Loopback HTTP/1.1 servers for the C example: a PhoneCheck-like redirect chain over three
origins on 127.0.0.1 (the check API, the operator, the operator's header-enrichment host).

    python3 chain_server.py        # prints "ports API MNO HE CLOSED", then serves until killed

Chains (the check id picks the ending):

    GET http://127.0.0.1:API/check/<id>/redirect   302 Location: /check/<id>/continue
                                                   (same origin: the connection is reused;
                                                   Set-Cookie pc=<id>)
    GET http://127.0.0.1:API/check/<id>/continue   302 -> http://127.0.0.1:MNO/he/<id>
                                                   (checks Cookie: pc=<id> came back)
    GET http://127.0.0.1:MNO/he/<id>               302 -> http://127.0.0.1:HE/final/<id>
                                                   (chunked redirect body)
    GET http://127.0.0.1:HE/final/<id>             200 application/json
                                                   {"check_id":"<id>","code":"4711"}
                                                   sent in small pieces, chunked

    id "nocode":  the last hop answers 404 {"error":"not_found"} (a final response, no code)
    id "closed":  the API's second hop redirects to CLOSED, a port nobody listens on
                  (connection refused: sdk_connection_error)

Every response is HTTP/1.1 keep-alive unless it says otherwise; a request without the headers
the engine always sends (Host, User-Agent) gets a 400.
"""

import socket
import sys
import threading
import time


def read_request(conn, buf):
    """One request head from `conn` (with `buf` holding bytes already read); None at EOF."""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(4096)
        if not data:
            return None, b""
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return (method, target, headers), rest


def send_in_pieces(conn, data, piece=9):
    """Writes `data` a few bytes at a time, so the client sees the head and body split."""
    for i in range(0, len(data), piece):
        conn.sendall(data[i : i + piece])
        time.sleep(0.001)


def chunked(body, size=7):
    out = b""
    for i in range(0, len(body), size):
        part = body[i : i + size]
        out += b"%x\r\n%s\r\n" % (len(part), part)
    return out + b"0\r\n\r\n"


class Origin:
    def __init__(self, name, ports):
        self.name = name
        self.ports = ports
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.connection, args=(conn,), daemon=True).start()

    def connection(self, conn):
        buf = b""
        try:
            while True:
                req, buf = read_request(conn, buf)
                if req is None:
                    return
                keep = self.respond(conn, *req)
                log(f"{self.name} {req[0]} {req[1]}")
                if not keep:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            conn.close()

    def respond(self, conn, method, target, headers):
        p = self.ports
        if method != "GET" or "host" not in headers or "user-agent" not in headers:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        parts = target.split("/")
        if self.name == "api" and len(parts) == 4 and parts[1] == "check" and parts[3] == "redirect":
            cid = parts[2]
            body = b"redirecting"
            conn.sendall(
                b"HTTP/1.1 302 Found\r\nLocation: /check/%s/continue\r\n"
                b"Set-Cookie: pc=%s; Path=/check\r\nContent-Length: %d\r\n\r\n%s"
                % (cid.encode(), cid.encode(), len(body), body)
            )
            return True
        if self.name == "api" and len(parts) == 4 and parts[1] == "check" and parts[3] == "continue":
            cid = parts[2]
            if headers.get("cookie") != f"pc={cid}":
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return True
            port = p["closed"] if cid == "closed" else p["mno"]
            conn.sendall(
                b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/he/%s\r\n"
                b"Content-Length: 0\r\n\r\n" % (port, cid.encode())
            )
            return True
        if self.name == "mno" and len(parts) == 3 and parts[1] == "he":
            cid = parts[2]
            conn.sendall(
                b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/final/%s\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n%s"
                % (p["he"], cid.encode(), chunked(b"operator says hello"))
            )
            return True
        if self.name == "he" and len(parts) == 3 and parts[1] == "final":
            cid = parts[2]
            if cid == "nocode":
                status, body = b"404 Not Found", b'{"error":"not_found"}'
            else:
                status, body = b"200 OK", b'{"check_id":"%s","code":"4711"}' % cid.encode()
            send_in_pieces(
                conn,
                b"HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n%s" % (status, chunked(body)),
            )
            return True
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True


def log(line):
    print(line, file=sys.stderr, flush=True)


def main():
    ports = {}
    origins = [Origin(name, ports) for name in ("api", "mno", "he")]
    for o in origins:
        ports[o.name] = o.port
    # A port nobody listens on: bound, then closed (nothing else on loopback takes it in time).
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    ports["closed"] = probe.getsockname()[1]
    probe.close()
    for o in origins:
        threading.Thread(target=o.serve, daemon=True).start()
    print("ports %d %d %d %d" % (ports["api"], ports["mno"], ports["he"], ports["closed"]), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
