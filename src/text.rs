//! User-controlled text in messages: cut to a sane length and with control
//! characters escaped, so a hostile image name cannot forge lines or flood
//! the API server's response.

use core::fmt;
use std::borrow::Cow;
use std::ops::Deref;

use serde::de::{Deserialize, Deserializer, Visitor};

/// A JSON string of the request or settings: borrowed from the payload,
/// owned only when it had escapes.
///
/// A newtype, not an alias of `Cow<str>`: serde borrows only a field whose
/// type is written `Cow<'a, str>` itself; behind an alias, in an `Option`, a
/// `Vec` or a map it allocates every string (one allocation per allowlist
/// pattern, per container name…).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Text<'_> {
    /// The string, owned.
    #[must_use]
    pub fn into_owned(self) -> String {
        self.0.into_owned()
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text(Cow::Borrowed(s))
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

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
    use super::{Cow, Quoted, Text};

    #[test]
    fn text_borrows_wherever_it_sits() {
        #[derive(serde::Deserialize)]
        struct Fields<'a> {
            #[serde(borrow)]
            plain: Text<'a>,
            #[serde(borrow)]
            optional: Option<Text<'a>>,
            #[serde(borrow)]
            list: Vec<Text<'a>>,
            #[serde(borrow)]
            escaped: Text<'a>,
        }
        let f: Fields<'_> = serde_json::from_str(
            r#"{"plain": "a", "optional": "b", "list": ["c"], "escaped": "\u0064"}"#,
        )
        .unwrap();
        let borrowed = |t: &Text<'_>| matches!(t.0, Cow::Borrowed(_));
        assert!(borrowed(&f.plain));
        assert!(borrowed(f.optional.as_ref().unwrap()));
        assert!(borrowed(&f.list[0]));
        assert!(!borrowed(&f.escaped));
        assert_eq!(f.escaped, "d");
    }

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
