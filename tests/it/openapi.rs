//! The served OpenAPI document: every route of the router, each served,
//! every status it can send documented, pinned by a snapshot.

use std::collections::BTreeSet;

use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_documented_route_is_served_with_every_status_it_can_send() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(operation["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
            documented.insert((method.clone(), path.clone()));
        }
    }
    // The routes are written once, in the router: the document lists them
    // (pinned by its snapshot below) and each is served.
    assert!(documented.len() >= 42, "{documented:?}");
    assert_eq!(doc.body["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    // Found by schemathesis: the statuses every route can send are documented on every route.
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses.contains_key(status), "{method} {path} does not document {status}");
                }
            }
            if path.starts_with("/api/") {
                for status in ["408", "429", "503"] {
                    assert!(responses.contains_key(status), "{method} {path} does not document {status}");
                }
            }
        }
    }
    assert!(doc.body["components"]["schemas"]["Problem"].is_object());

    // Each documented route is really served (not a 404 from the fallback).
    for (method, path) in &documented {
        let path = path
            .replace("{id}", &uuid::Uuid::now_v7().to_string())
            .replace("{ticket_type_id}", &uuid::Uuid::now_v7().to_string())
            .replace("{code}", "0123456789ABCDEFGHJKMNPQRS");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let reply = app.call(method.clone(), &path, None, None).await;
        assert!(
            !(reply.status == StatusCode::NOT_FOUND && reply.body["detail"] == "route not found")
                && reply.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but not served"
        );
    }
}

#[tokio::test]
async fn swagger_ui_is_served_from_vendored_assets() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger"));
}

/// The served document is pinned: any change to a route, a schema or a
/// documented status shows up here as a diff to review. After a deliberate
/// change, `UPDATE_SNAPSHOTS=1 cargo nextest run openapi` writes the new one.
#[tokio::test]
async fn the_served_document_matches_its_snapshot() {
    let app = spawn_app().await;
    let served = app.get("/openapi.json", None).await.body;
    let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let pinned = std::fs::read_to_string(&path).unwrap_or_default();
    if pinned != pretty {
        let new = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/openapi.new.json");
        let _ = std::fs::write(&new, &pretty);
        panic!(
            "/openapi.json differs from tests/it/snapshots/openapi.json (the served one is in {}); \
             review the diff, then UPDATE_SNAPSHOTS=1 cargo nextest run openapi",
            new.display()
        );
    }
}
