"""Test helper: record and block every network attempt of this Python process and its Python children.

Put this folder first on PYTHONPATH and set EDGE_SCREEN_NETLOG to a file: every IPv4/IPv6
connect/send and every host-name lookup is appended there as one JSON line (pid, what, where, a short
stack) and then fails with ENETUNREACH. Child processes inherit the environment, so Python children
are recorded too; forked children inherit the patched module. (Native code is not covered here:
tests/core/test_no_network.py adds strace where it is installed.)
"""

import errno
import json
import os
import socket
import sys
import traceback

_LOG = os.environ.get("EDGE_SCREEN_NETLOG")
_INET = (socket.AF_INET, socket.AF_INET6)


def _record(kind, detail):
    try:
        with open(_LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps({"pid": os.getpid(), "argv": sys.argv[:4], "kind": kind, "detail": repr(detail),
                                "stack": traceback.format_stack(limit=10)[:-2]}) + "\n")
    except OSError:
        pass


def _refuse():
    return OSError(errno.ENETUNREACH, "network blocked by the edge-screen no-network test")


if _LOG:
    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
    _sendto, _sendmsg = socket.socket.sendto, socket.socket.sendmsg

    def connect(self, address):
        if self.family in _INET:
            _record("connect", address)
            raise _refuse()
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in _INET:
            _record("connect_ex", address)
            return errno.ENETUNREACH
        return _connect_ex(self, address)

    def sendto(self, *args):
        if self.family in _INET:
            _record("sendto", args[-1])
            raise _refuse()
        return _sendto(self, *args)

    def sendmsg(self, *args):
        if self.family in _INET:
            _record("sendmsg", args[3:4])
            raise _refuse()
        return _sendmsg(self, *args)

    def _lookup(name):
        def lookup(host, *args, **kwargs):
            _record(name, host)
            raise socket.gaierror(socket.EAI_NONAME, "name lookups blocked by the edge-screen no-network test")

        return lookup

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.socket.sendto, socket.socket.sendmsg = sendto, sendmsg
    for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        setattr(socket, _name, _lookup(_name))
