//! job_submit_rci.so
