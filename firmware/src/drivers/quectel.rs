//! The Quectel EC800N / EC20 family's AT responses for TCP/IP (Quectel "TCP(IP) Application
//! Note"): one received line → what it means. The async driver that sends the commands, with
//! a timeout on every exchange, is in `firmware/apps/src/modem.rs`.

/// One line from the module (without its CR LF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    Ok,
    Error,
    /// `+CME ERROR: n`
    CmeError(u16),
    SendOk,
    SendFail,
    /// `+QIOPEN: id,err` (0 = connected)
    Opened {
        id: u8,
        err: u16,
    },
    /// `+QIURC: "recv",id`: data is waiting to be read with `AT+QIRD`.
    Recv {
        id: u8,
    },
    /// `+QIURC: "closed",id`: the peer or the network closed the socket.
    Closed {
        id: u8,
    },
    /// `+QIURC: "pdpdeact",ctx`: the data context was lost (e.g. lost registration).
    PdpDeact,
    /// `+QIRD: n`: `n` bytes of data follow the line.
    ReadLen(usize),
    /// `+CSQ: rssi,ber`: signal in dBm, `None` when unknown (99).
    Csq(Option<i16>),
    /// `+CCLK: "yy/MM/dd,hh:mm:ss±zz"` as UNIX seconds.
    Clock(Option<i64>),
    /// `+CREG:` / `+CEREG:` registration status (1 home, 5 roaming: registered).
    Registered(bool),
    /// `+CPIN: READY` (true) or any other SIM state.
    SimReady(bool),
    Other(&'a str),
}

fn field(s: &str, i: usize) -> Option<&str> {
    s.split(',').nth(i).map(|f| f.trim().trim_matches('"'))
}

/// Classify one line.
pub fn parse(line: &str) -> Line<'_> {
    let line = line.trim();
    let (head, rest) = match line.split_once(':') {
        Some((h, r)) => (h, r.trim()),
        None => (line, ""),
    };
    let num = |i| field(rest, i).and_then(|f| f.parse::<u16>().ok());
    match head {
        "OK" => Line::Ok,
        "ERROR" => Line::Error,
        "SEND OK" => Line::SendOk,
        "SEND FAIL" => Line::SendFail,
        "+CME ERROR" => Line::CmeError(num(0).unwrap_or(0)),
        "+QIOPEN" => match (num(0), num(1)) {
            (Some(id), Some(err)) => Line::Opened { id: id as u8, err },
            _ => Line::Other(line),
        },
        "+QIURC" => match (field(rest, 0), num(1)) {
            (Some("recv"), Some(id)) => Line::Recv { id: id as u8 },
            (Some("closed"), Some(id)) => Line::Closed { id: id as u8 },
            (Some("pdpdeact"), _) => Line::PdpDeact,
            _ => Line::Other(line),
        },
        "+QIRD" => match num(0) {
            Some(n) => Line::ReadLen(usize::from(n)),
            None => Line::Other(line),
        },
        "+CSQ" => Line::Csq(num(0).filter(|&r| r <= 31).map(|r| -113 + 2 * r as i16)),
        "+CCLK" => Line::Clock(cclk_unix(rest)),
        "+CREG" | "+CEREG" | "+CGREG" => {
            // Query answer `n,stat` or URC `stat`.
            let stat = if rest.contains(',') { num(1) } else { num(0) };
            Line::Registered(matches!(stat, Some(1) | Some(5)))
        }
        "+CPIN" => Line::SimReady(rest == "READY"),
        _ => Line::Other(line),
    }
}

