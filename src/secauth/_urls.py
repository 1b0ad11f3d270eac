"""Which URLs secauth may fetch keys and documents from, and how logs show them.

https only; plain http only to a loopback host and only when the caller allows it (for
test servers); no credentials in a URL, no host with spaces or control characters, a
port in range. :func:`shown_url` is the form logs and decision records may carry.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from secauth.errors import ConfigurationError
from secauth.options import flag

__all__ = ["MAX_URL_CHARS", "canonical_authority", "check_url", "shown_url"]


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_DEFAULT_PORTS = {"http": 80, "https": 443}
# A host as URL parsers write it back (lower case, no percent-encoding), then a port with
# no zero padding.
_AUTHORITY = (  # compiled on first use (re's cache): only Cors and resources need it
    r"(\[[0-9a-f:.]+\]|[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?)"  # host
    r"(?::([1-9][0-9]{0,4}))?"  # port
)


def canonical_authority(scheme: str, authority: str) -> bool:
    """Whether ``authority`` (``host[:port]``, no user information) is spelt as browsers
    and URL parsers spell it back, so a URL holding it compares equal to theirs: lower
    case, no percent-encoding, an IP address as URL parsers write it (IPv4 in dotted
    decimal, IPv6 compressed), no empty, zero-padded or default port.

    >>> canonical_authority("https", "mcp.example.com"), canonical_authority("https", "mcp.example.com:443")
    (True, False)
    """
    match = re.fullmatch(_AUTHORITY, authority)
    if match is None:
        return False
    host, port = match.groups()
    if port is not None and (int(port) > 65535 or int(port) == _DEFAULT_PORTS.get(scheme)):
        return False
    last_label = host.rstrip(".").rpartition(".")[2]
    if not (host.startswith("[") or last_label.isdigit() or last_label.startswith("0x")):
        return True  # a name
    # An address: URL parsers write an IPv6 one compressed, and read 127.1, 0x7f.0.0.1,
    # 010.0.0.1 or 127.0.0.1. as an IPv4 one, written back in dotted decimal (WHATWG).
    import ipaddress  # only for an address

    try:
        if host.startswith("["):
            return ipaddress.IPv6Address(host[1:-1]).compressed == host[1:-1]
        return str(ipaddress.IPv4Address(host)) == host
    except ValueError:
        return False


def shown_url(url: str) -> str:
    """``url`` as logs and decision records may show it: scheme, host, port and path; no
    query or fragment (they may carry tokens or signatures), never credentials.

    >>> shown_url("https://idp.example.com/keys?code=s3cret#x")
    'https://idp.example.com/keys'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


#: The longest URL secauth fetches from (a discovery document names some of them).
MAX_URL_CHARS = 2048


def check_url(url: object, *, allow_http: bool) -> str:
    """Return ``url`` when the policy allows fetching it; raise ConfigurationError otherwise.

    >>> check_url("https://idp.example.com/jwks.json", allow_http=False)
    'https://idp.example.com/jwks.json'
    >>> check_url("https://idp.example.com:99999/keys", allow_http=False)
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: URL 'https://idp.example.com:99999/keys' has a port outside 0-65535
    """
    allow_http = flag("allow_http", allow_http)
    if not isinstance(url, str):
        raise ConfigurationError("a key source URL must be a string")
    if len(url) > MAX_URL_CHARS or not all("!" <= ch <= "~" for ch in url):
        # Not quoted: a URL from a discovery document may hold anything (terminal escapes,
        # line breaks) meant for the logs.
        raise ConfigurationError(
            f"a key source URL is at most {MAX_URL_CHARS} characters of printable ASCII "
            "(percent-encode the rest, punycode a host)"
        )
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed "[": nothing to quote
        raise ConfigurationError("a key source URL must be a valid URL") from None
    # Credentials first: no message below may quote a URL that holds them.
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("URLs with credentials in them are not accepted")
    # Quoted without its query or fragment, which may carry a function key or a signature.
    shown = repr(f"{parts.scheme}://{parts.netloc}{parts.path}"[:200])
    host = parts.hostname or ""
    if not host:
        raise ConfigurationError(f"URL {shown} has no host")
    try:
        port = parts.port  # urlsplit checks the port's range when it is read
    except ValueError:
        raise ConfigurationError(f"URL {shown} has a port outside 0-65535") from None
    if port == 0:
        raise ConfigurationError(f"URL {shown} has port 0")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and allow_http and _is_loopback(host):
        return url
    if parts.scheme == "http" and allow_http:
        raise ConfigurationError(
            f"plain http is allowed only to loopback hosts (for tests); {host!r} is not one"
        )
    raise ConfigurationError(
        f"URL {shown} must use https (pass allow_http=True only for loopback test servers)"
    )
