"""The media fetcher against real HTTP servers on loopback addresses: who may be reached, with what.

"Label Studio" listens on 127.0.0.1, an allowed media host on 127.0.0.3 (RELABEL_MEDIA_HOSTS), and a
host nobody allowed on 127.0.0.2. Each server records the requests it got, so a test can tell a
refusal before connecting from one after.
"""
from __future__ import annotations

import base64
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from relabel.adapters.base import InvalidTask
from relabel.adapters.data.media import local_image
from relabel.clients import media
from relabel.clients.media import MediaError, MediaFetcher, MediaPolicy
from tests.image_data import png_bytes

TOKEN = "ls-token-0123456789abcdef"
PNG = png_bytes()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Authorization")))
        route = server.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_response(404)
            self.end_headers()
            return
        route(self)


class Server:
    def __init__(self, address: str):
        self.httpd = ThreadingHTTPServer((address, 0), Handler)
        self.httpd.requests, self.httpd.routes = [], {}
        self.url = f"http://{address}:{self.httpd.server_address[1]}"
        self.host = f"{address}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def requests(self):
        return self.httpd.requests

    def route(self, path, handler):
        self.httpd.routes[path] = handler

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def send(body: bytes, status: int = 200, headers: dict | None = None):
    def respond(request):
        request.send_response(status)
        for name, value in {"Content-Type": "image/png", "Content-Length": str(len(body)), **(headers or {})}.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)
    return respond


def redirect(location: str):
    def respond(request):
        request.send_response(302)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()
    return respond


@pytest.fixture
def servers():
    made = {"label_studio": Server("127.0.0.1"), "other": Server("127.0.0.2"), "allowed": Server("127.0.0.3")}
    yield made
    for server in made.values():
        server.close()


def fetcher(servers, tmp_path, **policy) -> MediaFetcher:
    options = {"allowed_hosts": (servers["allowed"].host,), **policy}
    return MediaFetcher(MediaPolicy(servers["label_studio"].url, **options), lambda: TOKEN, str(tmp_path))


def test_label_studio_files_come_with_the_token_and_nothing_else_gets_it(servers, tmp_path):
    ls, allowed = servers["label_studio"], servers["allowed"]
    ls.route("/data/upload/3/cat.png", send(PNG))
    ls.route("/api/projects/3", send(b"{}", headers={"Content-Type": "application/json"}))
    allowed.route("/cat.png", send(PNG))
    path = fetcher(servers, tmp_path).fetch("/data/upload/3/cat.png", 1)
    assert open(path, "rb").read() == PNG and path.endswith(".png")
    assert ls.requests == [("/data/upload/3/cat.png", f"Token {TOKEN}")]
    # Label Studio's API is no media path: an image URL pointing there gets no token
    fetcher(servers, tmp_path).fetch(f"{ls.url}/api/projects/3", 2)
    assert ls.requests[-1] == ("/api/projects/3", None)
    fetcher(servers, tmp_path).fetch(f"{allowed.url}/cat.png", 3)
    assert allowed.requests == [("/cat.png", None)]


def test_a_host_nobody_allowed_is_not_even_contacted(servers, tmp_path):
    other = servers["other"]
    other.route("/x.png", send(PNG))
    with pytest.raises(MediaError, match="neither Label Studio's host nor one of RELABEL_MEDIA_HOSTS"):
        fetcher(servers, tmp_path).fetch(f"{other.url}/x.png", 1)
    assert other.requests == []


def test_every_redirect_hop_is_checked_and_the_token_stays_home(servers, tmp_path):
    ls, other, allowed = servers["label_studio"], servers["other"], servers["allowed"]
    ls.route("/tasks/7/presign/", redirect(f"{other.url}/stolen.png"))
    other.route("/stolen.png", send(PNG))
    with pytest.raises(MediaError, match="redirected to 127.0.0.2"):
        fetcher(servers, tmp_path).fetch("s3://bucket/stolen.png", 7)
    assert other.requests == [] and ls.requests[0][0].startswith("/tasks/7/presign/?fileuri=")
    assert base64.urlsafe_b64decode(ls.requests[0][0].split("fileuri=")[1]) == b"s3://bucket/stolen.png"
    # a signed URL on an allowed host: followed, without the token
    ls.route("/tasks/8/presign/", redirect(f"{allowed.url}/signed.png?sig=1"))
    allowed.route("/signed.png", send(PNG))
    path = fetcher(servers, tmp_path).fetch("s3://bucket/signed.png", 8)
    assert open(path, "rb").read() == PNG and allowed.requests == [("/signed.png?sig=1", None)]


