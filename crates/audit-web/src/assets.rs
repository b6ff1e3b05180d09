//! The front end (`web/assets`), compiled into the binary: what the browser runs is exactly
//! what was built, and nothing on disk beside the binary can change it.

use crate::http::{self, Body};
use hyper::{Response, StatusCode};

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/assets/"]
struct Files;

/// The assets served without a login: the login page and what it needs.
const PUBLIC: [&str; 3] = ["login.html", "login.js", "app.css"];

/// Whether `name` may be served before a login.
pub(crate) fn public(name: &str) -> bool {
    PUBLIC.contains(&name)
}

/// The asset `name` (a file name of `web/assets`, nothing else), or `None`.
pub(crate) fn get(name: &str) -> Option<Response<Body>> {
    // Only plain file names: rust-embed knows only its own files, but say so here too.
    if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.') {
        return None;
    }
    let file = Files::get(name)?;
    let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    Some(http::with_type(
        StatusCode::OK,
        content_type,
        file.data.into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_and_scripts_are_built_in_and_nothing_else_is_reachable() {
        for name in ["index.html", "login.html", "login.js", "app.js", "app.css"] {
            assert!(get(name).is_some(), "{name} is not embedded");
        }
        for name in [
            "../Cargo.toml",
            "/etc/passwd",
            "",
            ".hidden",
            "assets/app.js",
        ] {
            assert!(get(name).is_none(), "{name:?} was served");
        }
        assert!(public("login.html") && !public("app.js") && !public("index.html"));
    }
}
