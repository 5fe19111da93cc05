//! `berth info` / `berth system info`.

use berth_engine::Engine;
use serde_json::Value;

/// `info` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Format output using a custom template ("json" or a Go template).
    #[arg(short, long)]
    format: Option<String>,
}

/// Prints Docker's `docker info` text, or the document through `--format`.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let info = berth_engine::info::info(eng)?;
    match a.format.as_deref() {
        Some("json") => println!("{info}"),
        Some(f) => {
            let t = crate::template::Template::parse(f)?;
            println!("{}", t.render(&info)?);
        }
        None => print!("{}", text(&info)),
    }
    Ok(0)
}

/// The human layout of `docker info`'s Server section.
fn text(i: &Value) -> String {
    let s = |k: &str| match &i[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut out = String::from("Client:\n");
    out += &format!(
        " Version:    {}\n Context:    default\n\nServer:\n",
        s("ServerVersion")
    );
    out += &format!(" Containers: {}\n", s("Containers"));
    for (label, key) in [
        ("Running", "ContainersRunning"),
        ("Paused", "ContainersPaused"),
        ("Stopped", "ContainersStopped"),
    ] {
        out += &format!("  {label}: {}\n", s(key));
    }
    out += &format!(" Images: {}\n", s("Images"));
    out += &format!(" Server Version: {}\n", s("ServerVersion"));
    out += &format!(" Storage Driver: {}\n", s("Driver"));
    for pair in i["DriverStatus"].as_array().into_iter().flatten() {
        out += &format!("  {}: {}\n", str_at(pair, 0), str_at(pair, 1));
    }
    out += &format!(" Logging Driver: {}\n", s("LoggingDriver"));
    out += &format!(" Cgroup Driver: {}\n", s("CgroupDriver"));
    out += &format!(" Cgroup Version: {}\n", s("CgroupVersion"));
    out += " Plugins:\n";
    for (label, key) in [("Volume", "Volume"), ("Network", "Network"), ("Log", "Log")] {
        out += &format!("  {label}: {}\n", words(&i["Plugins"][key]));
    }
    let runtimes: Vec<&String> = i["Runtimes"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let runtimes: Vec<&str> = runtimes.iter().map(|s| s.as_str()).collect();
    out += &format!(" Runtimes: {}\n", runtimes.join(" "));
    out += &format!(" Default Runtime: {}\n", s("DefaultRuntime"));
    out += &format!(" Init Binary: {}\n", s("InitBinary"));
    out += " Security Options:\n";
    for o in i["SecurityOptions"].as_array().into_iter().flatten() {
        out += &security_option(o.as_str().unwrap_or(""));
    }
    out += &security_features(&i["SecurityFeatures"]);
    out += &format!(
        " Default pids limit: {}\n",
        pids_limit(&i["DefaultPidsLimit"])
    );
    out += &format!(" Default ulimits: {}\n", ulimits(&i["DefaultUlimits"]));
    for (label, key) in [
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("OSType", "OSType"),
        ("Architecture", "Architecture"),
        ("CPUs", "NCPU"),
    ] {
        out += &format!(" {label}: {}\n", s(key));
    }
    let mem = i["MemTotal"].as_u64().unwrap_or(0);
    out += &format!(" Total Memory: {}\n", binary_size(mem));
    for (label, key) in [
        ("Name", "Name"),
        ("ID", "ID"),
        ("Docker Root Dir", "DockerRootDir"),
    ] {
        out += &format!(" {label}: {}\n", s(key));
    }
    out += " Debug Mode: false\n Experimental: false\n Live Restore Enabled: false\n";
    out
}

fn str_at(v: &Value, i: usize) -> &str {
    v.get(i).and_then(Value::as_str).unwrap_or("")
}

fn words(v: &Value) -> String {
    let items: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    items.join(" ")
}

/// `name=seccomp,profile=builtin` -> "  seccomp\n   Profile: builtin\n", as Docker prints.
fn security_option(o: &str) -> String {
    let mut out = String::new();
    for kv in o.split(',') {
        match kv.split_once('=') {
            Some(("name", v)) => out += &format!("  {v}\n"),
            Some((k, v)) => {
                let mut k = k.to_string();
                k[..1].make_ascii_uppercase();
                out += &format!("   {k}: {v}\n");
            }
            None => {}
        }
    }
    out
}

/// berth's readable section of the kernel's security features (`SecurityFeatures`).
fn security_features(f: &Value) -> String {
    if f.is_null() {
        return String::new();
    }
    let yes = |v: &Value| {
        if v.as_bool() == Some(true) {
            "yes"
        } else {
            "no"
        }
    };
    let mut out = String::from(" Security Features:\n");
    let sc = &f["Seccomp"];
    out += &match (sc["Filter"].as_bool(), sc["Enabled"].as_bool()) {
        (Some(true), _) => format!("  Seccomp: filter (actions: {})\n", words(&sc["Actions"])),
        (_, Some(true)) => "  Seccomp: strict mode only\n".into(),
        _ => "  Seccomp: no\n".into(),
    };
    out += &format!("  No New Privileges: {}\n", yes(&f["NoNewPrivileges"]));
    let us = &f["UserNamespaces"];
    out += &format!("  User Namespaces: {}", yes(&us["Enabled"]));
    if let Some(n) = us["MaxUserNamespaces"].as_u64() {
        out += &format!(" (max {n}");
        if let Some(c) = us["UnprivilegedUsernsClone"].as_bool() {
            out += &format!(", unprivileged clone: {}", if c { "yes" } else { "no" });
        }
        out += ")";
    }
    out += "\n";
    let ll = &f["Landlock"];
    out += &match ll["ABI"].as_u64() {
        Some(v) => format!("  Landlock: ABI {v}\n"),
        None => format!("  Landlock: no ({})\n", ll["Reason"].as_str().unwrap_or("")),
    };
    out += &format!("  AppArmor: {}\n", yes(&f["AppArmor"]["Enabled"]));
    let se = &f["SELinux"];
    out += match (se["Enabled"].as_bool(), se["Enforcing"].as_bool()) {
        (Some(true), Some(true)) => "  SELinux: enforcing\n",
        (Some(true), _) => "  SELinux: permissive\n",
        _ => "  SELinux: no\n",
    };
    out += &format!("  Cgroup Namespaces: {}\n", yes(&f["CgroupNamespaces"]));
    out += &format!("  Idmapped Mounts: {}\n", yes(&f["IDMappedMounts"]));
    out
}

fn pids_limit(v: &Value) -> String {
    match v.as_i64() {
        Some(n) if n > 0 => n.to_string(),
        _ => "unlimited".into(),
    }
}

/// `[{"Name": "nofile", "Soft": 1024, "Hard": 2048}]` -> `nofile=1024:2048`.
fn ulimits(v: &Value) -> String {
    let n = |x: &Value| match x.as_i64() {
        Some(n) if n >= 0 => n.to_string(),
        _ => "unlimited".into(),
    };
    let all: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            format!(
                "{}={}:{}",
                u["Name"].as_str().unwrap_or(""),
                n(&u["Soft"]),
                n(&u["Hard"])
            )
        })
        .collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(" ")
    }
}

