//! User-controlled text in messages: cut to a sane length and with control
//! characters escaped, so a hostile image name cannot forge lines or flood
//! the API server's response.

use core::fmt;

/// Longest piece of user text quoted in a message, in characters.
pub const MAX_QUOTED: usize = 200;

/// Displays `s` cut to [`MAX_QUOTED`] characters (with `…`), control and
/// invisible-format characters written as `\u{…}` escapes.
#[derive(Debug, Clone, Copy)]
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, c) in self.0.chars().enumerate() {
            if n == MAX_QUOTED {
                return f.write_str("…");
            }
            if c.is_control() || is_format(c) {
                match c {
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    _ => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                }
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Bidirectional overrides and zero-width characters, which can make a
/// message read differently from what it says.
fn is_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::Quoted;

    #[test]
    fn escapes_and_cuts() {
        assert_eq!(
            Quoted("a\nb\r\t\u{1b}[31m").to_string(),
            "a\\nb\\r\\t\\u{1b}[31m"
        );
        assert_eq!(Quoted("x\u{202e}y").to_string(), "x\\u{202e}y");
        let long = "é".repeat(500);
        let q = Quoted(&long).to_string();
        assert_eq!(q.chars().count(), 201);
        assert!(q.ends_with('…'));
        assert_eq!(Quoted("plain:tag").to_string(), "plain:tag");
    }
}
