//! `meilid --version`: the package version and the git commit it was built from
//! (`MEILI_COMMIT` overrides, e.g. in a package build without `.git`; else "unknown").

fn main() {
    let commit = std::env::var("MEILI_COMMIT").ok().or_else(|| {
        let out = std::process::Command::new("git")
            .args(["rev-parse", "--short=10", "HEAD"])
            .output()
            .ok()?;
        let dirty = std::process::Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .output()
            .ok()
            .is_some_and(|o| !o.stdout.is_empty());
        out.status.success().then(|| {
            let c = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if dirty {
                format!("{c}-modified")
            } else {
                c
            }
        })
    });
    println!(
        "cargo:rustc-env=MEILI_VERSION={} ({})",
        env!("CARGO_PKG_VERSION"),
        commit.unwrap_or_else(|| "unknown".into())
    );
    println!("cargo:rerun-if-env-changed=MEILI_COMMIT");
    for f in ["../.git/HEAD", "../.git/index"] {
        if std::path::Path::new(f).exists() {
            println!("cargo:rerun-if-changed={f}");
        }
    }
}
