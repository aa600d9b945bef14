//! The static files (`static/`, compiled into the binary), served under
//! names that carry a hash of their content: a page always links the current
//! version, so a browser may keep each one for a year.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::PageError;
use crate::http::extract::Path;

struct Asset {
    /// The name pages use (`app.css`).
    name: &'static str,
    /// The name it is served under (`app.3f2a9c1d.css`).
    hashed: String,
    content_type: &'static str,
    body: &'static [u8],
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        ("app.css", "text/css; charset=utf-8", &include_bytes!("../../static/app.css")[..]),
        ("live.js", "text/javascript; charset=utf-8", &include_bytes!("../../static/live.js")[..]),
        ("pay.js", "text/javascript; charset=utf-8", &include_bytes!("../../static/pay.js")[..]),
        ("door.js", "text/javascript; charset=utf-8", &include_bytes!("../../static/door.js")[..]),
        ("draw.js", "text/javascript; charset=utf-8", &include_bytes!("../../static/draw.js")[..]),
        ("door-offline.js", "text/javascript; charset=utf-8", &include_bytes!("../../static/door-offline.js")[..]),
        ("door-icon.svg", "image/svg+xml", &include_bytes!("../../static/door-icon.svg")[..]),
        ("jsQR.js", "text/javascript; charset=utf-8", &include_bytes!("../../static/vendor/jsQR.js")[..]),
    ]
    .into_iter()
    .map(|(name, content_type, body)| {
        let digest = Sha256::digest(body);
        let short: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
        let (stem, ext) = name.rsplit_once('.').expect("static names have an extension");
        Asset { name, hashed: format!("{stem}.{short}.{ext}"), content_type, body }
    })
    .collect()
});

/// The URL of static file `name` as pages link it.
pub fn url(name: &str) -> String {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map_or_else(|| format!("/static/{name}"), |a| format!("/static/{}", a.hashed))
}

pub async fn serve(Path(name): Path<String>) -> Result<Response, PageError> {
    let asset = ASSETS.iter().find(|a| a.hashed == name).ok_or(PageError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        asset.body,
    )
        .into_response())
}

/// `https://js.stripe.com` of `https://js.stripe.com/v3/`: what the CSP allows.
pub fn origin_of(url: &str) -> String {
    url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_carry_the_content_hash_and_unknown_ones_stay_plain() {
        let css = super::url("app.css");
        assert!(
            css.starts_with("/static/app.") && css.ends_with(".css") && css.len() == "/static/app.0123456789.css".len(),
            "{css}"
        );
        assert_eq!(super::url("nothing.js"), "/static/nothing.js");
        assert_eq!(super::origin_of("http://127.0.0.1:8421/js.stripe.com/v3/"), "http://127.0.0.1:8421");
    }
}
