//! Bad input of every kind gets a clear 4xx problem, never a 500.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{event_body, spawn_app};

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    for body in ["{", "{\"title\": }", "", "null x", "\u{feff}{}"] {
        let reply = app
            .send(
                app.client
                    .post(app.url("/api/v1/events"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(reply.code(), "bad_request");
    }
}

#[tokio::test]
async fn wrong_types_missing_and_unknown_fields_are_422_naming_the_field() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let mut wrong_type = event_body();
    wrong_type["ticket_types"][0]["capacity"] = json!("a hundred");
    let mut missing = event_body();
    missing.as_object_mut().unwrap().remove("venue");
    let mut unknown = event_body();
    unknown["organizer_id"] = json!("00000000-0000-0000-0000-000000000000");
    let mut bad_time = event_body();
    bad_time["starts_at"] = json!("next friday");
    let mut huge = event_body();
    huge["ticket_types"][0]["price_cents"] = json!(1e300);
    let mut nul = event_body();
    nul["title"] = json!("bad\u{0}title");
    for (body, field) in [
        (wrong_type, "ticket_types[0].capacity"),
        (missing, "venue"),
        (unknown, "organizer_id"),
        (bad_time, "starts_at"),
        (huge, "ticket_types[0].price_cents"),
        (nul, "title"),
    ] {
        let reply = app.post("/api/v1/events", Some(&token), body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {reply:?}");
        assert_eq!(reply.code(), "validation_failed");
        assert_eq!(reply.fields(), [field]);
    }
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let app = spawn_app().await;
    let reply =
        app.send(app.client.post(app.url("/api/v1/auth/login")).header("content-type", "text/plain").body("{}")).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(reply.code(), "unsupported_media_type");
    let none = app.send(app.client.post(app.url("/api/v1/auth/login")).body("{}")).await;
    assert_eq!(none.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let mut body = event_body();
    body["description"] = json!("x".repeat(70 * 1024));
    let reply = app.post("/api/v1/events", Some(&token), body).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.code(), "payload_too_large");
    // Without a Content-Length (chunked) the limit still holds.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    let head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..80 {
        let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break; // the server may stop reading once the limit is passed
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn a_path_id_that_is_not_a_uuid_is_400() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    for (method, path) in [
        (Method::GET, "/api/v1/events/not-a-uuid"),
        (Method::DELETE, "/api/v1/events/123"),
        (Method::PATCH, "/api/v1/events/00000000-0000-0000-0000-000000000000/ticket-types/x"),
    ] {
        let reply = app.call(method, path, Some(&token), Some(json!({}))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(reply.code(), "bad_request");
    }
    let unknown = app.get(&format!("/api/v1/events/{}", uuid::Uuid::now_v7()), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problems_too() {
    let app = spawn_app().await;
    let missing = app.get("/api/v1/nothing-here", None).await;
    assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "not_found"));
    let method = app.call(Method::PUT, "/api/v1/events", None, None).await;
    assert_eq!((method.status, method.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
}

#[tokio::test]
async fn a_huge_or_deeply_nested_body_is_refused_cleanly() {
    let app = spawn_app().await;
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let reply = app
        .send(app.client.post(app.url("/api/v1/auth/login")).header("content-type", "application/json").body(deep))
        .await;
    // Valid syntax, wrong shape: refused without recursing 20,000 frames deep.
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.code(), "validation_failed");
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // ... and never finishes the headers. The server closes within its header timeout (10 s).
    let mut buffer = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(20), stream.read_to_end(&mut buffer)).await;
    assert!(closed.is_ok(), "the connection was still open after 20 s");
    // A well-behaved client on the same server is unaffected.
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}
