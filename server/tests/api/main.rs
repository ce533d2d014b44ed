//! Keyport's HTTP behaviour, specified against a real server on SQLite and PostgreSQL.

mod access;
mod admin;
mod applications;
mod audit;
mod auth;
mod catalog;
mod cli;
mod feed;
mod health;
pub mod helpers;
mod hygiene;
mod key_lifecycle;
mod keys;
mod layout;
mod markup;
mod mfa;
mod migrations;
mod nginx;
mod notifications;
mod oidc;
mod oidc_provider;
mod openapi;
mod rollups;
mod sessions;
mod subscriptions;
mod usage;
mod verify;
