//! Assertions on the typed rejections of session operations.

use keyscope::bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope::bundler::codes;
use keyscope::Error;

/// A test of the SessionKeyValidator's error in a rejection, as a plain function (a closure capturing nothing
/// coerces to it), for tables of calls and the errors they must meet.
pub type ValidatorCheck = fn(&SessionKeyValidatorErrors) -> bool;

/// Asserts that `error` is a validation failure (AA23) carrying the SessionKeyValidator's own error, and that
/// `check` accepts that error.
pub fn assert_validator_error(error: &Error, check: impl Fn(&SessionKeyValidatorErrors) -> bool) {
    assert_eq!(error.aa_code(), Some("AA23"), "{error}");
    let inner = error
        .validator_error()
        .unwrap_or_else(|| panic!("no validator error in {error}"));
    assert!(check(inner), "unexpected validator error: {error}");
}

/// Asserts that `error` is the bundler's rejection of an operation whose validation reverted
/// ([`codes::VALIDATION_REVERTED`]), and a validator error `check` accepts ([`assert_validator_error`]).
pub fn assert_bundler_rejection(error: &Error, check: impl Fn(&SessionKeyValidatorErrors) -> bool) {
    match error {
        Error::Bundler { code, .. } => assert_eq!(*code, codes::VALIDATION_REVERTED, "{error}"),
        other => panic!("expected a bundler rejection, got {other:?}"),
    }
    assert_validator_error(error, check);
}
