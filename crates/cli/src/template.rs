//! The subset of Go's text/template that `docker ... --format` users lean on:
//! `{{.Field}}`, `{{.A.B}}`, `{{json .}}`, `{{json .A}}`, `{{index .A "k"}}`, `{{index .A 0}}`,
//! `{{join .A ","}}`, `{{upper .A}}`, `{{lower .A}}`, and a leading `table` for aligned
//! columns with a header, as `docker images --format 'table {{.Repository}}\t{{.Tag}}'`.
//! Values print as Go prints them: `[a b]` for lists, `map[k:v]` for maps, `<no value>`
//! for a missing field.

use serde_json::Value;

/// A template that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("template {template:?}: {reason}")]
pub struct TemplateError {
    template: String,
    reason: String,
}

enum Part {
    Text(String),
    Action(Vec<String>),
}

/// A parsed template.
pub struct Template {
    parts: Vec<Part>,
    table: bool,
}

impl Template {
    /// Parse `src` (a leading `table ` asks for aligned columns with a header).
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let err = |reason: &str| TemplateError {
            template: src.into(),
            reason: reason.into(),
        };
        let (table, body) = match src.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, src),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while let Some(i) = rest.find("{{") {
            parts.push(Part::Text(rest[..i].to_string()));
            let end = rest[i..].find("}}").ok_or_else(|| err("unclosed action"))?;
            let words = split_words(
                rest[i + 2..i + end].trim_matches(|c: char| c == '-' || c.is_whitespace()),
            );
            if words.is_empty() {
                return Err(err("empty action"));
            }
            parts.push(Part::Action(words));
            rest = &rest[i + end + 2..];
        }
        parts.push(Part::Text(rest.to_string()));
        Ok(Template { parts, table })
    }

    /// Render every row; with `table`, a header first and columns aligned.
    pub fn render_all(
        &self,
        rows: &[Value],
        header: impl Fn(&str) -> String,
    ) -> Result<String, TemplateError> {
        let mut lines = Vec::new();
        if self.table {
            lines.push(self.header(&header));
        }
        for r in rows {
            lines.push(self.render(r)?);
        }
        Ok(if self.table {
            align(&lines)
        } else {
            lines.iter().map(|l| format!("{l}\n")).collect()
        })
    }

    /// Render one value.
    pub fn render(&self, v: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Action(words) => out.push_str(&action(words, v)?),
            }
        }
        Ok(out)
    }

    fn header(&self, header: &impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Action(words) => {
                    let field = words
                        .iter()
                        .find(|w| w.starts_with('.'))
                        .map(String::as_str)
                        .unwrap_or(".");
                    out.push_str(&header(field.trim_start_matches('.')));
                }
            }
        }
        out
    }
}

fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .try_fold(v, |v, k| v.get(k))
}

fn action(words: &[String], v: &Value) -> Result<String, TemplateError> {
    let bad = |reason: String| TemplateError {
        template: words.join(" "),
        reason,
    };
    let arg = |i: usize| -> Result<Option<&Value>, TemplateError> {
        let w = words
            .get(i)
            .ok_or_else(|| bad(format!("`{}` needs an argument", words[0])))?;
        Ok(lookup(v, w))
    };
    Ok(match words[0].as_str() {
        w if w.starts_with('.') => show(lookup(v, w)),
        "json" => arg(1)?
            .map(|x| x.to_string())
            .unwrap_or_else(|| "null".into()),
        "upper" => show(arg(1)?).to_uppercase(),
        "lower" => show(arg(1)?).to_lowercase(),
        "join" => {
            let sep = words.get(2).cloned().unwrap_or_default();
            let list = arg(1)?
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            list.iter()
                .map(|x| show(Some(x)))
                .collect::<Vec<_>>()
                .join(&sep)
        }
        "index" => {
            let key = words
                .get(2)
                .ok_or_else(|| bad("`index` needs a key".into()))?;
            let base = arg(1)?;
            let item = match key.parse::<usize>() {
                Ok(n) => base.and_then(|b| b.get(n)),
                Err(_) => base.and_then(|b| b.get(key.as_str())),
            };
            show(item)
        }
        other => return Err(bad(format!("function {other:?} not defined"))),
    })
}

/// Go's default formatting of a value.
fn show(v: Option<&Value>) -> String {
    match v {
        None => "<no value>".into(),
        Some(Value::Null) => "<nil>".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => format!(
            "[{}]",
            a.iter()
                .map(|x| show(Some(x)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Some(Value::Object(m)) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", show(m.get(*k))))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        Some(other) => other.to_string(),
    }
}

/// Align tab-separated columns like Go's tabwriter (minwidth 0, padding 3).
fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        let last = r.len().saturating_sub(1);
        for (c, cell) in r.iter().enumerate() {
            out.push_str(cell);
            if c < last {
                out.push_str(&" ".repeat(width[c] - cell.chars().count() + 3));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_go() {
        let v = json!({"Id": "sha256:ab", "Config": {"Cmd": ["sh", "-c"], "Env": null, "Labels": {"b": "2", "a": "1"}}, "Size": 42});
        let cases = [
            ("{{.Id}}", "sha256:ab"),
            ("{{.Config.Cmd}}", "[sh -c]"),
            ("{{json .Config.Cmd}}", "[\"sh\",\"-c\"]"),
            ("{{.Config.Env}}", "<nil>"),
            ("{{.Nope}}", "<no value>"),
            ("{{.Config.Labels}}", "map[a:1 b:2]"),
            ("{{index .Config.Labels \"b\"}}", "2"),
            ("{{index .Config.Cmd 1}}", "-c"),
            ("{{join .Config.Cmd \",\"}}", "sh,-c"),
            ("id={{ .Id }} size={{.Size}}", "id=sha256:ab size=42"),
            ("{{upper .Id}}", "SHA256:AB"),
        ];
        for (t, want) in cases {
            assert_eq!(Template::parse(t).unwrap().render(&v).unwrap(), want, "{t}");
        }
        assert!(Template::parse("{{.Id").is_err());
        assert!(Template::parse("{{nope .Id}}").unwrap().render(&v).is_err());
    }

    #[test]
    fn table_aligns_with_a_header() {
        let t = Template::parse("table {{.Repository}}\\t{{.Tag}}").unwrap();
        let rows = [
            json!({"Repository": "busybox", "Tag": "latest"}),
            json!({"Repository": "a", "Tag": "1"}),
        ];
        let out = t.render_all(&rows, |f| f.to_uppercase()).unwrap();
        assert_eq!(
            out,
            "REPOSITORY   TAG\nbusybox      latest\na            1\n"
        );
    }
}
