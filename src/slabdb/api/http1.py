"""uvicorn's HTTP/1 protocol, answering unparseable requests in Pinecone's error shape.

A request httptools cannot parse (a malformed ``Content-Length``, a bad request line,
invalid header bytes) never reaches the ASGI app: uvicorn answers it with a plain-text
``Invalid HTTP request received.``. SDKs expect Pinecone's JSON error body, so this
subclass sends the same 400 as JSON, shaped for the plane of the port it came in on
(the server's base port is the control plane, the others are index ports).
"""

from __future__ import annotations

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from slabdb.core.errors import InvalidArgumentError

MESSAGE = (
    "invalid HTTP request: it could not be parsed (check the request line, the headers "
    "and Content-Length)"
)


class PineconeHttpProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` whose 400 for an unparseable request is JSON."""

    def send_400_response(self, msg: str) -> None:
        err = InvalidArgumentError(MESSAGE)  # uvicorn's ``msg`` says no more than this
        port = self.server[1] if self.server else None
        data_plane = port is not None and port != self.config.port
        body = orjson.dumps(err.to_data_plane() if data_plane else err.to_control_plane())
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
