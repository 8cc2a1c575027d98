"""The Client API channel (docs/protocol.md section 3): frames `u32 LE length | wire message`
over the socket the Cohort executor passed as a file descriptor."""

import socket
import struct

from .wire import MAX_MESSAGE_BYTES, decode, encode_parts


class ChannelClosed(EOFError):
    """The executor closed the channel (the job ended or the site stopped)."""


class Channel:
    def __init__(self, sock):
        self.sock = sock

    @classmethod
    def from_fd(cls, fd):
        return cls(socket.socket(fileno=fd))

    def _read_exact(self, n, into=None):
        buf = into if into is not None else bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.sock.recv_into(view[got:], n - got)
            if k == 0:
                raise ChannelClosed("the Cohort executor closed the channel")
            got += k
        return buf

    def read(self):
        (length,) = struct.unpack("<I", self._read_exact(4))
        if length == 0 or length > MAX_MESSAGE_BYTES:
            raise ValueError(f"ERR_CLIENT_API_PROTOCOL: frame length {length}")
        # A bytearray: arrays decoded from frame sections are writable views, not copies.
        return decode(self._read_exact(length))

    def write(self, message):
        parts = encode_parts(message)
        total = sum(memoryview(p).nbytes for p in parts)
        self.sock.sendall(struct.pack("<I", total))
        for p in parts:
            self.sock.sendall(p)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
