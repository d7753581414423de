//! DynamoDB's SDK errors as the domain's `Error`, for every call the
//! store makes: `.await.map_err(from_sdk)?`.
//! Throttling that outlasted the SDK's own retries is `Error::Throttled`
//! (429 with `Retry-After`); anything else is `Error::Internal`, its cause
//! kept for the log and never shown in a body.

use aws_sdk_dynamodb::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use folio_core::error::Error;

/// Error codes by which AWS says "too much, slow down".
const THROTTLED: [&str; 4] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
];

/// An SDK error as the domain's.
pub fn from_sdk<E, R>(e: SdkError<E, R>) -> Error
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if e.code().is_some_and(|c| THROTTLED.contains(&c)) {
        tracing::warn!(code = e.code(), "throttled by AWS");
        return Error::Throttled;
    }
    Error::Internal(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;
    use folio_core::error::Causes;

    fn service_error(code: &str) -> Error {
        let e = GetItemError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("Size of hashkey has exceeded the maximum size limit of 2048 bytes")
                .build(),
        );
        let raw = Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
        from_sdk(SdkError::service_error(e, raw))
    }

    #[test]
    fn throttling_is_a_429_and_other_service_errors_a_500() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
        ] {
            let e = service_error(code);
            assert!(matches!(e, Error::Throttled), "{code}");
            assert_eq!(e.status(), 429);
        }
        assert_eq!(service_error("ValidationException").status(), 500);
    }

    #[test]
    fn a_log_shows_an_sdk_errors_causes_and_a_response_does_not() {
        let e = service_error("ValidationException");
        assert_eq!(e.to_string(), "Internal error", "what a body may say");
        let logged = Causes(&e).to_string();
        assert!(logged.starts_with("Internal error: "), "{logged}");
        assert!(
            logged.contains("ValidationException") && logged.contains("hashkey"),
            "{logged}"
        );
    }
}
