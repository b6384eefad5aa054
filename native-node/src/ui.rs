//! The browser visualizer, built into the binary and served at `/ui/`, so `http://AGENT/ui/`
//! works with nothing else installed. The files are `bindings-wasm/ui/`: the page's own HTML,
//! JavaScript and CSS, and `pkg/`, the rumor-wasm module and its glue as
//! `bindings-wasm/build.sh` generates them (committed; `scripts/test.sh` rebuilds them and fails
//! if they differ). `--ui-dir` serves a directory from disk instead, for working on the page.

use std::path::Path;

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tower_http::services::ServeDir;

/// One file of the page.
struct Asset {
    path: &'static str,
    mime: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        Asset { path: $path, mime: $mime, bytes: include_bytes!(concat!("../../bindings-wasm/ui/", $path)) }
    };
}

/// Every file under `bindings-wasm/ui/` (a test checks that none is missing).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("simulate.js", "text/javascript; charset=utf-8"),
    asset!("live.js", "text/javascript; charset=utf-8"),
    asset!("draw.js", "text/javascript; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("pkg/rumor_wasm.js", "text/javascript; charset=utf-8"),
    asset!("pkg/rumor_wasm_bg.wasm", "application/wasm"),
    asset!("pkg/rumor_wasm.d.ts", "text/plain; charset=utf-8"),
    asset!("pkg/rumor_wasm_bg.wasm.d.ts", "text/plain; charset=utf-8"),
];

/// What serves the page, which tells the page where its data is: `GET /ui/site.json` answers
/// `{"served_by": "agent"}` (the relay is beside the page, at `/v1/relay`) or `"demo"`
/// (`rumor demo`'s console: the nodes are listed at `/v1/demo`). A page that cannot read it
/// was opened from elsewhere and starts in simulate mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// `rumor agent`'s HTTP listener.
    Agent,
    /// `rumor demo`'s console.
    Demo,
}

/// The routes under `/ui`: the built-in page, or `dir` from disk, and `site.json`.
pub fn router<S: Clone + Send + Sync + 'static>(dir: Option<&Path>, site: Site) -> Router<S> {
    let served_by = match site {
        Site::Agent => "agent",
        Site::Demo => "demo",
    };
    let site = move || async move { axum::Json(serde_json::json!({ "served_by": served_by })) };
    let ui = match dir {
        Some(dir) => Router::new().nest_service("/ui/", ServeDir::new(dir)).layer(map_response(redirect_under_ui)),
        None => Router::new()
            .route("/ui/", get(|| async { built_in("index.html") }))
            .route("/ui/{*path}", get(|UrlPath(path): UrlPath<String>| async move { built_in(&path) })),
    };
    ui.route("/ui/site.json", get(site)).route("/ui", get(|| async { Redirect::permanent("/ui/") }))
}

fn built_in(path: &str) -> Response {
    let path = if path.is_empty() || path.ends_with('/') { "index.html" } else { path };
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(a.mime)),
                // The page is small and changes with the binary: always revalidate.
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            a.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, format!("no {path} in the built-in UI\n")).into_response(),
    }
}

/// `ServeDir` sees paths without the `/ui` prefix, so its redirect from a directory to the
/// directory with a slash (`/ui/js` to `/ui/js/`) would leave the prefix out: put it back.
async fn redirect_under_ui(mut res: Response) -> Response {
    if res.status().is_redirection() {
        let location = res.headers().get(header::LOCATION).and_then(|l| l.to_str().ok());
        let fixed =
            location.filter(|l| l.starts_with('/')).and_then(|l| HeaderValue::from_str(&format!("/ui{l}")).ok());
        if let Some(fixed) = fixed {
            res.headers_mut().insert(header::LOCATION, fixed);
        }
    }
    res
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::ASSETS;

    /// Each file of `bindings-wasm/ui/` is built in (a new file must be listed in `ASSETS`).
    #[test]
    fn every_file_is_built_in() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bindings-wasm/ui");
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    found.push(path.strip_prefix(&root).unwrap().to_str().unwrap().replace('\\', "/"));
                }
            }
        }
        found.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        listed.sort();
        assert_eq!(found, listed, "bindings-wasm/ui/ and ui.rs's ASSETS differ");
    }
}
