"""Take over the host through the Docker engine's socket (root on the host, to whoever talks to it)."""
import socket

from probe import PARAMS, finish, leak, report

try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as engine:
        engine.settimeout(5)
        engine.connect(PARAMS["socket"])
        engine.sendall(b"GET /version HTTP/1.0\r\n\r\n")
        answer = engine.recv(4096)
    if b"ApiVersion" in answer:
        leak(f"the Docker engine answered on {PARAMS['socket']}")
except OSError as err:
    report(f"connect {PARAMS['socket']}", f"{type(err).__name__}: {err}")
finish()
