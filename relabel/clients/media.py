"""Downloading a task's media file (an image) without letting task data steer the backend.

Task data is written by whoever can import tasks, and the backend holds a Label Studio token, so a
URL in a task may only make the backend fetch from Label Studio's own host and from the hosts an
operator allows (RELABEL_MEDIA_HOSTS: a bucket's host, a CDN; "*.domain" for all hosts under it). Every redirect hop is checked the
same way, and each host's resolved addresses too: link-local (cloud metadata), multicast, unspecified
and reserved addresses are never reached, and the connection goes to the very address that was
checked, so a second DNS answer cannot swap it. The token is sent only to Label Studio's media paths
(uploads, local and cloud storage), never to its API or to another host. Redirects, bytes and the
whole download's time are capped. A failure says what was refused or that the download failed, not
what the network answered (connection refused, timeouts on other ports), so task URLs cannot be used
to map a private network; the details go to the log.
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import os
import re
import socket
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

log = logging.getLogger(__name__)

#: Label Studio's paths that serve task files; the only ones its token is sent to
MEDIA_PATH = re.compile(r"^/(?:data/upload/|data/local-files/?|storage-data/uploaded/?"
                        r"|(?:tasks|projects)/\d+/(?:presign|resolve)/?)")
CLOUD_SCHEMES = ("s3:", "gs:", "azure-blob:")
REDIRECTS = (301, 302, 303, 307, 308)
#: seconds one connect or read may block; the whole download is bounded by MediaPolicy.timeout
SOCKET_STEP = 5.0
CHUNK = 64 * 1024
IMAGE_SUFFIXES = {".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"}


class MediaError(OSError):
    """A task file that was not downloaded; the message says why, without the network's details."""


@dataclass(frozen=True)
class MediaPolicy:
    """Where task files may come from, and how much of them."""

    label_studio_url: str
    allowed_hosts: tuple[str, ...] = ()
    max_bytes: int = 50 * 1024 * 1024
    timeout: float = 60.0
    max_redirects: int = 3


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def refused_address(address: str) -> str | None:
    """Why an IP address is never reached (link-local, multicast, ...), or None."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    for kind in ("link_local", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None


def authorization(token: str) -> str:
    """The Authorization header of a Label Studio token: a personal access token's access JWT, or a legacy token."""
    from label_studio_sdk._extensions.label_studio_tools.core.utils.io import is_jwt_well_formed

    return ("Bearer " if is_jwt_well_formed(token) else "Token ") + token


