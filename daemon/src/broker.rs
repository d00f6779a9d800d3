//! `meilid broker-config`: device identities at the broker. From the gateway's configuration
//! it writes mosquitto's password file (PBKDF2-SHA512, mosquitto's `$7$` format), an ACL that
//! lets each device write only under `{prefix}/{site}/{kind}/{device}/` and read only its own
//! `cmd`, the daemon's own account (read and write under the prefix), the plaintext
//! passwords a technician provisions devices with, and a listener snippet (docs/security.md).
//! Running it again keeps the passwords already issued.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha512;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum BrokerConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("random numbers: {0}")]
    Random(String),
    #[error("{0}")]
    Config(String),
}

/// The account of one device: `{site}/{device}`.
pub fn device_user(site: &str, id: &str) -> String {
    format!("{site}/{id}")
}

fn random_bytes<const N: usize>() -> Result<[u8; N], BrokerConfigError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| BrokerConfigError::Random(e.to_string()))?;
    Ok(b)
}

/// A password of 20 characters from an alphabet without look-alikes (about 115 bits).
fn new_password() -> Result<String, BrokerConfigError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679";
    let b: [u8; 20] = random_bytes()?;
    Ok(b.iter()
        .map(|x| ALPHABET[usize::from(*x) % ALPHABET.len()] as char)
        .collect())
}

/// PBKDF2-HMAC-SHA512 (RFC 8018), one 64-byte block.
fn pbkdf2_sha512(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 64] {
    let prf = |data: &[&[u8]]| -> [u8; 64] {
        let Ok(mut m) = Hmac::<Sha512>::new_from_slice(password) else {
            return [0; 64]; // HMAC takes keys of any length
        };
        for d in data {
            m.update(d);
        }
        m.finalize().into_bytes().into()
    };
    let mut u = prf(&[salt, &1u32.to_be_bytes()]);
    let mut out = u;
    for _ in 1..iterations {
        u = prf(&[&u]);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

/// One line of mosquitto's password file: `user:$7$101$salt$hash` (mosquitto 2.x).
pub fn password_line(user: &str, password: &str, salt: &[u8; 12]) -> String {
    const ITERATIONS: u32 = 101;
    let b64 = base64::engine::general_purpose::STANDARD;
    let hash = pbkdf2_sha512(password.as_bytes(), salt, ITERATIONS);
    format!(
        "{user}:$7${ITERATIONS}${}${}",
        b64.encode(salt),
        b64.encode(hash)
    )
}

/// What `broker-config` wrote.
#[derive(Debug)]
pub struct Written {
    pub dir: PathBuf,
    pub devices: usize,
    pub new_passwords: usize,
}

fn write(path: &Path, text: &str, private: bool) -> Result<(), BrokerConfigError> {
    let io = |source| BrokerConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let _ = private;
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Passwords issued before (`site,kind,device,username,password` per line).
fn issued(path: &Path) -> BTreeMap<String, String> {
    parse_issued(&std::fs::read_to_string(path).unwrap_or_default())
}

/// `device-passwords.csv`: password by broker username.
pub fn parse_issued(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.len() == 5).then(|| (f[3].to_string(), f[4].to_string()))
        })
        .collect()
}

/// Write `passwd`, `acl`, `device-passwords.csv` and `mosquitto-meili.conf` into `dir`.
pub fn generate(config: &Config, dir: &Path) -> Result<Written, BrokerConfigError> {
    std::fs::create_dir_all(dir).map_err(|source| BrokerConfigError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mqtt = config
        .mqtt
        .as_ref()
        .ok_or_else(|| BrokerConfigError::Config("no [mqtt] section".into()))?;
    let prefix = mqtt.topic_prefix.trim_end_matches('/');
    let daemon_user = mqtt
        .username
        .clone()
        .ok_or_else(|| BrokerConfigError::Config("set mqtt.username (and mqtt.password or mqtt.password_file) for the daemon's own account".into()))?;
    let daemon_password =
        crate::config::resolve_secret(mqtt.password.as_ref(), mqtt.password_file.as_deref())
            .map_err(|e| BrokerConfigError::Config(format!("mqtt.password_file: {e}")))?
            .ok_or_else(|| {
                BrokerConfigError::Config("set mqtt.password or mqtt.password_file".into())
            })?;

    let csv_path = dir.join("device-passwords.csv");
    let before = issued(&csv_path);
    let (mut passwd, mut acl, mut csv) = (String::new(), String::new(), String::new());
    let _ = writeln!(
        acl,
        "# Written by meilid broker-config: each device writes only its own topics.\n"
    );
    let _ = writeln!(acl, "user {daemon_user}\ntopic readwrite {prefix}/#\n");
    passwd.push_str(&password_line(
        &daemon_user,
        &daemon_password,
        &random_bytes()?,
    ));
    passwd.push('\n');
    let _ = writeln!(
        csv,
        "# site,kind,device,username,password (keep private; set on each device's console)"
    );
    let mut new_passwords = 0;
    let mut devices = 0;
    for d in config.devices.iter().map(|d| d.get_ref()) {
        // Modbus devices are polled; they have no broker account.
        if d.modbus.is_some() {
            continue;
        }
        let kind = d.kind.as_str();
        let user = device_user(&d.site, &d.id);
        let password = match before.get(&user) {
            Some(p) => p.clone(),
            None => {
                new_passwords += 1;
                new_password()?
            }
        };
        passwd.push_str(&password_line(&user, &password, &random_bytes()?));
        passwd.push('\n');
        let base = format!("{prefix}/{}/{kind}/{}", d.site, d.id);
        let _ = writeln!(acl, "user {user}\ntopic write {base}/telemetry\ntopic write {base}/status\ntopic read {base}/cmd\n");
        let _ = writeln!(csv, "{},{kind},{},{user},{password}", d.site, d.id);
        devices += 1;
    }
    write(&dir.join("passwd"), &passwd, true)?;
    write(&dir.join("acl"), &acl, false)?;
    write(&csv_path, &csv, true)?;
    let conf = format!(
        "# mosquitto listener settings for a Meili gateway (include from mosquitto.conf).\n\
         per_listener_settings false\nallow_anonymous false\n\
         password_file {d}/passwd\nacl_file {d}/acl\n\n\
         # Devices over the network: TLS only.\nlistener 8883\n\
         cafile /etc/mosquitto/certs/ca.pem\ncertfile /etc/mosquitto/certs/server.pem\nkeyfile /etc/mosquitto/certs/server.key\n\
         tls_version tlsv1.2\n\n\
         # The daemon on this machine.\nlistener 1883 127.0.0.1\n",
        d = dir.display()
    );
    write(&dir.join("mosquitto-meili.conf"), &conf, false)?;
    Ok(Written {
        dir: dir.to_path_buf(),
        devices,
        new_passwords,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6070-style check of the PBKDF2 core against a published PBKDF2-HMAC-SHA512 vector
    /// (password "password", salt "salt", 1 iteration).
    #[test]
    fn pbkdf2_sha512_vector() {
        let out = pbkdf2_sha512(b"password", b"salt", 1);
        assert_eq!(out[..8], [0x86, 0x7f, 0x70, 0xcf, 0x1a, 0xde, 0x02, 0xcf]);
        let out = pbkdf2_sha512(b"password", b"salt", 2);
        assert_eq!(out[..8], [0xe1, 0xd9, 0xc1, 0x6a, 0xa6, 0x81, 0x70, 0x8a]);
    }
}
