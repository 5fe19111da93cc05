//! The subset of Go's text/template that `docker ... --format` users lean on: fields
//! (`{{.A.B}}`), variables (`{{$}}`, `{{$x := .A}}`), pipelines (`{{.A | json}}`),
//! parenthesised pipelines, `{{if}}`/`{{else if}}`/`{{else}}`, `{{range}}` over lists and
//! maps (with `$i, $e :=`; `.` rebinds inside), `{{with}}`, the functions of [`funcs`], and
//! a leading `table` for aligned columns with a header, as
//! `docker images --format 'table {{.Repository}}\t{{.Tag}}'`. Values print as Go prints
//! them: `[a b]` for lists, `map[k:v]` for maps, `<no value>` for a missing field.
//! Hand-written: the lexer ([`lex`]), parser ([`parse`]) and executor ([`exec`]).

mod exec;
mod funcs;
mod lex;
mod parse;
mod printf;

use serde_json::Value;

use parse::{Node, Operand};

/// A template that does not parse or run.
#[derive(Debug, thiserror::Error)]
#[error("template {template:?}: {reason}")]
pub struct TemplateError {
    template: String,
    reason: String,
}

/// A parsed template.
pub struct Template {
    src: String,
    nodes: Vec<Node>,
    table: bool,
}

impl Template {
    /// Parse `src` (a leading `table ` asks for aligned columns with a header).
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let (table, body) = match src.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, src),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let nodes = lex::items(&body)
            .and_then(parse::parse)
            .map_err(|reason| TemplateError {
                template: src.into(),
                reason,
            })?;
        Ok(Template {
            src: src.into(),
            nodes,
            table,
        })
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
        let mut e = exec::Exec::new(v);
        e.walk(&self.nodes, &Some(v.clone()))
            .map_err(|reason| TemplateError {
                template: self.src.clone(),
                reason,
            })?;
        Ok(e.finish())
    }

    /// The header line of a table: each top-level action's first field, through `header`.
    fn header(&self, header: &impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let field = p.cmds.iter().flatten().find_map(|o| match o {
                        Operand::Field(f) => Some(f.join(".")),
                        _ => None,
                    });
                    out.push_str(&header(field.as_deref().unwrap_or("")));
                }
                _ => {}
            }
        }
        out
    }
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

/// Align tab-separated columns like the Go tabwriter Docker's tables use (minwidth 10,
/// padding 3).
fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .map_or(0, |w| (w + 3).max(10))
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        let last = r.len().saturating_sub(1);
        for (c, cell) in r.iter().enumerate() {
            out.push_str(cell);
            if c < last {
                out.push_str(&" ".repeat(width[c] - cell.chars().count()));
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
        assert!(Template::parse("{{nope .Id}}").is_err());
    }

    #[test]
    fn control_flow_variables_and_pipelines() {
        let v = json!({
            "Name": "/web",
            "Mounts": [{"Source": "/a", "RW": true}, {"Source": "/b", "RW": false}],
            "Config": {"Labels": {"b": "2", "a": "1"}, "Env": ["X=1", "Y=2"]},
            "HostConfig": {"SecurityOpt": ["no-new-privileges"], "Binds": null},
            "State": {"Status": "running", "Pid": 42},
        });
        let cases = [
            ("{{range .Mounts}}{{.Source}} {{end}}", "/a /b "),
            (
                "{{range $i, $m := .Mounts}}{{$i}}={{$m.Source}},{{end}}",
                "0=/a,1=/b,",
            ),
            (
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}",
                "a=1 b=2 ",
            ),
            ("{{range $e := .Config.Env}}[{{$e}}]{{end}}", "[X=1][Y=2]"),
            ("{{range .HostConfig.Binds}}x{{else}}none{{end}}", "none"),
            ("{{range .Mounts}}{{$.Name}}{{end}}", "/web/web"),
            (
                "{{json .HostConfig.SecurityOpt}}",
                "[\"no-new-privileges\"]",
            ),
            (
                "{{.HostConfig.SecurityOpt | json}}",
                "[\"no-new-privileges\"]",
            ),
            ("{{.Name | upper | lower}}", "/web"),
            ("{{len .Mounts}} {{len .Config.Labels}}", "2 2"),
            (
                "{{if eq .State.Status \"running\"}}up{{else}}down{{end}}",
                "up",
            ),
            ("{{if .Nope}}a{{else if .State.Pid}}b{{else}}c{{end}}", "b"),
            ("{{if not .State.Pid}}a{{end}}", ""),
            ("{{with .State}}{{.Pid}}{{end}}", "42"),
            ("{{with .Nope}}x{{else}}y{{end}}", "y"),
            ("{{printf \"%s:%d\" .Name .State.Pid}}", "/web:42"),
            ("{{println .Name}}", "/web\n"),
            ("{{title \"hello world\"}}", "Hello World"),
            ("{{join (split \"a:b\" \":\") \",\"}}", "a,b"),
            ("{{(index .Mounts 1).Source}}", "/b"),
            ("{{$n := .Name}}{{range .Mounts}}{{$n}}{{end}}", "/web/web"),
            ("{{$x := 1}}{{$x = 2}}{{$x}}", "2"),
            ("{{range .Mounts -}} {{.RW}} {{- end}}", "truefalse"),
            ("{{/* a comment */}}ok", "ok"),
            ("{{$.State.Pid}}", "42"),
            ("{{index .Config.Labels \"a\"}}", "1"),
        ];
        for (t, want) in cases {
            let got = Template::parse(t).and_then(|t| t.render(&v));
            assert_eq!(got.map_err(|e| e.to_string()).as_deref(), Ok(want), "{t}");
        }
        for bad in ["{{range .Name}}{{end}}", "{{len .State.Pid}}", "{{$nope}}"] {
            let r = Template::parse(bad).and_then(|t| t.render(&v));
            assert!(r.is_err(), "{bad}");
        }
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