class MediaFetcher:
    """Downloads task files under a MediaPolicy into `cache_dir`; `token()` gives Label Studio's current token."""

    def __init__(self, policy: MediaPolicy, token: Callable[[], str | None], cache_dir: str):
        self.policy = policy
        self.token = token
        self.cache_dir = cache_dir
        self.label_studio = _origin(policy.label_studio_url)
        self.allowed = {host.lower() for host in policy.allowed_hosts}

    def is_allowed(self, host: str, port: int) -> bool:
        """An operator's host: "host", "host:port", or "*.domain" for every host under domain."""
        return host in self.allowed or f"{host}:{port}" in self.allowed or any(
            entry.startswith("*.") and host.endswith(entry[1:]) for entry in self.allowed)

    # --- what a task's value asks for -------------------------------------------------------------
    def url_of(self, value: str, task_id: Any) -> str:
        """The http(s) URL a task's value stands for (a Label Studio path, a cloud URI, or a URL)."""
        base = self.policy.label_studio_url.rstrip("/")
        if value.startswith(CLOUD_SCHEMES):
            encoded = base64.urlsafe_b64encode(value.encode()).decode()
            return f"{base}/tasks/{int(task_id)}/presign/?fileuri={encoded}"
        if value.startswith("upload/"):
            return f"{base}/data/{value}"
        if value.startswith("/") and not value.startswith("//"):
            return base + value
        if value.lower().startswith(("http://", "https://")):
            return value
        raise MediaError("not a file address the backend downloads (http(s), a Label Studio path, data:, "
                         "or an s3/gs/azure-blob URI)")

    def fetch(self, value: str, task_id: Any) -> str:
        """Path of a local copy of the file a task's value names (cached by address)."""
        if value.startswith("data:"):
            return self._save_data_url(value)
        url = self.url_of(value, task_id)
        path = os.path.join(self.cache_dir, hashlib.sha256(url.encode()).hexdigest()[:32] + _suffix(url))
        if os.path.exists(path):
            return path
        self._download(url, path, task_id)
        return path

    # --- each hop ---------------------------------------------------------------------------------
    def _check_host(self, url: str, hop: int) -> tuple[str, str, int, bool]:
        """(scheme, host, port, is Label Studio) of a hop's URL; MediaError when it may not be fetched."""
        scheme, host, port = _origin(url)
        if scheme not in ("http", "https") or not host:
            raise MediaError("redirected to an address that is not http(s)" if hop else "not an http(s) address")
        is_label_studio = (scheme, host, port) == self.label_studio
        if not is_label_studio and not self.is_allowed(host, port):
            where = "redirected to" if hop else "its host"
            raise MediaError(f"{where} {host} is neither Label Studio's host nor one of RELABEL_MEDIA_HOSTS")
        return scheme, host, port, is_label_studio

    def _address(self, host: str, port: int, deadline: float) -> str:
        """The checked address to connect to: every address the host resolves to must pass."""
        try:
            answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            log.warning("media host not resolved", extra={"host": host, "reason": str(error)})
            raise MediaError("the download failed (its host could not be reached)") from None
        addresses = [answer[4][0] for answer in answers]
        for address in addresses:
            kind = refused_address(address)
            if kind:
                raise MediaError(f"its host {host} resolves to a {kind} address, which is never reached")
        if time.monotonic() > deadline:
            raise MediaError(f"the download took longer than {self.policy.timeout:.0f} s")
        return addresses[0]

    def _download(self, url: str, path: str, task_id: Any) -> None:
        import urllib3

        deadline = time.monotonic() + self.policy.timeout
        for hop in range(self.policy.max_redirects + 1):
            scheme, host, port, is_label_studio = self._check_host(url, hop)
            address = self._address(host, port, deadline)
            parts = urlsplit(url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            default_port = 443 if scheme == "https" else 80
            headers = {"Host": host if port == default_port else f"{host}:{port}", "User-Agent": "relabel-backend",
                       "Accept": "image/*, */*;q=0.5"}
            if is_label_studio and MEDIA_PATH.match(parts.path or "/"):
                token = self.token()
                if token:
                    headers["Authorization"] = authorization(token)
            try:
                response = self._open(urllib3, scheme, address, port, host, target, headers, deadline)
            except urllib3.exceptions.HTTPError as error:
                log.warning("media download failed", extra={"task": task_id, "host": host, "reason": repr(error)})
                if time.monotonic() > deadline:
                    raise MediaError(f"the download took longer than {self.policy.timeout:.0f} s") from None
                raise MediaError("the download failed (its host did not answer)") from None
            try:
                if response.status in REDIRECTS and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status != 200:
                    raise MediaError(f"the download failed: {host} answered HTTP {response.status}")
                self._save(response, path, deadline, task_id, host)
                return
            finally:
                response.release_conn()
        raise MediaError(f"the download was redirected more than {self.policy.max_redirects} times")

    def _open(self, urllib3, scheme: str, address: str, port: int, host: str, target: str, headers: dict,
              deadline: float):
        remaining = max(0.1, deadline - time.monotonic())
        timeout = urllib3.Timeout(connect=min(SOCKET_STEP, remaining), read=min(SOCKET_STEP, remaining))
        if scheme == "https":
            import certifi

            pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False, server_hostname=host,
                                               assert_hostname=host, cert_reqs="CERT_REQUIRED",
                                               ca_certs=certifi.where())
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
        return pool.urlopen("GET", target, headers=headers, redirect=False, preload_content=False,
                            assert_same_host=False)

    def _save(self, response, path: str, deadline: float, task_id: Any, host: str) -> None:
        import urllib3

        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.policy.max_bytes:
            raise MediaError(f"the file is larger than {self.policy.max_bytes // (1024 * 1024)} MB")
        os.makedirs(self.cache_dir, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=self.cache_dir, suffix=".part")
        received = 0
        try:
            with os.fdopen(handle, "wb") as file:
                # read1: whatever has arrived, so a server that drips bytes meets the deadline between them
                while chunk := response.read1(CHUNK, decode_content=False):
                    received += len(chunk)
                    if received > self.policy.max_bytes:
                        raise MediaError(f"the file is larger than {self.policy.max_bytes // (1024 * 1024)} MB")
                    if time.monotonic() > deadline:
                        raise MediaError(f"the download took longer than {self.policy.timeout:.0f} s")
                    file.write(chunk)
            os.replace(partial, path)
        except urllib3.exceptions.HTTPError as error:
            log.warning("media download broke off", extra={"task": task_id, "host": host, "reason": repr(error)})
            raise MediaError("the download failed (its host stopped answering)") from None
        finally:
            if os.path.exists(partial):
                os.remove(partial)

    def _save_data_url(self, url: str) -> str:
        from relabel.adapters.data.media import save_data_url

        # base64 holds 3 bytes in 4 characters
        if (len(url) - url.find(",") - 1) * 3 // 4 > self.policy.max_bytes:
            raise MediaError(f"the data: URL holds more than {self.policy.max_bytes // (1024 * 1024)} MB")
        return save_data_url(url, self.cache_dir)


def _suffix(url: str) -> str:
    suffix = os.path.splitext(urlsplit(url).path)[1].lower()
    return suffix if suffix in IMAGE_SUFFIXES else ".img"
