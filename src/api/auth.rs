//! The static token: `Authorization: Bearer TOKEN` or `?access_token=TOKEN`, compared in
//! constant time. Deciding what a missing token means is the dispatcher's job (it comes later
//! in the order of checks than a wrong one).

use super::error::ApiError;
use crate::query::QueryError;
use crate::secret::Digest;
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
/// `pairs` are the request's query string, decoded once by the dispatcher (undecodable: no
/// `access_token` in it).
pub fn authenticate(
    req: &Request,
    pairs: &Result<Vec<(String, String)>, QueryError>,
    expected: Option<&str>,
) -> Result<Credentials, ApiError> {
    let Some(expected) = expected else {
        return Ok(Credentials::Valid);
    };
    let header = req.header("authorization").and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    let from_query = pairs.as_ref().ok().and_then(|pairs| {
        pairs
            .iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.as_str())
    });
    let given = match (header, from_query) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidPayload(
                "The request uses more than one method for including an access token.".into(),
            ))
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Ok(Credentials::Missing),
    };
    // Compared as digests (`secret`): constant time, and the token's length is not told.
    if Digest::of_exact(given).matches(&Digest::of_exact(expected)) {
        Ok(Credentials::Valid)
    } else {
        Err(ApiError::InvalidCredentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(value: &str) -> Request {
        let mut req = Request::new("GET", "/items/a");
        req.headers.push(("Authorization".into(), value.into()));
        req
    }

    /// The dispatcher's call: the query string decoded first.
    fn auth(req: &Request, expected: Option<&str>) -> Result<Credentials, ApiError> {
        authenticate(req, &crate::query::parse_pairs(&req.query), expected)
    }

    #[test]
    fn tokens_match_exactly() {
        let t = Some("secret");
        for (given, ok) in [
            ("secret", true),
            ("secreT", false),
            ("secrets", false),
            ("secre", false),
        ] {
            let r = auth(&Request::new("GET", &format!("/x?access_token={given}")), t);
            assert_eq!(r.is_ok(), ok, "{given}");
        }
        let padded = auth(&Request::new("GET", "/x?access_token=%20secret"), t);
        assert_eq!(padded, Err(ApiError::InvalidCredentials));
    }

    #[test]
    fn token_forms() {
        let t = Some("s3cret");
        let ok = Ok(Credentials::Valid);
        assert_eq!(auth(&with_header("Bearer s3cret"), t), ok);
        assert_eq!(auth(&with_header("bearer  s3cret "), t), ok);
        assert_eq!(auth(&Request::new("GET", "/x?access_token=s3cret"), t), ok);
        assert_eq!(
            auth(&Request::new("GET", "/x"), t),
            Ok(Credentials::Missing)
        );
        assert_eq!(auth(&Request::new("GET", "/x?access_token=no"), None), ok);
        assert!(matches!(
            auth(&with_header("Bearer nope"), t),
            Err(ApiError::InvalidCredentials)
        ));
        let mut both = Request::new("GET", "/x?access_token=s3cret");
        both.headers
            .push(("Authorization".into(), "Bearer s3cret".into()));
        assert!(matches!(auth(&both, t), Err(ApiError::InvalidPayload(_))));
    }
}
