//! One module per subcommand. Each parses its arguments, calls the library crates, hands
//! the result to a renderer and picks the exit code; no command imports another.

pub(crate) mod agent;
pub(crate) mod bench;
pub(crate) mod db;
pub(crate) mod docs;
pub(crate) mod gate;
pub(crate) mod policy;
pub(crate) mod sbom;
pub(crate) mod scan;
pub(crate) mod serve;
pub(crate) mod store;
pub(crate) mod trust;
