//! Field mapping.
/// A mapping problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError;
impl std::fmt::Display for MappingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("x")
    }
}
