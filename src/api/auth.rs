//! The static token: `Authorization: Bearer TOKEN` or `?access_token=TOKEN`, compared in
//! constant time. Deciding what a missing token means is the dispatcher's job (it comes later
//! in the order of checks than a wrong one).

use super::error::ApiError;
use crate::query;
use crate::wire::Request;

/// What the request's credentials amount to.
#[derive(Debug, PartialEq)]
pub enum Credentials {
    /// The right token, or no token configured (a token sent anyway is ignored).
    Valid,
    /// No token given where one is required.
    Missing,
}

/// Checks the request's token against `expected`; a wrong one is `INVALID_CREDENTIALS`, both
/// forms at once `INVALID_PAYLOAD`.
pub fn authenticate(req: &Request, expected: Option<&str>) -> Result<Credentials, ApiError> {
    let Some(expected) = expected else {
        return Ok(Credentials::Valid);
    };
    let header = req.header("authorization").and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    let from_query = query::parse_pairs(&req.query).ok().and_then(|pairs| {
        pairs
            .into_iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v)
    });
    let given = match (header, from_query.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidPayload(
                "The request uses more than one method for including an access token.".into(),
            ))
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Ok(Credentials::Missing),
    };
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(Credentials::Valid)
    } else {
        Err(ApiError::InvalidCredentials)
    }
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(value: &str) -> Request {
        let mut req = Request::new("GET", "/items/a");
        req.headers.push(("Authorization".into(), value.into()));
        req
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secrets"));
    }

    #[test]
    fn token_forms() {
        let t = Some("s3cret");
        let ok = Ok(Credentials::Valid);
        assert_eq!(authenticate(&with_header("Bearer s3cret"), t), ok);
        assert_eq!(authenticate(&with_header("bearer  s3cret "), t), ok);
        assert_eq!(
            authenticate(&Request::new("GET", "/x?access_token=s3cret"), t),
            ok
        );
        assert_eq!(
            authenticate(&Request::new("GET", "/x"), t),
            Ok(Credentials::Missing)
        );
        assert_eq!(
            authenticate(&Request::new("GET", "/x?access_token=no"), None),
            ok
        );
        assert!(matches!(
            authenticate(&with_header("Bearer nope"), t),
            Err(ApiError::InvalidCredentials)
        ));
        let mut both = Request::new("GET", "/x?access_token=s3cret");
        both.headers
            .push(("Authorization".into(), "Bearer s3cret".into()));
        assert!(matches!(
            authenticate(&both, t),
            Err(ApiError::InvalidPayload(_))
        ));
    }
}
