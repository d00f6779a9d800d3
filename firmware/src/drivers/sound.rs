//! Sound level from PCM samples of a MEMS microphone (I2S): A-weighting (IEC 61672-1), mean
//! square → LAeq over the reporting period, and the "Fast" (125 ms) level for LAmax / LAmin.
//!
//! The A filter is the analog A-weighting (poles 20.6 Hz ×2, 107.7 Hz, 737.9 Hz, 12.2 kHz ×2;
//! four zeros at 0 Hz) mapped to three biquads by the bilinear transform at the sample rate,
//! the 12.2 kHz pole pre-warped, and the gain set to 0 dB at 1 kHz.
//!
//! Class 1 (IEC 61672-1:2013) describes this digital filter only. A device with a MEMS
//! microphone is an indicative (class-2-like) meter unless the microphone's own response is
//! corrected ([`Correction`], a peaking section per resonance or roll-off, measured for the
//! microphone model) and the instrument is pattern-evaluated (IEC 61672-2).
//!
//! Levels: `L = offset_db + 10·lg(mean square)` with samples in full-scale units (±1.0); the
//! offset is the microphone's calibration (e.g. 94 dB SPL reading as −26 dBFS RMS for an
//! ICS-43434: offset = 94 + 26 + 3.01 = 123.01, with a full-scale sine at 0 dBFS).

use libm::{cos, log10, sin, tan};

const F1: f64 = 20.598_997;
const F2: f64 = 107.652_65;
const F3: f64 = 737.862_23;
const F4: f64 = 12_194.217;

#[derive(Debug, Clone, Copy, Default)]
struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    z: [f32; 2],
}

impl Biquad {
    /// Bilinear transform of `(b0 s² + b1 s + b2) / (a0 s² + a1 s + a2)` with `k = 2·fs`.
    fn bilinear(b: [f64; 3], a: [f64; 3], k: f64) -> ([f64; 3], [f64; 3]) {
        let k2 = k * k;
        let nb = [
            b[0] * k2 + b[1] * k + b[2],
            2.0 * (b[2] - b[0] * k2),
            b[0] * k2 - b[1] * k + b[2],
        ];
        let na = [
            a[0] * k2 + a[1] * k + a[2],
            2.0 * (a[2] - a[0] * k2),
            a[0] * k2 - a[1] * k + a[2],
        ];
        (
            [nb[0] / na[0], nb[1] / na[0], nb[2] / na[0]],
            [1.0, na[1] / na[0], na[2] / na[0]],
        )
    }

    /// Transposed direct form II.
    fn run(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// |H(e^{jω})| of a digital biquad.
fn magnitude(b: &[f64; 3], a: &[f64; 3], w: f64) -> f64 {
    let eval = |c: &[f64; 3]| {
        let re = c[0] + c[1] * cos(-w) + c[2] * cos(-2.0 * w);
        let im = c[1] * sin(-w) + c[2] * sin(-2.0 * w);
        libm::sqrt(re * re + im * im)
    };
    eval(b) / eval(a)
}

/// The A-weighting filter for one sample rate.
#[derive(Debug, Clone)]
pub struct AWeighting {
    sections: [Biquad; 3],
}

impl AWeighting {
    pub fn new(sample_rate_hz: f32) -> Self {
        let fs = f64::from(sample_rate_hz);
        let k = 2.0 * fs;
        let w = |f: f64| 2.0 * core::f64::consts::PI * f;
        let (w1, w2, w3) = (w(F1), w(F2), w(F3));
        let w4 = k * tan(w(F4) / k); // pre-warped
        let designs = [
            Biquad::bilinear([1.0, 0.0, 0.0], [1.0, 2.0 * w1, w1 * w1], k),
            Biquad::bilinear([1.0, 0.0, 0.0], [1.0, w2 + w3, w2 * w3], k),
            Biquad::bilinear([0.0, 0.0, 1.0], [1.0, 2.0 * w4, w4 * w4], k),
        ];
        let at_1k = w(1000.0) / fs;
        let gain: f64 = designs
            .iter()
            .map(|(b, a)| magnitude(b, a, at_1k))
            .product();
        let mut sections = [Biquad::default(); 3];
        for (i, (b, a)) in designs.iter().enumerate() {
            let g = if i == 0 { 1.0 / gain } else { 1.0 };
            sections[i] = Biquad {
                b: [(b[0] * g) as f32, (b[1] * g) as f32, (b[2] * g) as f32],
                a: [a[1] as f32, a[2] as f32],
                z: [0.0; 2],
            };
        }
        AWeighting { sections }
    }

    pub fn run(&mut self, x: f32) -> f32 {
        self.sections.iter_mut().fold(x, |v, s| s.run(v))
    }
}

/// One peaking section of a microphone correction (RBJ cookbook peaking EQ): `gain_db` at
/// `centre_hz` (negative to flatten a resonance, positive to lift a roll-off), width `q`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correction {
    pub centre_hz: f32,
    pub gain_db: f32,
    pub q: f32,
}

impl Correction {
    fn biquad(&self, sample_rate_hz: f32) -> Biquad {
        let amp = libm::pow(10.0, f64::from(self.gain_db) / 40.0);
        let w0 =
            2.0 * core::f64::consts::PI * f64::from(self.centre_hz) / f64::from(sample_rate_hz);
        let alpha = sin(w0) / (2.0 * f64::from(self.q.max(0.05)));
        let a0 = 1.0 + alpha / amp;
        let b = [1.0 + alpha * amp, -2.0 * cos(w0), 1.0 - alpha * amp];
        Biquad {
            b: [(b[0] / a0) as f32, (b[1] / a0) as f32, (b[2] / a0) as f32],
            a: [
                (-2.0 * cos(w0) / a0) as f32,
                ((1.0 - alpha / amp) / a0) as f32,
            ],
            z: [0.0; 2],
        }
    }
}

/// Levels of one reporting period, dB(A).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    pub laeq: f32,
    pub lamax: f32,
    pub lamin: f32,
}

