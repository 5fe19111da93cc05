//! Tokens to a tree: actions, `if`/`else if`/`else`, `range` (with `$i, $e :=` and
//! `else`), `with`, pipelines, parenthesised pipelines and variable declarations.

use serde_json::Value;

use super::funcs;
use super::lex::{Item, Tok};

/// A template node.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
}

/// `$a, $b := cmd | cmd ...` (or `$a = ...`).
#[derive(Debug, Clone, Default)]
pub(super) struct Pipe {
    pub(super) decl: Vec<String>,
    pub(super) assign: bool,
    pub(super) cmds: Vec<Vec<Operand>>,
}

/// An argument or the head of a command.
#[derive(Debug, Clone)]
pub(super) enum Operand {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Lit(Value),
    Func(String),
    Sub(Box<Pipe>, Vec<String>),
}

/// How a list of nodes ended.
enum Stop {
    Eof,
    End,
    Else(Vec<Tok>),
}

/// Parses the items of a template.
pub(super) fn parse(items: Vec<Item>) -> Result<Vec<Node>, String> {
    let mut it = items.into_iter();
    match list(&mut it)? {
        (nodes, Stop::Eof) => Ok(nodes),
        (_, Stop::End) => Err("unexpected {{end}}".into()),
        (_, Stop::Else(_)) => Err("unexpected {{else}}".into()),
    }
}

fn list(it: &mut std::vec::IntoIter<Item>) -> Result<(Vec<Node>, Stop), String> {
    let mut nodes = Vec::new();
    while let Some(item) = it.next() {
        let toks = match item {
            Item::Text(t) if t.is_empty() => continue,
            Item::Text(t) => {
                nodes.push(Node::Text(t));
                continue;
            }
            Item::Action(toks) => toks,
        };
        let keyword = match toks.first() {
            Some(Tok::Ident(w)) => w.as_str(),
            _ => "",
        };
        match keyword {
            "end" => return Ok((nodes, Stop::End)),
            "else" => return Ok((nodes, Stop::Else(toks[1..].to_vec()))),
            "if" | "with" | "range" => nodes.push(block(keyword, &toks[1..], it)?),
            "define" | "template" | "block" | "break" | "continue" => {
                return Err(format!("{{{{{keyword}}}}} is not supported"))
            }
            _ => nodes.push(Node::Action(pipe(&toks)?)),
        }
    }
    Ok((nodes, Stop::Eof))
}

/// The rest of an `if`, `with` or `range` block after its keyword.
fn block(keyword: &str, toks: &[Tok], it: &mut std::vec::IntoIter<Item>) -> Result<Node, String> {
    let p = pipe(toks)?;
    if p.cmds.is_empty() {
        return Err(format!("missing value for {keyword}"));
    }
    let (body, end) = list(it)?;
    let els = match end {
        Stop::Eof => {
            return Err(format!(
                "unexpected EOF: {{{{{keyword}}}}} has no {{{{end}}}}"
            ))
        }
        Stop::End => Vec::new(),
        Stop::Else(rest) if rest.is_empty() => match list(it)? {
            (els, Stop::End) => els,
            _ => {
                return Err(format!(
                    "{{{{{keyword}}}}}: expected {{{{end}}}} after {{{{else}}}}"
                ))
            }
        },
        Stop::Else(rest) => match rest.first() {
            // `else if ...` and `else with ...` share the chain's one {{end}}.
            Some(Tok::Ident(w)) if w == "if" || w == "with" => vec![block(w, &rest[1..], it)?],
            _ => return Err("unexpected tokens after {{else}}".into()),
        },
    };
    Ok(match keyword {
        "if" => Node::If(p, body, els),
        "with" => Node::With(p, body, els),
        _ => Node::Range(p, body, els),
    })
}

/// A pipeline, with its leading variable declaration if any.
pub(super) fn pipe(toks: &[Tok]) -> Result<Pipe, String> {
    let mut p = Pipe::default();
    let mut rest = toks;
    let decl_at = toks
        .iter()
        .position(|t| matches!(t, Tok::Declare | Tok::Assign));
    if let Some(at) = decl_at {
        for (i, t) in toks[..at].iter().enumerate() {
            match t {
                Tok::Var(name, path) if path.is_empty() && i % 2 == 0 => p.decl.push(name.clone()),
                Tok::Comma if i % 2 == 1 => {}
                _ => return Err("bad variable declaration".into()),
            }
        }
        if p.decl.is_empty() || p.decl.len() > 2 {
            return Err("bad variable declaration".into());
        }
        p.assign = toks[at] == Tok::Assign;
        rest = &toks[at + 1..];
    }
    let mut cmd = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let op = match &rest[i] {
            Tok::Pipe => {
                if cmd.is_empty() {
                    return Err("missing command before |".into());
                }
                p.cmds.push(std::mem::take(&mut cmd));
                i += 1;
                continue;
            }
            Tok::LParen => {
                let close = matching(rest, i)?;
                let inner = pipe(&rest[i + 1..close])?;
                i = close;
                let chain = match rest.get(i + 1) {
                    Some(Tok::Chain(c)) => {
                        i += 1;
                        c.clone()
                    }
                    _ => vec![],
                };
                Operand::Sub(Box::new(inner), chain)
            }
            Tok::Field(f) => Operand::Field(f.clone()),
            Tok::Var(n, f) => Operand::Var(n.clone(), f.clone()),
            Tok::Lit(v) => Operand::Lit(v.clone()),
            Tok::Ident(name) if cmd.is_empty() && funcs::known(name) => Operand::Func(name.clone()),
            Tok::Ident(name) => return Err(format!("function {name:?} not defined")),
            other => return Err(format!("unexpected {other:?} in command")),
        };
        cmd.push(op);
        i += 1;
    }
    if !cmd.is_empty() {
        p.cmds.push(cmd);
    } else if !p.cmds.is_empty() {
        return Err("missing command after |".into());
    }
    Ok(p)
}

/// The index of the `)` that closes the `(` at `open`.
fn matching(toks: &[Tok], open: usize) -> Result<usize, String> {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::LParen => depth += 1,
            Tok::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err("unclosed left paren".into())
}

#[cfg(test)]
mod tests {
    use super::super::lex::items;
    use super::*;

    fn p(src: &str) -> Result<Vec<Node>, String> {
        parse(items(src)?)
    }

    #[test]
    fn blocks_nest_and_errors_are_caught() {
        let n = p("{{if .A}}a{{else if .B}}b{{else}}c{{end}}").unwrap();
        let Node::If(_, then, els) = &n[0] else {
            panic!("{n:?}")
        };
        assert_eq!(then.len(), 1);
        assert!(matches!(&els[0], Node::If(_, _, e) if e.len() == 1));
        let n = p("{{range $k, $v := .M}}{{$k}}{{end}}").unwrap();
        assert!(matches!(&n[0], Node::Range(p, _, _) if p.decl == ["k", "v"]));
        assert!(p("{{(index .A 0).Name | upper}}").is_ok());
        for bad in [
            "{{if .A}}x",
            "{{end}}",
            "{{else}}",
            "{{nope .A}}",
            "{{.A |}}",
            "{{(index .A}}",
            "{{range}}{{end}}",
            "{{template \"x\"}}",
            "{{$a, $b, $c := .X}}",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