def test_redirects_bytes_and_time_are_capped(servers, tmp_path):
    ls = servers["label_studio"]
    ls.route("/data/upload/1/loop.png", redirect("/data/upload/1/loop.png"))
    with pytest.raises(MediaError, match="redirected more than 2 times"):
        fetcher(servers, tmp_path, max_redirects=2).fetch("/data/upload/1/loop.png", 1)
    assert len(ls.requests) == 3

    ls.route("/data/upload/1/big.png", send(b"x" * 3_000_000))
    with pytest.raises(MediaError, match="larger than 1 MB"):
        fetcher(servers, tmp_path, max_bytes=1024 * 1024).fetch("/data/upload/1/big.png", 1)

    def chunked_without_length(request):  # no Content-Length to refuse early: counted while it arrives
        request.send_response(200)
        request.end_headers()
        for _ in range(40):
            request.wfile.write(b"y" * 65536)
    ls.route("/data/upload/1/stream.png", chunked_without_length)
    with pytest.raises(MediaError, match="larger than 1 MB"):
        fetcher(servers, tmp_path, max_bytes=1024 * 1024).fetch("/data/upload/1/stream.png", 1)

    def drip(request):  # a byte every 0.3 s: each read is quick, the whole download is not
        request.send_response(200)
        request.send_header("Content-Length", "100")
        request.end_headers()
        for _ in range(100):
            request.wfile.write(b"z")
            request.wfile.flush()
            time.sleep(0.3)
    ls.route("/data/upload/1/drip.png", drip)
    started = time.monotonic()
    with pytest.raises(MediaError, match="took longer than 2 s"):
        fetcher(servers, tmp_path, timeout=2.0).fetch("/data/upload/1/drip.png", 1)
    assert time.monotonic() - started < 2.0 + media.SOCKET_STEP
    assert not list(tmp_path.glob("*.part"))  # no half files left


def test_link_local_and_other_never_reached_addresses_are_refused_before_connecting(servers, tmp_path, monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "metadata.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]
        return real(host, *args, **kwargs)
    monkeypatch.setattr(media.socket, "getaddrinfo", resolve)
    allowed = fetcher(servers, tmp_path, allowed_hosts=("metadata.example", "169.254.169.254", "[::ffff:169.254.1.1]"))
    for url in ("http://metadata.example/latest/meta-data", "http://169.254.169.254/latest/meta-data"):
        with pytest.raises(MediaError, match="link-local address, which is never reached"):
            allowed.fetch(url, 1)
    assert media.refused_address("::ffff:169.254.1.1") == "link-local"
    assert media.refused_address("224.0.0.1") == "multicast" and media.refused_address("0.0.0.0") == "unspecified"
    assert media.refused_address("10.0.0.5") is None and media.refused_address("127.0.0.1") is None


def test_failures_name_the_task_and_field_but_not_the_network(servers, tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.3", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    quiet = fetcher(servers, tmp_path, allowed_hosts=(f"127.0.0.3:{port}",))
    with pytest.raises(InvalidTask) as refused:
        local_image(12, "image", f"http://127.0.0.3:{port}/x.png", quiet.fetch)
    message = str(refused.value)
    assert message.startswith("task 12: data.image: image http://127.0.0.3") and "did not answer" in message
    assert "refused" not in message.lower() and "errno" not in message.lower()
    servers["label_studio"].route("/data/upload/1/gone.png", send(b"", status=404))
    with pytest.raises(InvalidTask, match="task 5: data.image: .* answered HTTP 404"):
        local_image(5, "image", "/data/upload/1/gone.png", fetcher(servers, tmp_path).fetch)
    with pytest.raises(InvalidTask, match="task 6: data.image: .*not a file address"):
        local_image(6, "image", "file:///etc/passwd", fetcher(servers, tmp_path).fetch)


def test_data_urls_are_capped_and_files_are_cached_per_address(servers, tmp_path):
    encoded = base64.b64encode(PNG).decode()
    small = fetcher(servers, tmp_path)
    assert open(small.fetch(f"data:image/png;base64,{encoded}", 1), "rb").read() == PNG
    with pytest.raises(MediaError, match="more than 1 MB"):
        fetcher(servers, tmp_path, max_bytes=1024 * 1024).fetch(
            "data:image/png;base64," + "A" * 2_000_000, 1)
    ls = servers["label_studio"]
    ls.route("/data/upload/1/a.png", send(PNG))
    first = small.fetch("/data/upload/1/a.png", 1)
    assert small.fetch("/data/upload/1/a.png", 1) == first and len(ls.requests) == 1
