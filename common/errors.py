"""Every exception batchpredict raises, under one base class.

API-facing errors carry the HTTP status and the OpenSearch error ``type`` they
are answered with; provider errors say whether trying again can help.
"""


class BatchPredictError(Exception):
    """Base of all batchpredict errors."""

    status = 500
    error_type = "exception"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- bad requests ---------------------------------------------------------


class InvalidRequest(BatchPredictError):
    """The caller sent something we cannot accept; ``field`` names where."""

    status = 400
    error_type = "illegal_argument_exception"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class TemplateError(InvalidRequest):
    """A connector template could not be rendered with the parameters given."""


class UntrustedEndpoint(InvalidRequest):
    """A connector URL does not match any trusted endpoint pattern."""


class TaskLimitExceeded(BatchPredictError):
    status = 429
    error_type = "m_l_limit_exceeded_exception"


class InvalidTransition(BatchPredictError):
    """The task is in a state that does not allow the operation."""

    status = 400
    error_type = "illegal_argument_exception"

    def __init__(self, message: str, task_id: str, state: str):
        super().__init__(message)
        self.task_id = task_id
        self.state = state


# --- who is asking ---------------------------------------------------------


class Unauthenticated(BatchPredictError):
    """No API key, or one batchpredict does not know."""

    status = 401
    error_type = "security_exception"


class Forbidden(BatchPredictError):
    """The caller is known but may not do this to this resource."""

    status = 403
    error_type = "security_exception"


class RateLimited(BatchPredictError):
    """An API key made more requests this minute than the setting allows."""

    status = 429
    error_type = "rejected_execution_exception"

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


# --- missing resources ----------------------------------------------------


class NotFound(BatchPredictError):
    status = 404
    error_type = "status_exception"

    def __init__(self, message: str, resource_id: str):
        super().__init__(message)
        self.resource_id = resource_id


class ConnectorNotFound(NotFound):
    def __init__(self, connector_id: str):
        super().__init__(
            f"Failed to find connector with the provided connector id: {connector_id}",
            connector_id,
        )


class ModelNotFound(NotFound):
    def __init__(self, model_id: str):
        super().__init__(
            f"Failed to find model with the provided model id: {model_id}", model_id
        )


class ModelGroupNotFound(NotFound):
    def __init__(self, model_group_id: str):
        super().__init__(
            f"Failed to find model group with the provided model group "
            f"id: {model_group_id}",
            model_group_id,
        )


class TaskNotFound(NotFound):
    def __init__(self, task_id: str):
        super().__init__(
            f"Failed to find task with the provided task id: {task_id}", task_id
        )


# --- providers ------------------------------------------------------------


class BudgetExhausted(BatchPredictError):
    """The provider's shared call budget has no calls left right now."""

    def __init__(self, provider: str, wait_s: float):
        super().__init__(f"the {provider} call budget is spent for {wait_s:.1f}s")
        self.provider = provider
        self.wait_s = wait_s


class ProviderError(BatchPredictError):
    """A provider call did not succeed.

    ``retryable`` says whether the same call may succeed later; ``reached``
    says whether the provider answered at all (a throttle did, a refused
    connection did not).
    """

    retryable = False
    reached = True

    def __init__(self, message: str, provider: str, code: str | None = None):
        super().__init__(message)
        self.provider = provider
        self.code = code


class ProviderRejected(ProviderError):
    """The provider refused the request itself (validation, auth, conflict)."""


class ProviderJobNotFound(ProviderRejected):
    """The provider does not know the job we asked about."""


class ProviderThrottled(ProviderError):
    """The provider asked us to slow down; ``retry_after_s`` if it said when."""

    retryable = True

    def __init__(
        self,
        message: str,
        provider: str,
        code: str | None = None,
        retry_after_s: float | None = None,
    ):
        super().__init__(message, provider, code)
        self.retry_after_s = retry_after_s


class ProviderUnavailable(ProviderError):
    """A 5xx, a timeout or a connection that never opened."""

    retryable = True
    reached = False
