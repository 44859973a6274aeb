"""`server_errors.error_for`: each HTTP status or in-stream error type becomes the error a user can act on."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kimi_jupyter.batch.pool import FATAL
from kimi_jupyter.core import errors
from kimi_jupyter.core.server_errors import error_for

SETTINGS = SimpleNamespace(all_secrets=lambda: (), api_key="sk-x", base_url="http://127.0.0.1:9/v1")


@pytest.mark.parametrize("status, type_, kind", [
    (400, "invalid_request_error", errors.BadRequestError),
    (401, "invalid_authentication_error", errors.AuthenticationError),
    # A classroom gateway's per-student budget, or a prepaid proxy's balance, is used up.
    (402, "budget_exceeded_error", errors.QuotaError),
    (403, "permission_denied_error", errors.PermissionDeniedError),
    (404, "resource_not_found_error", errors.ModelNotFoundError),
    (429, "exceeded_current_quota_error", errors.QuotaError),
    (429, "rate_limit_reached_error", errors.RateLimitError),
    (503, "server_error", errors.ServerError),
    (0, "engine_overloaded_error", errors.RateLimitError),  # in-stream: the type decides
])
def test_each_status_is_the_error_a_user_can_act_on(status, type_, kind):
    err = error_for(status, type_, "the server's words", SETTINGS)
    assert type(err) is kind and "the server's words" in str(err)


def test_a_used_up_budget_is_not_retried_and_stops_a_map():
    err = error_for(402, "budget_exceeded_error", "your class budget for today is used up", SETTINGS)
    assert not err.retryable and isinstance(err, FATAL)
    assert str(err) == "Kimi API error 402 (budget_exceeded_error): your class budget for today is used up"
