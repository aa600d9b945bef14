//! Cryptography of accounts: password hashing, access tokens, refresh tokens.

pub mod password;
pub mod refresh;
pub mod token;
pub mod verification;

pub use password::PasswordHasher;
pub use token::{AccessClaims, TokenKeys};
