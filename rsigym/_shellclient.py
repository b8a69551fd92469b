"""``rsigym`` as an agent sees it inside ``rsigym shell``: asks the trusted side to evaluate or submit.

:mod:`rsigym.agentshell` writes this file, standard library only, into the shell's view as an
executable named ``rsigym``, with the path of its grading socket appended. It sends one JSON
request, ``{"command": "evaluate" | "submit"}``, and prints the reply: what ``rsigym evaluate
RUN`` printed on the trusted side, and its exit status. rsigym itself, the run's private data,
grades and settings are not in the view; the socket is the only way to them.
"""
import json
import socket
import sys

USAGE = "usage: rsigym evaluate|submit [RUN]   (inside rsigym shell; RUN is the run being served)"


def main(argv: list, socket_path: str) -> int:
    """Forward ``evaluate`` or ``submit`` to the server at ``socket_path``; its exit status."""
    if not argv or argv[0] not in ("evaluate", "submit") or len(argv) > 2:
        print(USAGE, file=sys.stderr)
        return 2
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(socket_path)
        connection.sendall(json.dumps({"command": argv[0]}).encode() + b"\n")
        reply = b""
        while chunk := connection.recv(1 << 16):
            reply += chunk
    answer = json.loads(reply)
    sys.stdout.write(answer["stdout"])
    sys.stderr.write(answer["stderr"])
    return int(answer["rc"])
