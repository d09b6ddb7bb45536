//! The browser view at `/` of the HTTP front: a static page (HTML, JS and CSS built in with
//! `include_str!`, no build step) that `/events` keeps up to date over server-sent events.
//!
//! Access needs a token of `bus token create`, as MCP does: `Authorization: Bearer`, or once
//! `/?token=TOKEN`, which is answered with a redirect to `/` that sets the token as an
//! `HttpOnly`, `SameSite=Strict` cookie (`Secure` under TLS), so it leaves the address bar
//! and history and no script or other site can read or send it. Every request, each event
//! of a stream included, is checked with busd, so a revoked token is refused at once.
//! Read-only: only `GET` is served, and the stream only asks busd to read.

mod events;

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::front::{Body, Front, Refusal, plain};

/// The cookie that carries the token after `/?token=`.
const COOKIE: &str = "bus_view";
const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("view.js");
const STYLE: &str = include_str!("view.css");

/// Whether `path` is the view's.
pub fn serves(path: &str) -> bool {
    matches!(path, "/" | "/view.js" | "/view.css" | "/events")
}

pub async fn handle(front: &Front, peer: IpAddr, request: Request<Incoming>) -> Response<Body> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "the view is read-only: only GET is served",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let path = request.uri().path().to_owned();
    let from_query = (path == "/").then(|| query_token(&request)).flatten();
    let token = from_query
        .clone()
        .or_else(|| bearer(request.headers()))
        .or_else(|| cookie(request.headers()));
    let Some(token) = token else {
        return refused(front, peer).await;
    };
    let who = match front.authenticate_token(&token).await {
        Ok(who) => who,
        Err(Refusal::Unauthorized) => return refused(front, peer).await,
        Err(Refusal::Unavailable(why)) => {
            tracing::warn!("cannot authenticate a viewer: {why}");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the bus is unavailable: retry in a moment",
            );
        }
    };
    if from_query.is_some() {
        // Trade the token in the address for a cookie no script can read.
        let secure = if front.tls { "; Secure" } else { "" };
        let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}");
        return Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, "/")
            .header(header::SET_COOKIE, cookie)
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::REFERRER_POLICY, "no-referrer")
            .body(empty())
            .expect("a valid response");
    }
    tracing::debug!(name = who.name, path, "viewer");
    match path.as_str() {
        "/" => asset(PAGE, "text/html; charset=utf-8"),
        "/view.js" => asset(SCRIPT, "text/javascript; charset=utf-8"),
        "/view.css" => asset(STYLE, "text/css; charset=utf-8"),
        _ => events::stream(front, token),
    }
}

async fn refused(front: &Front, peer: IpAddr) -> Response<Body> {
    let delay = front.throttle.failed(peer);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    plain(
        StatusCode::UNAUTHORIZED,
        "unauthorized: open /?token=TOKEN once with a token from `bus token create NAME` (a viewer's, or any agent's)",
    )
}

fn asset(text: &'static str, kind: &'static str) -> Response<Body> {
    Response::builder()
        .header(header::CONTENT_TYPE, kind)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        )
        .body(Full::new(Bytes::from_static(text.as_bytes())).boxed())
        .expect("a valid response")
}

fn empty() -> Body {
    Full::new(Bytes::new()).boxed()
}

fn query_token(request: &Request<Incoming>) -> Option<String> {
    request
        .uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .filter(|t| token_shaped(t))
        .map(str::to_owned)
}

fn bearer(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && token_shaped(token)).then(|| token.to_owned())
}

fn cookie(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|t| token_shaped(t))
        .map(str::to_owned)
}

/// Tokens are short and URL-safe; anything else is not looked at (nor put in a header).
fn token_shaped(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
}
