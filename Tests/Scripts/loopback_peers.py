#!/usr/bin/env python3
"""Loopback peers for the HTTP transport's tests (DripPayAPITests, KioskIntegrationTests).

Each mode listens on 127.0.0.1 on a port of the kernel's choice, prints "port N" as its first
line, then one line per event, and serves until it is killed (or stdin closes).

  tls-forward CERT KEY PORT   a TLS server (Python's ssl, OpenSSL) that forwards each connection's
                              plaintext to 127.0.0.1:PORT (the NIO sandbox): the API over HTTPS
  connect-proxy [--refuse] [--watch TEXT]
                              an HTTP CONNECT proxy; prints each CONNECT request's head as JSON;
                              --refuse answers 403 to every CONNECT; --watch prints "saw-watched"
                              if TEXT ever passes through a tunnel in clear
  stall-body                  answers every request with a 200 whose Content-Length promises
                              more than it sends, then holds the connection open; prints "request"
"""
import json
import socket
import socketserver
import ssl
import sys
import threading


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def pipe(source, sink, watch, seen):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            if watch and watch in data and not seen.is_set():
                seen.set()
                say("saw-watched")
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def splice(a, b, watch=None):
    seen = threading.Event()
    t = threading.Thread(target=pipe, args=(b, a, watch, seen), daemon=True)
    t.start()
    pipe(a, b, watch, seen)
    t.join()


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None, b""
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    mode = sys.argv[1]
    args = sys.argv[2:]
    if mode == "tls-forward":
        cert, key, target = args[0], args[1], int(args[2])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                try:
                    tls = context.wrap_socket(self.request, server_side=True)
                except (ssl.SSLError, OSError) as error:
                    say("handshake-failed " + type(error).__name__)
                    return
                say("handshake")
                upstream = socket.create_connection(("127.0.0.1", target))
                splice(tls, upstream)

    elif mode == "connect-proxy":
        refuse = "--refuse" in args
        watch = args[args.index("--watch") + 1].encode() if "--watch" in args else None

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                head, rest = read_head(self.request)
                if head is None:
                    return
                say(json.dumps({"head": head.split("\r\n")}))
                method, target = head.split(" ")[0:2]
                if method != "CONNECT" or refuse:
                    self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    return
                host, port = target.rsplit(":", 1)
                try:
                    upstream = socket.create_connection((host.strip("[]"), int(port)))
                except OSError:
                    self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    return
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                splice(self.request, upstream, watch)

    elif mode == "stall-body":

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                head, _ = read_head(self.request)
                if head is None:
                    return
                say("request")
                self.request.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n"
                    b'{"message":'
                )
                # Hold the connection until the client gives up (its timeout or its cancellation).
                while self.request.recv(4096):
                    pass
                say("client-closed")

    else:
        sys.exit("unknown mode " + mode)

    server = Server(("127.0.0.1", 0), Handler)
    say("port %d" % server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Ends when the test closes our stdin (or kills us).
    sys.stdin.read()


if __name__ == "__main__":
    main()
