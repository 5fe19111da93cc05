//! The functions templates can call: Go's builtins that `--format` users use (`index`,
//! `len`, `print`, `printf`, `println`, `eq`/`ne`/`lt`/`le`/`gt`/`ge`, `and`, `or`, `not`)
//! and Docker's (`json`, `join`, `split`, `upper`, `lower`, `title`, `truncate`, `pad`).
//! A missing value is `None` (Go's `<no value>`).

use serde_json::Value;

use super::show;

const NAMES: &[&str] = &[
    "and", "eq", "ge", "gt", "index", "join", "json", "le", "len", "lower", "lt", "ne", "not",
    "or", "pad", "print", "printf", "println", "split", "title", "truncate", "upper",
];

/// Whether `name` is a function.
pub(super) fn known(name: &str) -> bool {
    NAMES.contains(&name)
}

type Args = [Option<Value>];

/// Calls function `name` with `args` (a piped value comes last).
pub(super) fn call(name: &str, args: &Args) -> Result<Option<Value>, String> {
    let need = |n: usize| {
        if args.len() < n {
            Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        } else {
            Ok(())
        }
    };
    let s = |i: usize| show(args.get(i).and_then(Option::as_ref));
    let v = |x: String| Ok(Some(Value::String(x)));
    match name {
        "json" => {
            need(1)?;
            v(args[0].as_ref().unwrap_or(&Value::Null).to_string())
        }
        "upper" => need(1).and_then(|_| v(s(0).to_uppercase())),
        "lower" => need(1).and_then(|_| v(s(0).to_lowercase())),
        "title" => need(1).and_then(|_| v(title(&s(0)))),
        "join" => {
            need(2)?;
            let list = args[0].as_ref().and_then(Value::as_array);
            let items: Vec<String> = list
                .map(|l| l.iter().map(|x| show(Some(x))).collect())
                .unwrap_or_default();
            v(items.join(&s(1)))
        }
        "split" => {
            need(2)?;
            let parts = s(0).split(&s(1)).map(|p| Value::String(p.into())).collect();
            Ok(Some(Value::Array(parts)))
        }
        "truncate" => {
            need(2)?;
            let n = int(&args[1])?.max(0) as usize;
            v(s(0).chars().take(n).collect())
        }
        "pad" => {
            need(3)?;
            let (l, r) = (
                int(&args[1])?.max(0) as usize,
                int(&args[2])?.max(0) as usize,
            );
            v(format!("{}{}{}", " ".repeat(l), s(0), " ".repeat(r)))
        }
        "index" => index(args),
        "len" => len(args),
        "print" => v(args.iter().map(|a| show(a.as_ref())).collect()),
        "println" => {
            let items: Vec<String> = args.iter().map(|a| show(a.as_ref())).collect();
            v(items.join(" ") + "\n")
        }
        "printf" => {
            need(1)?;
            v(super::printf::sprintf(&s(0), &args[1..]))
        }
        "not" => need(1).map(|_| Some(Value::Bool(!truthy(&args[0])))),
        "and" => {
            need(1)?;
            let first_false = args.iter().find(|a| !truthy(a));
            Ok(first_false.unwrap_or(&args[args.len() - 1]).clone())
        }
        "or" => {
            need(1)?;
            let first_true = args.iter().find(|a| truthy(a));
            Ok(first_true.unwrap_or(&args[args.len() - 1]).clone())
        }
        "eq" => {
            need(2)?;
            let hit = args[1..].iter().any(|b| equal(&args[0], b));
            Ok(Some(Value::Bool(hit)))
        }
        "ne" => need(2).map(|_| Some(Value::Bool(!equal(&args[0], &args[1])))),
        "lt" | "le" | "gt" | "ge" => {
            need(2)?;
            let ord = compare(&args[0], &args[1])?;
            let r = match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            };
            Ok(Some(Value::Bool(r)))
        }
        other => Err(format!("function {other:?} not defined")),
    }
}

