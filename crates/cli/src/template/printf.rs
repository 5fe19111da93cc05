//! `printf`: Go's fmt verbs that templates use (`%s %v %d %q %x %X %f %t %%`) with flags
//! `-`, `0`, `+`, width and precision.

use serde_json::Value;

use super::show;

/// Formats `args` by `format` as Go's fmt.Sprintf does for these verbs.
pub(super) fn sprintf(format: &str, args: &[Option<Value>]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek().filter(|f| "-+0 #".contains(**f)) {
            flags.push(f);
            chars.next();
        }
        let width = digits(&mut chars);
        let prec = if chars.peek() == Some(&'.') {
            chars.next();
            Some(digits(&mut chars).unwrap_or(0))
        } else {
            None
        };
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let body = verb_text(verb, arg.as_ref(), &flags, prec);
        out.push_str(&pad(&body, width.unwrap_or(0), &flags));
    }
    let extra: Vec<String> = args.map(|a| show(a.as_ref())).collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0) * 10 + d as usize);
        chars.next();
    }
    n
}

fn verb_text(verb: char, arg: Option<&Value>, flags: &str, prec: Option<usize>) -> String {
    let num = arg.and_then(Value::as_f64);
    match (verb, arg) {
        ('s' | 'v', _) => {
            let s = show(arg);
            match prec {
                Some(p) if verb == 's' => s.chars().take(p).collect(),
                _ => s,
            }
        }
        ('q', Some(Value::String(s))) => Value::String(s.clone()).to_string(),
        ('t', Some(Value::Bool(b))) => b.to_string(),
        ('d', Some(Value::Number(_))) => {
            let n = num.unwrap_or(0.0) as i64;
            if flags.contains('+') && n >= 0 {
                format!("+{n}")
            } else {
                n.to_string()
            }
        }
        ('f', Some(Value::Number(_))) => format!("{:.*}", prec.unwrap_or(6), num.unwrap_or(0.0)),
        ('x' | 'X', Some(Value::Number(_))) => {
            let s = format!("{:x}", num.unwrap_or(0.0) as i64);
            if verb == 'X' {
                s.to_uppercase()
            } else {
                s
            }
        }
        ('x' | 'X', Some(Value::String(s))) => {
            let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
            if verb == 'X' {
                hex.to_uppercase()
            } else {
                hex
            }
        }
        (v, a) => format!("%!{v}({})", show(a)),
    }
}

fn pad(s: &str, width: usize, flags: &str) -> String {
    let len = s.chars().count();
    if len >= width {
        return s.to_string();
    }
    let fill = width - len;
    if flags.contains('-') {
        format!("{s}{}", " ".repeat(fill))
    } else if flags.contains('0') && s.parse::<f64>().is_ok() {
        match s.strip_prefix('-') {
            Some(rest) => format!("-{}{rest}", "0".repeat(fill)),
            None => format!("{}{s}", "0".repeat(fill)),
        }
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verbs_like_go() {
        let a = |v: &[Value]| v.iter().cloned().map(Some).collect::<Vec<_>>();
        let cases: [(&str, Vec<Option<Value>>, &str); 12] = [
            ("%s=%d", a(&[json!("n"), json!(5)]), "n=5"),
            ("%-6s|", a(&[json!("ab")]), "ab    |"),
            ("%6s|", a(&[json!("ab")]), "    ab|"),
            ("%05d", a(&[json!(-42)]), "-0042"),
            ("%q", a(&[json!("a\"b")]), "\"a\\\"b\""),
            ("%v %v", a(&[json!([1, 2]), json!(true)]), "[1 2] true"),
            ("%.2f", a(&[json!(1.23456)]), "1.23"),
            ("%x %X", a(&[json!(255), json!("hi")]), "ff 6869"),
            ("100%%", vec![], "100%"),
            ("%d", a(&[json!("x")]), "%!d(x)"),
            ("%s", vec![], "%!s(MISSING)"),
            ("%.3s", a(&[json!("abcdef")]), "abc"),
        ];
        for (f, args, want) in cases {
            assert_eq!(sprintf(f, &args), want, "{f}");
        }
        assert_eq!(sprintf("x", &a(&[json!(1)])), "x%!(EXTRA 1)");
    }
}
