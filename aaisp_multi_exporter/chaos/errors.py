"""How a CHAOS call can end, and the errors that carry it.

Messages never hold request data (the form body with the credentials), so an error can go to
a log line, a probe's reason or a page as it is.
"""

from __future__ import annotations

import re
from enum import StrEnum

#: Error texts about credentials (the three known strings and any like them, such as a locked
#: login): retrying them could lock the account, and they say the password is the problem.
_AUTH_WORDS = re.compile(r"authori[sz]|log-?in|password|credential", re.IGNORECASE)


class Outcome(StrEnum):
    """How one CHAOS request ended; the label values of ``chaos_requests_total``."""

    OK = "ok"
    AUTH_ERROR = "auth_error"
    API_ERROR = "api_error"
    HTTP_ERROR = "http_error"
    INVALID_RESPONSE = "invalid_response"
    TIMEOUT = "timeout"
    TRANSPORT_ERROR = "transport_error"


class ChaosError(Exception):
    """A CHAOS call that gave no usable answer: ``outcome`` says how it ended, ``retryable``
    whether asking again soon could help, ``retry_after`` how long CHAOS asked to wait."""

    def __init__(
        self,
        outcome: Outcome,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.retryable = retryable
        self.retry_after = retry_after

    @property
    def definitive(self) -> bool:
        """CHAOS said no (an ``error`` string): asking again soon would get the same answer."""
        return self.outcome in (Outcome.AUTH_ERROR, Outcome.API_ERROR)


def classify_error(text: str) -> Outcome:
    """Every ``error`` string is a refusal; those about credentials are auth errors."""
    return Outcome.AUTH_ERROR if _AUTH_WORDS.search(text) else Outcome.API_ERROR
