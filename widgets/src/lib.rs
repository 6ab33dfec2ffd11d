//! Pure ratatui widgets for Rookery.
