//! Redirects as `fetch` follows them.

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LOCATION, CONTENT_TYPE, LOCATION,
};
use http::{HeaderMap, Method, Request, StatusCode, Uri};

/// `fetch`'s limit on redirects in one request.
pub(crate) const DEFAULT_MAX_REDIRECTS: u32 = 20;

/// The request `fetch` sends after `sent` got a redirect with `status` and
/// `headers`; `None` if the response is not a redirect it follows (no
/// `Location`, or one that is not an `http(s)` URL), and is then the final
/// response.
pub(crate) fn next_request(
    sent: &Request<Bytes>,
    status: StatusCode,
    headers: &HeaderMap,
) -> Option<Request<Bytes>> {
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = headers.get(LOCATION)?.to_str().ok()?;
    let uri = resolve(sent.uri(), location)?;
    let mut next = sent.clone();
    let to_get = match status.as_u16() {
        301 | 302 => sent.method() == Method::POST,
        303 => sent.method() != Method::GET && sent.method() != Method::HEAD,
        _ => false,
    };
    if to_get {
        *next.method_mut() = Method::GET;
        *next.body_mut() = Bytes::new();
        for name in [
            CONTENT_ENCODING,
            CONTENT_LANGUAGE,
            CONTENT_LOCATION,
            CONTENT_TYPE,
        ] {
            next.headers_mut().remove(name);
        }
    }
    if !same_origin(sent.uri(), &uri) {
        next.headers_mut().remove(AUTHORIZATION);
    }
    *next.uri_mut() = uri;
    Some(next)
}

fn same_origin(a: &Uri, b: &Uri) -> bool {
    let port = |uri: &Uri| {
        uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            _ => Some(80),
        })
    };
    a.scheme() == b.scheme()
        && a.host().map(str::to_ascii_lowercase) == b.host().map(str::to_ascii_lowercase)
        && port(a) == port(b)
}

/// Resolves `reference` against `base` with the WHATWG URL parser, as
/// `fetch` does (the `url` crate); `None` unless the result is an `http`
/// or `https` URL with a host. The fragment is dropped.
fn resolve(base: &Uri, reference: &str) -> Option<Uri> {
    let base = url::Url::parse(&base.to_string()).ok()?;
    let mut url = base.join(reference).ok()?;
    url.set_fragment(None);
    let http = matches!(url.scheme(), "http" | "https");
    if !http || !url.has_host() {
        return None;
    }
    url.as_str().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn resolved(base: &str, reference: &str) -> Option<String> {
        resolve(&base.parse().unwrap(), reference).map(|uri| uri.to_string())
    }

    #[test]
    fn relative_locations_resolve_as_the_url_standard_says() {
        let base = "http://a/b/c/d;p?q";
        for (reference, expected) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("g/../h", "http://a/b/c/h"),
            ("https://other:8443/x", "https://other:8443/x"),
        ] {
            assert_eq!(
                resolved(base, reference).as_deref(),
                Some(expected),
                "{reference:?}"
            );
        }
    }

    #[test]
    fn locations_that_are_not_http_urls_are_not_followed() {
        for reference in ["ftp://a/b", "mailto:x@y", "data:text/plain,x", "http://"] {
            assert_eq!(resolved("http://a/b", reference), None, "{reference:?}");
        }
    }

    #[test]
    fn locations_resolve_as_a_browser_resolves_them() {
        // The URL standard, not RFC 3986: a same-scheme reference without
        // `//` is relative, spaces are percent-encoded, hosts lowercased.
        for (reference, expected) in [
            ("http:g", "http://a/g"),
            ("a b", "http://a/a%20b"),
            ("HTTP://EXAMPLE.com/x", "http://example.com/x"),
        ] {
            assert_eq!(
                resolved("http://a/b", reference).as_deref(),
                Some(expected),
                "{reference:?}"
            );
        }
    }

    fn request(method: Method, uri: &str) -> Request<Bytes> {
        let mut request = Request::new(Bytes::from_static(b"{}"));
        *request.method_mut() = method;
        *request.uri_mut() = uri.parse().unwrap();
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("x-custom", HeaderValue::from_static("kept"));
        request
    }

    fn location(to: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_str(to).unwrap());
        headers
    }

    #[test]
    fn see_other_turns_a_post_into_a_get_without_body() {
        let sent = request(Method::POST, "http://a/x");
        let next = next_request(&sent, StatusCode::SEE_OTHER, &location("/y")).unwrap();
        assert_eq!(next.method(), Method::GET);
        assert_eq!(next.uri(), "http://a/y");
        assert!(next.body().is_empty());
        assert_eq!(next.headers().get(CONTENT_TYPE), None);
        assert_eq!(next.headers()["x-custom"], "kept");
        assert_eq!(next.headers()[AUTHORIZATION], "Bearer t");
    }

    #[test]
    fn moved_and_found_turn_only_a_post_into_a_get() {
        for status in [StatusCode::MOVED_PERMANENTLY, StatusCode::FOUND] {
            let post = request(Method::POST, "http://a/x");
            let next = next_request(&post, status, &location("/y")).unwrap();
            assert_eq!(next.method(), Method::GET);
            let put = request(Method::PUT, "http://a/x");
            let next = next_request(&put, status, &location("/y")).unwrap();
            assert_eq!(next.method(), Method::PUT);
            assert_eq!(next.body(), "{}");
        }
    }

    #[test]
    fn temporary_and_permanent_redirects_keep_method_and_body() {
        for status in [
            StatusCode::TEMPORARY_REDIRECT,
            StatusCode::PERMANENT_REDIRECT,
        ] {
            let sent = request(Method::POST, "http://a/x");
            let next = next_request(&sent, status, &location("/y")).unwrap();
            assert_eq!(next.method(), Method::POST);
            assert_eq!(next.body(), "{}");
            assert_eq!(next.headers()[CONTENT_TYPE], "application/json");
        }
    }

    #[test]
    fn cross_origin_redirect_drops_authorization_only() {
        let sent = request(Method::GET, "http://a/x");
        for to in ["http://b/x", "https://a/x", "http://a:8080/x"] {
            let next = next_request(&sent, StatusCode::FOUND, &location(to)).unwrap();
            assert_eq!(next.headers().get(AUTHORIZATION), None, "{to}");
            assert_eq!(next.headers()["x-custom"], "kept");
        }
        let next = next_request(&sent, StatusCode::FOUND, &location("http://A:80/y")).unwrap();
        assert_eq!(next.headers()[AUTHORIZATION], "Bearer t");
    }

    #[test]
    fn redirect_without_location_is_the_final_response() {
        let sent = request(Method::GET, "http://a/x");
        assert!(next_request(&sent, StatusCode::FOUND, &HeaderMap::new()).is_none());
        assert!(next_request(&sent, StatusCode::NOT_MODIFIED, &location("/y")).is_none());
    }
}
