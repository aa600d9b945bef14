//! Reading a form: its fields as sent (kept to show them again), each
//! checked by its handler; a body that is not a form at all is a 400 page.

use std::collections::HashMap;

use axum::extract::{FromRequest, Request};

use super::error::PageError;

/// The fields of a URL-encoded form, by name (the last of a repeated name).
pub struct Form(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        axum::Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map(|axum::Form(pairs)| Form(pairs.into_iter().collect()))
            .map_err(|rejection| PageError::BadForm(rejection.body_text()))
    }
}

impl Form {
    /// A field's value, trimmed; "" when it was not sent.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.trim())
    }

    /// The CSRF token the form carried.
    pub fn csrf(&self) -> &str {
        self.get("csrf")
    }
}

/// Messages by field name, for the template to put next to each field.
pub type FieldErrors = HashMap<String, String>;

/// The API's validation errors by field (the first message of each).
pub fn field_errors(err: &crate::error::ApiError) -> Option<FieldErrors> {
    match err {
        crate::error::ApiError::Validation(errors) => {
            let mut by_field = FieldErrors::new();
            for e in errors {
                by_field.entry(e.field.clone()).or_insert_with(|| e.message.clone());
            }
            Some(by_field)
        }
        _ => None,
    }
}

/// A path to come back to after signing in: only this site's own.
pub fn local_path(next: &str) -> &str {
    if crate::domain::validation::is_local_path(next) { next } else { "/me/tickets" }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_this_sites_paths_are_followed_after_signing_in() {
        for good in ["/me/tickets", "/events/abc?x=1", "/bookings/1#top"] {
            assert_eq!(super::local_path(good), good);
        }
        for bad in
            ["//evil.example", "/\t/evil.example", "/\\evil.example", "https://evil.example", "/ /x", "", "/\n/evil"]
        {
            assert_eq!(super::local_path(bad), "/me/tickets", "{bad:?}");
        }
    }
}