/// Docker's memory size: binary units with two decimals (`15.54GiB`).
fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    let s = format!("{v:.2}");
    format!(
        "{}{}",
        s.trim_end_matches('0').trim_end_matches('.'),
        UNITS[u]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_text_pieces() {
        assert_eq!(
            security_option("name=seccomp,profile=builtin"),
            "  seccomp\n   Profile: builtin\n"
        );
        assert_eq!(binary_size(16_686_014_464), "15.54GiB");
        assert_eq!(binary_size(512), "512B");
        let doc = serde_json::json!({"Containers": 2, "ContainersRunning": 1,
            "SecurityOptions": ["name=cgroupns"], "CgroupVersion": "1", "MemTotal": 1024});
        let t = text(&doc);
        assert!(t.contains(" Containers: 2\n  Running: 1\n"), "{t}");
        assert!(t.contains(" Cgroup Version: 1\n"), "{t}");
        assert!(t.contains(" Security Options:\n  cgroupns\n"), "{t}");
        assert!(t.contains(" Total Memory: 1KiB\n"), "{t}");
        assert!(t.contains(" Default pids limit: unlimited\n"), "{t}");
        assert!(t.contains(" Default ulimits: none\n"), "{t}");
        let f = serde_json::json!({
            "Seccomp": {"Enabled": true, "Filter": true, "Actions": ["errno", "allow"]},
            "NoNewPrivileges": true,
            "UserNamespaces": {"Enabled": true, "MaxUserNamespaces": 5, "UnprivilegedUsernsClone": null},
            "Landlock": {"Enabled": false, "ABI": null, "Reason": "disabled at boot"},
            "AppArmor": {"Enabled": false}, "SELinux": {"Enabled": true, "Enforcing": false},
            "CgroupNamespaces": true, "IDMappedMounts": true});
        let t = security_features(&f);
        assert!(
            t.contains("  Seccomp: filter (actions: errno allow)\n"),
            "{t}"
        );
        assert!(t.contains("  User Namespaces: yes (max 5)\n"), "{t}");
        assert!(t.contains("  Landlock: no (disabled at boot)\n"), "{t}");
        assert!(t.contains("  SELinux: permissive\n"), "{t}");
        let u = serde_json::json!([{"Name": "nofile", "Soft": 1024, "Hard": -1}]);
        assert_eq!(ulimits(&u), "nofile=1024:unlimited");
    }
}
