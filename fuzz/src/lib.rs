//! Checks shared by the fuzz targets; see `checks.rs`.
pub mod checks;
