//! Running a parsed template over a JSON value: `.` is the current value (rebound by
//! `range` and `with`), `$` the whole input, `$x` variables scoped to their block.

use serde_json::Value;

use super::funcs;
use super::parse::{Node, Operand, Pipe};
use super::show;

/// Execution state: the input and the variables in scope (innermost last).
pub(super) struct Exec<'a> {
    root: &'a Value,
    vars: Vec<(String, Option<Value>)>,
    out: String,
}

impl<'a> Exec<'a> {
    pub(super) fn new(root: &'a Value) -> Exec<'a> {
        Exec {
            root,
            vars: vec![(String::new(), Some(root.clone()))],
            out: String::new(),
        }
    }

    pub(super) fn finish(self) -> String {
        self.out
    }

    /// Runs `nodes` with `dot`; variables declared inside end with the list.
    pub(super) fn walk(&mut self, nodes: &[Node], dot: &Option<Value>) -> Result<(), String> {
        let depth = self.vars.len();
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        self.out.push_str(&show(v.as_ref()));
                    }
                }
                Node::If(p, then, els) => {
                    let v = self.pipe(p, dot)?;
                    let branch = if funcs::truthy(&v) { then } else { els };
                    self.walk(branch, dot)?;
                }
                Node::With(p, body, els) => {
                    let v = self.pipe(p, dot)?;
                    if funcs::truthy(&v) {
                        self.walk(body, &v)?;
                    } else {
                        self.walk(els, dot)?;
                    }
                }
                Node::Range(p, body, els) => self.range(p, body, els, dot)?,
            }
        }
        self.vars.truncate(depth);
        Ok(())
    }

    fn range(
        &mut self,
        p: &Pipe,
        body: &[Node],
        els: &[Node],
        dot: &Option<Value>,
    ) -> Result<(), String> {
        let bare = Pipe {
            decl: vec![],
            assign: false,
            cmds: p.cmds.clone(),
        };
        let items: Vec<(Value, Value)> = match self.pipe(&bare, dot)? {
            Some(Value::Array(a)) => a
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::from(i), v))
                .collect(),
            // Go ranges over a map in key order.
            Some(Value::Object(m)) => {
                let mut kv: Vec<(String, Value)> = m.into_iter().collect();
                kv.sort_by(|a, b| a.0.cmp(&b.0));
                kv.into_iter().map(|(k, v)| (Value::String(k), v)).collect()
            }
            None | Some(Value::Null) => vec![],
            Some(Value::Number(n)) if n.as_u64().is_some() => (0..n.as_u64().unwrap_or(0))
                .map(|i| (Value::from(i), Value::from(i)))
                .collect(),
            Some(other) => return Err(format!("range can't iterate over {}", show(Some(&other)))),
        };
        if items.is_empty() {
            return self.walk(els, dot);
        }
        for (k, v) in items {
            let depth = self.vars.len();
            match p.decl.as_slice() {
                [one] => self.vars.push((one.clone(), Some(v.clone()))),
                [a, b] => {
                    self.vars.push((a.clone(), Some(k)));
                    self.vars.push((b.clone(), Some(v.clone())));
                }
                _ => {}
            }
            self.walk(body, &Some(v))?;
            self.vars.truncate(depth);
        }
        Ok(())
    }

    /// Evaluates a pipeline (each command's value is the last argument of the next) and
    /// binds its declared variable.
    fn pipe(&mut self, p: &Pipe, dot: &Option<Value>) -> Result<Option<Value>, String> {
        let mut piped: Option<Option<Value>> = None;
        for cmd in &p.cmds {
            piped = Some(self.command(cmd, dot, piped)?);
        }
        let v = piped.unwrap_or(None);
        if let Some(name) = p.decl.first() {
            if p.assign {
                let slot = self.vars.iter_mut().rev().find(|(n, _)| n == name);
                let slot = slot.ok_or_else(|| format!("undefined variable: ${name}"))?;
                slot.1 = v.clone();
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(
        &mut self,
        cmd: &[Operand],
        dot: &Option<Value>,
        piped: Option<Option<Value>>,
    ) -> Result<Option<Value>, String> {
        if let Some(Operand::Func(name)) = cmd.first() {
            let mut args = cmd[1..]
                .iter()
                .map(|o| self.operand(o, dot))
                .collect::<Result<Vec<_>, _>>()?;
            args.extend(piped);
            return funcs::call(name, &args);
        }
        if cmd.len() > 1 || piped.is_some() {
            return Err("can't give an argument to a non-function".into());
        }
        self.operand(&cmd[0], dot)
    }

    fn operand(&mut self, o: &Operand, dot: &Option<Value>) -> Result<Option<Value>, String> {
        Ok(match o {
            Operand::Field(path) => field(dot.clone(), path),
            Operand::Var(name, path) => {
                let v = self.vars.iter().rev().find(|(n, _)| n == name);
                let v = v.ok_or_else(|| format!("undefined variable: ${name}"))?;
                let v = if name.is_empty() {
                    Some(self.root.clone())
                } else {
                    v.1.clone()
                };
                field(v, path)
            }
            Operand::Lit(v) => Some(v.clone()),
            Operand::Func(name) => funcs::call(name, &[])?,
            Operand::Sub(p, path) => {
                let v = self.pipe(p, dot)?;
                field(v, path)
            }
        })
    }
}

/// `.A.B` of `v`; `None` (Go's `<no value>`) when a key is missing.
fn field(v: Option<Value>, path: &[String]) -> Option<Value> {
    let mut cur = v?;
    for k in path {
        cur = match cur {
            Value::Object(mut m) => m.remove(k)?,
            _ => return None,
        };
    }
    Some(cur)
}
