//! HTTP downloads.
