"""The listener's ``SSLContext`` from ``tls_server_config``, and loading a certificate into it.

Building the context is the last check of a web config file (a key that does not match its
certificate is only found by OpenSSL), and loading into the running context is how a renewed
certificate reaches new connections without a restart. Problems name the config keys, never
prompt for a passphrase, and drop OpenSSL's source-file suffix.
"""

from __future__ import annotations

import re
import ssl

from aaisp_multi_exporter.config.problems import os_reason, quote
from aaisp_multi_exporter.web.config import TLSSettings, WebConfigError

__all__ = ["build_ssl_context", "load_cert_chain"]

_SSL_SUFFIX = re.compile(r"\s*\(_ssl\.c:\d+\)$")


def build_ssl_context(tls: TLSSettings) -> ssl.SSLContext:
    """A server context for ``tls``; problems are raised naming the config keys."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = tls.min_version
    context.maximum_version = tls.max_version
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    load_cert_chain(context, tls)
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(
                [
                    f"tls_server_config.client_ca_file: cannot load "
                    f"{quote(str(tls.client_ca_file))}: {_ssl_reason(exc)}"
                ]
            ) from None
    context.verify_mode = tls.verify_mode
    context.set_alpn_protocols(["http/1.1"])
    return context


class _EncryptedKey(Exception):
    """Raised from the key password callback: never let OpenSSL prompt on a terminal."""


def _refuse_key_password() -> bytes:
    raise _EncryptedKey


def load_cert_chain(context: ssl.SSLContext, tls: TLSSettings) -> None:
    """``tls``'s certificate and key into ``context``, for the connections it accepts next."""
    cert, key = quote(str(tls.cert_file)), quote(str(tls.key_file))
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_refuse_key_password)
    except _EncryptedKey:
        raise WebConfigError(
            [f"tls_server_config.key_file: {key} is encrypted; give an unencrypted key"]
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            message = f"tls_server_config.key_file: {key} does not match cert_file {cert}"
        else:
            message = (
                f"tls_server_config: cannot load cert_file {cert} with key_file {key}: "
                f"{_ssl_reason(exc)}"
            )
        raise WebConfigError([message]) from None
    except OSError as exc:
        raise WebConfigError(
            [f"tls_server_config: cannot load cert_file {cert}: {os_reason(exc)}"]
        ) from None


def _ssl_reason(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLError):
        text = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], str) else str(exc)
        return _SSL_SUFFIX.sub("", text)
    if isinstance(exc, OSError):
        return os_reason(exc)
    return type(exc).__name__