/// A-weighted level meter: LAeq over the period, LAmax/LAmin of the Fast (125 ms) level.
#[derive(Debug, Clone)]
pub struct LevelMeter {
    /// Microphone correction (at most two sections; unused ones pass samples through).
    correction: [Option<Biquad>; 2],
    filter: AWeighting,
    offset_db: f32,
    sum_sq: f64,
    n: u64,
    fast: f32,
    alpha: f32,
    /// Samples before the Fast level counts for max/min (filter and detector settling).
    settle: u32,
    seen: u32,
    fast_max: f32,
    fast_min: f32,
}

impl LevelMeter {
    pub fn new(sample_rate_hz: f32, offset_db: f32) -> Self {
        LevelMeter {
            correction: [None; 2],
            filter: AWeighting::new(sample_rate_hz),
            offset_db,
            sum_sq: 0.0,
            n: 0,
            fast: 0.0,
            alpha: libm::expf(-1.0 / (sample_rate_hz * 0.125)),
            settle: (sample_rate_hz * 0.5) as u32,
            seen: 0,
            fast_max: f32::MIN,
            fast_min: f32::MAX,
        }
    }

    /// The same meter with the microphone's response corrected before A-weighting.
    pub fn with_correction(mut self, sample_rate_hz: f32, sections: &[Correction]) -> Self {
        for (slot, c) in self.correction.iter_mut().zip(sections) {
            *slot = Some(c.biquad(sample_rate_hz));
        }
        self
    }

    /// One PCM sample (full scale ±1.0).
    pub fn push(&mut self, x: f32) {
        let x = self
            .correction
            .iter_mut()
            .flatten()
            .fold(x, |v, s| s.run(v));
        let y = self.filter.run(x);
        let sq = y * y;
        self.sum_sq += f64::from(sq);
        self.n += 1;
        self.fast = self.alpha * self.fast + (1.0 - self.alpha) * sq;
        if self.seen < self.settle {
            self.seen += 1;
        } else {
            self.fast_max = self.fast_max.max(self.fast);
            self.fast_min = self.fast_min.min(self.fast);
        }
    }

    fn level(&self, ms: f64) -> f32 {
        (f64::from(self.offset_db) + 10.0 * log10(ms.max(1e-20))) as f32
    }

    /// Close the period: its levels (`None` without samples); the detector keeps running.
    pub fn finish(&mut self) -> Option<Levels> {
        if self.n == 0 {
            return None;
        }
        let laeq = self.level(self.sum_sq / self.n as f64);
        let (max, min) = if self.fast_max >= self.fast_min {
            (self.fast_max, self.fast_min)
        } else {
            (self.fast, self.fast)
        };
        let out = Levels {
            laeq,
            lamax: self.level(f64::from(max)),
            lamin: self.level(f64::from(min)),
        };
        self.sum_sq = 0.0;
        self.n = 0;
        self.fast_max = f32::MIN;
        self.fast_min = f32::MAX;
        Some(out)
    }
}

