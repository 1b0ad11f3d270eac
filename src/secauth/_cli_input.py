"""Reading the ``secauth`` command's input files (``--event``, ``CLAIMS``): a path or ``-``
for standard input, UTF-8, at most a stated size, so ``/dev/zero`` or a huge file is a
clear refusal rather than the memory filling.

>>> try:
...     read_input("/nonexistent/event.json", max_bytes=10, what="the event")
... except ConfigurationError as err:
...     print(err.public_message)
cannot read the event from /nonexistent/event.json: FileNotFoundError
"""

from __future__ import annotations

import sys

from secauth.errors import ConfigurationError

__all__ = ["MAX_EVENT_BYTES", "read_input"]

#: The largest event: Lambda's synchronous invocation payload limit (6 MB).
MAX_EVENT_BYTES = 6 * 1024 * 1024


def read_input(source: str, *, max_bytes: int, what: str) -> str:
    """The text at ``source`` (``-``: standard input); ConfigurationError when it cannot be
    read, is not UTF-8 or holds more than ``max_bytes`` bytes."""
    try:
        if source == "-" and not hasattr(sys.stdin, "buffer"):  # a text stream (a test's)
            text = sys.stdin.read(max_bytes + 1)
            data = text.encode("utf-8", "surrogatepass")
        elif source == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with open(source, "rb") as handle:
                data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ConfigurationError(f"{what} in {source} is larger than {max_bytes} bytes")
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {what} from {source}: {type(exc).__name__}") from None
