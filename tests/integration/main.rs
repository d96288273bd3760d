//! End-to-end tests: the real `lessor` binary over real HTTP.
