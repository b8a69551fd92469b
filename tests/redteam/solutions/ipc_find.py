"""Look for what an earlier run left in System V IPC and in the keyrings; anything found
(the other run's memory, its key's payload) is a leak between runs."""
import ctypes
import platform

from probe import PARAMS, finish, leak, report

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
KEY = PARAMS["ipc_key"]
for kind, found in (("shm", libc.shmget(KEY, ctypes.c_size_t(0), 0)), ("sem", libc.semget(KEY, 0, 0)),
                    ("msg", libc.msgget(KEY, 0))):
    report(kind, found)
    if found >= 0:
        leak(f"opened the earlier run's {kind} object")
keyctl = {"x86_64": 250, "aarch64": 219}.get(platform.machine(), -1)
for keyring in (-3, -4):
    key = libc.syscall(ctypes.c_long(keyctl), ctypes.c_long(10), ctypes.c_long(keyring), b"user",
                       PARAMS["key_name"].encode(), ctypes.c_long(0))  # KEYCTL_SEARCH
    report(f"search {keyring}", key)
    if key >= 0:
        buffer = ctypes.create_string_buffer(64)
        libc.syscall(ctypes.c_long(keyctl), ctypes.c_long(11), ctypes.c_long(key), buffer, ctypes.c_long(64))
        leak(f"read the earlier run's key: {buffer.value.decode(errors='replace')}")
finish()
