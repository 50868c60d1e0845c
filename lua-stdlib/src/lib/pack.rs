//! `string.pack`.
