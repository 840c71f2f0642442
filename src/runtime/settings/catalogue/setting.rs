//! What the catalogue declares about one environment variable, and the two shorthands its
//! files declare them with.

/// Which process reads a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Api,
    Worker,
    Both,
}

/// A setting's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// This value.
    Value(&'static str),
    /// Unset: the feature it configures is off (or, for a secret, refused).
    Unset,
    /// The number of CPUs the process may use.
    OnePerCpu,
}

/// One environment variable.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    pub default: DefaultValue,
    pub read_by: Process,
    pub meaning: &'static str,
}

pub(super) const fn setting(
    name: &'static str,
    default: &'static str,
    read_by: Process,
    meaning: &'static str,
) -> Setting {
    Setting {
        name,
        default: DefaultValue::Value(default),
        read_by,
        meaning,
    }
}

pub(super) const fn unset(name: &'static str, read_by: Process, meaning: &'static str) -> Setting {
    Setting {
        name,
        default: DefaultValue::Unset,
        read_by,
        meaning,
    }
}
