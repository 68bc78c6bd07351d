//! Logging set-up: `RUST_LOG` honoured, human-readable on a terminal or JSON lines.
