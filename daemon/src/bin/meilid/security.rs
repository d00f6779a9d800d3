//! `meilid broker-config` and `meilid token` (docs/security.md).

use std::path::Path;

use meili_daemon::config;

/// `meilid broker-config`.
pub fn broker_config(config: &Path, out: &Path) -> anyhow::Result<()> {
    let config = config::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let w = meili_daemon::broker::generate(&config, out)?;
    println!(
        "broker-config: {} devices ({} new passwords) in {}: passwd, acl, device-passwords.csv (private), mosquitto-meili.conf",
        w.devices,
        w.new_passwords,
        w.dir.display()
    );
    Ok(())
}

/// `meilid token`.
pub fn token(name: &str, scope: &str) -> anyhow::Result<()> {
    if !matches!(scope, "read" | "write" | "admin") {
        anyhow::bail!("--scope: read, write or admin");
    }
    let (token, hash) = meili_daemon::http::auth::new_token()?;
    println!("token (give it to {name}; it is not stored): {token}\n");
    println!("[[http.tokens]]\nname = \"{name}\"\nscope = \"{scope}\"\nsha256 = \"{hash}\"");
    Ok(())
}