/// `"yy/MM/dd,hh:mm:ss±zz"` (local time, zone in quarter hours) → UNIX seconds (UTC);
/// `None` for a malformed answer or a clock that was never set (year before 2024).
pub fn cclk_unix(s: &str) -> Option<i64> {
    let s = s.trim().trim_matches('"');
    let b = s.as_bytes();
    if b.len() < 17 {
        return None;
    }
    let n = |i: usize| -> Option<i64> {
        let d = b.get(i..i + 2)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(i64::from(d[0] - b'0') * 10 + i64::from(d[1] - b'0'))
    };
    let yy = n(0)?;
    // A module whose clock was never set reports 1980 ("80/01/06").
    let y = if yy >= 70 { 1900 + yy } else { 2000 + yy };
    let (mo, d, h, mi, se) = (n(3)?, n(6)?, n(9)?, n(12)?, n(15)?);
    if y < 2024 || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60
    {
        return None;
    }
    let zone_s = match (b.get(17), n(18)) {
        (Some(b'+'), Some(q)) => q * 15 * 60,
        (Some(b'-'), Some(q)) => -q * 15 * 60,
        _ => 0,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - zone_s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A UTC calendar time: (year, month 1–12, day 1–31, hour, minute, second, weekday 1 = Monday
/// … 7 = Sunday), for setting a real-time clock.
pub type Civil = (i64, u8, u8, u8, u8, u8, u8);

/// The UTC calendar time of UNIX seconds `t` (inverse of [`days_from_civil`]).
pub fn civil_from_unix(t: i64) -> Civil {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // 1970-01-01 was a Thursday (4).
    let weekday = (days + 3).rem_euclid(7) + 1;
    (
        y,
        m as u8,
        d as u8,
        (secs / 3600) as u8,
        (secs / 60 % 60) as u8,
        (secs % 60) as u8,
        weekday as u8,
    )
}

/// UNIX seconds of a UTC calendar time (the weekday is ignored).
pub fn unix_from_civil(c: Civil) -> i64 {
    days_from_civil(c.0, i64::from(c.1), i64::from(c.2)) * 86_400
        + i64::from(c.3) * 3600
        + i64::from(c.4) * 60
        + i64::from(c.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_weekdays() {
        // 2026-11-30 13:00:28 UTC was a Monday; 2024-02-29 a Thursday; 1970-01-01 a Thursday.
        assert_eq!(civil_from_unix(1_796_043_628), (2026, 11, 30, 13, 0, 28, 1));
        assert_eq!(civil_from_unix(1_709_164_800), (2024, 2, 29, 0, 0, 0, 4));
        assert_eq!(civil_from_unix(0), (1970, 1, 1, 0, 0, 0, 4));
        for t in (1_700_000_000i64..1_900_000_000).step_by(86_399 * 37) {
            assert_eq!(unix_from_civil(civil_from_unix(t)), t);
        }
    }

    #[test]
    fn lines_from_the_application_note() {
        assert_eq!(parse("OK"), Line::Ok);
        assert_eq!(parse("+CME ERROR: 563"), Line::CmeError(563));
        assert_eq!(parse("+QIOPEN: 0,0"), Line::Opened { id: 0, err: 0 });
        assert_eq!(parse("+QIOPEN: 0,566"), Line::Opened { id: 0, err: 566 });
        assert_eq!(parse("+QIURC: \"recv\",0"), Line::Recv { id: 0 });
        assert_eq!(parse("+QIURC: \"closed\",0"), Line::Closed { id: 0 });
        assert_eq!(parse("+QIURC: \"pdpdeact\",1"), Line::PdpDeact);
        assert_eq!(parse("+QIRD: 17"), Line::ReadLen(17));
        assert_eq!(parse("+CSQ: 20,99"), Line::Csq(Some(-73)));
        assert_eq!(parse("+CSQ: 99,99"), Line::Csq(None));
        assert_eq!(parse("+CREG: 0,1"), Line::Registered(true));
        assert_eq!(parse("+CEREG: 0,2"), Line::Registered(false));
        assert_eq!(parse("+CREG: 5"), Line::Registered(true));
        assert_eq!(parse("+CPIN: READY"), Line::SimReady(true));
        assert_eq!(parse("SEND OK"), Line::SendOk);
        assert_eq!(parse("RDY"), Line::Other("RDY"));
    }

    #[test]
    fn clock_in_china_standard_time() {
        // 2026-11-30 18:13:07 at +08:00 (32 quarter hours) = 10:13:07 UTC.
        let t = cclk_unix("\"26/11/30,18:13:07+32\"").unwrap();
        assert_eq!(t, 1_796_033_587);
        assert_eq!(
            parse("+CCLK: \"26/11/30,18:13:07+32\""),
            Line::Clock(Some(t))
        );
        assert_eq!(cclk_unix("\"80/01/06,00:00:49+00\""), None, "never set");
        assert_eq!(cclk_unix("\"26/13/30,18:13:07+32\""), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
