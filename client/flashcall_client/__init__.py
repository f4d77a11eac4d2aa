"""flashcall's Python client: `Flashcall` (sync), `AsyncFlashcall`, typed errors, webhook
signature checks. `pip install ./client` from the flashcall repository."""

from flashcall_client._version import VERSION as __version__
from flashcall_client.client import AsyncFlashcall, Flashcall
from flashcall_client.errors import (
    CodeStillValid,
    CreditLimitReached,
    DestinationNotAllowed,
    FlashcallError,
    Forbidden,
    InvalidPhone,
    InvalidRequest,
    NotFound,
    RateLimited,
    RetryLimitReached,
    ServiceDisabled,
    Unauthorized,
    Unavailable,
)
from flashcall_client.matching import match_incoming
from flashcall_client.models import Call, ItemResult, Verification
from flashcall_client.webhooks import InvalidSignature, verify_webhook

__all__ = [
    "AsyncFlashcall",
    "Call",
    "CodeStillValid",
    "CreditLimitReached",
    "DestinationNotAllowed",
    "Flashcall",
    "FlashcallError",
    "Forbidden",
    "InvalidPhone",
    "InvalidRequest",
    "InvalidSignature",
    "ItemResult",
    "NotFound",
    "RateLimited",
    "RetryLimitReached",
    "ServiceDisabled",
    "Unauthorized",
    "Unavailable",
    "Verification",
    "__version__",
    "match_incoming",
    "verify_webhook",
]