/// One sample of a 24-bit I2S microphone (ICS-43434 class) in a 32-bit slot, as the two
/// 16-bit words a 16-bit I2S peripheral receives (most significant first), in full-scale
/// units (±1.0).
pub fn i2s24(hi: u16, lo: u16) -> f32 {
    let word = ((u32::from(hi) << 16) | u32::from(lo)) as i32;
    (word >> 8) as f32 / 8_388_608.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i2s24_words() {
        assert_eq!(i2s24(0x4000, 0x0000), 0.5);
        assert_eq!(i2s24(0x8000, 0x0000), -1.0);
        assert_eq!(i2s24(0xFFFF, 0xFF00), -1.0 / 8_388_608.0);
        // The slot's low byte is padding.
        assert_eq!(i2s24(0x0000, 0x01FF), 1.0 / 8_388_608.0);
    }

    const FS: f32 = 48_000.0;

    /// (nominal centre Hz, nominal A-weighting dB, class-1 acceptance limit +, −) from
    /// IEC 61672-1:2013 Table 3, all 34 nominal third-octave frequencies; `INFINITY` where the
    /// standard sets no lower limit. The nominal values hold at the exact base-10 centres
    /// `1000·10^(n/10)` (e.g. 158.5 Hz for "160"), which is where the response is measured.
    const TABLE: [(f32, f32, f32, f32); 34] = [
        (10.0, -70.4, 3.5, f32::INFINITY),
        (12.5, -63.4, 3.0, f32::INFINITY),
        (16.0, -56.7, 2.5, 4.5),
        (20.0, -50.5, 2.5, 2.5),
        (25.0, -44.7, 2.5, 2.0),
        (31.5, -39.4, 2.0, 1.5),
        (40.0, -34.6, 1.5, 1.0),
        (50.0, -30.2, 1.0, 1.0),
        (63.0, -26.2, 1.0, 1.0),
        (80.0, -22.5, 1.0, 1.0),
        (100.0, -19.1, 1.0, 1.0),
        (125.0, -16.1, 1.0, 1.0),
        (160.0, -13.4, 1.0, 1.0),
        (200.0, -10.9, 1.0, 1.0),
        (250.0, -8.6, 1.0, 1.0),
        (315.0, -6.6, 1.0, 1.0),
        (400.0, -4.8, 1.0, 1.0),
        (500.0, -3.2, 1.0, 1.0),
        (630.0, -1.9, 1.0, 1.0),
        (800.0, -0.8, 1.0, 1.0),
        (1000.0, 0.0, 0.7, 0.7),
        (1250.0, 0.6, 1.0, 1.0),
        (1600.0, 1.0, 1.0, 1.0),
        (2000.0, 1.2, 1.0, 1.0),
        (2500.0, 1.3, 1.0, 1.0),
        (3150.0, 1.2, 1.0, 1.0),
        (4000.0, 1.0, 1.0, 1.0),
        (5000.0, 0.5, 1.5, 1.5),
        (6300.0, -0.1, 1.5, 2.0),
        (8000.0, -1.1, 1.5, 2.5),
        (10000.0, -2.5, 2.0, 3.0),
        (12500.0, -4.3, 2.0, 5.0),
        (16000.0, -6.6, 2.5, 16.0),
        (20000.0, -9.3, 3.0, f32::INFINITY),
    ];

    /// Response of the filter to a sine at `f`, in dB, measured from samples.
    fn response_db(f: f32) -> f32 {
        let mut a = AWeighting::new(FS);
        let w = 2.0 * core::f64::consts::PI * f64::from(f) / f64::from(FS);
        let settle = FS as usize; // 1 s
        let n = FS as usize; // then 1 s measured
        let (mut sum_in, mut sum_out) = (0.0f64, 0.0f64);
        for i in 0..settle + n {
            let x = (0.5 * (w * i as f64).sin()) as f32;
            let y = a.run(x);
            if i >= settle {
                sum_in += f64::from(x) * f64::from(x);
                sum_out += f64::from(y) * f64::from(y);
            }
        }
        (10.0 * (sum_out / sum_in).log10()) as f32
    }

    /// Exact centre of the band whose nominal centre is `f`.
    fn exact(f: f32) -> f32 {
        let n = (10.0 * (f / 1000.0).log10()).round();
        1000.0 * 10f32.powf(n / 10.0)
    }

    #[test]
    fn a_weighting_is_within_class_1_at_every_third_octave() {
        for (f, nominal, plus, minus) in TABLE {
            let got = response_db(exact(f));
            assert!(
                got <= nominal + plus && got >= nominal - minus,
                "{f} Hz: {got:.2} dB, nominal {nominal} (+{plus}/−{minus})"
            );
        }
        // Within the table's 0.1 dB rounding from 31.5 Hz to 2 kHz (above, the bilinear
        // transform's frequency warping adds up to +0.3 dB at 4 kHz, inside class 1).
        for (f, nominal, ..) in TABLE.iter().filter(|t| (31.5..=2000.0).contains(&t.0)) {
            let got = response_db(exact(*f));
            assert!(
                (got - nominal).abs() <= 0.1,
                "{f} Hz: {got:.2} dB, nominal {nominal}"
            );
        }
    }

    /// LAeq of a 2 s sine of amplitude 0.1 at `f`.
    fn tone_laeq(mut m: LevelMeter, f: f32) -> f32 {
        let w = 2.0 * core::f64::consts::PI * f64::from(f) / f64::from(FS);
        for i in 0..FS as usize {
            m.push((0.1 * (w * i as f64).sin()) as f32);
        }
        m.finish();
        for i in FS as usize..2 * FS as usize {
            m.push((0.1 * (w * i as f64).sin()) as f32);
        }
        m.finish().unwrap().laeq
    }

    #[test]
    fn a_microphone_correction_lifts_its_band_only() {
        let plain = || LevelMeter::new(FS, 100.0);
        let lift = Correction {
            centre_hz: 1000.0,
            gain_db: 3.0,
            q: 2.0,
        };
        let corrected = || plain().with_correction(FS, &[lift]);
        let d1k = tone_laeq(corrected(), 1000.0) - tone_laeq(plain(), 1000.0);
        assert!((d1k - 3.0).abs() < 0.05, "+3 dB at 1 kHz, got {d1k:.3}");
        let d100 = tone_laeq(corrected(), 100.0) - tone_laeq(plain(), 100.0);
        assert!(d100.abs() < 0.1, "100 Hz unchanged, got {d100:.3}");
    }

    #[test]
    fn laeq_of_a_1khz_tone_is_exact() {
        // A full-scale sine has mean square 0.5; amplitude 0.1 → 10·lg(0.005) = −23.01 dBFS.
        let mut m = LevelMeter::new(FS, 100.0);
        let w = 2.0 * core::f64::consts::PI * 1000.0 / f64::from(FS);
        let total = 2 * FS as usize;
        let mut i = 0usize;
        while i < total {
            m.push((0.1 * (w * i as f64).sin()) as f32);
            i += 1;
        }
        let l = m.finish().unwrap();
        let want = 100.0 + 10.0 * 0.005f32.log10();
        assert!((l.laeq - want).abs() <= 0.1, "LAeq {} vs {want}", l.laeq);
        // A steady tone: the Fast level sits at the tone's level.
        assert!(
            (l.lamax - want).abs() <= 0.2 && (l.lamin - want).abs() <= 0.2,
            "{l:?}"
        );
    }

    #[test]
    fn lamax_catches_a_burst() {
        let mut m = LevelMeter::new(FS, 100.0);
        let w = 2.0 * core::f64::consts::PI * 1000.0 / f64::from(FS);
        for i in 0..(3 * FS as usize) {
            // 0.5 s at 20 dB above the rest, in the middle.
            let amp = if (FS as usize..(1.5 * FS) as usize).contains(&i) {
                0.5
            } else {
                0.05
            };
            m.push((amp * (w * i as f64).sin()) as f32);
        }
        let l = m.finish().unwrap();
        let loud = 100.0 + 10.0 * (0.125f32).log10();
        let quiet = 100.0 + 10.0 * (0.00125f32).log10();
        assert!((l.lamax - loud).abs() < 0.3, "{l:?}");
        assert!((l.lamin - quiet).abs() < 0.3, "{l:?}");
        assert!(l.laeq > quiet + 10.0 && l.laeq < loud, "{l:?}");
    }
}
