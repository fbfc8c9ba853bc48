//! The sealing page of sealkit: one HTML page, its style and script, embedded in the binaries
//! that serve it (`seal-controller` at `/`, `seal web`) and writable to a folder, to be opened
//! as a file.
//!
//! The page seals in the browser, with WebCrypto, in the Bitnami SealedSecret format
//! (`assets/sealkit.js` states the envelope); no value leaves it. Its only requests are
//! `GET v1/cert.pem` and, when asked, `POST v1/verify` with the sealed output, both relative to
//! the page, so it works the same behind the API server's service proxy. Every response carries
//! [`CONTENT_SECURITY_POLICY`].
//!
//! `assets/vendor/js-yaml.min.js` is js-yaml 4.1.0 (MIT, `assets/vendor/README.md`): the page
//! reads an existing SealedSecret (merge into) and writes YAML with it.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Same-origin scripts, styles and requests only; no form submission, no framing, no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The page as a file holds it: `<body data-server="file">`, which servers replace.
const FILE_MARKER: &str = "<body data-server=\"file\">";

/// The ids the page keeps stable for tests and users' own automation. Rows of items are
/// numbered from 0 in order (`key-0`, `value-0`, `file-0`, `remove-0`, then `key-1` … after
/// `add-row`), and renumbered when one is removed.
pub const STABLE_IDS: &[&str] = &[
    "cert-source-controller",
    "cert-source-pem",
    "cert-pem",
    "cert-file",
    "cert-fingerprint",
    "cert-key",
    "cert-expiry",
    "cert-warning",
    "merge",
    "merge-input",
    "merge-file",
    "merge-info",
    "raw",
    "name",
    "namespace",
    "scope",
    "type",
    "basic-username",
    "basic-password",
    "docker-server",
    "docker-username",
    "docker-password",
    "docker-email",
    "tls-crt-file",
    "tls-key-file",
    "key-0",
    "value-0",
    "file-0",
    "remove-0",
    "add-row",
    "labels",
    "annotations",
    "immutable",
    "seal",
    "clear",
    "hide-values",
    "error",
    "status",
    "format-yaml",
    "format-json",
    "output",
    "output-json",
    "copy",
    "download",
    "validate",
    "validate-result",
];

/// Who serves the page; the page adapts its certificate choice and its Validate button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// `seal-controller`: its current certificate at `v1/cert.pem`, and `v1/verify`.
    Controller,
    /// `seal web`: a certificate file at `v1/cert.pem`, no `v1/verify`.
    SealWeb,
}

impl Host {
    fn marker(self) -> &'static str {
        match self {
            Self::Controller => "<body data-server=\"controller\">",
            Self::SealWeb => "<body data-server=\"seal-web\">",
        }
    }
}

/// One embedded file of the page.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Path relative to the page (`index.html`, `sealkit.js`, `vendor/…`).
    pub path: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// Its text.
    pub body: &'static str,
}

/// Every file of the page, `index.html` first (as a file opens it: no server).
pub const ASSETS: [Asset; 5] = [
    Asset {
        path: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../assets/index.html"),
    },
    Asset {
        path: "sealkit.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/sealkit.js"),
    },
    Asset {
        path: "sealkit.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/sealkit.css"),
    },
    Asset {
        path: "vendor/js-yaml.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/vendor/js-yaml.min.js"),
    },
    Asset {
        path: "vendor/js-yaml.LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_str!("../assets/vendor/js-yaml.LICENSE"),
    },
];

/// The page as `host` serves it.
pub fn index_html(host: Host) -> String {
    ASSETS[0].body.replacen(FILE_MARKER, host.marker(), 1)
}

/// Routes `/` (and `/index.html`) and the page's other files, each with
/// [`CONTENT_SECURITY_POLICY`] and headers that forbid sniffing, framing and referrers.
pub fn router<S>(host: Host) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let page = index_html(host);
    let mut router = Router::new();
    for path in ["/", "/index.html"] {
        let page = page.clone();
        router = router.route(
            path,
            get(move || async move { respond(ASSETS[0].content_type, page) }),
        );
    }
    for asset in &ASSETS[1..] {
        let Asset {
            content_type, body, ..
        } = *asset;
        router = router.route(
            &format!("/{}", asset.path),
            get(move || async move { respond(content_type, body) }),
        );
    }
    router
}

