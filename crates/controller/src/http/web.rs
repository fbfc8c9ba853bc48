//! `GET /`: the sealing page (`sealkit-webui`) on the API address, on by default (`--web`).
//!
//! The page seals in the browser with the certificate it fetches from `v1/cert.pem` and posts
//! only sealed output to `v1/verify`: serving it gives the controller no new input.

use axum::Router;
use sealkit_webui::Host;

/// `api` with the page's routes added when `enabled`; without them `/` is a 404.
pub fn with_page(api: Router, enabled: bool) -> Router {
    if enabled {
        api.merge(sealkit_webui::router(Host::Controller))
    } else {
        api
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;
    use clap::Parser as _;

    use super::super::api_router;
    use super::super::tests::{call, state};
    use super::*;
    use crate::Args;

    #[tokio::test]
    async fn the_page_is_served_at_the_root_with_the_strict_csp() {
        let router = with_page(api_router(state(&[(0, "a", false)], 100)), true);
        let (status, body, headers) = call(router.clone(), "GET", "/", Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<body data-server=\"controller\">"));
        assert_eq!(
            headers["content-security-policy"],
            sealkit_webui::CONTENT_SECURITY_POLICY
        );
        let (status, _, _) = call(router.clone(), "GET", "/sealkit.js", Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = call(router, "GET", "/v1/cert.pem", Body::empty()).await;
        assert_eq!(status, StatusCode::OK, "the API is still there");
    }

    #[tokio::test]
    async fn web_false_makes_the_root_a_404() {
        let args = Args::try_parse_from(["seal-controller", "--web=false"]).unwrap();
        assert!(!args.run.web);
        let router = with_page(api_router(state(&[(0, "a", false)], 100)), args.run.web);
        for path in ["/", "/index.html", "/sealkit.js"] {
            let (status, _, _) = call(router.clone(), "GET", path, Body::empty()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn the_page_is_on_by_default() {
        assert!(Args::try_parse_from(["seal-controller"]).unwrap().run.web);
        assert!(
            Args::try_parse_from(["seal-controller", "--web"])
                .unwrap()
                .run
                .web
        );
    }
}
