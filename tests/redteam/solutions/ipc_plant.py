"""Leave System V shared memory (resident), a semaphore set, a message queue and keys in the
session and user keyrings behind, for the next run of this uid (or the caller) to find."""
import ctypes
import platform

from probe import PARAMS, finish, report

libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.syscall.restype = ctypes.c_long
KEY, SIZE, IPC_CREAT = PARAMS["ipc_key"], PARAMS["shm_bytes"], 0o1000

segment = libc.shmget(KEY, ctypes.c_size_t(SIZE), IPC_CREAT | 0o666)
report("shmget", segment)
if segment >= 0:
    address = libc.shmat(segment, None, 0)
    if address not in (None, ctypes.c_void_p(-1).value):
        ctypes.memset(address, 7, SIZE)  # resident: it would stay in the host's memory
        libc.shmdt(ctypes.c_void_p(address))
report("semget", libc.semget(KEY, 1, IPC_CREAT | 0o666))
report("msgget", libc.msgget(KEY, IPC_CREAT | 0o666))
add_key = {"x86_64": 248, "aarch64": 217}.get(platform.machine(), -1)
name, payload = PARAMS["key_name"].encode(), PARAMS["nonce"].encode()
for keyring in (-3, -4):  # the session keyring, the uid's user keyring
    report(f"add_key {keyring}", libc.syscall(ctypes.c_long(add_key), b"user", name, payload,
                                              ctypes.c_size_t(len(payload)), ctypes.c_long(keyring)))
finish()