fn respond(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let headers: [(HeaderName, HeaderValue); 8] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, body.into()).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    use super::*;

    async fn get_path(router: Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn every_file_is_served_with_its_type_and_the_strict_csp() {
        for path in [
            "/",
            "/index.html",
            "/sealkit.js",
            "/sealkit.css",
            "/vendor/js-yaml.min.js",
        ] {
            let (status, headers, body) = get_path(router(Host::Controller), path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(
                headers["content-security-policy"],
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                 img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
            );
            assert_eq!(headers["x-content-type-options"], "nosniff");
            assert_eq!(headers["x-frame-options"], "DENY");
            assert_eq!(headers["referrer-policy"], "no-referrer");
            assert!(!body.is_empty(), "{path}");
        }
        let (_, headers, _) = get_path(router(Host::Controller), "/sealkit.js").await;
        assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
        let (_, headers, _) = get_path(router(Host::Controller), "/").await;
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    }

    #[tokio::test]
    async fn the_page_says_which_server_serves_it() {
        let (_, _, body) = get_path(router(Host::Controller), "/").await;
        assert!(body.contains("<body data-server=\"controller\">"));
        let (_, _, body) = get_path(router(Host::SealWeb), "/").await;
        assert!(body.contains("<body data-server=\"seal-web\">"));
        assert!(
            ASSETS[0].body.contains(FILE_MARKER),
            "the file form opens as `file`"
        );
    }

    #[tokio::test]
    async fn other_paths_are_not_found() {
        let (status, _, _) = get_path(router(Host::Controller), "/v1/anything").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_page_loads_nothing_from_another_origin() {
        let page = ASSETS[0].body;
        for attribute in ["src=\"", "href=\""] {
            for (at, _) in page.match_indices(attribute) {
                let url = &page[at + attribute.len()..];
                let url = &url[..url.find('"').unwrap()];
                assert!(
                    !url.contains(':') && !url.starts_with('/'),
                    "{url} is not a relative same-origin URL"
                );
            }
        }
        let script = ASSETS[1].body;
        assert!(!script.contains("http://") && !script.contains("https://"));
        assert!(
            !script.contains("innerHTML"),
            "text is set with textContent only"
        );
        assert!(!page.contains("<style") && !page.contains(" style="));
        assert!(
            !page.contains("<script>"),
            "no inline script (the CSP forbids it)"
        );
    }

    #[test]
    fn the_page_reads_values_from_inputs_without_names() {
        // Without `name` attributes a form submission would carry no value at all; the radio
        // groups are the only named inputs and hold no value of the Secret.
        let page = ASSETS[0].body;
        let mut names = Vec::new();
        for control in ["<input", "<textarea", "<select"] {
            for (at, _) in page.match_indices(control) {
                let tag = &page[at..];
                let tag = &tag[..tag.find('>').unwrap()];
                if let Some(name) = tag.split(" name=\"").nth(1) {
                    names.push(&name[..name.find('"').unwrap()]);
                }
            }
        }
        assert!(
            names.iter().all(|n| ["cert-source", "format"].contains(n)),
            "{names:?}"
        );
        assert!(!ASSETS[1].body.contains(".name = "));
    }

    /// The `--name: #rrggbb;` custom properties of the CSS block starting at `start`.
    fn palette(css: &str, start: &str) -> std::collections::HashMap<String, [f64; 3]> {
        let block = &css[css.find(start).unwrap()..];
        let block = &block[..block.find('}').unwrap()];
        block
            .lines()
            .filter_map(|line| {
                let (name, value) = line.trim().strip_prefix("--")?.split_once(':')?;
                let hex = value.trim().strip_prefix('#')?.strip_suffix(';')?;
                let channel = |i: usize| {
                    let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
                    if c <= 0.03928 {
                        c / 12.92
                    } else {
                        ((c + 0.055) / 1.055).powf(2.4)
                    }
                };
                Some((name.to_owned(), [channel(0), channel(2), channel(4)]))
            })
            .collect()
    }

    /// WCAG 2 contrast ratio.
    fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
        let luminance = |c: [f64; 3]| 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn text_and_controls_have_enough_contrast_in_light_and_dark() {
        let css = ASSETS[2].body;
        for scheme in [":root {", "@media (prefers-color-scheme: dark)"] {
            let p = palette(css, scheme);
            assert!(p.len() >= 12, "{scheme}: {p:?}");
            // Text at least 4.5:1 (WCAG AA), borders and focus rings at least 3:1.
            for (fg, bg, least) in [
                ("text", "bg", 4.5),
                ("text", "surface", 4.5),
                ("muted", "surface", 4.5),
                ("muted", "bg", 4.5),
                ("primary-text", "primary", 4.5),
                ("error", "surface", 4.5),
                ("ok", "surface", 4.5),
                ("warning-text", "warning-bg", 4.5),
                ("border", "bg", 3.0),
                ("border", "surface", 3.0),
                ("focus", "surface", 3.0),
                ("focus", "bg", 3.0),
            ] {
                let ratio = contrast(p[fg], p[bg]);
                assert!(ratio >= least, "{scheme} {fg} on {bg}: {ratio:.2}");
            }
        }
    }

    #[test]
    fn every_stable_id_is_in_the_page_or_made_by_its_script() {
        let page = ASSETS[0].body;
        let script = ASSETS[1].body;
        for id in STABLE_IDS {
            let in_page = page.contains(&format!("id=\"{id}\""));
            let row_id = id
                .strip_suffix("-0")
                .is_some_and(|prefix| script.contains(&format!("'{prefix}-' + i")));
            assert!(in_page || row_id, "{id}");
        }
    }
}