/// Go's truth: false, 0, "", empty list or map, nil and missing are false.
pub(super) fn truthy(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

fn int(v: &Option<Value>) -> Result<i64, String> {
    match v {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| format!("{n} is not an integer")),
        Some(Value::String(s)) => s.parse().map_err(|_| format!("{s:?} is not an integer")),
        other => Err(format!("{} is not an integer", show(other.as_ref()))),
    }
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// `index X k1 k2 ...`: map keys and list positions.
fn index(args: &Args) -> Result<Option<Value>, String> {
    let Some((base, keys)) = args.split_first() else {
        return Err("wrong number of args for index: want at least 1 got 0".into());
    };
    let mut cur = base.clone();
    for k in keys {
        cur = match (cur, k) {
            (Some(Value::Array(a)), Some(k)) => {
                let i = int(&Some(k.clone()))?;
                let item = usize::try_from(i).ok().and_then(|i| a.get(i).cloned());
                Some(item.ok_or_else(|| format!("index out of range: {i}"))?)
            }
            (Some(Value::Object(m)), Some(Value::String(k))) => m.get(k).cloned(),
            (Some(Value::Null) | None, _) => None,
            (_, None) => return Err("index of a missing key".into()),
            (Some(other), _) => return Err(format!("can't index item of type {}", kind(&other))),
        };
    }
    Ok(cur)
}

fn len(args: &Args) -> Result<Option<Value>, String> {
    let n = match args.first() {
        Some(Some(Value::Array(a))) => a.len(),
        Some(Some(Value::Object(m))) => m.len(),
        Some(Some(Value::String(s))) => s.len(),
        Some(Some(Value::Null)) => 0,
        Some(other) => {
            let what = other.as_ref().map_or("missing value", kind);
            return Err(format!("len of {what}"));
        }
        None => return Err("wrong number of args for len: want 1 got 0".into()),
    };
    Ok(Some(Value::from(n)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

fn equal(a: &Option<Value>, b: &Option<Value>) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (None, Some(Value::Null)) | (Some(Value::Null), None) => true,
        _ => a == b,
    }
}

fn compare(a: &Option<Value>, b: &Option<Value>) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y)
                .ok_or_else(|| "incomparable numbers".into())
        }
        (Some(Value::String(x)), Some(Value::String(y))) => Ok(x.cmp(y)),
        _ => Err("incompatible types for comparison".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(name: &str, args: &[Value]) -> Result<Option<Value>, String> {
        let args: Vec<Option<Value>> = args.iter().cloned().map(Some).collect();
        call(name, &args)
    }

    #[test]
    fn functions() {
        let ok = |name: &str, args: &[Value], want: Value| {
            assert_eq!(c(name, args).unwrap(), Some(want), "{name} {args:?}");
        };
        ok(
            "title",
            &[json!("hello wide-world")],
            json!("Hello Wide-World"),
        );
        ok("split", &[json!("a,b"), json!(",")], json!(["a", "b"]));
        ok("len", &[json!([1, 2, 3])], json!(3));
        ok("len", &[json!({"a": 1})], json!(1));
        ok("len", &[json!("abcd")], json!(4));
        ok(
            "index",
            &[json!({"a": [5, 6]}), json!("a"), json!(1)],
            json!(6),
        );
        ok("eq", &[json!(1), json!(1.0)], json!(true));
        ok("eq", &[json!("a"), json!("b"), json!("a")], json!(true));
        ok("ne", &[json!("a"), json!("b")], json!(true));
        ok("lt", &[json!(1), json!(2)], json!(true));
        ok("ge", &[json!("b"), json!("a")], json!(true));
        ok("not", &[json!("")], json!(true));
        ok("and", &[json!(1), json!(0)], json!(0));
        ok("or", &[json!(""), json!("x")], json!("x"));
        ok("println", &[json!("a"), json!(1)], json!("a 1\n"));
        ok("truncate", &[json!("abcdef"), json!(3)], json!("abc"));
        ok("pad", &[json!("x"), json!(1), json!(2)], json!(" x  "));
        ok("json", &[json!({"a": [1]})], json!("{\"a\":[1]}"));
        assert!(c("len", &[json!(3)]).is_err());
        assert!(c("index", &[json!([1]), json!(5)]).is_err());
        assert!(c("lt", &[json!(1), json!("a")]).is_err());
        assert!(c("split", &[json!("a")]).is_err());
        assert_eq!(call("index", &[None, Some(json!("k"))]).unwrap(), None);
    }
}
