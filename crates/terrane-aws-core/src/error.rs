//! SDK errors reduced to what terrane needs, the same way for every service.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use terrane_provider::ProviderError;

/// An AWS error reduced to what terrane needs: AWS's error code (absent when the request
/// never got an answer) and a readable message.
#[derive(Debug)]
pub struct AwsError {
    pub code: Option<String>,
    pub message: String,
    pub timed_out: bool,
}

impl AwsError {
    pub fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        // `SdkError` gives the service error's metadata (the same as `into_service_error()`
        // would, without that method's extra bounds), and none for transport failures.
        let timed_out = matches!(err, SdkError::TimeoutError(_));
        AwsError {
            code: err.code().map(str::to_string),
            message: err
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| DisplayErrorContext(&err).to_string()),
            timed_out,
        }
    }

    /// Whether AWS answered with one of these error codes.
    pub fn is(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }

    pub fn into_provider(self, operation: &str) -> ProviderError {
        if self.timed_out {
            return ProviderError::Timeout(format!("{operation}: {}", self.message));
        }
        match self.code {
            Some(code) => ProviderError::api(operation, format!("{code}: {}", self.message)),
            None => ProviderError::api(operation, self.message),
        }
    }
}

/// Maps an SDK error to a provider error naming the operation, AWS's code and message.
pub fn api_error<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |err| AwsError::from_sdk(err).into_provider(operation)
}

/// The result of a delete-like call, with "already gone" (any of `not_found` codes)
/// counted as success.
pub fn gone_is_ok<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
    not_found: &[&str],
) -> Result<(), ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    unless_gone(operation, result, not_found).map(|_| ())
}

/// The output of a delete-like call, or `None` when the resource was already gone (any of
/// `not_found` codes): for deletes that go on to wait, or to read the output, only when
/// something was deleted.
pub fn unless_gone<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
    not_found: &[&str],
) -> Result<Option<T>, ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(err) => {
            let err = AwsError::from_sdk(err);
            if err.is(not_found) {
                Ok(None)
            } else {
                Err(err.into_provider(operation))
            }
        }
    }
}

/// A waiter that did not reach its success state.
pub fn waiter_error(operation: &str, err: impl std::error::Error) -> ProviderError {
    ProviderError::api(operation, DisplayErrorContext(&err))
}
