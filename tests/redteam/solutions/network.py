"""Send data out: connect to the listeners in attack.json (the evaluator's host) and talk."""
import socket

from probe import PARAMS, ESCAPES, finish, report

for host, port in PARAMS["listeners"]:
    try:
        with socket.create_connection((host, port), timeout=3) as connection:
            connection.sendall(PARAMS["nonce"].encode())
        ESCAPES.append(f"{host}:{port}")
        print(f"ESCAPE connected to {host}:{port}", flush=True)
    except OSError as err:
        report(f"connect {host}:{port}", f"{type(err).__name__}: {err}")
finish()
