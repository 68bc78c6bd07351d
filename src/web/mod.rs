//! The Data Dashboard (`[dashboard]`, docs/dashboard.md): users, sessions, pages and downloads,
//! so that a school's data managers see in a browser what came through, why the rest did not,
//! and what to change in Bromcom. It reads through the same operator views as the command line
//! and writes only users, sessions, audit records, requests and approvals, never the roster.
//!
//! The parts: [`auth`] (argon2id passwords, session and CSRF tokens), [`users`] (`bromsync
//! user`), [`server`] (the bounded HTTP server: sessions, CSRF, security headers), [`reply`]
//! (what the server and the handlers share),
//! [`handlers`] (what each page and form does), [`pages`] (the HTML), [`fixes`] (each reason
//! code in plain English, with what to change in Bromcom).

pub mod auth;
pub mod fixes;
pub mod handlers;
pub mod pages;
pub mod reply;
pub mod server;
pub mod users;

pub use reply::{Dashboard, StoreSource, fixed_store};
pub use server::serve;
