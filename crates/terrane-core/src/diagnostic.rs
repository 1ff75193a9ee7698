use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

/// A place in a stack file, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SourceLocation {
    pub file: Arc<Path>,
    pub line: u32,
    pub column: u32,
}

impl SourceLocation {
    pub fn new(file: Arc<Path>, line: u32, column: u32) -> Self {
        SourceLocation { file, line, column }
    }

    /// A location that names only a file, for problems with the file as a whole.
    pub fn file_only(file: impl Into<PathBuf>) -> Self {
        SourceLocation {
            file: Arc::from(file.into()),
            line: 0,
            column: 0,
        }
    }

    /// This location moved `columns` characters to the right on the same line.
    pub fn shifted(&self, columns: u32) -> Self {
        SourceLocation {
            file: self.file.clone(),
            line: self.line,
            column: self.column + columns,
        }
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

/// One problem found in a stack, located where a person can fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub location: Option<SourceLocation>,
    /// The resource address the problem concerns, when there is one.
    pub address: Option<String>,
    pub message: String,
    /// Further lines: where the other end of a cycle was declared, what was expected, a hint.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn at(location: SourceLocation, message: impl Into<String>) -> Self {
        Diagnostic {
            location: Some(location),
            address: None,
            message: message.into(),
            notes: Vec::new(),
        }
    }

    pub fn unlocated(message: impl Into<String>) -> Self {
        Diagnostic {
            location: None,
            address: None,
            message: message.into(),
            notes: Vec::new(),
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        write!(f, "error: ")?;
        if let Some(addr) = &self.address {
            write!(f, "{addr}: ")?;
        }
        write!(f, "{}", self.message)?;
        for note in &self.notes {
            write!(f, "\n  note: {note}")?;
        }
        Ok(())
    }
}

/// Every problem found in one pass; a pass reports all it can, not just the first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// `Ok(value)` when nothing was reported, otherwise every problem.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
