//! Splitting a template into text and actions, and an action into tokens, as Go's
//! text/template lexer does (trim markers `{{- ` and ` -}}`, comments `{{/* */}}`, strings
//! in double quotes or backquotes).

use serde_json::{Number, Value};

/// One token of an action.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// `.A.B` (`.` alone is an empty path).
    Field(Vec<String>),
    /// `$x.A` (`$` alone is the name "").
    Var(String, Vec<String>),
    /// `.A` right after `)`: a field of the parenthesised value.
    Chain(Vec<String>),
    /// A constant: string, number, bool or nil.
    Lit(Value),
    /// A function name or keyword.
    Ident(String),
    /// `|`
    Pipe,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// `,`
    Comma,
}

/// Text between actions, or an action's tokens.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Text(String),
    Action(Vec<Tok>),
}

/// Splits `src` into text and tokenised actions.
pub(super) fn items(src: &str) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(i) = rest.find("{{") {
        let mut text = &rest[..i];
        if trim_next {
            text = text.trim_start();
        }
        let body_start = i + 2;
        let end = action_end(&rest[body_start..]).ok_or("unclosed action")? + body_start;
        let mut body = &rest[body_start..end];
        if let Some(b) = body.strip_prefix("- ") {
            text = text.trim_end();
            body = b;
        }
        trim_next = false;
        if let Some(b) = body.strip_suffix(" -") {
            trim_next = true;
            body = b;
        }
        out.push(Item::Text(text.to_string()));
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            let toks = tokens(body)?;
            if toks.is_empty() {
                return Err("missing value for command".into());
            }
            out.push(Item::Action(toks));
        }
        rest = &rest[end + 2..];
    }
    out.push(Item::Text(if trim_next {
        rest.trim_start().to_string()
    } else {
        rest.to_string()
    }));
    Ok(out)
}

/// The offset of the `}}` that closes an action, skipping quoted strings.
fn action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads `.A.B...` starting at a `.`; returns the path and the bytes used.
fn path(s: &str) -> (Vec<String>, usize) {
    let mut parts = Vec::new();
    let mut used = 0;
    while s[used..].starts_with('.') {
        let word: String = s[used + 1..].chars().take_while(|c| is_word(*c)).collect();
        used += 1 + word.len();
        if word.is_empty() {
            break;
        }
        parts.push(word);
    }
    (parts, used)
}

/// The tokens of one action's text.
pub(super) fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let (tok, used) = match c {
            '|' => (Tok::Pipe, 1),
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '=' => (Tok::Assign, 1),
            ':' if rest.starts_with(":=") => (Tok::Declare, 2),
            '.' if !rest[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                let (p, used) = path(rest);
                let chained = out.last() == Some(&Tok::RParen) && s[..i].ends_with(')');
                (
                    if chained {
                        Tok::Chain(p)
                    } else {
                        Tok::Field(p)
                    },
                    used,
                )
            }
            '$' => {
                let name: String = rest[1..].chars().take_while(|c| is_word(*c)).collect();
                let (p, used) = path(&rest[1 + name.len()..]);
                (Tok::Var(name.clone(), p), 1 + name.len() + used)
            }
            '"' => string(rest)?,
            '`' => {
                let end = rest[1..].find('`').ok_or("unterminated raw string")?;
                (Tok::Lit(Value::String(rest[1..1 + end].into())), end + 2)
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => number(rest)?,
            c if is_word(c) => {
                let word: String = rest.chars().take_while(|c| is_word(*c)).collect();
                let tok = match word.as_str() {
                    "true" => Tok::Lit(Value::Bool(true)),
                    "false" => Tok::Lit(Value::Bool(false)),
                    "nil" => Tok::Lit(Value::Null),
                    _ => Tok::Ident(word.clone()),
                };
                (tok, word.len())
            }
            other => return Err(format!("unexpected {other:?} in action")),
        };
        out.push(tok);
        i += used;
    }
    Ok(out)
}

/// A double-quoted string with Go's common escapes.
fn string(s: &str) -> Result<(Tok, usize), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((Tok::Lit(Value::String(out)), i + 1)),
            '\\' => {
                let (_, e) = chars.next().ok_or("unterminated string")?;
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    other => other,
                });
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

fn number(s: &str) -> Result<(Tok, usize), String> {
    let len = s
        .char_indices()
        .take_while(|(i, c)| {
            c.is_ascii_alphanumeric() || *c == '.' || ((*c == '-' || *c == '+') && *i == 0)
        })
        .count();
    let text = &s[..len];
    let n = if let Ok(i) = text.parse::<i64>() {
        Number::from(i)
    } else {
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .ok_or_else(|| format!("bad number syntax: {text:?}"))?
    };
    Ok((Tok::Lit(Value::Number(n)), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_tokenises() {
        let it: Vec<Item> = items("a {{- .X.Y | json -}} b{{/* c */}}{{$k, $v := .M}}")
            .unwrap()
            .into_iter()
            .filter(|i| *i != Item::Text(String::new()))
            .collect();
        assert_eq!(it[0], Item::Text("a".into()));
        assert_eq!(
            it[1],
            Item::Action(vec![
                Tok::Field(vec!["X".into(), "Y".into()]),
                Tok::Pipe,
                Tok::Ident("json".into())
            ])
        );
        assert_eq!(it[2], Item::Text("b".into()));
        assert_eq!(
            it[3],
            Item::Action(vec![
                Tok::Var("k".into(), vec![]),
                Tok::Comma,
                Tok::Var("v".into(), vec![]),
                Tok::Declare,
                Tok::Field(vec!["M".into()])
            ])
        );
        let t = tokens(r#"printf "%s}}\"x" -1 2.5 (index . 0).Name $ `r`"#).unwrap();
        assert_eq!(t[1], Tok::Lit(Value::String("%s}}\"x".into())));
        assert_eq!(t[2], Tok::Lit(serde_json::json!(-1)));
        assert_eq!(t[3], Tok::Lit(serde_json::json!(2.5)));
        assert_eq!(t[9], Tok::Chain(vec!["Name".into()]));
        assert_eq!(t[10], Tok::Var("".into(), vec![]));
        assert_eq!(t[11], Tok::Lit(Value::String("r".into())));
        assert!(items("{{.X").is_err());
        assert!(items("{{}}").is_err());
        assert!(tokens("\"open").is_err());
    }
}
