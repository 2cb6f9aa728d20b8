//! spank_rci.so
