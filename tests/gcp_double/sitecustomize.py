"""Test-only network guard, loaded by every Python process that has this
directory on PYTHONPATH (ansible-playbook and the modules it runs locally).

- Names under googleapis.com resolve to 127.0.0.1:$GCP_DOUBLE_PORT (the
  HTTPS double of tests/gcp_double/server.py) when GCP_DOUBLE_PORT is set.
- Loopback names and addresses work as usual.
- Every other name fails to resolve, and every connection to a non-loopback
  address is refused before a packet leaves: no real Google endpoint (nor the
  metadata server, nor anything else) can be reached from a test. Each
  blocked attempt is appended to $GCP_DOUBLE_BLOCKED_LOG, so a test can
  assert that nothing tried.
- With GCP_DOUBLE_FAST_POLL set, a sleep of half a second or more lasts
  GCP_DOUBLE_FAST_POLL seconds instead: the google.cloud modules wait a fixed
  second between two polls of an operation, and the double moves an
  operation on per poll, not per second. Shorter sleeps (Ansible's own
  loops) are left alone."""
import os
import socket
import sys
import time

_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _record(what):
    path = os.environ.get("GCP_DOUBLE_BLOCKED_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {what}\n")


def _loopback_name(host):
    return host in ("localhost", "ip6-localhost", "::1") or host.startswith("127.")


def _getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or _loopback_name(name):
        return _real_getaddrinfo(host, port, family, type, proto, flags)
    double_port = os.environ.get("GCP_DOUBLE_PORT")
    if double_port and (name == "googleapis.com" or name.endswith(".googleapis.com")):
        return _real_getaddrinfo("127.0.0.1", int(double_port), socket.AF_INET, type, proto, flags)
    _record(f"resolve {name}:{port}")
    raise socket.gaierror(socket.EAI_NONAME, f"name resolution blocked by the test: {name}")


def _allowed(sock, address):
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return True
    host = address[0] if isinstance(address, tuple) else str(address)
    return host.startswith("127.") or host == "::1"


def _connect(self, address):
    if not _allowed(self, address):
        _record(f"connect {address}")
        raise ConnectionRefusedError(f"connection blocked by the test: {address}")
    return _real_connect(self, address)


def _connect_ex(self, address):
    if not _allowed(self, address):
        _record(f"connect {address}")
        return 111
    return _real_connect_ex(self, address)


socket.getaddrinfo = _getaddrinfo
socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex


_FAST_POLL = os.environ.get("GCP_DOUBLE_FAST_POLL")
if _FAST_POLL:
    _real_sleep = time.sleep

    def _sleep(seconds):
        _real_sleep(float(_FAST_POLL) if seconds >= 0.5 else seconds)

    time.sleep = _sleep


_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Test runs: the shared AnsiballZ payload cache of the run (scripts/ansiballz_payload), when the runner made one.
if os.environ.get("ANSIBALLZ_PAYLOAD_DIR"):
    sys.path.append(os.path.join(_ROOT, "scripts", "ansiballz_payload"))
    import ansiballz_payload  # noqa: E402,F401

# And the bytecode cache of the modules this machine runs (molecule/_shared/files/ansiballz_pyc), when the runner
# named one: PYTHONPATH is this directory alone here, so the runner's sitecustomize that loads it is not read.
if os.environ.get("ANSIBALLZ_PYC_DIR"):
    sys.path.append(os.path.join(_ROOT, "molecule", "_shared", "files", "ansiballz_pyc"))
    import ansiballz_pyc  # noqa: E402,F401
