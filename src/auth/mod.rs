//! Cryptography of accounts: password hashing, access tokens, refresh tokens,
//! the web pages' session cookies and CSRF tokens.

pub mod page;
pub mod password;
pub mod refresh;
pub mod sign_in_link;
pub mod token;
pub mod verification;

pub use page::PageKeys;
pub use password::PasswordHasher;
pub use token::{AccessClaims, TokenKeys};
